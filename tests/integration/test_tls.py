"""TLS termination through the real binary (issue 3), tried the way a user does: certificates
from `lintel cert`, Secrets in the manifest folder, `curl --cacert … --resolve …`,
`openssl s_client`, and Python's ssl module where a test needs to look at a handshake
(the certificate served, the protocol version, ALPN, session resumption).

Most read-only checks share one lintel (`site()`): several TLS hosts (exact, wildcard, an
exact host under the wildcard, two hosts in one certificate, an Ingress and its Secret in
namespace "team", an RSA certificate with an intermediate in its chain), an Ingress with
ssl-redirect "false", one with force-ssl-redirect "true", a host without TLS, and a route
of an Ingress without tls on a TLS host. Tests that change files or need other flags start
their own lintel.

Each echo "Pod" is named after its Service, so the JSON it answers names the backend that
was reached. State is awaited by polling with a deadline, never with a sleep.
"""

import datetime
import json
import os
import re
import select
import shlex
import socket
import ssl
import threading
import time
import unittest
import warnings

import harness as h
from harness import http_path, ingress, rule

# The public HTTPS port the main lintel writes into its redirects (--https-redirect-port).
# Nothing listens on it: curl is pointed at the real listener with --connect-to.
REDIRECT_PORT = 9443
SSL_REDIRECT = "nginx.ingress.kubernetes.io/ssl-redirect"
FORCE_SSL_REDIRECT = "nginx.ingress.kubernetes.io/force-ssl-redirect"
CURL_VERIFY_FAILED = 60  # curl: "SSL certificate problem" (peer certificate not verified)


def tls_entry(secret, *hosts):
    return {"hosts": list(hosts), "secretName": secret}


def root_rule(host, service):
    return rule(host, http_path("/", "Prefix", service, 80))


def copy_secret(files, manifests):
    """Copies a `lintel cert` Secret manifest into the manifest folder, as the README tells
    a user to; returns its path there."""
    path = os.path.join(manifests, "secrets", f"{files.namespace}-{files.secret_name}.yaml")
    with open(files.secret_yaml, encoding="utf-8") as f:
        h.write_text(path, f.read())
    return path


def alive_request(conn, target, host):
    """One request on a kept-alive connection; a closed connection fails the test at once
    (RuntimeError is not retried by wait_until)."""
    try:
        conn.request("GET", target, host=host)
        return conn.read_response()
    except (h.ConnectionClosed, ssl.SSLError, ConnectionError) as e:
        raise RuntimeError(f"the kept-alive TLS connection was closed: {e!r}") from e


