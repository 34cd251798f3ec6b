"""The graceful drain on SIGTERM / SIGINT through the real binary (app/drain.h):

  first signal   /readyz 503 at once; lintel keeps accepting and serving for
                 --shutdown-delay
  + delay        listeners closed, idle keep-alive connections closed, Connection: close on
                 every response started from then on, requests in flight finish
  all done       exit 0 ("stopped")
  + timeout      (from the signal) what is left is cut, exit 0
  second signal  exit at once, code 1

Each test starts its own lintel (the drain ends it) in front of one shared lintel-echo.
Times are measured from just before the signal is sent: lintel cannot act on it earlier,
so "before T0 + delay" bounds are exact; upper bounds are generous (2 shared cores).
"""

import random
import signal
import socket
import ssl
import threading
import time
import unittest

import harness as h
from harness import http_path, ingress, rule

HOST = "drain.example"


class DrainTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        h.require_binaries()
        fx = cls.fx = h.Fixture(__name__)
        cls.addClassCleanup(fx.close)
        echos = fx.echo_group(["drain-echo"])
        cls.manifests = fx.tmpdir()
        h.write_manifests(cls.manifests, "drain.yaml", [
            *h.echo_service("echo", echos),
            ingress("drain", rules=[rule(HOST, http_path("/", "Prefix", "echo", 80))]),
        ])

    # ---- helpers
    def start(self, delay, timeout, workers=2):
        p = self.fx.lintel(self.manifests, workers=workers,
                           extra_args=["--shutdown-delay", delay, "--shutdown-timeout", timeout])
        # A failed test must not leave a draining lintel behind for the class cleanup.
        self.addCleanup(lambda: p.popen.kill() if p.alive() else None)
        return p

    def signal(self, p, sig=signal.SIGTERM):
        """Sends `sig`; returns the monotonic time just before it was sent."""
        t0 = time.monotonic()
        p.popen.send_signal(sig)
        return t0

    def wait_not_ready(self, p):
        def not_ready():
            return p.admin("/readyz").status == 503
        h.wait_until(not_ready, what="/readyz to answer 503")

    def wait_exit(self, p, timeout=h.STATE_TIMEOUT):
        """Waits for lintel to exit; returns (exit code, monotonic time it was seen gone)."""
        h.wait_until(lambda: not p.alive(), timeout=timeout, interval=0.01,
                     what="lintel to exit")
        return p.returncode, time.monotonic()

    def assert_logged(self, p, *parts):
        text = p.stderr_text()
        for part in parts:
            self.assertIn(part, text, p.tail(40))

    def get(self, conn, target):
        conn.request("GET", target, host=HOST)
        return conn.read_response()

    # ---- (a) the headline: a rolling deploy under keep-alive load, nothing fails
    def test_drain_under_load_fails_no_request(self):
        delay, lag = 2.0, 0.5
        p = self.start("2s", "15s")
        clients = 8
        stop_new = threading.Event()   # the load balancer has deregistered the Pod
        seen_503 = threading.Event()
        failures, results, late = [], [], []
        lock = threading.Lock()

        def client(index):
            rnd = random.Random(index)
            conn = None
            sent = 0
            try:
                while not stop_new.is_set():
                    if conn is None:
                        conn = p.connect()
                    slow = rnd.random() < 0.3
                    target = (f"/delay?ms={rnd.randint(100, 1200)}" if slow
                              else f"/fast/{index}/{sent}")
                    try:
                        r = self.get(conn, target)
                    except (OSError, h.ConnectionClosed, ValueError) as e:
                        with lock:
                            failures.append(f"client {index} {target}: {e!r}")
                        conn.close()
                        conn = None
                        continue
                    sent += 1
                    with lock:
                        results.append((time.monotonic(), r.status, r.wants_close(), target))
                    if r.status != 200:
                        with lock:
                            failures.append(f"client {index} {target}: {r!r}")
                    if r.wants_close():
                        conn.close()
                        conn = None
                # Deregistered: no new request; the idle keep-alive connection stays open
                # until lintel closes it when the delay ends.
                if conn is not None and not conn.closed_by_peer(timeout=delay + 5):
                    with lock:
                        failures.append(f"client {index}: idle connection not closed by lintel")
            finally:
                if conn is not None:
                    conn.close()

        def late_slow(index):
            """A slow request started after the signal, while the LB still sends traffic,
            and answered after the listeners closed."""
            seen_503.wait(timeout=h.STATE_TIMEOUT)
            try:
                with p.connect() as conn:
                    r = self.get(conn, "/late/delay?ms=3000")
                    with lock:
                        late.append((time.monotonic(), r))
                    if not conn.closed_by_peer(timeout=5):
                        with lock:
                            failures.append(f"late {index}: connection kept after close")
            except (OSError, h.ConnectionClosed, ValueError) as e:
                with lock:
                    failures.append(f"late {index}: {e!r}")

        def load_balancer():
            while True:
                try:
                    if p.admin("/readyz").status == 503:
                        break
                except OSError:
                    pass
                time.sleep(0.05)
            seen_503.set()
            time.sleep(lag)  # deregistration lag, shorter than the shutdown delay
            stop_new.set()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        threads += [threading.Thread(target=late_slow, args=(i,)) for i in range(2)]
        lb = threading.Thread(target=load_balancer)
        for t in threads:
            t.start()
        # Traffic flowing on every client before the signal.
        h.wait_until(lambda: len(results) >= 4 * clients, what="requests before the signal")
        lb.start()
        t0 = self.signal(p)
        code, gone = self.wait_exit(p, timeout=30)
        lb.join(timeout=10)
        for t in threads:
            t.join(timeout=15)
            self.assertFalse(t.is_alive(), "a client thread is stuck")

        self.assertEqual(failures, [], p.tail(40))
        self.assertEqual(code, 0, p.tail(40))
        after_signal = [r for r in results if r[0] >= t0]
        self.assertGreater(len(after_signal), clients, "clients stopped at the signal")
        # Served normally during the delay: no Connection: close before T0 + delay.
        early_close = [r for r in results if r[0] < t0 + delay and r[2]]
        self.assertEqual(early_close, [], "Connection: close during the shutdown delay")
        # Responses well after the drain point carry Connection: close (and the late ones).
        late_keep = [r for r in results if r[0] > t0 + delay + 1.0 and not r[2]]
        self.assertEqual(late_keep, [], "keep-alive response after the drain began")
        self.assertEqual(len(late), 2)
        for done_at, r in late:
            self.assertEqual(r.status, 200)
            self.assertGreater(done_at, t0 + delay, "the slow request did not cross the drain")
            self.assertTrue(r.wants_close(), f"no Connection: close after the drain: {r.headers}")
        # Exits once the last slow request is done: not before it, well before the timeout.
        self.assertGreaterEqual(gone - t0, 3.0)
        self.assertLess(gone - t0, 12.0, p.tail(40))
        self.assert_logged(
            p, "received SIGTERM; draining: not ready now, accepting for 2s more, exiting by 15s "
               "at the latest",
            "shutdown delay over: stopped accepting", "drained: every connection closed",
            "stopped")
        self.assertNotIn("shutdown timeout", p.stderr_text())
        # The access log has every request, the last ones included.
        paths = [e.get("path") for e in p.access_log()]
        self.assertEqual(paths.count("/late/delay"), 2, paths[-20:])

    # ---- (b) accepting during the delay, refused after it
    def test_accepts_during_delay_then_refuses(self):
        p = self.start("1500ms", "10s")
        # A request in flight keeps lintel alive after the listeners close.
        hold = p.connect()
        self.addCleanup(hold.close)
        hold.request("GET", "/hold/delay?ms=3000", host=HOST)
        t0 = self.signal(p)
        self.wait_not_ready(p)
        # New connections, plain and TLS, are still accepted and served normally.
        r = p.get("/during-delay", host=HOST)
        self.assertEqual(r.status, 200)
        self.assertFalse(r.wants_close(), r.headers)
        with p.connect_tls(HOST) as c:
            r = self.get(c, "/during-delay-tls")
            self.assertEqual(r.status, 200)
            self.assertFalse(r.wants_close(), r.headers)
        self.assertLess(time.monotonic() - t0, 1.5, "too slow to check the delay")
        # After it, both listeners refuse connections while lintel is still running.
        h.wait_until(lambda: not h.can_connect(p.host, p.http_port),
                     what="the HTTP listener to close")
        refused = time.monotonic()
        self.assertGreaterEqual(refused - t0, 1.5)
        self.assertFalse(h.can_connect(p.host, p.https_port), "HTTPS listener still accepting")
        self.assertTrue(p.alive(), "lintel exited with a request in flight")
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection((p.host, p.http_port), timeout=2).close()
        # The held request completes, with Connection: close, then lintel exits 0.
        r = hold.read_response()
        self.assertEqual(r.status, 200)
        self.assertTrue(r.wants_close(), r.headers)
        self.assertTrue(hold.closed_by_peer())
        code, _ = self.wait_exit(p)
        self.assertEqual(code, 0, p.tail())
        self.assert_logged(p, "stopped")

    # ---- (c) idle keep-alive connections are closed when the delay ends
    def test_idle_keep_alive_closed_at_end_of_delay(self):
        p = self.start("1s", "10s")
        plain = p.connect()
        self.addCleanup(plain.close)
        tls = h.https_connect(p, HOST, suppress_ragged_eofs=False)
        self.addCleanup(tls.close)
        for c in (plain, tls):
            r = self.get(c, "/before")
            self.assertEqual(r.status, 200)
            self.assertFalse(r.wants_close())
        t0 = self.signal(p, signal.SIGINT)
        # Still open during the delay, and usable.
        r = self.get(plain, "/during")
        self.assertEqual(r.status, 200)
        self.assertFalse(r.wants_close(), "Connection: close during the shutdown delay")
        self.assertTrue(plain.closed_by_peer(timeout=10), "idle connection not closed")
        self.assertGreaterEqual(time.monotonic() - t0, 1.0, "closed before the delay ended")
        # Closed with close_notify (a ragged close would raise SSLEOFError here).
        tls.sock.settimeout(10)
        self.assertEqual(tls.sock.recv(1), b"", "idle TLS connection not closed cleanly")
        code, gone = self.wait_exit(p)
        self.assertEqual(code, 0, p.tail())
        self.assertLess(gone - t0, 6.0)
        self.assert_logged(p, "received SIGINT; draining: not ready now, accepting for 1s more",
                           "stopped")

    # ---- (d) a request longer than the timeout: exit at the timeout, cut
    def test_hanging_request_cut_at_timeout(self):
        p = self.start("500ms", "2s")
        c = p.connect()
        self.addCleanup(c.close)
        c.request("GET", "/hang/delay?ms=30000", host=HOST)
        t0 = self.signal(p)
        code, gone = self.wait_exit(p, timeout=10)
        self.assertEqual(code, 0, p.tail())
        self.assertGreaterEqual(gone - t0, 2.0, "exited before the shutdown timeout")
        self.assertLess(gone - t0, 2.0 + 4.0, "exited long after the shutdown timeout")
        with self.assertRaises((h.ConnectionClosed, OSError)):
            c.read_response()
        self.assert_logged(
            p, "draining: not ready now, accepting for 500ms more, exiting by 2s at the latest",
            "shutdown timeout of 2s passed: closing 1 connection still open", "stopped")

    # ---- (e) a second signal exits at once
    def test_second_signal_exits_at_once(self):
        p = self.start("10s", "20s")
        c = p.connect()
        self.addCleanup(c.close)
        c.request("GET", "/hang/delay?ms=30000", host=HOST)
        self.signal(p)
        self.wait_not_ready(p)
        self.assertTrue(p.alive())
        t1 = self.signal(p)
        code, gone = self.wait_exit(p, timeout=10)
        self.assertLess(gone - t1, 3.0, "the second signal did not exit at once")
        self.assertEqual(code, 1, p.tail())
        self.assert_logged(p, "received SIGTERM again; exiting now", "stopped")

    # ---- (f) HTTPS: a slow request in flight completes, with Connection: close
    def test_tls_in_flight_request_completes(self):
        p = self.start("300ms", "10s")
        c = h.https_connect(p, HOST, suppress_ragged_eofs=False)
        self.addCleanup(c.close)
        r = self.get(c, "/before")
        self.assertEqual(r.status, 200)
        c.request("GET", "/tls/delay?ms=1500", host=HOST)
        t0 = self.signal(p)
        r = c.read_response()
        self.assertGreater(time.monotonic() - t0, 0.3)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.wants_close(), r.headers)
        # Then the connection ends with close_notify (a ragged close would raise SSLEOFError).
        self.assertEqual(bytes(c.buf), b"")
        c.sock.settimeout(5)
        self.assertEqual(c.sock.recv(1), b"")
        code, _ = self.wait_exit(p)
        self.assertEqual(code, 0, p.tail())

    # ---- flags
    def test_flag_validation(self):
        for args, message in [
                (["--shutdown-timeout", "0"], "--shutdown-timeout (0) must be longer"),
                (["--shutdown-delay", "5s", "--shutdown-timeout", "5s"], "must be longer"),
                (["--shutdown-delay", "soon"], "is not a duration")]:
            code, text = h.lintel_exits(["serve", "--manifests", self.manifests,
                                         "--http", "127.0.0.6:0", "--https", "off",
                                         "--admin", "127.0.0.6:0", *args])
            self.assertEqual(code, 2, text)
            self.assertIn(message, text)


if __name__ == "__main__":
    unittest.main()
