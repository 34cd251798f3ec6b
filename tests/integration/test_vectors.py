"""Every case of ../shared/vectors/ingress-public.json through the real binary.

Per case: the case's Services and Ingresses are written to a manifest folder, every
Service port gets a real lintel-echo "Pod" on its own 127.0.0.N (EndpointSlices given by
the case are kept, with their addresses and ports mapped onto loopback echos), one lintel
is started, and each request is sent over real sockets. The echo that answers names the
backend that was chosen:
  synthesized endpoints   echo name "<namespace>/<service>:<service port number>"
  endpoints from the case echo name "<original address>:<original port>"
and the test compares it with what expect_backend (in expect_backend_namespace) resolves
to, or with acceptable_backends when the case is ambiguous; expect_backend null means the
controller's own 404.

https requests: TLS is issue 3. While lintel has no HTTPS listener, a request whose Host
is not a TLS host of its case only concerns routing and is sent over plain HTTP; the
others are skipped with a note. Once the HTTPS listener answers, every https request goes
over TLS with its SNI, and the certificate presented is compared with the Secret's
(generated at run time with the openssl CLI).
"""

import collections
import copy
import ssl
import unittest

import harness as h
from harness import echo_of

VECTORS = h.read_vectors("ingress-public.json")


def ns_of(obj):
    return obj.get("metadata", {}).get("namespace") or "default"