def client_hello_bytes(server_name="shop.example.com"):
    """The bytes of a real TLS ClientHello (Python's ssl over memory BIOs)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = h.client_context().wrap_bio(incoming, outgoing, server_hostname=server_name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def read_until_closed(sock, timeout):
    """Reads until the peer closes (EOF or reset) or `timeout` passes. Returns (closed,
    bytes received)."""
    deadline = time.monotonic() + timeout
    data = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False, bytes(data)
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return False, bytes(data)
        except (ConnectionResetError, BrokenPipeError):
            return True, bytes(data)
        if not chunk:
            return True, bytes(data)
        data += chunk


# --------------------------------------------------------------------------- shared site

class Site:
    """The shared lintel and its certificates (see the module docstring)."""

    HOSTS = {  # host → echo (Service) that serves it
        "shop.example.com": "shop",
        "blog.apps.example.com": "apps",
        "special.apps.example.com": "special",
        "api.example.com": "api",
        "www.api.example.com": "api",
        "team.example.com": "team",
        "chain.example.com": "chain",
        "optout.example.com": "optout",
        "forced.example.com": "forced",
        "plain.example.com": "plain",
    }

    def __init__(self):
        fx = self.fx = h.Fixture(__name__)
        try:
            self._build()
        except BaseException:
            fx.close()
            raise

    def _build(self):
        fx = self.fx
        self.work = fx.tmpdir()
        self.certs_dir = os.path.join(self.work, "certs")  # lintel cert creates it
        self.manifests = fx.tmpdir()
        # One CA for every `lintel cert` run into the folder: the user trusts it once.
        self.shop = h.lintel_cert(["shop.example.com"], self.certs_dir, secret="shop-tls")
        with open(self.shop.ca_crt, "rb") as f:
            self.ca_after_first_run = f.read()
        self.apps = h.lintel_cert(["*.apps.example.com"], self.certs_dir, secret="apps-tls")
        self.special = h.lintel_cert(["special.apps.example.com"], self.certs_dir,
                                     secret="special-tls", days=30)
        # No --secret: the name comes from the first host.
        self.api = h.lintel_cert(["api.example.com", "www.api.example.com"], self.certs_dir)
        self.team = h.lintel_cert(["team.example.com"], self.certs_dir, secret="team-tls",
                                  namespace="team")
        self.optout = h.lintel_cert(["optout.example.com"], self.certs_dir, secret="optout-tls")
        for files in (self.shop, self.apps, self.special, self.api, self.team, self.optout):
            copy_secret(files, self.manifests)
        # An RSA leaf signed by an intermediate, the Secret holding leaf + intermediate.
        self.chain_root = h.openssl_issue(self.work, "Lintel Test Root", ca=True, days=30)
        self.chain_intermediate = h.openssl_issue(self.work, "Lintel Test Intermediate",
                                                  issuer=self.chain_root, ca=True, days=30)
        leaf = h.openssl_issue(self.work, "chain.example.com", ["chain.example.com"],
                               issuer=self.chain_intermediate, key_type="rsa", days=30)
        self.chain = h.chain_files(self.work, leaf, self.chain_intermediate)
        h.write_manifests(self.manifests, "secrets/chain.yaml",
                          [self.chain.secret("chain-tls", "default")])

        objects = []
        self.echos = {}
        for name in sorted(set(self.HOSTS.values())):
            ns = "team" if name == "team" else "default"
            self.echos[name] = fx.echo(name)
            objects += h.echo_service(name, [self.echos[name]], namespace=ns)
        h.write_manifests(self.manifests, "services.yaml", objects)
        h.write_manifests(self.manifests, "ingresses.yaml", [
            ingress("shop", tls=[tls_entry("shop-tls", "shop.example.com")],
                    rules=[root_rule("shop.example.com", "shop")]),
            ingress("apps", tls=[tls_entry("apps-tls", "*.apps.example.com")],
                    rules=[root_rule("*.apps.example.com", "apps")]),
            ingress("special", tls=[tls_entry("special-tls", "special.apps.example.com")],
                    rules=[root_rule("special.apps.example.com", "special")]),
            ingress("api", tls=[tls_entry(self.api.secret_name, "api.example.com",
                                          "www.api.example.com")],
                    rules=[root_rule("api.example.com", "api"),
                           root_rule("www.api.example.com", "api")]),
            ingress("team", namespace="team", tls=[tls_entry("team-tls", "team.example.com")],
                    rules=[root_rule("team.example.com", "team")]),
            ingress("chain", tls=[tls_entry("chain-tls", "chain.example.com")],
                    rules=[root_rule("chain.example.com", "chain")]),
            ingress("optout", annotations={SSL_REDIRECT: "false"},
                    tls=[tls_entry("optout-tls", "optout.example.com")],
                    rules=[root_rule("optout.example.com", "optout")]),
            ingress("forced", annotations={FORCE_SSL_REDIRECT: "true"},
                    rules=[root_rule("forced.example.com", "forced")]),
            ingress("plain", rules=[root_rule("plain.example.com", "plain")]),
            # No tls entry of its own, but its host is a TLS host (shop): TLS is per host.
            ingress("shop-extra", rules=[rule("shop.example.com",
                                              http_path("/extra", "Prefix", "plain", 80))]),
            # No tls entry, an exact host under the wildcard TLS host: a TLS host too.
            ingress("apps-exact", rules=[root_rule("exact.apps.example.com", "plain")]),
        ])
        self.lintel = fx.lintel(self.manifests,
                                extra_args=["--https-redirect-port", str(REDIRECT_PORT)])
        h.wait_until(self.lintel.serves_tls, what="the HTTPS listener to accept connections")
        self._nohsts = None

    def nohsts(self):
        """A second lintel on the same manifests: --hsts=false and no --https-redirect-port
        (so redirects go to the default 443)."""
        if self._nohsts is None:
            self._nohsts = self.fx.lintel(self.manifests, extra_args=["--hsts=false"])
            h.wait_until(self._nohsts.serves_tls, what="the HTTPS listener of the second lintel")
        return self._nohsts

    def close(self):
        self.fx.close()


_SITE = None


def site():
    global _SITE
    if _SITE is None:
        h.require_binaries()
        h.require_tools("openssl", "curl")
        _SITE = Site()
        unittest.addModuleCleanup(_close_site)
    return _SITE


def _close_site():
    global _SITE
    if _SITE is not None:
        _SITE.close()
        _SITE = None


class SiteTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.site = site()
        cls.lintel = cls.site.lintel

    def default_cert(self):
        return h.CertInfo(h.served_certificate(self.lintel, None))


# --------------------------------------------------------------------------- 1. lintel cert + curl

class CertCommandAndCurlTest(SiteTest):

    def test_curl_with_cacert_reaches_the_backend_of_each_host(self):
        s = self.site
        for host, echo in s.HOSTS.items():
            if host in ("forced.example.com", "plain.example.com"):
                continue  # no certificate of theirs: see the next test
            ca = s.chain_root.crt if host == "chain.example.com" else s.shop.ca_crt
            with self.subTest(host=host):
                r, response = h.curl_https(self.lintel, host, "/hello?from=curl", cacert=ca)
                self.assertEqual(r.returncode, 0, f"curl failed: {r.stderr.strip()}")
                self.assertEqual(response.status, 200, response)
                info = json.loads(response.body)
                self.assertEqual(info["name"], echo, f"{host} reached the wrong backend")
                self.assertEqual(info["path"], "/hello?from=curl")

    def test_curl_refuses_what_the_ca_does_not_vouch_for(self):
        s = self.site
        cases = [
            ("plain.example.com", s.shop.ca_crt),        # no TLS entry: default certificate
            ("a.b.apps.example.com", s.shop.ca_crt),     # a wildcard covers one label only
            ("shop.example.com", s.chain_root.crt),      # another CA
        ]
        for host, ca in cases:
            with self.subTest(host=host, ca=os.path.basename(os.path.dirname(ca))):
                r, _ = h.curl_https(self.lintel, host, "/", cacert=ca)
                self.assertEqual(r.returncode, CURL_VERIFY_FAILED,
                                 f"curl should refuse the certificate: rc={r.returncode} "
                                 f"{r.stderr.strip()}")

    def test_lintel_cert_files(self):
        s = self.site
        with open(s.shop.ca_crt, "rb") as f:
            self.assertEqual(f.read(), s.ca_after_first_run,
                             "later `lintel cert` runs into the same folder must reuse ca.crt")
        self.assertEqual(s.api.secret_name, "api-example-com-tls",
                         "without --secret the Secret is named after the first host")
        now = datetime.datetime.now(datetime.timezone.utc)
        cases = [(s.shop, ["shop.example.com"]), (s.apps, ["*.apps.example.com"]),
                 (s.special, ["special.apps.example.com"]),
                 (s.api, ["api.example.com", "www.api.example.com"]),
                 (s.team, ["team.example.com"])]
        for files, hosts in cases:
            with self.subTest(secret=files.secret_name):
                info = h.CertInfo(files.der)
                self.assertEqual(info.dns_names, hosts)
                r = h.openssl("verify", "-CAfile", files.ca_crt, files.crt, check=False)
                self.assertEqual(r.returncode, 0, f"leaf does not chain to ca.crt: {r.stdout}{r.stderr}")
                for key in (files.key, files.ca_key):
                    self.assertEqual(os.stat(key).st_mode & 0o077, 0,
                                     f"{key} must not be readable by group/others")
                with open(files.secret_yaml, encoding="utf-8") as f:
                    text = f.read()
                self.assertRegex(text, r"(?m)^kind:\s*\"?Secret\"?\s*$")
                self.assertRegex(text, r"(?m)^type:\s*\"?kubernetes\.io/tls\"?\s*$")
                self.assertRegex(text, rf"(?m)^\s+name:\s*\"?{re.escape(files.secret_name)}\"?\s*$")
                self.assertRegex(text, rf"(?m)^\s+namespace:\s*\"?{files.namespace}\"?\s*$")
                self.assertRegex(text, r"(?m)^\s+tls\.crt:\s*\S+")
                self.assertRegex(text, r"(?m)^\s+tls\.key:\s*\S+")
        left = h.CertInfo(s.special.der).not_after - now
        self.assertLess(abs(left - datetime.timedelta(days=30)), datetime.timedelta(days=1),
                        f"--days 30 gave a certificate valid for {left}")


# --------------------------------------------------------------------------- 2. SNI

class SniTest(SiteTest):

    def test_certificate_served_per_sni(self):
        s = self.site
        own = {
            "shop.example.com": s.shop,
            "blog.apps.example.com": s.apps,         # wildcard
            "x-1.apps.example.com": s.apps,
            "special.apps.example.com": s.special,   # exact beats the wildcard
            "api.example.com": s.api,
            "www.api.example.com": s.api,
            "team.example.com": s.team,              # Secret in the Ingress's namespace
            "chain.example.com": s.chain,
        }
        for sni, files in own.items():
            with self.subTest(sni=sni):
                info = h.CertInfo(h.served_certificate(self.lintel, sni))
                self.assertEqual(info.fingerprint, files.fingerprint,
                                 f"SNI {sni} got {info}, expected {files.secret_name}")
        default = self.default_cert()
        for sni in ("a.b.apps.example.com", "apps.example.com", "unknown.example.org",
                    "plain.example.com", "forced.example.com", "example.com"):
            with self.subTest(sni=sni):
                info = h.CertInfo(h.served_certificate(self.lintel, sni))
                self.assertEqual(info.fingerprint, default.fingerprint,
                                 f"SNI {sni} should get the default certificate, got {info}")

    def test_default_certificate_is_self_signed_p256(self):
        info = self.default_cert()  # a handshake without SNI
        self.assertEqual(info.common_name, h.DEFAULT_CERT_SUBJECT, info)
        self.assertTrue(info.self_signed, info)
        self.assertEqual(info.key_algorithm, "id-ecPublicKey", info)
        self.assertIn(info.curve, ("prime256v1", "P-256"), info)
        self.assertGreater(info.not_after, datetime.datetime.now(datetime.timezone.utc))

    def test_default_certificate_fingerprint_logged_once(self):
        fp = self.default_cert().fingerprint
        log = (self.lintel.stderr_text() + self.lintel.stdout_text()).replace(":", "").lower()
        self.assertEqual(log.count(fp), 1,
                         f"the generated default certificate's SHA-256 ({fp}) should be "
                         f"logged once\n{self.lintel.tail()}")

    def test_sni_is_case_insensitive_and_ignores_a_trailing_dot(self):
        for sni in ("SHOP.Example.COM", "shop.example.com.", "Blog.APPS.example.com"):
            with self.subTest(sni=sni):
                r = h.s_client(self.lintel.host, self.lintel.https_port, server_name=sni)
                self.assertIsNotNone(h.s_client_negotiated(r), r.output[-2000:])
                certs = h.pem_certificates(r.output)
                self.assertTrue(certs, r.output[-2000:])
                want = self.site.apps if sni.lower().startswith("blog") else self.site.shop
                self.assertEqual(h.fingerprint(certs[0]), want.fingerprint)

    def test_chain_is_sent(self):
        r = h.s_client(self.lintel.host, self.lintel.https_port, "-showcerts",
                       server_name="chain.example.com")
        certs = h.pem_certificates(r.output)
        self.assertEqual([h.fingerprint(c) for c in certs],
                         [self.site.chain.fingerprint, self.site.chain_intermediate.fingerprint],
                         "the Secret's leaf and intermediate, in order")

    def test_default_certificate_from_flags(self):
        s = self.site
        own = h.openssl_issue(s.work, "Operator default", ["default.invalid"], key_type="rsa",
                              name="operator-default")
        lintel = s.fx.lintel(s.manifests, extra_args=["--default-cert", own.crt,
                                                      "--default-key", own.key])
        h.wait_until(lintel.serves_tls, what="the HTTPS listener")
        for sni in (None, "unknown.example.org", "plain.example.com"):
            with self.subTest(sni=sni):
                self.assertEqual(h.fingerprint(h.served_certificate(lintel, sni)),
                                 own.fingerprint)
        self.assertEqual(h.fingerprint(h.served_certificate(lintel, "shop.example.com")),
                         s.shop.fingerprint)
        response, _ = h.https_get(lintel, None, "/", host="plain.example.com")
        self.assertEqual(h.echo_name(response), "plain")

    def test_unusable_default_certificate_flags_refuse_to_start(self):
        s = self.site
        past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
        expired = h.openssl_issue(s.work, "Expired default", ["default.invalid"],
                                  not_before=past, not_after=past + datetime.timedelta(days=30))
        other = h.openssl_issue(s.work, "Other", ["other.invalid"])
        address = s.fx.pool.take()
        cases = {
            "expired": ["--default-cert", expired.crt, "--default-key", expired.key],
            "key does not match": ["--default-cert", s.shop.crt, "--default-key", other.key],
            "cert without key": ["--default-cert", s.shop.crt],
            "missing file": ["--default-cert", os.path.join(s.work, "nope.crt"),
                             "--default-key", os.path.join(s.work, "nope.key")],
        }
        for what, flags in cases.items():
            with self.subTest(case=what):
                ports = [h.free_port(address) for _ in range(3)]
                argv = ["serve", "--manifests", s.manifests,
                        "--http", h.host_port(address, ports[0]),
                        "--https", h.host_port(address, ports[1]),
                        "--admin", h.host_port(address, ports[2]), *flags]
                code, out = h.lintel_exits(argv, log_dir=s.fx.log_dir)
                self.assertIsNotNone(code, f"lintel kept running with {what}: {out[-800:]}")
                self.assertEqual(code, 2, f"refused at start with exit 2 (docs): {out[-800:]}")
                self.assertTrue(out.strip(), "a refusal should say why")


# --------------------------------------------------------------------------- 3. protocols

class ProtocolTest(SiteTest):
    # OpenSSL 3 allows TLS 1.0/1.1 only at security level 0: without it the client itself
    # would refuse and the test would prove nothing. The control server shows the client can.
    OLD = "DEFAULT@SECLEVEL=0"

    def start_control_server(self):
        address = self.site.fx.pool.take()
        port = h.free_port(address)
        p = h.Process([h.OPENSSL, "s_server", "-accept", h.host_port(address, port),
                       "-cert", self.site.shop.crt, "-key", self.site.shop.key,
                       "-cipher", self.OLD, "-min_protocol", "TLSv1", "-www"],
                      "openssl-s_server", self.site.fx.log_dir)
        self.addCleanup(p.stop)
        h.wait_until(lambda: h.can_connect(address, port), what="openssl s_server")
        return address, port

    def test_tls10_and_tls11_refused(self):
        control = self.start_control_server()
        for flag, proto in (("-tls1", "TLSv1"), ("-tls1_1", "TLSv1.1")):
            with self.subTest(version=proto):
                r = h.s_client(*control, flag, "-cipher", self.OLD, server_name="shop.example.com")
                got = h.s_client_negotiated(r)
                self.assertEqual(got and got[0], proto,
                                 f"control: the client cannot speak {proto}:\n{r.output[-1500:]}")
                for sni in ("shop.example.com", None):
                    r = h.s_client(self.lintel.host, self.lintel.https_port, flag, "-cipher",
                                   self.OLD, server_name=sni)
                    self.assertIsNone(h.s_client_negotiated(r),
                                      f"{proto} was accepted (SNI {sni}):\n{r.output[-1500:]}")
                # Python's ssl, forced to the old version, is refused too.
                old = getattr(ssl.TLSVersion, proto.replace(".", "_"))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)  # that is the point
                    ctx = h.client_context(minimum=old, maximum=old, ciphers=self.OLD)
                with self.assertRaises((ssl.SSLError, ConnectionError)):
                    h.https_connect(self.lintel, "shop.example.com", context=ctx).close()
        self.assertTrue(self.lintel.alive())

    def test_tls12_and_tls13_accepted(self):
        for flag, proto, version in (("-tls1_2", "TLSv1.2", ssl.TLSVersion.TLSv1_2),
                                     ("-tls1_3", "TLSv1.3", ssl.TLSVersion.TLSv1_3)):
            with self.subTest(version=proto):
                r = h.s_client(self.lintel.host, self.lintel.https_port, flag,
                               server_name="shop.example.com")
                got = h.s_client_negotiated(r)
                self.assertIsNotNone(got, r.output[-1500:])
                self.assertEqual(got[0], proto)
                ctx = h.client_context(minimum=version, maximum=version)
                response, _ = h.https_get(self.lintel, "shop.example.com", "/v", context=ctx)
                self.assertEqual(h.echo_name(response), "shop")
                with h.https_connect(self.lintel, "shop.example.com", context=ctx) as c:
                    self.assertEqual(c.version, proto)

    def test_alpn_http11(self):
        ctx = h.client_context(alpn=["h2", "http/1.1"])
        with h.https_connect(self.lintel, "shop.example.com", context=ctx) as c:
            self.assertEqual(c.alpn, "http/1.1")
            c.request("GET", "/alpn", host="shop.example.com")
            self.assertEqual(h.echo_name(c.read_response()), "shop")
        r = h.s_client(self.lintel.host, self.lintel.https_port, "-alpn", "http/1.1",
                       server_name="shop.example.com")
        self.assertIn("ALPN protocol: http/1.1", r.output)
        # HTTP/2 is not spoken yet: offering only h2 must not select it.
        try:
            with h.https_connect(self.lintel, "shop.example.com",
                                 context=h.client_context(alpn=["h2"])) as c:
                self.assertIsNone(c.alpn)
        except ssl.SSLError:
            pass  # refusing the handshake (no_application_protocol) is fine too

    def test_tls12_ecdhe_aead_only(self):
        cases = [  # (SNI → key type, cipher, accepted)
            ("shop.example.com", "ECDHE-ECDSA-AES128-GCM-SHA256", True),
            ("shop.example.com", "ECDHE-ECDSA-AES256-GCM-SHA384", True),
            ("shop.example.com", "ECDHE-ECDSA-AES128-SHA", False),      # CBC
            ("shop.example.com", "ECDHE-ECDSA-AES256-SHA384", False),   # CBC
            ("chain.example.com", "ECDHE-RSA-AES128-GCM-SHA256", True),  # RSA certificate
            ("chain.example.com", "ECDHE-RSA-AES128-SHA", False),       # CBC
            ("chain.example.com", "AES128-GCM-SHA256", False),          # RSA key exchange
            ("chain.example.com", "AES256-SHA256", False),              # RSA kx + CBC
        ]
        for sni, cipher, accepted in cases:
            with self.subTest(sni=sni, cipher=cipher):
                r = h.s_client(self.lintel.host, self.lintel.https_port, "-tls1_2",
                               "-cipher", cipher, server_name=sni)
                got = h.s_client_negotiated(r)
                if accepted:
                    self.assertEqual(got, ("TLSv1.2", cipher), r.output[-1500:])
                else:
                    self.assertIsNone(got, f"{cipher} was accepted")


# --------------------------------------------------------------------------- HTTP over TLS

class HttpsSessionTest(SiteTest):
    """The proxy code that serves plain HTTP serves TLS too: bodies both ways, pipelining,
    a ClientHello cut into tiny pieces, close_notify."""
    SIZE = 32 << 20

    def test_large_bodies_both_ways(self):
        with h.https_connect(self.lintel, "shop.example.com") as c:
            for chunked in (False, True):
                with self.subTest(direction="download", chunked=chunked):
                    c.request("GET", f"/download?bytes={self.SIZE}&chunked={int(chunked)}",
                              host="shop.example.com")
                    r = c.read_response(keep_body=False)
                    self.assertEqual((r.status, r.body_length), (200, self.SIZE))
            for chunked in (False, True):
                with self.subTest(direction="upload", chunked=chunked):
                    framing = ({"Transfer-Encoding": "chunked"} if chunked
                               else {"Content-Length": str(self.SIZE)})
                    c.request("POST", "/upload", host="shop.example.com", headers=framing)
                    c.send_body(self.SIZE, chunked=chunked)
                    info = h.echo_of(c.read_response())
                    self.assertEqual(info["body_bytes"], self.SIZE)

    def test_pipelined_requests(self):
        with h.https_connect(self.lintel, "shop.example.com") as c:
            c.send(b"".join(c.request("GET", f"/p/{i}", host="shop.example.com", send=False)
                            for i in range(20)))
            paths = [h.echo_of(c.read_response())["path"] for _ in range(20)]
        self.assertEqual(paths, [f"/p/{i}" for i in range(20)])

    def test_many_concurrent_connections(self):
        errors, names = [], []
        lock = threading.Lock()

        def client(i):
            try:
                with h.https_connect(self.lintel, "shop.example.com") as c:
                    for j in range(3):
                        c.request("GET", f"/c/{i}/{j}", host="shop.example.com")
                        name = h.echo_name(c.read_response())
                        with lock:
                            names.append(name)
            except Exception as e:  # reported below, with the others
                with lock:
                    errors.append(f"client {i}: {e!r}")

        threads = [threading.Thread(target=client, args=(i,)) for i in range(100)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        self.assertEqual(errors, [])
        self.assertEqual(names, ["shop"] * 300)

    def test_client_hello_one_byte_per_segment(self):
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = h.client_context().wrap_bio(incoming, outgoing, server_hostname="shop.example.com")
        sock = socket.create_connection((self.lintel.host, self.lintel.https_port), timeout=10)
        self.addCleanup(sock.close)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        first = True
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                out = outgoing.read()
                if first:  # the ClientHello, a byte at a time
                    for i in range(len(out)):
                        sock.send(out[i:i + 1])
                    first = False
                elif out:
                    sock.sendall(out)
                data = sock.recv(65536)
                self.assertTrue(data, "closed during a handshake whose ClientHello came in pieces")
                incoming.write(data)
        sock.sendall(outgoing.read())
        self.assertEqual(h.fingerprint(tls.getpeercert(binary_form=True)),
                         self.site.shop.fingerprint)
        tls.write(b"GET /pieces HTTP/1.1\r\nHost: shop.example.com\r\nConnection: close\r\n\r\n")
        sock.sendall(outgoing.read())
        received = b""
        while True:
            try:
                chunk = tls.read(65536)
                if not chunk:
                    break
                received += chunk
            except ssl.SSLWantReadError:
                data = sock.recv(65536)
                if not data:
                    break
                incoming.write(data)
            except ssl.SSLZeroReturnError:
                break
        self.assertIn(b'"path":"/pieces"', received.replace(b" ", b""))

    def test_close_notify_after_connection_close(self):
        with h.https_connect(self.lintel, "shop.example.com", suppress_ragged_eofs=False) as c:
            c.request("GET", "/bye", host="shop.example.com", headers={"Connection": "close"})
            r = c.read_response()
            self.assertEqual(h.echo_name(r), "shop")
            c.sock.settimeout(10)
            # A clean TLS close (close_notify) reads as b""; a bare TCP close raises
            # SSLEOFError ("EOF occurred in violation of protocol").
            self.assertEqual(c.sock.recv(100), b"")


# --------------------------------------------------------------------------- 4. redirects, HSTS

class RedirectAndHeadersTest(SiteTest):

    def http(self, lintel, host, target="/", method="GET", host_header=None):
        return lintel.get(target, host=host_header or host, method=method,
                          body=b"" if method == "POST" else None)

    def assert_redirect(self, response, location):
        self.assertEqual(response.status, 308, response)
        self.assertEqual(response.header("location"), location)
        self.assertIsNone(response.header("x-echo-name"), "a redirect must not reach the backend")
        self.assertIsNone(response.header("strict-transport-security"),
                          "no HSTS over plain HTTP")

    def test_plain_http_to_tls_host_gets_308(self):
        p = REDIRECT_PORT
        cases = [
            ("shop.example.com", "/a/b?x=1&y=%20z", None, f"https://shop.example.com:{p}/a/b?x=1&y=%20z"),
            ("shop.example.com", "/", f"shop.example.com:{self.lintel.http_port}", f"https://shop.example.com:{p}/"),
            ("blog.apps.example.com", "/post?id=7", None, f"https://blog.apps.example.com:{p}/post?id=7"),
            ("team.example.com", "/t", None, f"https://team.example.com:{p}/t"),
            # A route of an Ingress without tls on a TLS host: TLS (and redirect) per host.
            ("shop.example.com", "/extra/1", None, f"https://shop.example.com:{p}/extra/1"),
            ("exact.apps.example.com", "/e", None, f"https://exact.apps.example.com:{p}/e"),
            # The Location is built from the normalized path: never another authority.
            ("shop.example.com", "//evil.example/x", None, f"https://shop.example.com:{p}/evil.example/x"),
            # force-ssl-redirect redirects a host without TLS.
            ("forced.example.com", "/f?q=1", None, f"https://forced.example.com:{p}/f?q=1"),
        ]
        for host, target, host_header, location in cases:
            for method in ("GET", "POST"):
                with self.subTest(host=host, target=target, method=method):
                    self.assert_redirect(self.http(self.lintel, host, target, method, host_header),
                                         location)

    def test_redirect_to_443_has_no_port(self):
        other = self.site.nohsts()
        self.assert_redirect(self.http(other, "shop.example.com", "/a?b=c"),
                             "https://shop.example.com/a?b=c")
        self.assert_redirect(self.http(other, "forced.example.com", "/"),
                             "https://forced.example.com/")

    def test_no_redirect_when_switched_off_or_without_tls(self):
        for host in ("optout.example.com", "plain.example.com"):
            with self.subTest(host=host):
                r = self.http(self.lintel, host, "/x?y=1")
                self.assertEqual(h.echo_name(r), self.site.HOSTS[host], r)
                self.assertIsNone(r.header("strict-transport-security"), "no HSTS over plain HTTP")
                info = h.echo_of(r)
                self.assertEqual(info["path"], "/x?y=1")
                self.assertEqual(h.header_values(info, "x-forwarded-proto"), ["http"])
                self.assertEqual(h.header_values(info, "x-forwarded-port"),
                                 [str(self.lintel.http_port)])

    def test_hsts_on_https_responses_of_tls_hosts(self):
        cases = [  # (host, HSTS expected)
            ("shop.example.com", True), ("blog.apps.example.com", True),
            ("team.example.com", True), ("chain.example.com", True),
            ("optout.example.com", True),   # ssl-redirect "false" keeps TLS, so HSTS too
            ("forced.example.com", False),  # no TLS entry: default certificate, no HSTS
            ("plain.example.com", False),
        ]
        for host, hsts in cases:
            with self.subTest(host=host):
                response, _ = h.https_get(self.lintel, host, "/h")
                self.assertEqual(h.echo_name(response), self.site.HOSTS[host], response)
                self.assertEqual(response.header_all("strict-transport-security"),
                                 [h.HSTS_VALUE] if hsts else [])
        response, _ = h.https_get(self.lintel, "shop.example.com", "/extra/h")
        self.assertEqual(h.echo_name(response), "plain", "routed by Host and path")
        self.assertEqual(response.header_all("strict-transport-security"), [h.HSTS_VALUE],
                         "a route on a TLS host gets HSTS whichever Ingress it comes from")
        response, der = h.https_get(self.lintel, "exact.apps.example.com", "/h")
        self.assertEqual(h.echo_name(response), "plain")
        self.assertEqual(h.fingerprint(der), self.site.apps.fingerprint)
        self.assertEqual(response.header_all("strict-transport-security"), [h.HSTS_VALUE],
                         "a host under a wildcard TLS host is a TLS host")
        other = self.site.nohsts()
        response, _ = h.https_get(other, "shop.example.com", "/h")
        self.assertEqual(h.echo_name(response), "shop")
        self.assertEqual(response.header_all("strict-transport-security"), [],
                         "--hsts=false must switch HSTS off")

    def test_forwarded_proto_and_port_over_tls(self):
        for host in ("shop.example.com", "plain.example.com"):
            with self.subTest(host=host):
                response, _ = h.https_get(self.lintel, host, "/fwd",
                                          headers={"X-Forwarded-Proto": "http",
                                                   "X-Forwarded-Port": "1"})
                info = h.echo_of(response)
                self.assertEqual(h.header_values(info, "x-forwarded-proto"), ["https"])
                self.assertEqual(h.header_values(info, "x-forwarded-port"),
                                 [str(self.lintel.https_port)])

    def test_curl_follows_the_redirect(self):
        lt = self.lintel
        r = h.curl("-i", "-L", "--max-time", "20", "--cacert", self.site.shop.ca_crt,
                   "--resolve", f"shop.example.com:{lt.http_port}:{lt.host}",
                   "--connect-to", f"shop.example.com:{REDIRECT_PORT}:{lt.host}:{lt.https_port}",
                   f"http://shop.example.com:{lt.http_port}/follow/me?please=1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"(?m)^HTTP/1\.1 308")
        response = h.parse_curl_response(r.stdout)
        self.assertEqual(response.status, 200)
        info = json.loads(response.body)
        self.assertEqual((info["name"], info["path"]), ("shop", "/follow/me?please=1"))
        self.assertEqual(response.header("strict-transport-security"), h.HSTS_VALUE)


# --------------------------------------------------------------------------- 5. rotation

class RotationTest(unittest.TestCase):

    def setUp(self):
        h.require_binaries()
        h.require_tools("openssl", "curl")
        fx = self.fx = h.Fixture(__name__)
        self.addCleanup(fx.close)
        self.manifests = fx.tmpdir()
        self.echo = fx.echo("rot")
        h.write_manifests(self.manifests, "app.yaml", [
            *h.echo_service("rot", [self.echo]),
            ingress("rot", tls=[tls_entry("rot-tls", "rot.example.com"),
                                tls_entry("late-tls", "late.example.com")],
                    rules=[root_rule("rot.example.com", "rot"),
                           root_rule("late.example.com", "rot")]),
        ])
        self.first = h.lintel_cert(["rot.example.com"], fx.tmpdir(), secret="rot-tls")
        self.secret_path = copy_secret(self.first, self.manifests)
        self.lintel = fx.lintel(self.manifests)
        h.wait_until(self.lintel.serves_tls, what="the HTTPS listener")

    def fingerprint_for(self, sni):
        return h.fingerprint(h.served_certificate(self.lintel, sni))

    def test_rotated_secret_is_used_for_new_handshakes_old_connection_keeps_working(self):
        old = h.https_connect(self.lintel, "rot.example.com")
        self.addCleanup(old.close)
        self.assertEqual(h.fingerprint(old.peer_certificate()), self.first.fingerprint)
        self.assertEqual(h.echo_name(alive_request(old, "/before", "rot.example.com")), "rot")

        second = h.lintel_cert(["rot.example.com"], self.fx.tmpdir(), secret="rot-tls", days=20)
        self.assertNotEqual(second.fingerprint, self.first.fingerprint)
        with open(second.secret_yaml, encoding="utf-8") as f:
            h.write_text(self.secret_path, f.read())

        h.wait_until(lambda: self.fingerprint_for("rot.example.com") == second.fingerprint,
                     what="a new handshake to see the rotated certificate")
        # The old connection is still open, on its old context.
        for i in range(3):
            self.assertEqual(h.echo_name(alive_request(old, f"/after/{i}", "rot.example.com")),
                             "rot")
        self.assertEqual(h.fingerprint(old.peer_certificate()), self.first.fingerprint)
        # What a user sees: the new CA verifies, the old one no longer does.
        r, response = h.curl_https(self.lintel, "rot.example.com", "/", cacert=second.ca_crt)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(h.echo_name(response), "rot")
        r, _ = h.curl_https(self.lintel, "rot.example.com", "/", cacert=self.first.ca_crt)
        self.assertEqual(r.returncode, CURL_VERIFY_FAILED, r.stderr)
        self.assertTrue(self.lintel.alive())

    def test_secret_added_later_replaces_the_default_certificate(self):
        default = self.fingerprint_for(None)
        self.assertEqual(self.fingerprint_for("late.example.com"), default,
                         "late.example.com has no Secret yet: default certificate")
        late = h.lintel_cert(["late.example.com"], self.fx.tmpdir(), secret="late-tls")
        copy_secret(late, self.manifests)
        h.wait_until(lambda: self.fingerprint_for("late.example.com") == late.fingerprint,
                     what="the new Secret to be served")
        self.assertEqual(self.fingerprint_for("rot.example.com"), self.first.fingerprint)
        # And removing it goes back to the default certificate.
        os.unlink(os.path.join(self.manifests, "secrets", "default-late-tls.yaml"))
        h.wait_until(lambda: self.fingerprint_for("late.example.com") == default,
                     what="the default certificate once the Secret is gone")


# --------------------------------------------------------------------------- 6. broken Secrets

class BrokenSecretTest(unittest.TestCase):
    """Each broken Secret quarantines its own host only: default certificate, a diagnostic
    naming the Ingress, the Secret and the reason; the good host keeps its certificate."""

    # case → (host, reason pattern)
    CASES = {
        "mismatch": ("mismatch.example.com", r"key"),
        "expired": ("expired.example.com", r"expir|not ?after|no longer valid"),
        "missing": ("missing.example.com", r"not found|missing|no such|does not exist|unknown"),
        "uncovered": ("uncovered.example.com", r"cover|san\b|subjectaltname|not valid for|does not match"),
        "elsewhere": ("elsewhere.example.com", r"not found|missing|no such|does not exist|namespace"),
        "opaque": ("opaque.example.com", r"type|kubernetes\.io/tls"),
        "garbage": ("garbage.example.com", r"pem|parse|decode|certificate|invalid"),
        "notyet": ("notyet.example.com", r"not (yet )?valid|before"),
        "encrypted": ("encrypted.example.com", r"encrypt|passphrase|password"),
        "weak": ("weak.example.com", r"1024|bits|too (small|short|weak)"),
    }

    def setUp(self):
        h.require_binaries()
        h.require_tools("openssl", "curl")
        fx = self.fx = h.Fixture(__name__)
        self.addCleanup(fx.close)
        self.manifests = fx.tmpdir()
        work = fx.tmpdir()
        certs = os.path.join(work, "certs")
        self.good = h.lintel_cert(["good.example.com"], certs, secret="good-tls")
        copy_secret(self.good, self.manifests)
        a = h.lintel_cert(["mismatch.example.com"], certs, secret="a")
        b = h.lintel_cert(["mismatch.example.com"], certs, secret="b")
        past = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
        expired = h.openssl_issue(work, "expired.example.com", ["expired.example.com"],
                                  not_before=past, not_after=past + datetime.timedelta(days=30))
        other_host = h.lintel_cert(["other.example.com"], certs, secret="other")
        elsewhere = h.lintel_cert(["elsewhere.example.com"], certs, secret="elsewhere")
        opaque_files = h.lintel_cert(["opaque.example.com"], certs, secret="opaque")
        opaque = opaque_files.secret("opaque-tls", "default")
        opaque["type"] = "Opaque"
        garbage = h.tls_secret("garbage-tls", "default", b"-----BEGIN CERTIFICATE-----\nnot a "
                               b"certificate\n-----END CERTIFICATE-----\n", b.key_pem())
        now = datetime.datetime.now(datetime.timezone.utc)
        notyet = h.openssl_issue(work, "notyet.example.com", ["notyet.example.com"],
                                 not_before=now + datetime.timedelta(days=1), days=30)
        encrypted = h.lintel_cert(["encrypted.example.com"], certs, secret="encrypted")
        encrypted_key = h.openssl("pkey", "-in", encrypted.key, "-aes256", "-passout",
                                  "pass:secret").stdout.encode()
        weak = h.openssl_issue(work, "weak.example.com", ["weak.example.com"], key_type="rsa:1024")
        # One entry, two hosts, a certificate for one of them: the other falls back alone.
        self.partial = h.lintel_cert(["partial.example.com"], certs, secret="partial")
        # Two Ingresses give one host different certificates: the older Ingress wins.
        self.conflict_old = h.lintel_cert(["conflict.example.com"], certs, secret="c-old")
        conflict_new = h.lintel_cert(["conflict.example.com"], certs, secret="c-new")
        self.secret_objects = [
            h.tls_secret("mismatch-tls", "default", a.cert_pem(), b.key_pem()),
            expired.secret("expired-tls", "default"),
            other_host.secret("uncovered-tls", "default"),
            elsewhere.secret("elsewhere-tls", "other"),  # not the Ingress's namespace
            opaque,
            garbage,
            notyet.secret("notyet-tls", "default"),
            h.tls_secret("encrypted-tls", "default", encrypted.cert_pem(), encrypted_key),
            weak.secret("weak-tls", "default"),
            self.partial.secret("partial-tls", "default"),
            self.conflict_old.secret("conflict-old-tls", "default"),
            conflict_new.secret("conflict-new-tls", "default"),
        ]
        self.secrets_path = h.write_manifests(self.manifests, "broken-secrets.yaml",
                                              self.secret_objects)
        self.fixed = {"mismatch": a}
        self.echo = fx.echo("web")
        objects = [*h.echo_service("web", [self.echo]),
                   ingress("good-ing", tls=[tls_entry("good-tls", "good.example.com")],
                           rules=[root_rule("good.example.com", "web")])]
        for case, (host, _) in self.CASES.items():
            objects.append(ingress(f"{case}-ing", tls=[tls_entry(f"{case}-tls", host)],
                                   rules=[root_rule(host, "web")]))
        objects += [
            ingress("partial-ing",
                    tls=[tls_entry("partial-tls", "partial.example.com", "stray.example.com")],
                    rules=[root_rule("partial.example.com", "web"),
                           root_rule("stray.example.com", "web")]),
            ingress("conflict-new-ing", creation_timestamp="2021-01-01T00:00:00Z",
                    tls=[tls_entry("conflict-new-tls", "conflict.example.com")],
                    rules=[rule("conflict.example.com", http_path("/new", "Prefix", "web", 80))]),
            ingress("conflict-old-ing", creation_timestamp="2020-01-01T00:00:00Z",
                    tls=[tls_entry("conflict-old-tls", "conflict.example.com")],
                    rules=[rule("conflict.example.com", http_path("/old", "Prefix", "web", 80))]),
        ]
        h.write_manifests(self.manifests, "ingresses.yaml", objects)

    def start(self):
        self.lintel = self.fx.lintel(self.manifests)
        h.wait_until(self.lintel.serves_tls, what="the HTTPS listener")
        return self.lintel

    def fingerprint_for(self, sni):
        return h.fingerprint(h.served_certificate(self.lintel, sni))

    def diagnostics_for(self, case):
        return [d for d in self.lintel.routes().get("diagnostics", [])
                if f"{case}-ing" in json.dumps(d) and f"{case}-tls" in json.dumps(d)]

    def test_broken_secrets_quarantine_only_their_host(self):
        lintel = self.start()
        default = self.fingerprint_for(None)
        self.assertEqual(self.fingerprint_for("good.example.com"), self.good.fingerprint)
        for case, (host, reason) in self.CASES.items():
            with self.subTest(case=case):
                self.assertEqual(self.fingerprint_for(host), default,
                                 f"{host} should be served with the default certificate")
                response, _ = h.https_get(lintel, host, "/q")
                self.assertEqual(h.echo_name(response), "web",
                                 f"{host} is still routed (over the default certificate)")
                found = self.diagnostics_for(case)
                self.assertTrue(found, f"no /routes diagnostic naming {case}-ing and {case}-tls:"
                                f" {json.dumps(lintel.routes().get('diagnostics'))[:2000]}")
                self.assertRegex(json.dumps(found).lower(), reason)
        good = [d for d in lintel.routes().get("diagnostics", []) if "good-" in json.dumps(d)]
        self.assertEqual(good, [], "the good Ingress must have no diagnostic")
        r, response = h.curl_https(lintel, "good.example.com", "/", cacert=self.good.ca_crt)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(h.echo_name(response), "web")
        self.assertTrue(lintel.alive())

    def test_host_not_covered_falls_back_alone_and_older_ingress_wins(self):
        lintel = self.start()
        default = self.fingerprint_for(None)
        self.assertEqual(self.fingerprint_for("partial.example.com"), self.partial.fingerprint)
        self.assertEqual(self.fingerprint_for("stray.example.com"), default)
        found = self.diagnostics_for("partial")
        self.assertTrue(found, json.dumps(lintel.routes().get("diagnostics"))[:2000])
        self.assertIn("stray.example.com", json.dumps(found))
        self.assertNotIn("partial.example.com is", json.dumps(found))
        self.assertEqual(self.fingerprint_for("conflict.example.com"),
                         self.conflict_old.fingerprint, "the older Ingress's certificate wins")
        self.assertTrue(self.diagnostics_for("conflict-new"),
                        "the newer Ingress is told its Secret is not used")
        self.assertEqual([d for d in lintel.routes().get("diagnostics", [])
                          if "conflict-old-ing" in str(d.get("object"))], [],
                         "the winner gets no warning")

    def test_lintel_check_names_ingress_secret_and_reason(self):
        r = h.run([h.LINTEL, "check", "--manifests", self.manifests], timeout=30)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, f"a bad Secret is a warning, not a rejection:\n{out}")
        for case, (host, reason) in self.CASES.items():
            with self.subTest(case=case):
                lines = [line for line in out.splitlines()
                         if f"{case}-ing" in line and f"{case}-tls" in line]
                self.assertTrue(lines, f"no line naming {case}-ing and {case}-tls in:\n{out}")
                self.assertRegex(" ".join(lines).lower(), reason)
        # The good host is listed with its own certificate (by fingerprint), with no warning.
        self.assertIn(self.good.fingerprint, out.replace(":", "").lower(),
                      f"lintel check should list good.example.com's certificate:\n{out}")
        self.assertEqual([line for line in out.splitlines() if "good-ing" in line], [], out)

    def test_fixed_secret_lifts_the_quarantine(self):
        lintel = self.start()
        default = self.fingerprint_for(None)
        self.assertEqual(self.fingerprint_for("mismatch.example.com"), default)
        # The same file rewritten (atomically) with a matching key in mismatch-tls.
        fixed = [self.fixed["mismatch"].secret("mismatch-tls", "default"),
                 *self.secret_objects[1:]]
        h.write_manifests(self.manifests, "broken-secrets.yaml", fixed)
        h.wait_until(lambda: self.fingerprint_for("mismatch.example.com")
                     == self.fixed["mismatch"].fingerprint, what="the fixed Secret to be served")
        h.wait_until(lambda: not self.diagnostics_for("mismatch"),
                     what="the mismatch diagnostic to clear")
        self.assertEqual(self.fingerprint_for("expired.example.com"), default)
        self.assertEqual(self.fingerprint_for("good.example.com"), self.good.fingerprint)


# --------------------------------------------------------------------------- 7. resumption

class ResumptionTest(unittest.TestCase):

    def setUp(self):
        h.require_binaries()
        fx = self.fx = h.Fixture(__name__)
        self.addCleanup(fx.close)
        self.manifests = fx.tmpdir()
        files = h.lintel_cert(["res.example.com"], fx.tmpdir(), secret="res-tls")
        copy_secret(files, self.manifests)
        self.echo = fx.echo("res")
        h.write_manifests(self.manifests, "app.yaml", [
            *h.echo_service("res", [self.echo]),
            ingress("res", tls=[tls_entry("res-tls", "res.example.com")],
                    rules=[root_rule("res.example.com", "res")])])
        self.key_file = os.path.join(fx.tmpdir(), "ticket.key")
        with open(self.key_file, "wb") as f:
            f.write(os.urandom(80))

    def start(self, *extra):
        lintel = self.fx.lintel(self.manifests, extra_args=list(extra), workers=1)
        h.wait_until(lintel.serves_tls, what="the HTTPS listener")
        return lintel

    def session_from(self, lintel, ctx):
        with h.https_connect(lintel, "res.example.com", context=ctx) as c:
            c.request("GET", "/first", host="res.example.com")
            self.assertEqual(h.echo_name(c.read_response()), "res")
            # TLS 1.3 tickets arrive after the handshake: the response read takes them in.
            session = c.session
        self.assertIsNotNone(session)
        self.assertTrue(session.has_ticket, "no session ticket was issued")
        return session

    def resumed_on(self, lintel, ctx, session):
        with h.https_connect(lintel, "res.example.com", context=ctx, session=session) as c:
            c.request("GET", "/second", host="res.example.com")
            self.assertEqual(h.echo_name(c.read_response()), "res")
            return c.session_reused

    def test_shared_ticket_key_resumes_across_processes(self):
        first = self.start("--session-ticket-key-file", self.key_file)
        second = self.start("--session-ticket-key-file", self.key_file)
        alone_a, alone_b = self.start(), self.start()
        for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            with self.subTest(version=version.name):
                ctx = h.client_context(minimum=version, maximum=version)
                session = self.session_from(first, ctx)
                self.assertTrue(self.resumed_on(first, ctx, session),
                                "resumption on the same process")
                session = self.session_from(first, ctx)
                self.assertTrue(self.resumed_on(second, ctx, session),
                                "a ticket from one process must resume on the other with the "
                                "same --session-ticket-key-file")
                # Control: tickets are on by default (same process), but two processes
                # without a shared key cannot read each other's tickets.
                session = self.session_from(alone_a, ctx)
                self.assertTrue(self.resumed_on(alone_a, ctx, session),
                                "session tickets should be on without the flag")
                session = self.session_from(alone_a, ctx)
                self.assertFalse(self.resumed_on(alone_b, ctx, session),
                                 "resumed across processes without a shared key")
                session = self.session_from(alone_a, ctx)
                self.assertFalse(self.resumed_on(first, ctx, session))

    def test_openssl_sess_out_sess_in(self):
        first = self.start("--session-ticket-key-file", self.key_file)
        second = self.start("--session-ticket-key-file", self.key_file)
        sess = os.path.join(self.fx.tmpdir(), "session.pem")
        request = b"GET / HTTP/1.1\r\nHost: res.example.com\r\nConnection: close\r\n\r\n"
        r = h.s_client(first.host, first.https_port, "-tls1_3", "-ign_eof", "-sess_out", sess,
                       server_name="res.example.com", stdin=request)
        self.assertIsNotNone(h.s_client_negotiated(r), r.output[-1500:])
        r = h.s_client(second.host, second.https_port, "-tls1_3", "-ign_eof", "-sess_in", sess,
                       server_name="res.example.com", stdin=request)
        self.assertRegex(r.output, r"(?m)^Reused, TLSv1\.3", r.output[-1500:])

    def test_bad_ticket_key_file_refuses_to_start(self):
        bad = os.path.join(self.fx.tmpdir(), "short.key")
        with open(bad, "wb") as f:
            f.write(os.urandom(79))
        address = self.fx.pool.take()
        for path in (bad, os.path.join(self.fx.tmpdir(), "missing.key")):
            with self.subTest(path=os.path.basename(path)):
                ports = [h.free_port(address) for _ in range(3)]
                code, out = h.lintel_exits(
                    ["serve", "--manifests", self.manifests,
                     "--http", h.host_port(address, ports[0]),
                     "--https", h.host_port(address, ports[1]),
                     "--admin", h.host_port(address, ports[2]),
                     "--session-ticket-key-file", path], log_dir=self.fx.log_dir)
                self.assertIsNotNone(code, f"lintel started with a bad ticket key: {out[-800:]}")
                self.assertNotEqual(code, 0, out)


# --------------------------------------------------------------------------- 8. failures

class FailureTest(unittest.TestCase):
    """Bad input on the TLS port: closed, logged at debug level, nothing else affected."""
    HANDSHAKE_TIMEOUT = 1.0  # seconds (--handshake-timeout 1s)

    @classmethod
    def setUpClass(cls):
        h.require_binaries()
        fx = cls.fx = h.Fixture(__name__)
        cls.addClassCleanup(fx.close)
        manifests = fx.tmpdir()
        files = h.lintel_cert(["fail.example.com"], fx.tmpdir(), secret="fail-tls")
        copy_secret(files, manifests)
        cls.echo = fx.echo("fail")
        h.write_manifests(manifests, "app.yaml", [
            *h.echo_service("fail", [cls.echo]),
            ingress("fail", tls=[tls_entry("fail-tls", "fail.example.com")],
                    rules=[root_rule("fail.example.com", "fail")])])
        cls.lintel = fx.lintel(manifests, extra_args=["--handshake-timeout", "1s",
                                                      "--log-level", "debug"])
        h.wait_until(cls.lintel.serves_tls, what="the HTTPS listener")

    def setUp(self):
        # A kept-alive TLS connection opened before the bad input must survive it.
        self.kept = h.https_connect(self.lintel, "fail.example.com")
        self.addCleanup(self.kept.close)
        self.assertEqual(h.echo_name(alive_request(self.kept, "/before", "fail.example.com")),
                         "fail")

    def tearDown(self):
        self.assertTrue(self.lintel.alive(), self.lintel.tail())

    def assert_still_serving(self):
        self.assertEqual(h.echo_name(alive_request(self.kept, "/after", "fail.example.com")),
                         "fail")
        response, _ = h.https_get(self.lintel, "fail.example.com", "/new")
        self.assertEqual(h.echo_name(response), "fail")
        self.assertEqual(self.lintel.admin("/healthz").status, 200)

    def debug_lines(self, pattern):
        return [line for line in self.lintel.stderr_text().splitlines()
                if " debug " in f" {line} " and re.search(pattern, line, re.I)]

    def assert_logged(self, pattern, before):
        """A new debug line matching `pattern` appears (there were `before`)."""
        h.wait_until(lambda: len(self.debug_lines(pattern)) > before,
                     what=f"a debug log line matching {pattern!r}\n{self.lintel.tail(10)}")

    def raw(self):
        s = socket.create_connection((self.lintel.host, self.lintel.https_port), timeout=5)
        self.addCleanup(s.close)
        return s

    def test_plain_http_to_the_tls_port_is_closed(self):
        logged = len(self.debug_lines(r"plain HTTP"))
        s = self.raw()
        s.sendall(b"GET / HTTP/1.1\r\nHost: fail.example.com\r\n\r\n")
        closed, data = read_until_closed(s, 10)
        self.assertTrue(closed, f"not closed; got {data[:200]!r}")
        self.assertFalse(data.startswith(b"HTTP/"), f"answered in plain HTTP: {data[:200]!r}")
        self.assertNotIn(b'"name"', data, "the request reached a backend")
        self.assert_logged(r"plain HTTP", logged)
        self.assert_still_serving()

    def test_garbage_client_hello_is_closed(self):
        hello = client_hello_bytes("fail.example.com")
        garbage = {
            "not a TLS record": b"\x00" + os.urandom(511),
            "application data before the handshake": b"\x17\x03\x03\x00\x10" + os.urandom(16),
            "bad record version": b"\x16\x09\x09" + hello[3:],
            "hello with a corrupted body": hello[:9] + bytes(b ^ 0x5A for b in hello[9:60]) + hello[60:],
            "handshake record, junk inside": b"\x16\x03\x01\x00\x20" + b"\xff" * 32,
            "TLS alert first": b"\x15\x03\x03\x00\x02\x02\x28",
            "oversized record length": b"\x16\x03\x01\xff\xff" + hello[5:],
        }
        failed, timeouts = r"handshake fail", r"deadline|timed? ?out"
        for what, data in garbage.items():
            with self.subTest(input=what):
                logged, timed_out = len(self.debug_lines(failed)), len(self.debug_lines(timeouts))
                s = self.raw()
                s.sendall(data)
                closed, got = read_until_closed(s, 10)
                self.assertTrue(closed, f"not closed after {what}")
                self.assertFalse(got.startswith(b"HTTP/"), got[:200])
                s.close()
                # Closed because the input was refused, not because the 1 s handshake
                # deadline ran out while lintel waited for more.
                self.assert_logged(failed, logged)
                self.assertEqual(len(self.debug_lines(timeouts)), timed_out,
                                 f"{what}: closed by the handshake deadline, not refused")
        self.assert_still_serving()

    def test_silent_or_stalled_client_is_closed_after_the_handshake_timeout(self):
        logged = len(self.debug_lines(r"deadline|timed? ?out"))
        deadline = self.HANDSHAKE_TIMEOUT + 8.0  # a bound, not a measured timing
        silent = self.raw()
        stalled = self.raw()
        stalled.sendall(client_hello_bytes("fail.example.com")[:20])  # half a ClientHello
        for what, s in (("silent", silent), ("stalled", stalled)):
            with self.subTest(client=what):
                closed, got = read_until_closed(s, deadline)
                self.assertTrue(closed, f"{what} client not closed within {deadline:.0f}s")
                self.assertFalse(got.startswith(b"HTTP/"), got[:200])
        self.assert_logged(r"deadline|timed? ?out", logged)
        self.assert_still_serving()

    def test_trickled_client_hello_is_cut_at_the_deadline(self):
        # The deadline covers the whole handshake: a byte every 100 ms keeps the
        # connection busy but must not keep it open (it would take ~50 s to send it all).
        hello = client_hello_bytes("fail.example.com")
        s = self.raw()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        deadline = time.monotonic() + self.HANDSHAKE_TIMEOUT + 8.0
        closed, sent = False, 0
        while sent < len(hello) and not closed and time.monotonic() < deadline:
            try:
                s.send(hello[sent:sent + 1])
                sent += 1
                # Paces the client and notices the close at once (EOF is readable).
                readable, _, _ = select.select([s], [], [], 0.1)
                if readable:
                    closed = not s.recv(4096)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
        self.assertTrue(closed, f"a ClientHello trickled byte by byte kept the connection "
                                f"open ({sent} of {len(hello)} bytes sent)")
        self.assertLess(sent, len(hello))
        self.assert_still_serving()

    def test_handshake_timeout_does_not_cut_established_connections(self):
        # A TLS connection idle for longer than the handshake timeout (but far below the
        # keep-alive idle timeout) is still usable: the deadline covers the handshake only.
        c = h.https_connect(self.lintel, "fail.example.com")
        self.addCleanup(c.close)
        self.assertEqual(h.echo_name(alive_request(c, "/1", "fail.example.com")), "fail")
        closed, _ = read_until_closed(c.sock, self.HANDSHAKE_TIMEOUT * 2.5)
        self.assertFalse(closed, "an established connection was closed by the handshake timeout")
        self.assertEqual(h.echo_name(alive_request(c, "/2", "fail.example.com")), "fail")


# --------------------------------------------------------------------------- README

class ReadmeTest(unittest.TestCase):
    """The README's "TLS in a minute", followed as written: steps 1-3 run verbatim in bash
    (paths to build/ and examples/ made absolute); step 4 starts the echo and lintel the
    README names, on run-time addresses and ports (the one deviation: the example
    EndpointSlice's 127.0.0.11/.12:9001 are rewritten to them, for hermeticity); step 5 is
    the README's curl line with the port and address substituted."""

    def readme_block(self):
        with open(os.path.join(h.SOURCE_DIR, "README.md"), encoding="utf-8") as f:
            text = f.read()
        section = re.search(r"^## TLS in a minute\n(.*?)(?=^## )", text, re.S | re.M)
        self.assertIsNotNone(section, "README.md has no \"## TLS in a minute\" section")
        block = re.search(r"```sh\n(.*?)```", section.group(1), re.S)
        self.assertIsNotNone(block, "no ```sh block in \"TLS in a minute\"")
        return section.group(1), block.group(1)

    def test_tls_in_a_minute(self):
        h.require_binaries()
        h.require_tools("curl")
        fx = h.Fixture(__name__)
        self.addCleanup(fx.close)
        text, block = self.readme_block()
        setup, sep, run_part = block.partition("# 4.")
        self.assertTrue(sep, "step 4 of the README block moved")
        work = fx.tmpdir()
        script = (setup.replace("build/", h.BUILD_DIR + "/")
                  .replace("examples/", os.path.join(h.SOURCE_DIR, "examples") + "/"))
        r = h.run(["bash", "-euc", script], cwd=work)
        self.assertEqual(r.returncode, 0, f"steps 1-3 failed:\n{r.stdout}{r.stderr}")

        # Step 4: the echo and the serve line of the README.
        echo_line = re.search(r"^build/lintel-echo (.*) &$", run_part, re.M)
        serve_line = re.search(r"^build/lintel serve (.*) &$", run_part, re.M)
        curl_line = re.search(r"^curl (.*)$", run_part, re.M)
        self.assertTrue(echo_line and serve_line and curl_line, run_part)
        echo_args = shlex.split(echo_line.group(1))
        listen = echo_args[echo_args.index("--listen") + 1]
        echo_name = echo_args[echo_args.index("--name") + 1]
        old_address, old_port = listen.rsplit(":", 1)
        echo = fx.echo(echo_name)
        services = os.path.join(work, "my-manifests", "services.yaml")
        with open(services, encoding="utf-8") as f:
            manifest = f.read()
        self.assertIn(old_address, manifest)
        manifest = (manifest.replace(f'"{old_address}"', f'"{echo.address}"')
                    .replace('"127.0.0.12"', f'"{fx.pool.take()}"')  # the README starts no web-2
                    .replace(f"port: {old_port}", f"port: {echo.port}"))
        h.write_text(services, manifest)
        serve_args = shlex.split(serve_line.group(1))
        i = serve_args.index("--manifests")
        manifests = os.path.join(work, serve_args[i + 1])
        del serve_args[i:i + 2]
        # The rest as written (--https-redirect-port 8443 is only written into redirects).
        lintel = fx.lintel(manifests, extra_args=serve_args)
        h.wait_until(lintel.serves_tls, what="the HTTPS listener")

        # Step 5: the curl line (the one `lintel cert` prints: see the next test), with the
        # run-time HTTPS port and address in place of 8443 and 127.0.0.1.
        curl_args = [a.replace("8443", str(lintel.https_port)).replace("127.0.0.1", lintel.host)
                     for a in shlex.split(curl_line.group(1))]
        r = h.run([h.CURL, "-sS", *curl_args], cwd=work, timeout=30)
        self.assertEqual(r.returncode, 0, f"the README's curl failed: {r.stderr}")
        self.assertEqual(json.loads(r.stdout)["name"], echo_name,
                         f"the README says the answer comes from {echo_name}")
        # "Plain HTTP to that host is now redirected", to the Location the README shows.
        claimed = re.search(r"Location:\s+(https://[^`\s]+)", text)
        self.assertIsNotNone(claimed, "the README no longer shows the redirect's Location")
        response = lintel.get("/", host="shop.example.com")
        self.assertEqual(response.status, 308)
        self.assertEqual(response.header("location"), claimed.group(1))

    def test_lintel_cert_prints_the_readme_curl_line(self):
        _, block = self.readme_block()
        cert_line = re.search(r"^build/lintel (cert .*)$", block, re.M).group(1)
        curl_line = re.search(r"^curl .*$", block, re.M).group(0)
        fx = h.Fixture(__name__)
        self.addCleanup(fx.close)
        r = h.run([h.LINTEL, *shlex.split(cert_line)], cwd=fx.tmpdir())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(curl_line, [line.strip() for line in r.stdout.splitlines()],
                      f"`lintel cert` should print the README's curl line:\n{r.stdout}")


if __name__ == "__main__":
    unittest.main()
