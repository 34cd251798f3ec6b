"""Running in a cluster (issue 5): Ingress status, leader election and Events, end to end:
two real `lintel` processes against the stand-in API server (`build/kube-standin`), checked
with the real `kubectl`.

- Only the leader (a coordination.k8s.io/v1 Lease) writes Ingress status and Events; every
  replica serves traffic. Killing the leader hands the Lease to the other replica within
  the lease duration, and the new leader writes.
- Status goes to Ingresses of our class only, through the /status subresource, and comes
  back without a recompile (the generation in /routes does not move).
- --publish-service follows the Service's status.loadBalancer as it changes.
- --update-status-on-shutdown clears the addresses on SIGTERM; without it they stay.
- A leader that cannot renew stops writing within the renew deadline.
- A rolling restart of the leader under keep-alive load through a /readyz-following load
  balancer fails no request; the released Lease goes to the other replica at its next try.
- Warning Events for a broken TLS Secret and a path conflict, shown by `kubectl describe
  ingress`; repeats are aggregated (series), and a fixed Ingress gets a Normal Event.

Every wait polls a condition with a deadline; timings are logged, never asserted, except
where the issue states a bound (the takeover within the lease time), which is checked with
generous slack.
"""

import json
import os
import re
import signal
import threading
import time
import unittest

import harness as h
import test_kube as tk
from harness import http_path, ingress, rule

# Pods and lintels of this file live on 127.0.0.2-5.

ADDRESSES = "203.0.113.7,lb.example.com"
# Short lease timings for the tests that do not measure the defaults.
FAST_ELECTION = ("--election-lease-duration", "3s", "--election-renew-deadline", "2s",
                 "--election-retry-period", "500ms")


def other_class():
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": "other"}, "spec": {"controller": "example.com/other"}}


