"""The Kubernetes API source, end to end: the real `lintel` against the stand-in API
server (`build/kube-standin`), driven with the real `kubectl`.

Each test starts its own stand-in (its own folder: CA, serving certificate, token,
state.json) and its own lintel (`serve --kubeconfig`), so the knobs one test pulls
(expire or drop watches, compact, rotate the token, kill the server) never touch another.
Lintel runs with a short API backoff (--api-backoff-base 100ms, --api-backoff-max 1s) so
that recoveries are quick; every wait polls with a deadline and no timing is asserted.
"""

import http.server
import json
import os
import re
import shutil
import socketserver
import ssl
import threading
import time
import unittest
import urllib.parse
import urllib.request

import harness as h
from harness import http_path, ingress, rule

# Pods of this file live on 127.0.0.240-254 (the other files use lower blocks).

STANDIN = os.path.join(h.BUILD_DIR, "kube-standin")
KUBECTL = os.environ.get("KUBECTL") or shutil.which("kubectl") or "/usr/bin/kubectl"
CLASS = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
         "metadata": {"name": "lintel"},
         "spec": {"controller": "lintel.dev/ingress-controller"}}


class StandIn(h.Process):
    """`kube-standin --listen 127.0.0.1:PORT --dir DIR`; PORT 0 the first time."""

    def __init__(self, directory, log_dir, port=0):
        self.dir = directory
        super().__init__([STANDIN, "--listen", f"127.0.0.1:{port}", "--dir", directory],
                         "kube-standin", log_dir)
        self.port = None

    def listening(self):
        m = re.search(r"listening on https://127\.0\.0\.1:(\d+)", self.stdout_text())
        if m:
            self.port = int(m.group(1))
        return bool(m)

    @property
    def kubeconfig(self):
        return os.path.join(self.dir, "kubeconfig")

    def token(self):
        with open(os.path.join(self.dir, "token"), encoding="utf-8") as f:
            return f.read().strip()

    def knob(self, path):
        """POST /_standin/...; returns the JSON answer."""
        ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.crt"))
        request = urllib.request.Request(f"https://127.0.0.1:{self.port}{path}", data=b"",
                                         method="POST",
                                         headers={"Authorization": f"Bearer {self.token()}"})
        with urllib.request.urlopen(request, context=ctx, timeout=h.IO_TIMEOUT) as response:
            return json.loads(response.read() or b"{}")


class KubeLintel(h.Lintel):
    """`lintel serve --kubeconfig FILE` (the harness's Lintel serves a folder)."""

    def __init__(self, kubeconfig, log_dir, host, ports, extra_args=()):
        self.manifests = None
        self.host = host
        self.http_port, self.https_port, self.admin_port = ports
        source = ["--kube"] if kubeconfig == "in-cluster" else ["--kubeconfig", kubeconfig]
        argv = [h.LINTEL, "serve", *source,
                "--http", h.host_port(host, self.http_port),
                "--https", h.host_port(host, self.https_port),
                "--admin", h.host_port(host, self.admin_port),
                "--workers", "2", "--no-access-log",
                "--api-backoff-base", "100ms", "--api-backoff-max", "1s"]
        # Teardown is a SIGTERM: no drain delay unless the test asks for one.
        if not any(str(a).startswith("--shutdown-delay") for a in extra_args):
            argv += ["--shutdown-delay", "0s"]
        argv += list(extra_args)
        h.Process.__init__(self, argv, "lintel-kube", log_dir)


class PagedApi:
    """A minimal API server in Python for what the stand-in cannot be made to do on cue:
    the Services list comes in two pages, and the first time the second page is asked
    for, its continue token has expired (410). Every other collection is empty; watches
    stay open without events. Serves with the stand-in's certificate (valid for
    127.0.0.1), so Lintel verifies it against the stand-in's CA."""

    def __init__(self, cert_dir, objects):
        self.objects = objects  # resource ("services", ...) → [items]
        self.requests = []
        self.expired_once = False
        self.stop = threading.Event()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def send_json(self, status, doc):
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                resource = url.path.rsplit("/", 1)[-1]
                api.requests.append(self.path)
                if query.get("watch") in ("1", "true"):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.flush()
                    while not api.stop.wait(0.05):
                        pass
                    return
                items = api.objects.get(resource, [])
                meta = {"resourceVersion": "10"}
                if resource == "services":
                    if "continue" not in query:
                        meta["continue"] = "page-2"
                        items = items[:1]
                    elif not api.expired_once:
                        api.expired_once = True
                        self.send_json(410, {"kind": "Status", "apiVersion": "v1",
                                             "status": "Failure", "reason": "Expired",
                                             "code": 410,
                                             "message": "The provided continue parameter is "
                                                        "too old to display a consistent list "
                                                        "result."})
                        return
                    else:
                        items = items[1:]
                self.send_json(200, {"kind": "List", "apiVersion": "v1", "metadata": meta,
                                     "items": items})

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(cert_dir, "server.crt"),
                            os.path.join(cert_dir, "server.key"))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