class CaseSetup:
    """Turns one vector case into manifests, echos and the expected-echo resolver."""

    def __init__(self, fx, case, workdir):
        self.fx, self.case = fx, case
        self.objects = []
        # (namespace, service) -> {service port number -> acceptable echo names}
        self.echo_names = {}
        self.services = {(ns_of(s), s["metadata"]["name"]): s for s in case["services"]}
        slices = collections.defaultdict(list)
        for es in case.get("endpointslices", []):
            svc = es["metadata"]["labels"]["kubernetes.io/service-name"]
            slices[(ns_of(es), svc)].append(es)
        for key, svc in self.services.items():
            if key in slices:
                self._map_given_slices(key, svc, slices[key])
            else:
                self._synthesize(key, svc)
        self.tls_hosts = set()
        for ing in case["ingresses"]:
            for t in ing.get("spec", {}).get("tls", []):
                self.tls_hosts.update(x.lower() for x in t.get("hosts", []))
        self.secrets = []
        self.certs = {}  # DNS name -> DER of the certificate generated for it
        for secret in case.get("tls_secrets", []):
            pem = h.self_signed(secret["dns_names"], workdir)
            if pem:
                self.secrets.append(h.tls_secret(secret["name"], secret["namespace"], *pem))
                der = ssl.PEM_cert_to_DER_cert(pem[0].decode())
                self.certs.update({n.lower(): der for n in secret["dns_names"]})

    def _synthesize(self, key, svc):
        ns, name = key
        svc = copy.deepcopy(svc)
        svc.setdefault("metadata", {})["namespace"] = ns
        ready = svc.pop("ready_endpoints", None)
        address = self.fx.pool.take()
        names, slice_ports = {}, []
        for port in svc["spec"].get("ports", []):
            echo = self.fx.echo(f"{ns}/{name}:{port['port']}", address)
            names[port["port"]] = {echo.echo_name}
            if not isinstance(port.get("targetPort"), str):
                # A numeric targetPort is the Pod's port: the echo's, chosen at run time.
                port["targetPort"] = echo.port
            slice_ports.append((port.get("name"), echo.port))
        self.echo_names[key] = names
        self.objects.append(svc)
        endpoints = [] if ready == 0 else [address]
        self.objects.append(h.endpoint_slice(name, ns, endpoints, slice_ports))

    def _map_given_slices(self, key, svc, given):
        """Keeps the case's slices (conditions, port names) but moves each address onto a
        fresh 127.0.0.N and each port number onto a run-time port, with an echo behind
        every (address, port) so that a wrong pick is visible."""
        svc = copy.deepcopy(svc)
        svc.setdefault("metadata", {})["namespace"] = key[0]
        self.objects.append(svc)
        addr_map, port_map = {}, {}
        for es in given:
            for ep in es["endpoints"]:
                for a in ep["addresses"]:
                    addr_map.setdefault(a, self.fx.pool.take())
        targets = list(addr_map.values())
        for es in given:
            for p in es.get("ports", []):
                if p["port"] not in port_map:
                    for _ in range(20):
                        candidate = h.free_port(targets[0])
                        if all(h.port_is_free(t, candidate) for t in targets):
                            break
                    port_map[p["port"]] = candidate
        for orig_addr, addr in addr_map.items():
            for orig_port, port in port_map.items():
                self.fx.echo(f"{orig_addr}:{orig_port}", addr, port)
        for es in given:
            es = copy.deepcopy(es)
            for ep in es["endpoints"]:
                ep["addresses"] = [addr_map[a] for a in ep["addresses"]]
            for p in es.get("ports", []):
                p["port"] = port_map[p["port"]]
            self.objects.append(es)
        # Expected: the ready endpoints (else serving ones) on the slice port named after
        # the Service port; the case's expect_upstream_endpoints, when given, override.
        names = {}
        for sp in svc["spec"]["ports"]:
            chosen = set()
            for want in ("ready", "serving"):
                for es in given:
                    for p in es.get("ports", []):
                        if (p.get("name") or "") != (sp.get("name") or ""):
                            continue
                        for ep in es["endpoints"]:
                            if ep.get("conditions", {}).get(want, True) is not False:
                                chosen.update(f"{a}:{p['port']}" for a in ep["addresses"])
                if chosen:
                    break
            names[sp["port"]] = chosen
        self.echo_names[key] = names

    def expected_echos(self, backend_ref, namespace):
        """'svc:port' (port number or Service port name) → acceptable echo names."""
        svc_name, _, port_ref = backend_ref.rpartition(":")
        key = (namespace, svc_name)
        svc = self.services.get(key)
        if svc is None:
            raise AssertionError(f"vector names unknown service {namespace}/{svc_name}")
        for p in svc["spec"]["ports"]:
            if str(p["port"]) == port_ref or p.get("name") == port_ref:
                return self.echo_names[key][p["port"]]
        raise AssertionError(f"vector names unknown port {port_ref} of {namespace}/{svc_name}")

    def write(self, directory):
        h.write_manifests(directory, "services.yaml", self.objects)
        if self.secrets:
            h.write_manifests(directory, "secrets.yaml", self.secrets)
        for i, ing in enumerate(self.case["ingresses"]):
            h.write_manifests(directory, f"ingress-{i}.yaml", [ing])


