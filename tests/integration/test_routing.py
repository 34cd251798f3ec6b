"""Routing through the real binary: hosts, Exact/Prefix, wildcards, defaultBackend,
round-robin, 404, forwarding headers, access log and /routes.

One lintel per class, echo Pods on this file's 127.0.0.N block."""

import unittest
import uuid

import harness as h
from harness import backend_ref, echo_of, header_values, http_path, ingress, rule


class RoutingTest(unittest.TestCase):
    """Hosts and paths without a defaultBackend: whatever does not match is a 404."""

    @classmethod
    def setUpClass(cls):
        h.require_binaries()
        fx = cls.fx = h.Fixture(__name__)
        cls.addClassCleanup(fx.close)
        objects = []

        def svc(name, replicas=1):
            echos = fx.echo_group([f"{name}-{i}" if replicas > 1 else name
                                   for i in range(1, replicas + 1)])
            objects.extend(h.echo_service(name, echos))
            return echos

        cls.echos = {n: svc(n) for n in ("a-root", "a-exact", "a-api", "b-root", "wild",
                                         "c-only")}
        cls.rr = svc("rr", replicas=2)
        objects.append(ingress("site-a", rules=[
            rule("a.example",
                 http_path("/", "Prefix", "a-root", 80),
                 http_path("/exact", "Exact", "a-exact", 80),
                 http_path("/api/", "Prefix", "a-api", "http")),
        ]))
        objects.append(ingress("site-b", rules=[
            rule("b.example", http_path("/", "Prefix", "b-root", 80)),
            rule("*.wild.example", http_path("/", "ImplementationSpecific", "wild", 80)),
            rule("c.example", http_path("/only", "Prefix", "c-only", 80)),
            rule("rr.example", http_path("/", "Prefix", "rr", 80)),
        ]))
        cls.manifests = fx.tmpdir()
        # Services and slices in one YAML file, Ingresses in another (and a sub-folder):
        # the folder is read recursively.
        h.write_manifests(cls.manifests, "backends.yaml",
                          [o for o in objects if o["kind"] != "Ingress"])
        h.write_manifests(cls.manifests, "ingress/site-a.yaml", [objects[-2]])
        h.write_manifests(cls.manifests, "ingress/site-b.json", [objects[-1]])
        cls.lintel = fx.lintel(cls.manifests)

    # ---- helpers
    def name_for(self, target, host, **kw):
        r = self.lintel.get(target, host=host, **kw)
        self.assertEqual(r.status, 200, f"{host}{target}: {r!r}\n{self.lintel.tail()}")
        return echo_of(r)["name"]

    def assert_routes(self, cases):
        for host, target, expected in cases:
            with self.subTest(host=host, target=target):
                if expected is None:
                    r = self.lintel.get(target, host=host)
                    self.assertEqual(r.status, 404, f"{host}{target}: {r!r}")
                else:
                    self.assertEqual(self.name_for(target, host), expected)

    # ---- tests
    def test_admin_health_and_readiness(self):
        self.assertEqual(self.lintel.admin("/healthz").status, 200)
        self.assertEqual(self.lintel.admin("/readyz").status, 200)

    def test_hosts(self):
        self.assert_routes([
            ("a.example", "/", "a-root"),
            ("b.example", "/", "b-root"),
            ("A.Example", "/", "a-root"),          # case-insensitive
            ("a.example:8080", "/", "a-root"),     # port stripped
            ("B.EXAMPLE:1", "/x", "b-root"),
            ("unknown.example", "/", None),
            ("example", "/", None),
            (None, "/", None),                     # Host is our IP:port
        ])

    def test_wildcard_host_matches_one_label(self):
        self.assert_routes([
            ("x.wild.example", "/", "wild"),
            ("X.Wild.Example", "/anything", "wild"),
            ("a.b.wild.example", "/", None),
            ("wild.example", "/", None),
        ])

    def test_exact_and_prefix_paths(self):
        self.assert_routes([
            ("a.example", "/exact", "a-exact"),
            ("a.example", "/exact/", "a-root"),     # Exact is the whole path
            ("a.example", "/exact/x", "a-root"),
            ("a.example", "/Exact", "a-root"),      # case-sensitive
            ("a.example", "/api", "a-api"),         # rule "/api/": trailing slash ignored
            ("a.example", "/api/", "a-api"),
            ("a.example", "/api/v1/users", "a-api"),
            ("a.example", "/apiv1", "a-root"),      # element-wise, not string prefix
            ("a.example", "/exact?x=1", "a-exact"),  # query is not part of the path
            ("c.example", "/only", "c-only"),
            ("c.example", "/only/more", "c-only"),
            ("c.example", "/other", None),          # host matched, no path: no fallback
            ("c.example", "/", None),
        ])

    def test_request_target_forwarded_with_query(self):
        r = self.lintel.get("/api/v1?q=a%20b&x=/y", host="a.example")
        info = echo_of(r)
        self.assertEqual(info["name"], "a-api")
        self.assertEqual(info["path"], "/api/v1?q=a%20b&x=/y")
        self.assertEqual(info["method"], "GET")

    def test_method_and_body_forwarded(self):
        r = self.lintel.get("/post", host="b.example", method="POST", body=b"hello world",
                            headers={"Content-Type": "text/plain"})
        info = echo_of(r)
        self.assertEqual((info["method"], info["body_bytes"]), ("POST", 11))

    def test_404_is_short_framed_and_keeps_the_connection(self):
        with self.lintel.connect() as c:
            for i in range(3):
                c.request("GET", f"/nothing/{i}", host="nowhere.example")
                r = c.read_response()
                self.assertEqual(r.status, 404)
                self.assertTrue(r.header("content-length") is not None or r.chunked,
                                f"404 without framing: {r.raw_head!r}")
                self.assertLess(len(r.body), 1024)
            c.request("GET", "/", host="a.example")
            self.assertEqual(echo_of(c.read_response())["name"], "a-root")

    def test_round_robin_over_two_endpoints(self):
        names = []
        with self.lintel.connect() as c:  # one connection = one worker's balancer
            for _ in range(8):
                c.request("GET", "/", host="rr.example")
                names.append(echo_of(c.read_response())["name"])
        self.assertEqual(set(names), {"rr-1", "rr-2"}, names)
        for prev, cur in zip(names, names[1:]):
            self.assertNotEqual(prev, cur, f"not alternating: {names}")

    def test_round_robin_across_connections(self):
        # Several connections (possibly several workers): both endpoints take traffic.
        names = [self.name_for("/", "rr.example") for _ in range(8)]
        self.assertEqual(set(names), {"rr-1", "rr-2"}, names)

    def test_forwarding_headers(self):
        client_ip = self.fx.pool.take()  # connect from our own 127.0.0.N: unmistakable
        with self.lintel.connect(source=client_ip) as c:
            c.request("GET", "/fwd", host="B.Example:8443",
                      headers={"X-Forwarded-For": "203.0.113.7"})
            info = echo_of(c.read_response())
            c.request("GET", "/fwd", host="b.example")
            info2 = echo_of(c.read_response())
        headers = info["headers"]
        self.assertEqual(headers.get("host"), ["B.Example:8443"], "Host must pass unchanged")
        self.assertEqual(header_values(info, "x-forwarded-for"), ["203.0.113.7", client_ip])
        self.assertEqual(header_values(info2, "x-forwarded-for"), [client_ip])
        self.assertEqual(header_values(info, "x-real-ip"), [client_ip])
        self.assertEqual(header_values(info, "x-forwarded-proto"), ["http"])
        self.assertEqual(header_values(info, "x-forwarded-host"), ["B.Example:8443"])
        self.assertEqual(header_values(info, "x-forwarded-port"), [str(self.lintel.http_port)])
        self.assertEqual(header_values(info2, "x-forwarded-host"), ["b.example"])

    def test_request_id_generated_and_kept(self):
        ids = []
        for _ in range(2):
            info = echo_of(self.lintel.get("/rid", host="b.example"))
            rid = info["headers"].get("x-request-id", [])
            self.assertEqual(len(rid), 1, f"one X-Request-ID expected: {info['headers']}")
            self.assertRegex(rid[0], r"^[\x21-\x7e]{8,200}$")
            ids.append(rid[0])
        self.assertNotEqual(ids[0], ids[1], "generated request ids must differ")
        mine = f"test-{uuid.uuid4()}"
        info = echo_of(self.lintel.get("/rid", host="b.example", headers={"X-Request-ID": mine}))
        self.assertEqual(info["headers"].get("x-request-id"), [mine])

    def test_hop_by_hop_headers_removed(self):
        info = echo_of(self.lintel.get("/hop", host="b.example", headers=[
            ("Connection", "keep-alive, X-Hop-A, x-hop-b"),
            ("X-Hop-A", "secret-a"),
            ("X-Hop-B", "secret-b"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Trailer", "X-Checksum"),
            ("Upgrade", "h2c"),  # not named in Connection: not an upgrade request
            ("Proxy-Connection", "keep-alive"),
            ("X-End-To-End", "kept"),
        ]))
        headers = info["headers"]
        for name in ("x-hop-a", "x-hop-b", "keep-alive", "te", "trailer", "upgrade",
                     "proxy-connection"):
            self.assertNotIn(name, headers, f"hop-by-hop {name} was forwarded: {headers}")
        for value in header_values(info, "connection"):
            self.assertNotIn(value.lower(), ("x-hop-a", "x-hop-b"),
                             f"client's Connection tokens forwarded: {headers}")
        self.assertEqual(headers.get("x-end-to-end"), ["kept"])

    def test_access_log_line_per_request(self):
        marker = f"/access-log/{uuid.uuid4().hex}"
        client_ip = self.fx.pool.take()
        r = self.lintel.get(marker, host="b.example", method="POST", body=b"12345",
                            source=client_ip)
        self.assertEqual(r.status, 200)
        self.lintel.get(marker + "-404", host="nowhere.example")

        def find(path):
            return [e for e in self.lintel.access_log() if e.get("path") == path]

        entry = h.wait_until(lambda: find(marker), what="the access-log line")
        self.assertEqual(len(entry), 1, entry)
        entry = entry[0]
        for key in ("time", "client", "method", "host", "path", "status", "bytes_in",
                    "bytes_out", "upstream", "duration_ms", "request_id"):
            self.assertIn(key, entry, f"access-log line lacks {key}: {entry}")
        self.assertEqual((entry["method"], int(entry["status"])), ("POST", 200))
        self.assertEqual(entry["host"], "b.example")
        self.assertEqual(entry["upstream"], self.echos["b-root"][0].endpoint)
        self.assertGreaterEqual(int(entry["bytes_in"]), 5)
        self.assertGreater(int(entry["bytes_out"]), 0)
        client = str(entry["client"])  # "ip" or "ip:port"
        self.assertTrue(client == client_ip or client.startswith(client_ip + ":"), entry)
        miss = h.wait_until(lambda: find(marker + "-404"), what="the 404 access-log line")
        self.assertEqual(int(miss[0]["status"]), 404)

    def test_routes_json(self):
        routes = self.lintel.routes()
        self.assertGreaterEqual(int(routes["generation"]), 1)
        self.assertIn("diagnostics", routes)
        self.assertIsInstance(routes["diagnostics"], list)
        self.assertEqual([d for d in routes["diagnostics"] if d.get("rejected")], [],
                         "a clean folder rejects nothing")
        by_host = {v["host"]: v["routes"] for v in routes["hosts"]}
        self.assertIn("a.example", by_host)
        self.assertIn("*.wild.example", by_host)
        a_paths = {(r["path"], r["type"]) for r in by_host["a.example"]}
        self.assertEqual(a_paths, {("/", "Prefix"), ("/exact", "Exact"), ("/api/", "Prefix")})
        (rr_route,) = by_host["rr.example"]
        self.assertEqual(h.backend_label(rr_route["backend"]), "default/rr:80")
        listed = h.endpoint_labels(rr_route)
        self.assertEqual(sorted(listed), sorted(e.endpoint for e in self.rr))


class DefaultBackendTest(unittest.TestCase):
    """An Ingress defaultBackend answers whatever no rule matched."""

    @classmethod
    def setUpClass(cls):
        h.require_binaries()
        fx = cls.fx = h.Fixture(__name__)
        cls.addClassCleanup(fx.close)
        dflt, x = fx.echo_group(["fallback"]), fx.echo_group(["x"])
        cls.manifests = fx.tmpdir()
        h.write_manifests(cls.manifests, "all.yaml", [
            *h.echo_service("fallback", dflt, port_name="web", service_port=8080),
            *h.echo_service("x", x),
            ingress("with-default", default_backend=backend_ref("fallback", "web"),
                    rules=[rule("d.example", http_path("/x", "Exact", "x", 80))]),
        ])
        cls.lintel = fx.lintel(cls.manifests)

    def test_default_backend(self):
        cases = [
            ("d.example", "/x", "x"),
            ("d.example", "/y", "fallback"),        # host matched, path did not
            ("other.example", "/", "fallback"),
            (None, "/anything", "fallback"),
        ]
        for host, target, expected in cases:
            with self.subTest(host=host, target=target):
                r = self.lintel.get(target, host=host)
                self.assertEqual(r.status, 200, f"{r!r}\n{self.lintel.tail()}")
                self.assertEqual(echo_of(r)["name"], expected)

    def test_routes_json_names_default_backend(self):
        routes = self.lintel.routes()
        self.assertIsNotNone(routes.get("default_backend"), routes)
        self.assertEqual(h.backend_label(routes["default_backend"]), "default/fallback:web")


class SemanticsTest(unittest.TestCase):
    """Ingress semantics that need several objects: conflicts, classes, endpoint
    conditions, named ports; run with --ingress-class custom."""

    @classmethod
    def setUpClass(cls):
        h.require_binaries()
        fx = cls.fx = h.Fixture(__name__)
        cls.addClassCleanup(fx.close)
        names = ["older", "newer", "mine-class", "legacy", "flag-class", "foreign",
                 "default-class", "named"]
        echos = {n: fx.echo_group([n]) for n in names}
        objects = []
        for n in names:
            objects += h.echo_service(n, echos[n])
        # Two endpoints, neither ready, one serving: the serving one takes traffic (the
        # other is up too, so that a wrong pick shows).
        serving, dead = fx.echo_group(["serving-pod"]), fx.echo_group(["terminated-pod"])
        objects += [h.service("serving", ports=(("http", 80, serving[0].port),)),
                    h.endpoint_slice("serving", "default",
                                     [(serving[0].address, False, True),
                                      (dead[0].address, False, False)],
                                     [("http", serving[0].port)])]
        # A named targetPort: only the EndpointSlice knows the number.
        objects[names.index("named") * 2] = h.service(
            "named", ports=(("web", 8080, "container-web"),))
        objects[names.index("named") * 2 + 1] = h.endpoint_slice(
            "named", "default", [echos["named"][0].address],
            [("web", echos["named"][0].port)])
        objects += [
            {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
             "metadata": {"name": "mine"},
             "spec": {"controller": "lintel.dev/ingress-controller"}},
            {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
             "metadata": {"name": "theirs"}, "spec": {"controller": "example.com/other"}},
            ingress("newer", creation_timestamp="2024-02-01T00:00:00Z",
                    rules=[rule("conflict.example", http_path("/", "Prefix", "newer", 80))]),
            ingress("older", creation_timestamp="2024-01-01T00:00:00Z",
                    rules=[rule("conflict.example", http_path("/", "Prefix", "older", 80))]),
            ingress("by-class", ingress_class="mine",
                    rules=[rule("class.example", http_path("/", "Prefix", "mine-class", 80))]),
            ingress("by-flag", ingress_class="custom",
                    rules=[rule("flag.example", http_path("/", "Prefix", "flag-class", 80))]),
            ingress("legacy", annotations={"kubernetes.io/ingress.class": "custom"},
                    rules=[rule("legacy.example", http_path("/", "Prefix", "legacy", 80))]),
            ingress("foreign-class", ingress_class="theirs",
                    rules=[rule("foreign.example", http_path("/", "Prefix", "foreign", 80))]),
            ingress("foreign-unknown", ingress_class="nobody",
                    rules=[rule("foreign2.example", http_path("/", "Prefix", "foreign", 80))]),
            ingress("foreign-legacy", annotations={"kubernetes.io/ingress.class": "nginx"},
                    rules=[rule("foreign3.example", http_path("/", "Prefix", "foreign", 80))]),
            ingress("classless",
                    rules=[rule("classless.example",
                                http_path("/", "Prefix", "default-class", 80))]),
            ingress("serving", rules=[rule("serving.example",
                                           http_path("/", "Prefix", "serving", 80))]),
            ingress("named", rules=[rule("named.example", http_path("/", "Prefix", "named", "web"))]),
        ]
        manifests = fx.tmpdir()
        h.write_manifests(manifests, "semantics.yaml", objects)
        cls.lintel = fx.lintel(manifests, extra_args=["--ingress-class", "custom"])

    def name(self, host):
        return h.echo_name(self.lintel.get("/", host=host))

    def test_conflict_older_ingress_wins_and_loser_is_reported(self):
        self.assertEqual(self.name("conflict.example"), "older")
        diags = [d for d in self.lintel.routes()["diagnostics"] if "default/newer" in str(d)]
        self.assertTrue(diags, self.lintel.routes()["diagnostics"])

    def test_ingress_classes(self):
        for host, expected in (("class.example", "mine-class"),     # IngressClass is ours
                               ("flag.example", "flag-class"),      # names --ingress-class
                               ("legacy.example", "legacy"),        # legacy annotation
                               ("classless.example", "default-class"),  # no class: files mode
                               ("foreign.example", None),           # another controller
                               ("foreign2.example", None),          # unknown class
                               ("foreign3.example", None)):         # legacy, not ours
            with self.subTest(host=host):
                r = self.lintel.get("/", host=host)
                if expected is None:
                    self.assertEqual(r.status, 404, repr(r))
                else:
                    self.assertEqual(h.echo_name(r), expected, repr(r))

    def test_serving_endpoints_used_when_none_ready(self):
        for _ in range(4):
            self.assertEqual(self.name("serving.example"), "serving-pod")

    def test_named_target_port_resolved_through_endpoint_slice(self):
        self.assertEqual(self.name("named.example"), "named")


def ipv6_loopback():
    try:
        h.free_port("::1")
        return True
    except OSError:
        return False


@unittest.skipUnless(ipv6_loopback(), "no IPv6 loopback (::1) on this machine")
class Ipv6Test(unittest.TestCase):
    """IPv6 endpoints (addressType IPv6) and an IPv6 listener."""

    @classmethod
    def setUpClass(cls):
        h.require_binaries()
        fx = cls.fx = h.Fixture(__name__)
        cls.addClassCleanup(fx.close)
        v6 = cls.v6 = [fx.echo("v6-pod", "::1")]
        v4 = fx.echo_group(["v4-pod"])
        manifests = fx.tmpdir()
        h.write_manifests(manifests, "v6.yaml", [
            *h.echo_service("v6", v6), *h.echo_service("v4", v4),
            ingress("v6", rules=[rule("v6.example", http_path("/", "Prefix", "v6", 80)),
                                 rule("v4.example", http_path("/", "Prefix", "v4", 80))]),
        ])
        cls.lintel = fx.lintel(manifests, address="::1")

    def test_ipv6_endpoint_through_ipv6_listener(self):
        info = echo_of(self.lintel.get("/six", host="v6.example"))
        self.assertEqual(info["name"], "v6-pod")
        self.assertEqual(header_values(info, "x-real-ip"), ["::1"])
        self.assertEqual(header_values(info, "x-forwarded-for"), ["::1"])

    def test_ipv4_endpoint_through_ipv6_listener(self):
        self.assertEqual(echo_of(self.lintel.get("/", host="v4.example"))["name"], "v4-pod")

    def test_ipv6_literal_host_is_no_rule_host(self):
        self.assertEqual(self.lintel.get("/", host=self.lintel.default_host).status, 404)

    def test_routes_lists_ipv6_endpoint(self):
        by_host = {v["host"]: v["routes"] for v in self.lintel.routes()["hosts"]}
        self.assertEqual(h.endpoint_labels(by_host["v6.example"][0]), [self.v6[0].endpoint])


if __name__ == "__main__":
    unittest.main()