def echo_slice(name, echos, port_name="http"):
    return h.endpoint_slice(name, "default", [e.address for e in echos],
                            [(port_name, echos[0].port)])


class KubeFixture:
    """A stand-in of the test's own, and lintels against it (test_cluster.py uses this too;
    FIXTURE names the address block)."""

    FIXTURE = __name__

    def setUp(self):
        h.require_binaries(h.LINTEL, h.ECHO, STANDIN)
        if not os.access(KUBECTL, os.X_OK):
            raise AssertionError(f"{KUBECTL} is missing: the API tests need the real kubectl")
        fx = self.fx = h.Fixture(self.FIXTURE)
        self.addCleanup(fx.close)
        self.api_dir = fx.tmpdir(prefix="lintel-standin.")
        self.standin = self.start_standin()
        self.work = fx.tmpdir()

    # ---- processes
    def start_standin(self, port=0):
        s = StandIn(self.api_dir, self.fx.log_dir, port)
        self.fx.defer(s.stop)
        h.wait_until(lambda: not s.alive() or s.listening(), timeout=h.START_TIMEOUT,
                     what="the stand-in to listen")
        if not s.alive():
            raise AssertionError(f"the stand-in did not start\n{s.tail()}")
        return s

    def start_lintel(self, kubeconfig=None, extra_args=(), wait_ready=True, env=None):
        address = self.fx.pool.take()

        def make():
            ports = set()
            while len(ports) < 3:
                ports.add(h.free_port(address))
            saved = dict(os.environ)
            os.environ.update(env or {})
            try:
                p = KubeLintel(kubeconfig or self.standin.kubeconfig, self.fx.log_dir, address,
                               sorted(ports), extra_args)
            finally:
                os.environ.clear()
                os.environ.update(saved)

            def ready():
                try:
                    return p.ready() if wait_ready else h.can_connect(p.host, p.admin_port)
                except OSError:
                    return False

            return p, ready

        return self.fx._start(make, "lintel (API source)")

    # ---- kubectl
    def kubectl(self, *args, stdin_objects=None, kubeconfig=None):
        # A discovery cache of the test's own: ~/.kube/cache is shared by every run, and a
        # stand-in on a reused port must not be answered from another one's cache.
        argv = [KUBECTL, "--kubeconfig", kubeconfig or self.standin.kubeconfig,
                "--cache-dir", os.path.join(self.work, "kubectl-cache"),
                "--request-timeout", "10s", *args]
        if stdin_objects is not None:
            # Multi-document YAML, as a user's manifest file is.
            path = os.path.join(self.work, f"objects-{time.monotonic_ns()}.yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(h.to_yaml(*stdin_objects))
            argv += ["-f", path]
        r = h.run(argv, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr}{r.stdout}")
        return r.stdout

    def create(self, *objects):
        return self.kubectl("create", stdin_objects=objects)

    def replace(self, *objects):
        return self.kubectl("replace", stdin_objects=objects)

    # ---- the usual app: an echo Service behind an Ingress of our class
    def app(self, name, host, echos, path="/"):
        return [h.service(name, "default", ports=(("http", 80, "http"),)),
                echo_slice(name, echos),
                ingress(name, rules=[rule(host, http_path(path, "Prefix", name, 80))],
                        ingress_class="lintel")]

    def answers(self, lintel, host, target="/"):
        r = lintel.get(target, host=host)
        return h.echo_name(r) if r.status == 200 else r.status

    def wait_answer(self, lintel, host, expected, target="/", what=None, timeout=h.STATE_TIMEOUT):
        return h.wait_until(lambda: self.answers(lintel, host, target) == expected,
                            timeout=timeout, what=what or f"{host}{target} → {expected}")

    def names_seen(self, lintel, host, count=12):
        return {self.answers(lintel, host) for _ in range(count)}

    # ---- tests


class KubeTest(KubeFixture, unittest.TestCase):

    def test_create_routes_delete_404(self):
        a = self.fx.echo_group(["a"])
        self.create(CLASS, *self.app("web", "web.kube.test", a))
        lintel = self.start_lintel()
        self.assertEqual(lintel.admin("/readyz").status, 200)
        self.assertEqual(self.answers(lintel, "web.kube.test"), "a")

        # A new Ingress while running: routed promptly (polled; the "within 1 s"
        # is logged, not asserted, as tests never assert timings).
        b = self.fx.echo_group(["b"])
        started = time.monotonic()
        self.create(*self.app("shop", "shop.kube.test", b))
        self.wait_answer(lintel, "shop.kube.test", "b")
        h.log(f"routed {time.monotonic() - started:.2f}s after kubectl create")

        self.kubectl("delete", "ingress", "shop", "-n", "default")
        self.wait_answer(lintel, "shop.kube.test", 404)
        self.assertEqual(self.answers(lintel, "web.kube.test"), "a")

    def test_not_ready_until_listed_then_backoff_reconnects(self):
        # Lintel first, the API server down: /readyz 503 (never "ready with zero routes").
        a = self.fx.echo_group(["a"])
        self.create(CLASS, *self.app("web", "web.kube.test", a))
        port = self.standin.port
        self.standin.stop()
        lintel = self.start_lintel(wait_ready=False)
        h.wait_until(lambda: len(re.findall(r"retrying in", lintel.stderr_text())) >= 10,
                     what="a few failed attempts")
        self.assertEqual(lintel.admin("/readyz").status, 503)
        self.standin = self.start_standin(port)
        h.wait_until(lintel.ready, what="lintel ready once the API server is back")
        self.assertEqual(self.answers(lintel, "web.kube.test"), "a")
        self.assertRegex(lintel.stderr_text(), r"retrying in \d+\.\ds")

    def test_endpoints_follow_slice_changes(self):
        # Both echos on one port, as endpoints of one slice share their ports.
        pods = self.fx.echo_group(["p1", "p2"])
        self.create(CLASS, *self.app("web", "web.kube.test", pods[:1]))
        lintel = self.start_lintel()
        self.assertEqual(self.names_seen(lintel, "web.kube.test"), {"p1"})
        self.replace(echo_slice("web", pods))
        h.wait_until(lambda: self.names_seen(lintel, "web.kube.test") == {"p1", "p2"},
                     what="both endpoints after scaling up")
        self.kubectl("patch", "endpointslice", "web-slice", "-n", "default", "--type=merge",
                     "-p", json.dumps({"endpoints": [{"addresses": [pods[1].address],
                                                      "conditions": {"ready": True}}]}))
        h.wait_until(lambda: self.names_seen(lintel, "web.kube.test") == {"p2"},
                     what="only p2 after scaling down")

    def test_tls_secret_rotation(self):
        certs = []
        for i in range(2):
            d = os.path.join(self.work, f"cert{i}")
            os.makedirs(d)
            pair = h.self_signed(["tls.kube.test"], d)
            if pair is None:
                self.skipTest("openssl is not installed")
            certs.append(pair)
        a = self.fx.echo_group(["a"])
        objects = self.app("web", "tls.kube.test", a)
        objects[2]["spec"]["tls"] = [{"hosts": ["tls.kube.test"], "secretName": "web-tls"}]
        self.create(CLASS, h.tls_secret("web-tls", "default", *certs[0]), *objects)
        lintel = self.start_lintel()
        der = [ssl.PEM_cert_to_DER_cert(c.decode()) for c, _ in certs]
        self.assertEqual(h.served_certificate(lintel, "tls.kube.test"), der[0])
        self.replace(h.tls_secret("web-tls", "default", *certs[1]))
        h.wait_until(lambda: h.served_certificate(lintel, "tls.kube.test") == der[1],
                     what="the rotated certificate on new handshakes")

    def test_rejected_update_keeps_the_last_good_version(self):
        a = self.fx.echo_group(["a"])
        service, *rest = self.app("web", "web.kube.test", a)
        self.create(CLASS, service, *rest)
        lintel = self.start_lintel()
        bad = json.loads(json.dumps(service))
        bad["spec"]["ports"][0]["port"] = "eighty"  # the API server would refuse this
        try:
            self.replace(bad)
        except AssertionError as e:
            self.skipTest(f"the stand-in refuses the bad Service: {e}")

        def diagnostics():
            return [d["text"] for d in lintel.routes()["diagnostics"]]

        h.wait_until(lambda: any("last good version" in d for d in diagnostics()),
                     what="a diagnostic for the rejected Service")
        self.assertEqual(self.answers(lintel, "web.kube.test"), "a")  # still served
        self.replace(service)
        h.wait_until(lambda: diagnostics() == [], what="the diagnostic gone with a good version")
        self.assertEqual(self.answers(lintel, "web.kube.test"), "a")

    def traffic(self, lintel, host, expected, stop, failures):
        """Requests in a loop until `stop` is set; every answer that is not `expected`
        is recorded."""
        while not stop.is_set():
            try:
                got = self.answers(lintel, host)
            except OSError as e:
                got = repr(e)
            if got != expected:
                failures.append(got)
            time.sleep(0.005)

    def test_expired_and_dropped_watches_keep_serving(self):
        a = self.fx.echo_group(["a"])
        self.create(CLASS, *self.app("web", "web.kube.test", a))
        lintel = self.start_lintel()
        stop, failures = threading.Event(), []
        t = threading.Thread(target=self.traffic,
                             args=(lintel, "web.kube.test", "a", stop, failures))
        t.start()
        try:
            b = self.fx.echo_group(["b"])
            self.standin.knob("/_standin/expire-watches")
            self.create(*self.app("one", "one.kube.test", b))
            self.wait_answer(lintel, "one.kube.test", "b", what="a change after expired watches")
            self.standin.knob("/_standin/drop-watches")
            self.create(*self.app("two", "two.kube.test", b))
            self.wait_answer(lintel, "two.kube.test", "b", what="a change after dropped watches")
        finally:
            stop.set()
            t.join()
        self.assertEqual(failures, [], "traffic was interrupted")
        self.assertRegex(lintel.stderr_text(), r"relist|watch dropped|watching again")

    def test_compact_then_change_relists(self):
        # No bookmarks (they would move every informer to the newest version): the kinds
        # that see no change keep the version of their list.
        self.standin.knob("/_standin/bookmark-interval?ms=3600000")
        a = self.fx.echo_group(["a"])
        self.create(CLASS, *self.app("web", "web.kube.test", a))
        lintel = self.start_lintel()
        # A change, then the history compacted: the kinds that saw no change (IngressClass,
        # Secret) still hold the version of their list, now older than the history, and
        # get 410 on their next watch: they must relist.
        b = self.fx.echo_group(["b"])
        self.create(*self.app("late", "late.kube.test", b))
        self.wait_answer(lintel, "late.kube.test", "b")
        self.standin.knob("/_standin/compact")
        self.standin.knob("/_standin/drop-watches")
        h.wait_until(lambda: "relisting" in lintel.stderr_text(), what="a relist after 410")
        self.kubectl("delete", "ingress", "late", "-n", "default")
        self.wait_answer(lintel, "late.kube.test", 404, what="a change after the relist")
        self.assertEqual(self.answers(lintel, "web.kube.test"), "a")

    def test_failures_back_off_and_recover(self):
        a = self.fx.echo_group(["a"])
        self.create(CLASS, *self.app("web", "web.kube.test", a))
        lintel = self.start_lintel()
        self.standin.knob("/_standin/fail?status=503&count=4&path=/apis/networking.k8s.io")
        self.standin.knob("/_standin/expire-watches")
        b = self.fx.echo_group(["b"])
        self.create(*self.app("after", "after.kube.test", b))
        self.wait_answer(lintel, "after.kube.test", "b")
        self.assertEqual(self.answers(lintel, "web.kube.test"), "a")

    def test_token_rotation_rereads_token_file(self):
        # The stand-in's kubeconfig embeds the token; ours points at DIR/token instead, as
        # a projected service-account token is used.
        kubeconfig = os.path.join(self.work, "kubeconfig-tokenfile")
        with open(self.standin.kubeconfig, encoding="utf-8") as f:
            text = f.read()
        text = re.sub(r"(?m)^(\s*)token: .*$",
                      lambda m: f"{m.group(1)}tokenFile: {os.path.join(self.api_dir, 'token')}",
                      text)
        with open(kubeconfig, "w", encoding="utf-8") as f:
            f.write(text)
        a = self.fx.echo_group(["a"])
        self.create(CLASS, *self.app("web", "web.kube.test", a))
        lintel = self.start_lintel(kubeconfig)
        self.standin.knob("/_standin/rotate-token")
        self.standin.knob("/_standin/expire-watches")  # every kind must ask again
        b = self.fx.echo_group(["b"])
        self.create(*self.app("after", "after.kube.test", b))  # kubectl re-reads DIR/kubeconfig
        self.wait_answer(lintel, "after.kube.test", "b", what="a change seen with the new token")
        self.assertIn("re-reading the token file", lintel.stderr_text())
        self.assertEqual(self.answers(lintel, "web.kube.test"), "a")

    def test_standin_restart_resyncs_deletes(self):
        a, b = self.fx.echo_group(["a"]), self.fx.echo_group(["b"])
        self.create(CLASS, *self.app("web", "web.kube.test", a),
                    *self.app("gone", "gone.kube.test", b))
        lintel = self.start_lintel()
        self.assertEqual(self.answers(lintel, "gone.kube.test"), "b")
        port = self.standin.port
        self.standin.stop()
        # The API server is away: the last good routes keep serving.
        for _ in range(5):
            self.assertEqual(self.answers(lintel, "web.kube.test"), "a")
            self.assertEqual(self.answers(lintel, "gone.kube.test"), "b")
        # While it is down, the Ingress "gone" is deleted from its storage.
        state_path = os.path.join(self.api_dir, "state.json")
        with open(state_path, encoding="utf-8") as f:
            state = json.load(f)
        before = len(state["objects"])
        state["objects"] = [o for o in state["objects"]
                            if not (o.get("kind") == "Ingress"
                                    and o["metadata"]["name"] == "gone")]
        self.assertEqual(len(state["objects"]), before - 1, "the Ingress was in state.json")
        # A deletion is a change: it gets a new resourceVersion, as etcd would give it (so
        # every informer's version is now older than the server's history).
        rv = state["resourceVersion"]
        state["resourceVersion"] = type(rv)(int(rv) + 1)
        with open(state_path, "w", encoding="utf-8") as f:
            json.dump(state, f)
        self.standin = self.start_standin(port)
        self.wait_answer(lintel, "gone.kube.test", 404, what="the deleted Ingress's route gone")
        self.assertEqual(self.answers(lintel, "web.kube.test"), "a")
        self.assertTrue(lintel.alive())

    def test_same_routes_from_folder_and_api(self):
        a = self.fx.echo_group(["a", "b"])
        objects = [CLASS, *self.app("web", "web.kube.test", a[:1]),
                   *self.app("api", "api.kube.test", a, path="/v1"),
                   ingress("mixed", rules=[rule("web.kube.test",
                                                http_path("/exact", "Exact", "api", 80))],
                           ingress_class="lintel")]
        self.create(*objects)
        api_lintel = self.start_lintel()
        folder = self.fx.tmpdir()
        h.write_manifests(folder, "all.yaml", objects)
        folder_lintel = self.fx.lintel(folder)

        def routes(lintel):
            r = lintel.routes()
            r.pop("generation", None)
            return r

        api_routes, folder_routes = routes(api_lintel), routes(folder_lintel)
        self.assertEqual(api_routes, folder_routes)
        self.assertIn("api.kube.test", json.dumps(api_routes))

    def test_class_ownership_and_watch_namespace(self):
        a = self.fx.echo_group(["a"])
        self.kubectl("create", "namespace", "other")
        classless = self.app("plain", "plain.kube.test", a)
        del classless[2]["spec"]["ingressClassName"]
        elsewhere = self.app("far", "far.kube.test", a)
        for o in elsewhere:
            o["metadata"]["namespace"] = "other"
        self.create(CLASS, *self.app("web", "web.kube.test", a), *classless, *elsewhere)
        lintel = self.start_lintel(extra_args=["--watch-namespace", "default"])
        self.assertEqual(self.answers(lintel, "web.kube.test"), "a")
        # No class, and our IngressClass is not the default one: not ours in API mode.
        self.assertEqual(self.answers(lintel, "plain.kube.test"), 404)
        # Another namespace is not watched.
        self.assertEqual(self.answers(lintel, "far.kube.test"), 404)
        # Our class becomes the default: Ingresses without a class are ours.
        self.kubectl("annotate", "ingressclass", "lintel",
                     "ingressclass.kubernetes.io/is-default-class=true")
        self.wait_answer(lintel, "plain.kube.test", "a")
        self.assertEqual(self.answers(lintel, "far.kube.test"), 404)

        # --watch-ingress-without-class takes them without a default class.
        self.kubectl("annotate", "ingressclass", "lintel",
                     "ingressclass.kubernetes.io/is-default-class-")
        self.wait_answer(lintel, "plain.kube.test", 404)
        other = self.start_lintel(extra_args=["--watch-ingress-without-class"])
        self.assertEqual(self.answers(other, "plain.kube.test"), "a")
        self.assertEqual(self.answers(other, "far.kube.test"), "a")

    def test_in_cluster_service_account(self):
        # --kube: the server from KUBERNETES_SERVICE_HOST/_PORT, the token (re-read) and the
        # CA from the service-account folder, here a test folder (LINTEL_SERVICEACCOUNT_DIR).
        sa = self.fx.tmpdir()
        for name in ("token", "ca.crt"):
            os.symlink(os.path.join(self.api_dir, name), os.path.join(sa, name))
        with open(os.path.join(sa, "namespace"), "w", encoding="utf-8") as f:
            f.write("default\n")
        a = self.fx.echo_group(["a"])
        self.create(CLASS, *self.app("web", "web.kube.test", a))
        lintel = self.start_lintel("in-cluster", env={
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.standin.port),
            "LINTEL_SERVICEACCOUNT_DIR": sa})
        self.assertEqual(self.answers(lintel, "web.kube.test"), "a")
        self.assertIn("in-cluster service account", lintel.stderr_text())

    def test_list_restarts_when_its_continue_token_expires(self):
        a, b = self.fx.echo_group(["a"]), self.fx.echo_group(["b"])
        web, web_slice, web_ingress = self.app("web", "web.kube.test", a)
        shop, shop_slice, shop_ingress = self.app("shop", "shop.kube.test", b)
        api = PagedApi(self.api_dir, {"ingressclasses": [CLASS],
                                      "services": [web, shop],
                                      "endpointslices": [web_slice, shop_slice],
                                      "ingresses": [web_ingress, shop_ingress]})
        self.fx.defer(api.close)
        kubeconfig = os.path.join(self.work, "kubeconfig-paged")
        with open(kubeconfig, "w", encoding="utf-8") as f:
            f.write("apiVersion: v1\nkind: Config\ncurrent-context: paged\n"
                    "clusters:\n- name: paged\n  cluster:\n"
                    f"    server: https://127.0.0.1:{api.port}\n"
                    f"    certificate-authority: {os.path.join(self.api_dir, 'ca.crt')}\n"
                    "users:\n- name: paged\n  user:\n    token: paged-token\n"
                    "contexts:\n- name: paged\n  context: {cluster: paged, user: paged}\n")
        lintel = self.start_lintel(kubeconfig)
        # Both pages made it into the cache, after the restart.
        self.assertEqual(self.answers(lintel, "web.kube.test"), "a")
        self.assertEqual(self.answers(lintel, "shop.kube.test"), "b")
        self.assertTrue(api.expired_once)
        pages = [r for r in api.requests if r.startswith("/api/v1/services?") and "watch" not in r]
        self.assertEqual(len(pages), 4, pages)  # page 1, expired page 2, page 1, page 2
        self.assertIn("restarting the list", lintel.stderr_text())

    def test_unusable_kubeconfig_exits_2_naming_file_and_field(self):
        bad = os.path.join(self.work, "bad-kubeconfig")
        with open(bad, "w", encoding="utf-8") as f:
            f.write("apiVersion: v1\nkind: Config\ncurrent-context: c\n"
                    "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
                    "clusters: [{name: k, cluster: {server: 'http://127.0.0.1:1'}}]\n"
                    "users: [{name: u, user: {token: t}}]\n")
        code, text = h.lintel_exits(["serve", "--kubeconfig", bad, "--admin", "127.0.0.1:0"],
                                    log_dir=self.fx.log_dir)
        self.assertEqual(code, 2, text)
        lines = [line for line in text.splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, text)
        self.assertIn(bad, lines[0])
        self.assertIn("clusters[k].cluster.server", lines[0])


if __name__ == "__main__":
    unittest.main()
