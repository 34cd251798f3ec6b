"""Helpers for tests that need a Kubernetes API: start `build/kube-standin`, talk to it
with raw HTTPS (http.client + ssl, verified against its CA) and with the real kubectl.

    api = StandIn.start(log_dir, work_dir)        # waits for "listening on https://..."
    api.kubectl("create", "-f", path)             # CompletedProcess; check=True raises
    status, body = api.request("GET", "/api/v1/namespaces/default/services")
    with api.watch("/apis/networking.k8s.io/v1/ingresses?watch=1&resourceVersion=5") as w:
        event = w.next_event()                      # dict, or None at the end of the stream
    api.knob("expire-watches")

Every wait has a deadline (harness.wait_until, socket timeouts); processes are stopped
by PID.
"""

import http.client
import json
import os
import shutil
import ssl
import subprocess

import harness

STANDIN = os.path.join(harness.BUILD_DIR, "kube-standin")
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


class StandIn(harness.Process):
    """A running kube-standin. `dir` holds ca.crt, token, kubeconfig, state.json."""

    def __init__(self, state_dir, log_dir, listen="127.0.0.1:0", extra_args=()):
        self.dir = state_dir
        self.listen = listen
        super().__init__([STANDIN, "--listen", listen, "--dir", state_dir, *extra_args],
                         "kube-standin", log_dir)
        self.url = None

    @classmethod
    def start(cls, state_dir, log_dir, listen="127.0.0.1:0", extra_args=()):
        harness.require_binaries(STANDIN)
        api = cls(state_dir, log_dir, listen, extra_args)
        try:
            harness.wait_until(lambda: not api.alive() or api._ready(),
                               timeout=harness.START_TIMEOUT, what="kube-standin to listen")
        except harness.Timeout as e:
            api.stop()
            raise harness.StartFailed(f"{e}\n{api.tail()}")
        if not api.alive():
            raise harness.StartFailed(f"kube-standin exited {api.returncode}\n{api.tail()}")
        return api

    def _ready(self):
        for line in self.stdout_text().splitlines():
            if line.startswith("listening on https://"):
                self.url = line.split()[-1]
                host_port = self.url[len("https://"):]
                self.host, _, port = host_port.rpartition(":")
                self.port = int(port)
                return True
        return False

    # ---- files
    @property
    def kubeconfig(self):
        return os.path.join(self.dir, "kubeconfig")

    @property
    def ca(self):
        return os.path.join(self.dir, "ca.crt")

    @property
    def state_path(self):
        return os.path.join(self.dir, "state.json")

    def token(self):
        with open(os.path.join(self.dir, "token"), encoding="utf-8") as f:
            return f.read().strip()

    def read_state(self):
        with open(self.state_path, encoding="utf-8") as f:
            return json.load(f)

    # ---- kubectl
    @property
    def kubectl_argv(self):
        """kubectl with our kubeconfig and a discovery cache of our own (not ~/.kube)."""
        return [KUBECTL, "--kubeconfig", self.kubeconfig,
                "--cache-dir", os.path.join(self.dir, "kubectl-cache")]

    def kubectl(self, *args, check=True, input=None, timeout=30.0):
        argv = [*self.kubectl_argv, *args]
        r = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {r.returncode}:\n"
                                 f"{r.stdout}{r.stderr}\n{self.tail()}")
        return r

    def kubectl_json(self, *args):
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    # ---- raw HTTPS
    def context(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.check_hostname = True  # the certificate names 127.0.0.1: verify it like a client
        return ctx

    def connect(self, timeout=harness.IO_TIMEOUT):
        return http.client.HTTPSConnection(self.host, self.port, context=self.context(),
                                           timeout=timeout)

    def request(self, method, path, body=None, token=None, content_type="application/json",
                headers=None):
        """One request on a fresh connection → (status, parsed JSON body or text)."""
        conn = self.connect()
        try:
            h = {"Authorization": f"Bearer {token if token is not None else self.token()}"}
            if token == "":
                del h["Authorization"]
            if body is not None:
                h["Content-Type"] = content_type
                if not isinstance(body, (bytes, str)):
                    body = json.dumps(body)
            h.update(headers or {})
            conn.request(method, path, body=body, headers=h)
            response = conn.getresponse()
            data = response.read().decode("utf-8")
            try:
                return response.status, json.loads(data)
            except ValueError:
                return response.status, data
        finally:
            conn.close()

    def ok(self, method, path, body=None, **kw):
        status, data = self.request(method, path, body, **kw)
        if status >= 300:
            raise AssertionError(f"{method} {path} → {status}: {data}")
        return data

    def knob(self, name, method="POST"):
        return self.ok(method, f"/_standin/{name}")

    def watch(self, path, timeout=10.0):
        return Watch(self, path, timeout)


class Watch:
    """A raw watch stream: status and headers at once, then next_event() per JSON line."""

    def __init__(self, api, path, timeout):
        self.conn = api.connect(timeout=timeout)
        self.conn.request("GET", path, headers={"Authorization": f"Bearer {api.token()}"})
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.error = None
        self.buf = b""
        self.done = False
        if self.status != 200:
            self.error = json.loads(self.response.read().decode("utf-8"))

    def next_event(self):
        """The next event (dict), or None when the stream ended cleanly (terminating chunk).
        A stream cut short raises http.client.IncompleteRead (or an ssl/OSError)."""
        while b"\n" not in self.buf:
            if self.done:
                if self.buf.strip():
                    raise AssertionError(f"stream ended inside an event: {self.buf!r}")
                return None
            self.buf += self._read_chunk()
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def _read_chunk(self):
        # Chunks are read by hand: http.client's readline() reports a stream cut short
        # exactly like a clean end, and telling them apart is the point of some tests.
        fp = self.response.fp
        line = fp.readline(1024)
        if not line:
            raise http.client.IncompleteRead(b"")
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            fp.readline()  # the empty trailer
            self.done = True
            return b""
        data = fp.read(size)
        if len(data) < size or fp.read(2) != b"\r\n":
            raise http.client.IncompleteRead(data)
        return data

    def events_until(self, predicate, limit=1000):
        """Events up to and including the first that satisfies predicate."""
        seen = []
        for _ in range(limit):
            event = self.next_event()
            if event is None:
                raise AssertionError(f"stream ended before the expected event; saw {seen}")
            seen.append(event)
            if predicate(event):
                return seen
        raise AssertionError(f"no expected event in {limit}: {seen[-5:]}")

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