class PublicVectorsTest(unittest.TestCase):

    def setUp(self):
        h.require_binaries()

    def test_public_vectors(self):
        stats = collections.Counter()
        skipped, failed = [], []
        for case in VECTORS["cases"]:
            fx = h.Fixture(__name__)
            try:
                self.run_case(fx, case, stats, skipped, failed)
            finally:
                fx.close()
        total = sum(len(c["requests"]) for c in VECTORS["cases"])
        h.log(f"\npublic vectors: {len(VECTORS['cases'])} cases, {total} requests: "
              f"{stats['pass']} passed, {stats['skip']} skipped, {stats['fail']} failed")
        for line in skipped:
            h.log(f"  skipped: {line}")
        for line in failed:
            h.log(f"  FAILED: {line}")
        self.assertEqual(stats["pass"] + stats["skip"] + stats["fail"], total)

    def run_case(self, fx, case, stats, skipped, failed):
        name = case["name"]
        started = None
        with self.subTest(case=name, step="setup"):
            try:
                setup = CaseSetup(fx, case, fx.tmpdir())
                manifests = fx.tmpdir()
                setup.write(manifests)
                started = fx.lintel(manifests, workers=1)
            except Exception as e:
                stats["fail"] += len(case["requests"])
                failed.append(f"{name}: setup failed: {str(e).splitlines()[0]}")
                raise
        if started is None:
            return
        lintel = started
        for i, req in enumerate(case["requests"]):
            label = f"{name}#{i} {req['scheme']} {req['method']} host={req['host']} {req['path']}"
            with self.subTest(case=name, request=i, host=req["host"], path=req["path"]):
                host = req["host"]
                tls = req["scheme"] == "https" and lintel.serves_tls()
                if req["scheme"] == "https" and not tls and host and host.lower() in setup.tls_hosts:
                    stats["skip"] += 1
                    skipped.append(f"{label}: no HTTPS listener yet (TLS is issue 3)")
                    self.skipTest("https to a TLS host: no HTTPS listener yet (issue 3)")
                # (https to a host without TLS only concerns routing: plain HTTP until then)
                try:
                    self.check_request(lintel, setup, req, tls)
                except AssertionError as e:
                    stats["fail"] += 1
                    failed.append(f"{label}: {str(e).splitlines()[0]}")
                    raise
                stats["pass"] += 1

    def fetch(self, lintel, setup, req, body, tls):
        """Sends the request; over TLS (SNI = req.sni or host) when tls. Returns the
        response, or None when the TLS handshake was refused."""
        if not tls:
            return lintel.get(req["path"], host=req["host"], method=req["method"], body=body)
        sni = req.get("sni") or req["host"]
        try:
            c = lintel.connect_tls(sni)
        except (ssl.SSLError, ConnectionError):
            return None
        with c:
            want = req.get("expect_tls_cert_dns_name")
            if want and want.lower() in setup.certs:
                self.assertEqual(c.peer_certificate(), setup.certs[want.lower()],
                                 f"certificate for SNI {sni} is not the Secret's for {want}")
            c.request(req["method"], req["path"], host=req["host"] or lintel.default_host,
                      body=body)
            return c.read_response(method=req["method"])

    def check_request(self, lintel, setup, req, tls=False):
        expected = req.get("expect_backend")
        namespace = req.get("expect_backend_namespace", "default")
        acceptable = req.get("acceptable_backends") if req.get("ambiguous") else None
        choices = acceptable if acceptable is not None else [expected]
        ok_echos, null_ok = set(), False
        for choice in choices:
            if choice is None:
                null_ok = True
            else:
                ok_echos |= setup.expected_echos(choice, namespace)
        expect_status = req.get("expect_status", 200 if expected else 404)
        body = b"" if req["method"] in ("POST", "PUT", "PATCH") else None
        # With several endpoints behind a backend, a single request could pass by luck
        # of the balancer: repeat.
        repeat = 4 if setup.case.get("endpointslices") else 1
        for _ in range(repeat):
            r = self.fetch(lintel, setup, req, body, tls)
            if r is None:
                self.assertTrue(null_ok, "TLS handshake refused")
                continue
            got = self.describe(r)
            name = h.echo_name(r)
            if name is not None:
                self.assertIn(name, ok_echos,
                              f"routed to {name}, expected {sorted(ok_echos) or 'no backend'}"
                              f" ({'404 also fine' if null_ok else ''})")
                if expected is not None and acceptable is None:
                    self.assertEqual(r.status, expect_status)
                info = echo_of(r)
                self.assertEqual(info["method"], req["method"])
                up = req.get("expect_upstream", {})
                if "path" in up:
                    self.assertEqual(info["path"], up["path"], "path seen by the backend")
                if "method" in up:
                    self.assertEqual(info["method"], up["method"])
            else:
                if null_ok or expected is None:
                    want = expect_status if expected is None else 404
                    self.assertEqual(r.status, want, f"got {got}, expected status {want}")
                else:
                    self.fail(f"got {got}, expected {sorted(ok_echos)} with 200")

    @staticmethod
    def describe(r):
        return f"{r.status} {r.body[:120]!r}"


if __name__ == "__main__":
    unittest.main()
