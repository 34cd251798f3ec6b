"""Live reload of the manifest folder, readiness, and `lintel check` on broken input.

Every reload test starts its own lintel on its own folder and changes files under it
while it runs; new state is awaited by polling with a deadline."""

import json
import os
import re
import textwrap
import unittest

import harness as h
from harness import http_path, ingress, rule


def alive_request(conn, target, host):
    """One request on a kept-alive connection. A closed connection is a test failure at
    once (RuntimeError is not retried by wait_until)."""
    try:
        conn.request("GET", target, host=host)
        return conn.read_response()
    except h.ConnectionClosed as e:
        raise RuntimeError(f"the keep-alive connection was closed: {e}") from e


class ReloadTest(unittest.TestCase):

    def setUp(self):
        h.require_binaries()
        fx = self.fx = h.Fixture(__name__)
        self.addCleanup(fx.close)
        self.v1, self.v2 = fx.echo_group(["v1"]), fx.echo_group(["v2"])
        self.dir = fx.tmpdir()
        h.write_manifests(self.dir, "backends/services.yaml",
                          [*h.echo_service("v1", self.v1), *h.echo_service("v2", self.v2)])
        self.write_web(http_path("/old", "Prefix", "v1", 80))
        self.lintel = fx.lintel(self.dir)

    def write_web(self, *paths, atomic=True):
        return h.write_manifests(self.dir, "web.yaml",
                                 [ingress("web", rules=[rule("reload.example", *paths)])],
                                 atomic=atomic)

    def name_of(self, response):
        return h.echo_name(response)

    def diagnostics_mentioning(self, needle):
        return [d for d in self.lintel.routes().get("diagnostics", [])
                if needle in json.dumps(d)]

    # ---- tests
    def test_ready_after_start(self):
        self.assertEqual(self.lintel.admin("/readyz").status, 200)
        self.assertEqual(self.lintel.admin("/healthz").status, 200)
        self.assertGreaterEqual(self.lintel.generation(), 1)

    def test_keep_alive_connection_sees_new_routes(self):
        gen0 = self.lintel.generation()
        with self.lintel.connect() as c:
            self.assertEqual(self.name_of(alive_request(c, "/old", "reload.example")), "v1")
            self.assertEqual(alive_request(c, "/new", "reload.example").status, 404)
            # New path, and the old one switched to another backend.
            self.write_web(http_path("/old", "Prefix", "v2", 80),
                           http_path("/new", "Exact", "v1", 80))
            h.wait_until(lambda: self.name_of(alive_request(c, "/new", "reload.example")) == "v1",
                         what="/new to appear on the kept-alive connection")
            self.assertEqual(self.name_of(alive_request(c, "/old", "reload.example")), "v2")
            # Rewrite in place this time (not rename): also picked up.
            self.write_web(http_path("/old", "Prefix", "v1", 80), atomic=False)
            h.wait_until(lambda: self.name_of(alive_request(c, "/old", "reload.example")) == "v1",
                         what="/old to switch back after an in-place write")
            self.assertEqual(alive_request(c, "/new", "reload.example").status, 404)
        self.assertGreater(self.lintel.generation(), gen0)

    def test_request_in_flight_finishes_on_its_snapshot(self):
        held = self.fx.recording_backend("held", hold="/in-flight")
        h.write_manifests(self.dir, "held.yaml", [
            h.service("held", ports=(("http", 80, held.port),)),
            h.endpoint_slice("held", "default", [held.address], [("http", held.port)]),
            ingress("held", rules=[rule("held.example", http_path("/", "Prefix", "held", 80))]),
        ])
        h.wait_until(lambda: "held.example" in json.dumps(self.lintel.routes()["hosts"]),
                     what="held.example in /routes")
        with self.lintel.connect(timeout=30) as slow, self.lintel.connect() as probe:
            slow.request("GET", "/in-flight", host="held.example")
            self.assertTrue(held.arrived.wait(h.STATE_TIMEOUT), "request did not reach held")
            # While it is held upstream, the route moves to v2 and that is live.
            h.write_manifests(self.dir, "held.yaml", [ingress("held", rules=[
                rule("held.example", http_path("/", "Prefix", "v2", 80))])])
            h.wait_until(lambda: self.name_of(alive_request(probe, "/", "held.example")) == "v2",
                         what="the new route to be live")
            held.release()
            r = slow.read_response()
            self.assertEqual(h.echo_name(r), "held", "in-flight request changed backend")
            self.assertEqual(self.name_of(alive_request(slow, "/", "held.example")), "v2")

    def test_endpoint_change_moves_traffic(self):
        v3 = self.fx.echo_group(["v3"])
        with self.lintel.connect() as c:
            self.assertEqual(self.name_of(alive_request(c, "/old", "reload.example")), "v1")
            # Same Service, its EndpointSlice now points at another Pod.
            h.write_manifests(self.dir, "backends/services.yaml", [
                h.service("v1", ports=(("http", 80, v3[0].port),)),
                h.endpoint_slice("v1", "default", [v3[0].address], [("http", v3[0].port)]),
                *h.echo_service("v2", self.v2)])
            h.wait_until(lambda: self.name_of(alive_request(c, "/old", "reload.example")) == "v3",
                         what="traffic to move to the new endpoint")

    def test_broken_manifest_keeps_last_good_and_reports(self):
        gen0 = self.lintel.generation()
        h.write_text(os.path.join(self.dir, "web.yaml"),
                     "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n"
                     "  name: web: broken\n")
        found = h.wait_until(lambda: self.diagnostics_mentioning("web.yaml"),
                             what="a diagnostic for the broken web.yaml in /routes")
        self.assertIn("web.yaml:4", json.dumps(found), f"file:line expected: {found}")
        # Last good content still in force.
        self.assertEqual(self.name_of(self.lintel.get("/old", host="reload.example")), "v1")
        self.assertGreaterEqual(self.lintel.generation(), gen0)
        # Fixed: the diagnostic goes away and the new content applies.
        self.write_web(http_path("/fixed", "Exact", "v2", 80))
        h.wait_until(lambda: self.name_of(self.lintel.get("/fixed", host="reload.example")) == "v2",
                     what="the fixed manifest to apply")
        h.wait_until(lambda: not self.diagnostics_mentioning("web.yaml"),
                     what="the diagnostic to clear")
        self.assertEqual(self.lintel.get("/old", host="reload.example").status, 404)

    def test_invalid_object_reported_others_keep_serving(self):
        h.write_manifests(self.dir, "other.yaml", [ingress("other", rules=[
            rule("other.example", http_path("/", "Prefix", "v2", 80))])])
        h.wait_until(lambda: self.name_of(self.lintel.get("/", host="other.example")) == "v2",
                     what="other.yaml to apply")
        bad = ingress("bad", rules=[rule("bad.example", http_path("/", "prefix", "v1", 80))])
        h.write_manifests(self.dir, "bad.yaml", [bad])
        found = h.wait_until(lambda: self.diagnostics_mentioning("bad.yaml"),
                             what="a diagnostic for bad.yaml")
        text = json.dumps(found)
        self.assertIn("pathType", text)
        self.assertIn("default/bad", text)
        self.assertTrue(any(d.get("rejected") for d in found), found)
        self.assertEqual(self.name_of(self.lintel.get("/", host="other.example")), "v2")
        self.assertEqual(self.name_of(self.lintel.get("/old", host="reload.example")), "v1")

    def test_file_removed_routes_gone(self):
        h.write_manifests(self.dir, "extra/b.json", [ingress("b", rules=[
            rule("b.example", http_path("/b", "Prefix", "v2", 80))])])
        h.wait_until(lambda: self.name_of(self.lintel.get("/b", host="b.example")) == "v2",
                     what="the added file to apply")
        gen = self.lintel.generation()
        os.remove(os.path.join(self.dir, "extra/b.json"))
        h.wait_until(lambda: self.lintel.get("/b", host="b.example").status == 404,
                     what="the removed file's routes to go")
        self.assertGreater(self.lintel.generation(), gen)
        self.assertEqual(self.name_of(self.lintel.get("/old", host="reload.example")), "v1")

    def test_non_manifest_files_ignored(self):
        gen = self.lintel.generation()
        h.write_text(os.path.join(self.dir, "notes.txt"), "apiVersion: nonsense\n: :\n")
        h.write_text(os.path.join(self.dir, "README.md"), "# not a manifest\n")
        # A manifest change after the junk: once it is live, the junk was seen too.
        h.write_manifests(self.dir, "later.yaml", [ingress("later", rules=[
            rule("later.example", http_path("/", "Prefix", "v2", 80))])])
        h.wait_until(lambda: self.name_of(self.lintel.get("/", host="later.example")) == "v2",
                     what="later.yaml to apply")
        self.assertEqual(self.diagnostics_mentioning("notes.txt"), [])
        self.assertEqual(self.diagnostics_mentioning("README.md"), [])
        self.assertGreater(self.lintel.generation(), gen)


