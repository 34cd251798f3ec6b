"""kube-standin (issue 4, item 5): the stand-in Kubernetes API server, driven by the real
kubectl and by raw HTTPS requests.

kubectl: create -f / get -o json / replace / patch --type=merge / apply / delete / get -w.
Raw: LIST pages (limit + continue, one resourceVersion across pages, 410 after compact),
WATCH from a resourceVersion with bookmarks, the knobs (expire-watches, drop-watches,
compact, rotate-token, fail), persistence across a restart.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import textwrap
import unittest

import harness
from standin import KUBECTL, StandIn

MANIFEST = textwrap.dedent("""\
    apiVersion: v1
    kind: Service
    metadata:
      name: web
    spec:
      ports:
      - name: http
        port: 80
        targetPort: 8080
    ---
    apiVersion: discovery.k8s.io/v1
    kind: EndpointSlice
    metadata:
      name: web-abc
      labels:
        kubernetes.io/service-name: web
    addressType: IPv4
    ports:
    - name: http
      port: 8080
    endpoints:
    - addresses: ["127.0.0.2"]
      conditions: {ready: true}
    ---
    apiVersion: networking.k8s.io/v1
    kind: IngressClass
    metadata:
      name: lintel
    spec:
      controller: lintel.dev/ingress-controller
    ---
    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata:
      name: web
    spec:
      ingressClassName: lintel
      tls:
      - hosts: [shop.example.com]
        secretName: shop-tls
      rules:
      - host: shop.example.com
        http:
          paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: web
                port: {number: 80}
    ---
    apiVersion: v1
    kind: Secret
    metadata:
      name: shop-tls
    type: kubernetes.io/tls
    data:
      tls.crt: Y2VydA==
      tls.key: a2V5
    """)

INGRESSES = "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses"
CONFIGMAPS = "/api/v1/namespaces/{ns}/configmaps"


def configmap(name, **labels):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels}, "data": {"k": name}}


class StandInTest(unittest.TestCase):
    """One stand-in for the class; each test works in its own namespace."""

    @classmethod
    def setUpClass(cls):
        if not os.access(KUBECTL, os.X_OK):
            raise AssertionError(f"kubectl not found at {KUBECTL}")
        cls.work = tempfile.mkdtemp(prefix="lintel-standin.")
        cls.addClassCleanup(shutil.rmtree, cls.work, True)
        cls.api = StandIn.start(os.path.join(cls.work, "state"), cls.work)
        cls.addClassCleanup(cls.api.stop)

    def setUp(self):
        self.ns = self._testMethodName.replace("_", "-")[:50].strip("-")
        self.api.kubectl("create", "namespace", self.ns)

    def write(self, name, text):
        path = os.path.join(self.work, f"{self.ns}-{name}")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    # ------------------------------------------------------------------ kubectl

    def test_kubectl_create_get_replace_patch_delete(self):
        api, ns = self.api, self.ns
        r = api.kubectl("-n", ns, "create", "-f", self.write("all.yaml", MANIFEST))
        for line in ("service/web created", "endpointslice.discovery.k8s.io/web-abc created",
                     "ingressclass.networking.k8s.io/lintel created",
                     "ingress.networking.k8s.io/web created", "secret/shop-tls created"):
            self.assertIn(line, r.stdout)

        ing = api.kubectl_json("-n", ns, "get", "ingress", "web")
        self.assertEqual(ing["kind"], "Ingress")
        self.assertEqual(ing["metadata"]["namespace"], ns)
        self.assertEqual(ing["metadata"]["generation"], 1)
        self.assertTrue(ing["metadata"]["uid"])
        self.assertRegex(ing["metadata"]["creationTimestamp"], r"^\d{4}-\d\d-\d\dT")
        self.assertEqual(ing["spec"]["rules"][0]["host"], "shop.example.com")
        rv1 = int(ing["metadata"]["resourceVersion"])

        listed = api.kubectl_json("-n", ns, "get", "ingress,service,endpointslices,secrets")
        kinds = sorted(item["kind"] for item in listed["items"])
        self.assertEqual(kinds, ["EndpointSlice", "Ingress", "Secret", "Service"])
        self.assertEqual(api.kubectl_json("get", "ingressclass", "lintel")["spec"]["controller"],
                         "lintel.dev/ingress-controller")
        # The human-readable table (kubectl's own columns when the server sends no Table).
        self.assertIn("web", api.kubectl("-n", ns, "get", "ingress").stdout)

        # replace: a spec change bumps generation and resourceVersion.
        replaced = MANIFEST.split("---\n")[3].replace("shop.example.com", "shop2.example.com")
        api.kubectl("-n", ns, "replace", "-f", self.write("ing.yaml", replaced))
        ing = api.kubectl_json("-n", ns, "get", "ingress", "web")
        self.assertEqual(ing["spec"]["rules"][0]["host"], "shop2.example.com")
        self.assertEqual(ing["metadata"]["generation"], 2)
        self.assertGreater(int(ing["metadata"]["resourceVersion"]), rv1)

        # patch --type=merge: metadata only, so generation stays.
        api.kubectl("-n", ns, "patch", "ingress", "web", "--type=merge",
                    "-p", '{"metadata":{"labels":{"team":"shop"}}}')
        ing = api.kubectl_json("-n", ns, "get", "ingress", "web")
        self.assertEqual(ing["metadata"]["labels"], {"team": "shop"})
        self.assertEqual(ing["metadata"]["generation"], 2)

        # A PUT with a stale resourceVersion is a Conflict.
        stale = dict(ing, metadata=dict(ing["metadata"], resourceVersion=str(rv1)))
        status, body = api.request("PUT", INGRESSES.format(ns=ns) + "/web", stale)
        self.assertEqual((status, body["reason"]), (409, "Conflict"))

        # Secrets by type (the field selector Lintel's informer uses).
        r = api.kubectl("-n", ns, "get", "secrets", "--field-selector",
                        "type=kubernetes.io/tls", "-o", "name")
        self.assertEqual(r.stdout.split(), ["secret/shop-tls"])
        r = api.kubectl("-n", ns, "get", "endpointslices", "-l",
                        "kubernetes.io/service-name=web", "-o", "name")
        self.assertEqual(r.stdout.split(), ["endpointslice.discovery.k8s.io/web-abc"])

        api.kubectl("-n", ns, "delete", "service", "web")
        r = api.kubectl("-n", ns, "get", "service", "web", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("NotFound", r.stderr)
        r = api.kubectl("-n", ns, "create", "-f", self.write("again.yaml", MANIFEST), check=False)
        self.assertIn("AlreadyExists", r.stderr)
        api.kubectl("delete", "ingressclass", "lintel")

    def test_kubectl_apply(self):
        api, ns = self.api, self.ns
        svc = MANIFEST.split("---\n")[0]
        api.kubectl("-n", ns, "apply", "-f", self.write("svc.yaml", svc))
        changed = svc.replace("port: 80", "port: 81").replace("name: http", "name: web")
        api.kubectl("-n", ns, "apply", "-f", self.write("svc2.yaml", changed))
        ports = api.kubectl_json("-n", ns, "get", "service", "web")["spec"]["ports"]
        self.assertEqual([(p["name"], p["port"]) for p in ports], [("web", 81)])

    def test_kubectl_watch_sees_added_and_modified(self):
        api, ns = self.api, self.ns
        out_path = os.path.join(self.work, f"{ns}-watch.out")
        with open(out_path, "wb") as out:
            watcher = subprocess.Popen(
                [*api.kubectl_argv, "-n", ns, "get", "ingress", "-w",
                 "--output-watch-events", "-o", "json"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: (watcher.kill(), watcher.wait(10)))

        def events():
            with open(out_path, encoding="utf-8") as f:
                text = f.read()
            decoder, pos, found = json.JSONDecoder(), 0, []
            while True:
                while pos < len(text) and text[pos].isspace():
                    pos += 1
                if pos >= len(text):
                    return found
                try:
                    value, pos = decoder.raw_decode(text, pos)
                except ValueError:
                    return found
                found.append((value.get("type"), value["object"]["metadata"]["name"]))

        # kubectl lists first, then watches: wait until its watch is open before writing.
        harness.wait_until(lambda: any(ns in w["watch"] for w in api.knob("state", "GET")["watches"]),
                           what="kubectl's watch to open")
        ing = MANIFEST.split("---\n")[3]
        api.kubectl("-n", ns, "create", "-f", self.write("ing.yaml", ing))
        harness.wait_until(lambda: ("ADDED", "web") in events(), what="ADDED in kubectl -w")
        api.kubectl("-n", ns, "annotate", "ingress", "web", "x=y")
        harness.wait_until(lambda: ("MODIFIED", "web") in events(), what="MODIFIED in kubectl -w")

    # ------------------------------------------------------------------ list and watch

    def test_list_pages_share_one_resource_version(self):
        api, ns = self.api, self.ns
        path = CONFIGMAPS.format(ns=ns)
        for i in range(5):
            api.ok("POST", path, configmap(f"cm{i}", app="pages" if i % 2 == 0 else "other"))
        page = api.ok("GET", path + "?limit=2")
        list_rv = page["metadata"]["resourceVersion"]
        names = [item["metadata"]["name"] for item in page["items"]]
        self.assertEqual(page["metadata"]["remainingItemCount"], 3)
        self.assertNotIn("kind", page["items"][0])  # like the real server: the list says it
        # A write between pages does not show up: the pages come from one snapshot.
        api.ok("POST", path, configmap("cm9"))
        while page["metadata"].get("continue"):
            token = page["metadata"]["continue"]
            page = api.ok("GET", f"{path}?limit=2&continue={token}")
            self.assertEqual(page["metadata"]["resourceVersion"], list_rv)
            names += [item["metadata"]["name"] for item in page["items"]]
        self.assertEqual(names, [f"cm{i}" for i in range(5)])

        selected = api.ok("GET", path + "?labelSelector=app%3Dpages")
        self.assertEqual([i["metadata"]["name"] for i in selected["items"]], ["cm0", "cm2", "cm4"])
        selected = api.ok("GET", path + "?labelSelector=app+notin+(pages)")
        self.assertEqual([i["metadata"]["name"] for i in selected["items"]], ["cm1", "cm3", "cm9"])
        selected = api.ok("GET", path + "?fieldSelector=metadata.name%3Dcm3")
        self.assertEqual([i["metadata"]["name"] for i in selected["items"]], ["cm3"])

        # An exact list at an older version is rebuilt from history.
        old = api.ok("GET", f"{path}?resourceVersion={list_rv}&resourceVersionMatch=Exact")
        self.assertEqual(len(old["items"]), 5)

        # Compaction expires outstanding continue tokens.
        page = api.ok("GET", path + "?limit=1")
        api.knob("compact")
        status, body = api.request("GET", f"{path}?limit=1&continue={page['metadata']['continue']}")
        self.assertEqual((status, body["reason"], body["code"]), (410, "Expired", 410))
        # A version from the future is "too large".
        status, body = api.request("GET", f"{path}?resourceVersion=99999999&resourceVersionMatch=NotOlderThan")
        self.assertEqual(status, 504)
        self.assertEqual(body["details"]["causes"][0]["reason"], "ResourceVersionTooLarge")

    def test_watch_from_resource_version_with_bookmarks(self):
        api, ns = self.api, self.ns
        path = CONFIGMAPS.format(ns=ns)
        api.ok("POST", path, configmap("before"))
        list_rv = api.ok("GET", path)["metadata"]["resourceVersion"]
        api.knob("bookmark-interval?ms=100")
        self.addCleanup(api.knob, "bookmark-interval?ms=1000")
        with api.watch(f"{path}?watch=1&resourceVersion={list_rv}&allowWatchBookmarks=true") as w:
            self.assertEqual(w.status, 200)
            self.assertEqual(w.response.getheader("Transfer-Encoding"), "chunked")
            created = api.ok("POST", path, configmap("after", app="x"))
            seen = w.events_until(lambda e: e["type"] == "ADDED")
            self.assertEqual(seen[-1]["object"]["metadata"]["name"], "after")  # not "before"
            self.assertEqual(seen[-1]["object"]["kind"], "ConfigMap")
            bookmark = w.events_until(lambda e: e["type"] == "BOOKMARK")[-1]
            self.assertEqual(bookmark["object"]["kind"], "ConfigMap")
            self.assertGreaterEqual(int(bookmark["object"]["metadata"]["resourceVersion"]),
                                    int(created["metadata"]["resourceVersion"]))
            api.ok("DELETE", f"{path}/after")
            deleted = w.events_until(lambda e: e["type"] == "DELETED")[-1]
            self.assertGreater(int(deleted["object"]["metadata"]["resourceVersion"]),
                               int(created["metadata"]["resourceVersion"]))

        # Resuming from the list version replays what happened since, in order.
        with api.watch(f"{path}?watch=true&resourceVersion={list_rv}&timeoutSeconds=1") as w:
            types = []
            while (event := w.next_event()) is not None:  # ends by timeoutSeconds
                types.append((event["type"], event["object"]["metadata"]["name"]))
            self.assertEqual(types, [("ADDED", "after"), ("DELETED", "after")])

        # Without a version: the current state as ADDED events first.
        with api.watch(f"{path}?watch=1&timeoutSeconds=1") as w:
            self.assertEqual(w.next_event()["object"]["metadata"]["name"], "before")

    def test_expire_and_drop_watches(self):
        api, ns = self.api, self.ns
        path = CONFIGMAPS.format(ns=ns)
        rv = api.ok("GET", path)["metadata"]["resourceVersion"]
        with api.watch(f"{path}?watch=1&resourceVersion={rv}") as w:
            self.assertEqual(w.status, 200)
            self.assertGreaterEqual(api.knob("expire-watches")["expired"], 1)
            event = w.next_event()
            self.assertEqual(event["type"], "ERROR")
            self.assertEqual((event["object"]["code"], event["object"]["reason"]), (410, "Expired"))
            self.assertIsNone(w.next_event())  # then the response ends cleanly
        with api.watch(f"{path}?watch=1&resourceVersion={rv}") as w:
            self.assertGreaterEqual(api.knob("drop-watches")["dropped"], 1)
            with self.assertRaises((http.client.IncompleteRead, OSError, ssl.SSLError)):
                w.next_event()  # no terminating chunk

    def test_compact_makes_old_versions_gone(self):
        api, ns = self.api, self.ns
        path = CONFIGMAPS.format(ns=ns)
        old_rv = api.ok("GET", path)["metadata"]["resourceVersion"]
        api.ok("POST", path, configmap("c1"))
        with api.watch(f"{path}?watch=1&resourceVersion={old_rv}&timeoutSeconds=1") as w:
            self.assertEqual(w.status, 200)
        result = api.knob("compact")
        with api.watch(f"{path}?watch=1&resourceVersion={old_rv}") as w:
            self.assertEqual(w.status, 410)
            self.assertEqual((w.error["kind"], w.error["reason"]), ("Status", "Expired"))
        with api.watch(f"{path}?watch=1&resourceVersion={result['resourceVersion']}"
                       "&timeoutSeconds=1") as w:
            self.assertEqual(w.status, 200)

    # ------------------------------------------------------------------ errors and knobs

    def test_errors_are_status_objects(self):
        api, ns = self.api, self.ns
        status, body = api.request("GET", "/api/v1/namespaces", token="")
        self.assertEqual((status, body["kind"], body["reason"]), (401, "Status", "Unauthorized"))
        status, body = api.request("GET", "/api/v1/namespaces", token="wrong")
        self.assertEqual(status, 401)
        status, body = api.request("GET", CONFIGMAPS.format(ns=ns) + "/nope")
        self.assertEqual((status, body["reason"]), (404, "NotFound"))
        self.assertEqual(body["details"], {"name": "nope", "group": "", "kind": "configmaps"})
        status, body = api.request("POST", CONFIGMAPS.format(ns=ns), "{not json")
        self.assertEqual((status, body["reason"]), (400, "BadRequest"))

        api.knob("fail?status=503&count=2&path=/api/v1/namespaces/" + ns)
        for _ in range(2):
            status, body = api.request("GET", CONFIGMAPS.format(ns=ns))
            self.assertEqual((status, body["code"]), (503, 503))
        self.assertEqual(api.request("GET", CONFIGMAPS.format(ns=ns))[0], 200)

        # Ingress status: writes to /status change only status.
        api.kubectl("-n", ns, "create", "-f", self.write("ing.yaml", MANIFEST.split("---\n")[3]))
        lb = {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}
        patched = api.ok("PATCH", INGRESSES.format(ns=ns) + "/web/status",
                         {"status": lb, "spec": {"ingressClassName": "other"}},
                         content_type="application/merge-patch+json")
        self.assertEqual(patched["status"], lb)
        self.assertEqual(patched["spec"]["ingressClassName"], "lintel")
        self.assertEqual(patched["metadata"]["generation"], 1)
        # The same status again changes nothing: same resourceVersion, no event.
        again = api.ok("PATCH", INGRESSES.format(ns=ns) + "/web/status", {"status": lb},
                       content_type="application/merge-patch+json")
        self.assertEqual(again["metadata"]["resourceVersion"], patched["metadata"]["resourceVersion"])

    def test_rotate_token(self):
        api = self.api
        old = api.token()
        new = api.knob("rotate-token")["token"]
        self.assertNotEqual(new, old)
        self.assertEqual(api.token(), new)
        self.assertEqual(api.request("GET", "/api/v1/namespaces", token=old)[0], 401)
        self.assertEqual(api.request("GET", "/api/v1/namespaces")[0], 200)
        api.kubectl("get", "namespaces")  # kubectl reads the rewritten kubeconfig


class RestartTest(unittest.TestCase):
    def test_restart_keeps_objects_and_resource_version(self):
        work = tempfile.mkdtemp(prefix="lintel-standin.")
        self.addCleanup(shutil.rmtree, work, True)
        state = os.path.join(work, "state")
        api = StandIn.start(state, work)
        self.addCleanup(api.stop)
        path = CONFIGMAPS.format(ns="default")
        for name in ("keep", "drop"):
            api.ok("POST", path, configmap(name))
        rv = int(api.ok("GET", path)["metadata"]["resourceVersion"])
        token = api.token()
        with open(api.ca, encoding="utf-8") as f:
            ca = f.read()
        os.kill(api.pid, signal.SIGKILL)
        api.popen.wait(10)

        # Edited while down: one object gone (a deletion the clients must notice by relisting).
        saved = api.read_state()
        self.assertEqual(int(saved["resourceVersion"]), rv)
        saved["objects"] = [o for o in saved["objects"] if o["metadata"]["name"] != "drop"]
        with open(api.state_path, "w", encoding="utf-8") as f:
            json.dump(saved, f)

        again = StandIn.start(state, work, listen=f"127.0.0.1:{api.port}")
        self.addCleanup(again.stop)
        with open(again.ca, encoding="utf-8") as f:
            self.assertEqual((again.token(), f.read()), (token, ca))
        listed = again.ok("GET", path)
        self.assertEqual([i["metadata"]["name"] for i in listed["items"]], ["keep"])
        self.assertEqual(int(listed["metadata"]["resourceVersion"]), rv)
        with again.watch(f"{path}?watch=1&resourceVersion={rv - 1}") as w:
            self.assertEqual((w.status, w.error["reason"]), (410, "Expired"))
        with again.watch(f"{path}?watch=1&resourceVersion={rv}&timeoutSeconds=1") as w:
            self.assertEqual(w.status, 200)
        created = again.ok("POST", path, configmap("new"))
        self.assertEqual(int(created["metadata"]["resourceVersion"]), rv + 1)
        again.kubectl("get", "configmap", "keep")


class SlowWatcherTest(unittest.TestCase):
    def test_a_slow_watcher_is_cut_off_and_others_keep_streaming(self):
        work = tempfile.mkdtemp(prefix="lintel-standin.")
        self.addCleanup(shutil.rmtree, work, True)
        api = StandIn.start(os.path.join(work, "state"), work,
                            extra_args=["--watch-queue-limit", "5"])
        self.addCleanup(api.stop)
        path = CONFIGMAPS.format(ns="default")
        rv = api.ok("GET", path)["metadata"]["resourceVersion"]
        target = f"{path}?watch=1&resourceVersion={rv}"
        # The slow one never reads: once the socket buffers are full, its queue grows.
        slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: small window
        slow.settimeout(harness.IO_TIMEOUT)
        slow.connect((api.host, api.port))
        slow = api.context().wrap_socket(slow, server_hostname="127.0.0.1")
        self.addCleanup(slow.close)
        slow.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n"
                     f"Authorization: Bearer {api.token()}\r\n\r\n".encode())
        with api.watch(target, timeout=harness.IO_TIMEOUT) as fast:
            harness.wait_until(lambda: len(api.knob("state", "GET")["watches"]) == 2,
                               what="both watches to open")
            names = []
            for i in range(40):
                api.ok("POST", path, configmap(f"big{i}", blob="x") | {"data": {"v": "x" * 200_000}})
                names.append(fast.next_event()["object"]["metadata"]["name"])
            self.assertEqual(names, [f"big{i}" for i in range(40)])
            harness.wait_until(lambda: len(api.knob("state", "GET")["watches"]) == 1,
                               what="the slow watch to be closed")
        self.assertIn("fell too far behind", api.stderr_text())


if __name__ == "__main__":
    unittest.main()
