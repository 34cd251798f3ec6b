"""kube-standin (issue 4, item 5): the stand-in Kubernetes API server, driven by the real
kubectl and by raw HTTPS requests.

Issue 5 (what Lintel writes): events.k8s.io/v1 Events are core v1 Events too (one store, two
shapes) and show in `kubectl describe ingress`; Leases; Ingress /status; every request
(watches included) in the --verbose log.

kubectl: create -f / get -o json / replace / patch --type=merge / apply / delete / get -w.
Raw: LIST pages (limit + continue, one resourceVersion across pages, 410 after compact),
WATCH from a resourceVersion with bookmarks, the knobs (expire-watches, drop-watches,
compact, rotate-token, fail), persistence across a restart.
"""

import copy
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import textwrap
import time
import unittest
import urllib.parse

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
        # --verbose: test_verbose_log_lists_every_request reads the request lines.
        cls.api = StandIn.start(os.path.join(cls.work, "state"), cls.work,
                                extra_args=["--verbose"])
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
        # The human-readable table (the stand-in's Table, the real server's Ingress columns).
        table = api.kubectl("-n", ns, "get", "ingress").stdout
        self.assertRegex(table, r"NAME +CLASS +HOSTS +ADDRESS +PORTS +AGE\n"
                                r"web +lintel +shop.example.com +80, 443 +\d+s\n")

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

    # ------------------------------------------------------------------ issue 5: writes

    def event_v1(self, name, ing, **overrides):
        event = {"apiVersion": "events.k8s.io/v1", "kind": "Event",
                 "metadata": {"name": name},
                 "regarding": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                               "name": ing["metadata"]["name"], "namespace": self.ns,
                               "uid": ing["metadata"]["uid"]},
                 "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
                 "reportingController": "lintel.dev/ingress-controller",
                 "reportingInstance": "lintel-7d9f",
                 "action": "Sync", "reason": "BadTLS", "type": "Warning",
                 "note": "secret shop-tls has no tls.crt"}
        event.update(overrides)
        return event

    def test_events_v1_are_core_events_and_show_in_describe(self):
        api, ns = self.api, self.ns
        api.kubectl("-n", ns, "create", "-f", self.write("ing.yaml", MANIFEST.split("---\n")[3]))
        ing = api.kubectl_json("-n", ns, "get", "ingress", "web")
        v1_events = f"/apis/events.k8s.io/v1/namespaces/{ns}/events"
        core_events = f"/api/v1/namespaces/{ns}/events"

        with api.watch(f"{core_events}?watch=1&resourceVersion={ing['metadata']['resourceVersion']}") as w:
            created = api.ok("POST", v1_events, self.event_v1("web.1", ing))
            self.assertEqual(created["note"], "secret shop-tls has no tls.crt")
            self.assertNotIn("generation", created["metadata"])
            # A core watch sees it in the core shape (the conversion of pkg/apis/events/v1).
            (added,) = w.events_until(lambda e: e["type"] == "ADDED")
            obj = added["object"]
            self.assertEqual((obj["apiVersion"], obj["kind"]), ("v1", "Event"))
            self.assertEqual(obj["involvedObject"]["uid"], ing["metadata"]["uid"])
            self.assertEqual(obj["message"], "secret shop-tls has no tls.crt")
            self.assertEqual(obj["reportingComponent"], "lintel.dev/ingress-controller")
            self.assertEqual(obj["reportingInstance"], "lintel-7d9f")
            self.assertEqual(obj["metadata"]["uid"], created["metadata"]["uid"])

        # The series bump, both patch types Lintel may send.
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        patched = api.ok("PATCH", f"{v1_events}/web.1",
                         {"series": {"count": 2, "lastObservedTime": now}},
                         content_type="application/merge-patch+json")
        self.assertEqual(patched["series"]["count"], 2)
        self.assertRegex(patched["series"]["lastObservedTime"], r"\.000000Z$")  # MicroTime
        patched = api.ok("PATCH", f"{v1_events}/web.1",
                         {"series": {"count": 3, "lastObservedTime": now}},
                         content_type="application/strategic-merge-patch+json")
        self.assertEqual(patched["series"]["count"], 3)
        core = api.ok("GET", f"{core_events}/web.1")
        self.assertEqual(core["series"]["count"], 3)
        self.assertEqual(core["metadata"]["resourceVersion"], patched["metadata"]["resourceVersion"])

        # What kubectl describe asks for, answered with the field selector applied.
        r = api.kubectl("-n", ns, "describe", "ingress", "web", "-v=8")
        # GET /api/v1/namespaces/NS/events?fieldSelector=involvedObject.name=web,
        # involvedObject.namespace=NS,involvedObject.kind=Ingress,involvedObject.uid=UID&limit=500
        # (the terms in any order: kubectl builds them from a Go map).
        (url,) = re.findall(r"GET https://\S+(/api/v1/namespaces/\S+/events\?\S+)", r.stderr)
        path, _, query = url.partition("?")
        query = urllib.parse.parse_qs(query)
        self.assertEqual(path, core_events)
        self.assertEqual(query["limit"], ["500"])
        self.assertEqual(set(query["fieldSelector"][0].split(",")),
                         {"involvedObject.name=web", f"involvedObject.namespace={ns}",
                          "involvedObject.kind=Ingress",
                          f"involvedObject.uid={ing['metadata']['uid']}"})
        self.assertRegex(r.stdout, r"Warning +BadTLS +\d+s \(x3 over \d+s\) +"
                                   r"lintel\.dev/ingress-controller +secret shop-tls has no tls\.crt")
        # Another object's events stay out of it.
        other = dict(ing, metadata=dict(ing["metadata"], name="other", uid="0-0"))
        api.ok("POST", v1_events, self.event_v1("other.1", other, reason="Other"))
        self.assertNotIn("Other", api.kubectl("-n", ns, "describe", "ingress", "web").stdout)

        table = api.kubectl("-n", ns, "get", "events").stdout
        self.assertRegex(table, r"\d+s +Warning +BadTLS +ingress/web +secret shop-tls has no tls\.crt")
        self.assertIn("web.1", api.kubectl("-n", ns, "get", "events.events.k8s.io", "-o", "name").stdout)
        # Field selectors: involvedObject.* on core, regarding.* on events.k8s.io.
        listed = api.ok("GET", f"{v1_events}?fieldSelector=regarding.name%3Dweb")
        self.assertEqual([e["metadata"]["name"] for e in listed["items"]], ["web.1"])
        self.assertEqual(listed["items"][0]["regarding"]["kind"], "Ingress")
        listed = api.ok("GET", f"{core_events}?fieldSelector=involvedObject.uid%3D0-0")
        self.assertEqual([e["metadata"]["name"] for e in listed["items"]], ["other.1"])
        status, _ = api.request("GET", f"{v1_events}?fieldSelector=involvedObject.name%3Dweb")
        self.assertEqual(status, 400)

        # A core v1 Event is an events.k8s.io/v1 one too.
        api.ok("POST", core_events, {"metadata": {"name": "core.1"}, "reason": "Synced",
                                     "message": "from core", "type": "Normal", "count": 1,
                                     "involvedObject": {"kind": "Ingress", "name": "web",
                                                        "namespace": ns},
                                     "source": {"component": "old-recorder"}})
        v1 = api.ok("GET", f"{v1_events}/core.1")
        self.assertEqual((v1["note"], v1["regarding"]["name"], v1["deprecatedCount"],
                          v1["deprecatedSource"]), ("from core", "web", 1, {"component": "old-recorder"}))

    def test_events_v1_validation_and_conflicts(self):
        api, ns = self.api, self.ns
        api.kubectl("-n", ns, "create", "-f", self.write("ing.yaml", MANIFEST.split("---\n")[3]))
        ing = api.kubectl_json("-n", ns, "get", "ingress", "web")
        v1_events = f"/apis/events.k8s.io/v1/namespaces/{ns}/events"
        bad = self.event_v1("bad", ing, type="Sometimes", note="x" * 1025)
        for key in ("eventTime", "reportingController", "reportingInstance", "action"):
            del bad[key]
        status, body = api.request("POST", v1_events, bad)
        self.assertEqual((status, body["kind"], body["reason"]), (422, "Status", "Invalid"))
        self.assertTrue(body["message"].startswith('Event.events.k8s.io "bad" is invalid: ['),
                        body["message"])
        self.assertEqual({c["field"] for c in body["details"]["causes"]},
                         {"eventTime", "type"})  # eventTime unset: the legacy checks pass
        bad = self.event_v1("bad", ing, note="x" * 1025)
        del bad["reportingInstance"], bad["action"]
        status, body = api.request("POST", v1_events, bad)
        self.assertEqual(status, 422)
        self.assertEqual({(c["field"], c["reason"]) for c in body["details"]["causes"]},
                         {("reportingInstance", "FieldValueRequired"),
                          ("action", "FieldValueRequired"), ("message", "FieldValueInvalid")})
        self.assertEqual(api.ok("GET", v1_events)["items"], [])

        api.ok("POST", v1_events, self.event_v1("web.1", ing))
        status, body = api.request("POST", v1_events, self.event_v1("web.1", ing))
        self.assertEqual((status, body["reason"]), (409, "AlreadyExists"))
        # Only the series (and metadata) may change.
        status, body = api.request("PATCH", f"{v1_events}/web.1", {"note": "changed"},
                                   content_type="application/merge-patch+json")
        self.assertEqual((status, body["reason"]), (422, "Invalid"))
        self.assertIn("field is immutable", body["message"])
        status, body = api.request("PATCH", f"{v1_events}/web.1", {"series": {"count": 1}},
                                   content_type="application/merge-patch+json")
        self.assertEqual({c["field"] for c in body["details"]["causes"]},
                         {"series.count", "series.lastObservedTime"})

    def test_lease_get_create_update(self):
        api, ns = self.api, self.ns
        leases = f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"
        status, body = api.request("GET", f"{leases}/lintel")
        self.assertEqual((status, body["reason"]), (404, "NotFound"))
        lease = api.ok("POST", leases, {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "lintel"},
            "spec": {"holderIdentity": "lintel-a", "leaseDurationSeconds": 15,
                     "acquireTime": "2026-01-02T03:04:05.5Z",
                     "renewTime": "2026-01-02T04:04:05+01:00", "leaseTransitions": 0}})
        spec = lease["spec"]
        self.assertEqual(spec["acquireTime"], "2026-01-02T03:04:05.500000Z")
        self.assertEqual(spec["renewTime"], "2026-01-02T03:04:05.000000Z")
        self.assertNotIn("generation", lease["metadata"])
        status, body = api.request("POST", leases, lease)
        self.assertEqual((status, body["reason"]), (409, "AlreadyExists"))

        # Another candidate takes over: an update with the version it read.
        taken = dict(lease, spec=dict(spec, holderIdentity="lintel-b", leaseTransitions=1,
                                      renewTime="2026-01-02T03:04:20.123456Z"))
        updated = api.ok("PUT", f"{leases}/lintel", taken)
        self.assertEqual((updated["spec"]["holderIdentity"], updated["spec"]["leaseTransitions"],
                          updated["spec"]["renewTime"]), ("lintel-b", 1, "2026-01-02T03:04:20.123456Z"))
        self.assertGreater(int(updated["metadata"]["resourceVersion"]),
                           int(lease["metadata"]["resourceVersion"]))
        # The first one, renewing from its stale copy, loses.
        status, body = api.request("PUT", f"{leases}/lintel", lease)
        self.assertEqual((status, body["reason"]), (409, "Conflict"))
        self.assertEqual(api.ok("GET", f"{leases}/lintel")["spec"]["holderIdentity"], "lintel-b")
        status, body = api.request("PUT", f"{leases}/lintel",
                                   dict(updated, spec=dict(spec, renewTime="yesterday")))
        self.assertEqual(status, 400)

        table = api.kubectl("-n", ns, "get", "lease").stdout
        self.assertRegex(table, r"NAME +HOLDER +AGE\nlintel +lintel-b +\d+s\n")

    def test_ingress_status_put_and_patch(self):
        api, ns = self.api, self.ns
        api.kubectl("-n", ns, "create", "-f", self.write("ing.yaml", MANIFEST.split("---\n")[3]))
        path = INGRESSES.format(ns=ns) + "/web"
        ing = api.ok("GET", path)
        rv0 = ing["metadata"]["resourceVersion"]
        with api.watch(f"{INGRESSES.format(ns=ns)}?watch=1&resourceVersion={rv0}") as w:
            # PUT /status: only status changes (the spec in the body is ignored).
            body = copy.deepcopy(ing)
            body["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}
            body["spec"]["rules"][0]["host"] = "ignored.example.com"
            put = api.ok("PUT", path + "/status", body)
            self.assertEqual(put["status"]["loadBalancer"]["ingress"], [{"ip": "192.0.2.10"}])
            self.assertEqual(put["spec"], ing["spec"])
            self.assertEqual(put["metadata"]["generation"], ing["metadata"]["generation"])
            self.assertGreater(int(put["metadata"]["resourceVersion"]), int(rv0))
            (modified,) = w.events_until(lambda e: e["type"] == "MODIFIED")
            self.assertEqual(modified["object"]["status"], put["status"])

            status, stale = api.request("PUT", path + "/status", body)  # rv0 again
            self.assertEqual((status, stale["reason"]), (409, "Conflict"))

            # PATCH /status (merge): the same, without a precondition.
            patch = {"status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.net"},
                                                             {"ip": "192.0.2.10"}]}},
                     "spec": {"ingressClassName": "ignored"}}
            patched = api.ok("PATCH", path + "/status", patch,
                             content_type="application/merge-patch+json")
            self.assertEqual(patched["spec"], ing["spec"])
            self.assertEqual(patched["metadata"]["generation"], ing["metadata"]["generation"])
            self.assertGreater(int(patched["metadata"]["resourceVersion"]),
                               int(put["metadata"]["resourceVersion"]))
            (modified,) = w.events_until(lambda e: e["type"] == "MODIFIED")
            self.assertEqual(modified["object"]["metadata"]["resourceVersion"],
                             patched["metadata"]["resourceVersion"])
            # The same status again is a no-op: same resourceVersion, no event.
            again = api.ok("PATCH", path + "/status", patch,
                           content_type="application/merge-patch+json")
            self.assertEqual(again["metadata"]["resourceVersion"],
                             patched["metadata"]["resourceVersion"])

        table = api.kubectl("-n", ns, "get", "ingress").stdout
        self.assertRegex(table, r"web +lintel +shop\.example\.com +192\.0\.2\.10,lb\.example\.net +80, 443 ")

    def test_verbose_log_lists_every_request(self):
        api, ns = self.api, self.ns
        before = len(api.stderr_text().splitlines())
        watch = f"{INGRESSES.format(ns=ns)}?watch=1&allowWatchBookmarks=true&timeoutSeconds=5"
        with api.watch(watch) as w:
            self.assertEqual(w.status, 200)
        api.request("GET", CONFIGMAPS.format(ns=ns), token="wrong")
        api.request("POST", f"/apis/events.k8s.io/v1/namespaces/{ns}/events", {})
        lines = []

        def seen():
            lines[:] = api.stderr_text().splitlines()[before:]
            return any("POST /apis/events.k8s.io" in line for line in lines)

        harness.wait_until(seen, what="the request lines")
        requests = [m.groups() for m in (re.search(r"kube-standin: ([A-Z]+) (/\S+) → (\d+) \(.*\)$", line)
                                         for line in lines) if m]
        self.assertIn(("GET", watch, "200"), requests)
        self.assertEqual(requests.count(("GET", CONFIGMAPS.format(ns=ns), "401")), 1)
        self.assertIn(("POST", f"/apis/events.k8s.io/v1/namespaces/{ns}/events", "422"), requests)

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