BROKEN_INGRESS = textwrap.dedent("""\
    # line 1: a comment, so that document and file lines differ
    apiVersion: v1
    kind: Service
    metadata:
      name: web
    spec:
      ports:
        - name: http
          port: 80
    ---
    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata:
      name: web
      namespace: default
    spec:
      rules:
        - host: web.example
          http:
            paths:
              - path: /
                pathType: Prefix
                backend:
                  service:
                    name: web
                    port:
                      number: 80
              - path: /api
                pathType: prefix
                backend:
                  service:
                    name: web
                    port:
                      number: 80
    """)
BROKEN_FIELD_LINE = 29        # "pathType: prefix"
BROKEN_DOCUMENT_LINES = (10, 11)  # "---" / first line of the second document


class CheckCommandTest(unittest.TestCase):

    def setUp(self):
        h.require_binaries(h.LINTEL)
        self.fx = h.Fixture(__name__)
        self.addCleanup(self.fx.close)

    def check(self, directory):
        return h.run([h.LINTEL, "check", "--manifests", directory])

    def test_check_clean_folder(self):
        d = self.fx.tmpdir()
        h.write_manifests(d, "app.yaml", [
            h.service("web", ports=(("http", 80, 8080),)),
            h.endpoint_slice("web", "default", ["127.0.0.150", "127.0.0.151"], [("http", 8080)]),
            ingress("web", rules=[rule("web.example", http_path("/api", "Exact", "web", 80),
                                       http_path("/", "Prefix", "web", "http"))]),
        ])
        r = self.check(d)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = [line for line in r.stdout.splitlines() if "web.example" in line]
        self.assertEqual(len(lines), 2, r.stdout)
        api = next(line for line in lines if "/api" in line)
        for part in ("Exact", "default/web:80", "127.0.0.150:8080", "127.0.0.151:8080"):
            self.assertIn(part, api, r.stdout)
        root = next(line for line in lines if "/api" not in line)
        for part in ("Prefix", "default/web:http"):
            self.assertIn(part, root, r.stdout)

    def test_check_broken_folder_names_file_line_object_field(self):
        d = self.fx.tmpdir()
        h.write_text(os.path.join(d, "bad.yaml"), BROKEN_INGRESS)
        r = self.check(d)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 1, out)
        m = re.search(r"bad\.yaml:(\d+)", out)
        self.assertIsNotNone(m, f"file:line expected in:\n{out}")
        line = int(m.group(1))
        self.assertIn(line, (BROKEN_FIELD_LINE, *BROKEN_DOCUMENT_LINES), out)
        if line != BROKEN_FIELD_LINE:
            h.log(f"note: lintel check points at line {line} (document), not the field "
                  f"line {BROKEN_FIELD_LINE}")
        self.assertIn("Ingress default/web", out)
        self.assertIn("spec.rules[0].http.paths[1].pathType", out)
        self.assertIn('"prefix"', out)

    def test_check_yaml_syntax_error(self):
        d = self.fx.tmpdir()
        h.write_text(os.path.join(d, "sub", "syntax.yml"),
                     "apiVersion: v1\nkind: Service\nmetadata:\n  name: a: b\nspec: {}\n")
        h.write_manifests(d, "good.yaml", [h.service("fine")])
        r = self.check(d)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 1, out)
        self.assertRegex(out, r"syntax\.yml:4\b", out)

    def test_check_missing_service_is_a_diagnostic_not_a_rejection(self):
        d = self.fx.tmpdir()
        h.write_manifests(d, "app.yaml", [ingress("orphan", rules=[
            rule("o.example", http_path("/", "Prefix", "no-such-svc", 80))])])
        r = self.check(d)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        self.assertIn("no-such-svc", out)

    def test_serve_bad_flag_exits_2_with_one_line(self):
        d = self.fx.tmpdir()
        for argv in (["serve", "--manifests", d, "--no-such-flag"],
                     ["serve", "--manifests", d, "--workers", "many"],
                     ["serve", "--manifests", d, "--http", "not-an-address"],
                     ["check"],  # --manifests is required
                     ["no-such-command"]):
            with self.subTest(argv=argv):
                r = h.run([h.LINTEL, *argv], timeout=20)
                self.assertEqual(r.returncode, 2, f"{argv}: {r.stdout}{r.stderr}")
                lines = [line for line in r.stderr.splitlines() if line.strip()]
                self.assertEqual(len(lines), 1, f"one line on stderr expected: {r.stderr!r}")


if __name__ == "__main__":
    unittest.main()