class ClusterTest(tk.KubeFixture, unittest.TestCase):
    FIXTURE = __name__

    # ---- helpers
    def start_replica(self, identity, *extra):
        delay = () if "--shutdown-delay" in extra else ("--shutdown-delay", "0s")
        return self.start_lintel(extra_args=("--election-identity", identity, *delay, *extra))

    def get_json(self, *args):
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def addresses(self, name, namespace="default"):
        obj = self.get_json("ingress", name, "-n", namespace)
        entries = (obj.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
        return sorted(e.get("ip") or e.get("hostname") for e in entries)

    def holder(self, name="lintel-leader", namespace="default"):
        try:
            lease = self.get_json("lease", name, "-n", namespace)
        except AssertionError:
            return None
        return lease["spec"].get("holderIdentity") or ""

    def wait_addresses(self, name, expected, what=None, timeout=h.STATE_TIMEOUT):
        h.wait_until(lambda: self.addresses(name) == sorted(expected), timeout=timeout,
                     what=what or f"Ingress {name} to show {expected}")

    def describe(self, name):
        return self.kubectl("describe", "ingress", name, "-n", "default")

    def events_of(self, name):
        """events.k8s.io/v1 Events regarding Ingress `name`, as the API stores them."""
        items = self.get_json("events.v1.events.k8s.io", "-n", "default")["items"]
        return [e for e in items if e.get("regarding", {}).get("name") == name]

    def status_writes(self, lintel):
        return re.findall(r"status: Ingress (\S+) now shows", lintel.stderr_text())

    # ---- tests
    def test_leader_writes_status_other_serves_failover_within_lease(self):
        a = self.fx.echo_group(["a"])
        self.create(tk.CLASS, other_class(), *self.app("web", "web.cluster.test", a),
                    ingress("foreign", rules=[rule("foreign.cluster.test",
                                                   http_path("/", "Prefix", "web", 80))],
                            ingress_class="other"))
        # Default lease timings (15 s / 10 s / 2 s): this test measures them.
        one = self.start_replica("lintel-one", "--publish-status-address", ADDRESSES)
        two = self.start_replica("lintel-two", "--publish-status-address", ADDRESSES)
        h.wait_until(lambda: self.holder() in ("lintel-one", "lintel-two"),
                     what="one replica to hold the Lease")
        self.wait_addresses("web", ["203.0.113.7", "lb.example.com"])
        leader, follower = (one, two) if self.holder() == "lintel-one" else (two, one)
        # Both serve traffic; only the leader wrote; never the other class's Ingress.
        self.assertEqual(self.answers(leader, "web.cluster.test"), "a")
        self.assertEqual(self.answers(follower, "web.cluster.test"), "a")
        self.assertEqual(self.status_writes(leader), ["default/web"])
        self.assertEqual(self.status_writes(follower), [])
        self.assertEqual(self.addresses("foreign"), [])
        lease = self.get_json("lease", "lintel-leader", "-n", "default")
        self.assertEqual(lease["spec"]["leaseDurationSeconds"], 15)
        # kubectl shows the address column.
        self.assertIn("203.0.113.7", self.kubectl("get", "ingress", "web", "-n", "default"))

        # The status write came back as MODIFIED without a recompile.
        generation = leader.generation()
        self.create(*self.app("shop", "shop.cluster.test", a))
        self.wait_addresses("shop", ["203.0.113.7", "lb.example.com"])
        h.wait_until(lambda: leader.generation() == generation + 1 and
                     follower.generation() == generation + 1,
                     what="both replicas at the generation of the new Ingress")
        self.kubectl("label", "ingress", "web", "-n", "default", "touched=yes")  # a change
        h.wait_until(lambda: "touched" in json.dumps(self.get_json("ingress", "web",
                                                                   "-n", "default")),
                     what="the label")
        self.assertEqual(leader.generation(), generation + 1,
                         "a status write or a label must not cause a new snapshot")

        # Kill the leader: the follower takes the Lease within the lease time.
        killed = time.monotonic()
        leader.popen.send_signal(signal.SIGKILL)
        leader.popen.wait(timeout=10)
        follower_name = "lintel-two" if leader is one else "lintel-one"
        h.wait_until(lambda: self.holder() == follower_name, timeout=15 + 2 + 8,
                     what="the follower to take the Lease over")
        took = time.monotonic() - killed
        h.log(f"takeover {took:.1f}s after SIGKILL of the leader (lease 15s, retry 2s)")
        self.assertLess(took, 15 + 2 + 5, "takeover must come within the lease time (+ retry)")
        # The new leader writes.
        self.create(*self.app("late", "late.cluster.test", a))
        self.wait_addresses("late", ["203.0.113.7", "lb.example.com"])
        self.assertIn("default/late", self.status_writes(follower))
        self.assertEqual(self.answers(follower, "late.cluster.test"), "a")

    def test_rolling_restart_of_the_leader_fails_no_request(self):
        """A rollout replaces the leader: a load balancer that follows /readyz spreads
        keep-alive clients over both replicas; SIGTERM to the leader fails no request, the
        Lease is released and taken by the other replica at its next try, and the
        addresses stay (no --update-status-on-shutdown)."""
        a = self.fx.echo_group(["a"])
        self.create(tk.CLASS, *self.app("web", "web.cluster.test", a))
        replicas = [self.start_replica(name, "--publish-status-address", "203.0.113.7",
                                       "--shutdown-delay", "2s")
                    for name in ("lintel-one", "lintel-two")]
        h.wait_until(lambda: self.holder() in ("lintel-one", "lintel-two"), what="a leader")
        self.wait_addresses("web", ["203.0.113.7"])
        leader = replicas[0] if self.holder() == "lintel-one" else replicas[1]
        other = replicas[1] if leader is replicas[0] else replicas[0]

        registered = set(range(len(replicas)))  # what the load balancer sends to
        lock = threading.Lock()
        done = threading.Event()
        failures, served = [], []

        def load_balancer():
            while not done.is_set():
                for i, r in enumerate(replicas):
                    try:
                        ready = r.alive() and r.admin("/readyz", timeout=1.0).status == 200
                    except OSError:
                        ready = False
                    if not ready:
                        with lock:
                            registered.discard(i)
                time.sleep(0.05)

        def client(index):
            conns = {}
            n = 0
            while not done.is_set():
                with lock:
                    targets = sorted(registered)
                for i in list(conns):
                    if i not in targets:  # deregistered: no new request on it
                        conns.pop(i).close()
                if not targets:
                    break
                i = targets[n % len(targets)]
                n += 1
                try:
                    conn = conns.get(i) or conns.setdefault(i, replicas[i].connect())
                    conn.request("GET", f"/c{index}/{n}", host="web.cluster.test")
                    response = conn.read_response()
                except (OSError, h.ConnectionClosed, ValueError) as e:
                    with lock:
                        failures.append(f"client {index} → replica {i}: {e!r}")
                    conns.pop(i, None)
                    continue
                with lock:
                    served.append((time.monotonic(), i, response.status))
                if response.status != 200:
                    with lock:
                        failures.append(f"client {index} → replica {i}: {response.status}")
                if response.wants_close():
                    conns.pop(i).close()
            for conn in conns.values():
                conn.close()

        threads = [threading.Thread(target=load_balancer)]
        threads += [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        try:
            h.wait_until(lambda: {i for _, i, _ in served} == {0, 1},
                         what="traffic on both replicas")
            t0 = time.monotonic()
            leader.popen.send_signal(signal.SIGTERM)
            h.wait_until(lambda: self.holder() == ("lintel-two" if leader is replicas[0]
                                                   else "lintel-one"),
                         what="the other replica to take the released Lease")
            h.log(f"Lease taken over {time.monotonic() - t0:.1f}s after SIGTERM to the leader "
                  "(released, retry 2s)")
            self.assertEqual(leader.popen.wait(timeout=30), 0, leader.tail())
            h.wait_until(lambda: len([s for s in served if s[0] > t0 + 3]) > 20,
                         what="traffic flowing through the other replica after the drain")
        finally:
            done.set()
            for t in threads:
                t.join(timeout=15)
        self.assertEqual(failures, [], leader.tail(30))
        after = {i for t, i, _ in served if t > t0 + 3}
        self.assertEqual(after, {replicas.index(other)})
        self.assertEqual(self.addresses("web"), ["203.0.113.7"])
        self.assertIn("released Lease default/lintel-leader", leader.stderr_text())

    def test_publish_service_is_followed(self):
        a = self.fx.echo_group(["a"])
        lb = h.service("lintel", "ingress-system")
        lb["spec"]["type"] = "LoadBalancer"
        self.kubectl("create", "namespace", "ingress-system")
        self.create(tk.CLASS, lb, *self.app("web", "web.cluster.test", a))
        one = self.start_replica("lintel-one", "--publish-service", "ingress-system/lintel",
                                 "--watch-namespace", "default", *FAST_ELECTION)
        h.wait_until(lambda: self.holder() == "lintel-one", what="the Lease")
        # No load balancer yet: nothing to publish.
        self.assertEqual(self.addresses("web"), [])

        def set_lb(entries):
            self.kubectl("patch", "service", "lintel", "-n", "ingress-system",
                         "--subresource=status", "--type=merge", "-p",
                         json.dumps({"status": {"loadBalancer": {"ingress": entries}}}))

        set_lb([{"ip": "198.51.100.5"}])
        self.wait_addresses("web", ["198.51.100.5"])
        set_lb([{"hostname": "lb-123.elb.example.com"}, {"ip": "198.51.100.6"}])
        self.wait_addresses("web", ["198.51.100.6", "lb-123.elb.example.com"])
        self.assertEqual(one.generation(), 1, "status changes must not recompile")

    def test_update_status_on_shutdown_clears_and_releases(self):
        a = self.fx.echo_group(["a"])
        self.create(tk.CLASS, *self.app("web", "web.cluster.test", a))
        one = self.start_replica("lintel-one", "--publish-status-address", "203.0.113.7",
                                 "--update-status-on-shutdown", *FAST_ELECTION)
        self.wait_addresses("web", ["203.0.113.7"])
        one.popen.send_signal(signal.SIGTERM)
        self.assertEqual(one.popen.wait(timeout=30), 0, one.tail())
        self.assertEqual(self.addresses("web"), [])
        self.assertEqual(self.holder(), "", "the Lease is released on a deliberate shutdown")
        self.assertIn("released Lease default/lintel-leader", one.stderr_text())

        # Without the flag the addresses stay (a rolling update must not blank them).
        two = self.start_replica("lintel-two", "--publish-status-address", "203.0.113.7",
                                 *FAST_ELECTION)
        self.wait_addresses("web", ["203.0.113.7"])
        two.popen.send_signal(signal.SIGTERM)
        self.assertEqual(two.popen.wait(timeout=30), 0, two.tail())
        self.assertEqual(self.addresses("web"), ["203.0.113.7"])

    def test_leader_that_cannot_renew_stops_writing(self):
        a = self.fx.echo_group(["a"])
        self.create(tk.CLASS, *self.app("web", "web.cluster.test", a))
        one = self.start_replica("lintel-one", "--publish-status-address", "203.0.113.7",
                                 *FAST_ELECTION)
        self.wait_addresses("web", ["203.0.113.7"])
        # Every Lease request fails from now on: renewals fail.
        self.standin.knob("/_standin/fail?status=503&count=100000"
                          "&path=/apis/coordination.k8s.io/")
        cut = time.monotonic()
        h.wait_until(lambda: "is no longer the leader" in one.stderr_text(),
                     what="the leader to step down")
        h.log(f"stepped down {time.monotonic() - cut:.1f}s after renewals began to fail "
              "(renew deadline 2s)")
        # Not leader: a new Ingress is served but gets no status until the Lease is back.
        self.create(*self.app("shop", "shop.cluster.test", a))
        self.wait_answer(one, "shop.cluster.test", "a")
        self.assertEqual(self.addresses("shop"), [])
        self.standin.knob("/_standin/fail?count=0")
        self.wait_addresses("shop", ["203.0.113.7"])
        log = one.stderr_text()
        self.assertLess(log.index("is no longer the leader"),
                        log.rindex("is now the leader"))
        self.assertLess(log.rindex("is now the leader"),
                        log.index("status: Ingress default/shop now shows"))

    def test_warning_events_aggregated_and_normal_when_fixed(self):
        a = self.fx.echo_group(["a"])
        objects = self.app("web", "web.cluster.test", a)
        broken = ingress("web", rules=[rule("web.cluster.test", http_path("/", "Prefix", "web", 80))],
                         ingress_class="lintel",
                         tls=[{"hosts": ["web.cluster.test"], "secretName": "web-tls"}])
        self.create(tk.CLASS, *objects[:2], broken)
        # A path conflict: "zshadow" is younger (or as old and later by name) and claims
        # the same host, path and type.
        self.create(ingress("zshadow", rules=[rule("web.cluster.test",
                                                  http_path("/", "Prefix", "web", 80))],
                            ingress_class="lintel"))
        self.start_replica("lintel-one", *FAST_ELECTION)
        self.start_replica("lintel-two", *FAST_ELECTION)

        def shows(name, *words):
            text = self.describe(name)
            return all(w in text for w in words)

        h.wait_until(lambda: shows("web", "Warning", "TLSSecretNotFound", "web-tls"),
                     what="a Warning Event for the missing Secret")
        h.wait_until(lambda: shows("zshadow", "Warning", "PathConflict"),
                     what="a Warning Event for the path conflict")
        # One Event per cause, whatever the number of replicas and recompiles.
        warnings = [e for e in self.events_of("web") if e["type"] == "Warning"]
        self.assertEqual(len(warnings), 1, warnings)
        self.assertEqual(warnings[0]["reportingController"], "lintel.dev/ingress-controller")

        # Fixed: a Normal Event.
        secret_dir = self.fx.tmpdir()
        cert_pem, key_pem = h.self_signed(["web.cluster.test"], secret_dir)
        self.create(h.tls_secret("web-tls", "default", cert_pem, key_pem))
        h.wait_until(lambda: shows("web", "Normal", "Valid"), what="a Normal Event once fixed")

        # Broken again and fixed again: the same Warning Event, its series counted up.
        self.kubectl("delete", "secret", "web-tls", "-n", "default")
        h.wait_until(lambda: any(e["type"] == "Warning" and (e.get("series") or {}).get("count", 1) >= 2
                                 for e in self.events_of("web")),
                     timeout=h.STATE_TIMEOUT + 15,
                     what="the repeated Warning aggregated into a series")
        warnings = [e for e in self.events_of("web") if e["type"] == "Warning"]
        self.assertEqual(len(warnings), 1, warnings)


if __name__ == "__main__":
    unittest.main()
