"""Shared machinery for Lintel's whole-binary integration tests.

Everything here talks to real processes over real loopback sockets:

* `Fixture` owns what a test starts (processes, temporary folders, Python backends) and
  tears it down in reverse order, even when the test fails. Processes are stopped by the
  PID we got from starting them, never by name.
* `start_echo` / `start_lintel` start `build/lintel-echo` and `build/lintel` on ports
  chosen at run time (bind 127.0.0.N:0, read the port, close, pass it; a start that loses
  the race for the port is retried).
* `wait_until` polls a condition with a deadline; nothing waits for state with a sleep.
* Manifest builders return plain dicts (Service, EndpointSlice, Ingress) and
  `write_manifests` writes them as multi-document YAML (or JSON).
* `HttpConnection` is a raw-socket HTTP/1.1 client: it sends exactly the bytes it is
  given (for pipelining and hostile input) and reads responses with full framing
  (Content-Length, chunked, until-close, interim 1xx), optionally without keeping bodies.
* `RecordingBackend` is a small HTTP/1.1 server in Python that records every request it
  receives, byte for byte, so a test can prove that something was, or was never, forwarded.
* `memory_kib` reads VmRSS / VmHWM from /proc/PID/status.

Pods are echo servers on their own loopback addresses 127.0.0.N. Each test file gets its
own block of N (see ADDRESS_BLOCKS) so that CTest can run the files in parallel.
"""

import base64
import contextlib
import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("LINTEL_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD_DIR = os.environ.get("LINTEL_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
SHARED_DIR = os.environ.get("LINTEL_SHARED_DIR") or os.path.normpath(os.path.join(SOURCE_DIR, "..", "shared"))
LINTEL = os.path.join(BUILD_DIR, "lintel")
ECHO = os.path.join(BUILD_DIR, "lintel-echo")

# Per test file, the 127.0.0.N addresses its Pods may use (inclusive). Distinct blocks
# let CTest run the files in parallel without two of them serving on the same address.
ADDRESS_BLOCKS = {
    "test_routing": (10, 39),
    "test_vectors": (40, 99),
    "test_proxy": (100, 149),
    "test_reload": (150, 189),
    "test_cli": (190, 199),
    "test_tls": (200, 239),
    "test_kube": (240, 254),
    "test_drain": (6, 9),
    "test_cluster": (2, 5),
}

# Deadlines (seconds). They bound waits; they are never asserted as timings.
START_TIMEOUT = 30.0
STATE_TIMEOUT = 15.0
IO_TIMEOUT = 15.0


def log(message):
    """Progress notes for the CTest log (stderr, so unittest's own output stays readable)."""
    print(message, file=sys.stderr, flush=True)


def read_vectors(name):
    with open(os.path.join(SHARED_DIR, "vectors", name), encoding="utf-8") as f:
        return json.load(f)


def require_binaries(*paths):
    """Fails (not skips) when a binary is missing: CTest runs after the build, so a
    missing binary is a broken build, not an absent feature."""
    for path in paths or (LINTEL, ECHO):
        if not os.access(path, os.X_OK):
            raise AssertionError(f"{path} is missing or not executable "
                                 f"(LINTEL_BUILD_DIR={BUILD_DIR}); build it first")


# --------------------------------------------------------------------------- waiting

class Timeout(AssertionError):
    pass


def wait_until(predicate, timeout=STATE_TIMEOUT, interval=0.02, what="condition"):
    """Calls predicate() until it returns a truthy value (which is returned) or the
    deadline passes (AssertionError naming `what` and the last exception or value)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = f"last value: {value!r}"
        except (OSError, ValueError, AssertionError, KeyError) as e:
            last = f"last error: {e!r}"
        if time.monotonic() >= deadline:
            raise Timeout(f"timed out after {timeout:.0f}s waiting for {what} ({last})")
        time.sleep(interval)


# --------------------------------------------------------------------------- addresses

class AddressPool:
    """Hands out 127.0.0.N addresses from a test file's block, round robin."""

    def __init__(self, module_name):
        base = module_name.rsplit(".", 1)[-1]
        if base not in ADDRESS_BLOCKS:
            raise KeyError(f"no 127.0.0.N block for {base}; add one to ADDRESS_BLOCKS")
        self.first, self.last = ADDRESS_BLOCKS[base]
        self.next_n = self.first
        self.lock = threading.Lock()

    def take(self):
        with self.lock:
            n = self.next_n
            self.next_n = self.first if n >= self.last else n + 1
            return f"127.0.0.{n}"


def family(address):
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def host_port(address, port):
    """"127.0.0.5:80" / "[::1]:80"."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def free_port(address="127.0.0.1"):
    """A port that was free on `address` a moment ago (bind :0, read it, close it)."""
    with socket.socket(family(address), socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def port_is_free(address, port):
    with socket.socket(family(address), socket.SOCK_STREAM) as s:
        try:
            s.bind((address, port))
            return True
        except OSError:
            return False


def can_connect(address, port, timeout=1.0):
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- processes

class Process:
    """A child process with stdout/stderr going to files (never pipes: a chatty child
    must not block on a full pipe). Stopped by its PID only."""

    def __init__(self, argv, name, log_dir):
        self.argv = list(argv)
        self.name = name
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:60]
        fd, self.stdout_path = tempfile.mkstemp(prefix=f"{safe}.", suffix=".out", dir=log_dir)
        os.close(fd)
        fd, self.stderr_path = tempfile.mkstemp(prefix=f"{safe}.", suffix=".err", dir=log_dir)
        os.close(fd)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=err, close_fds=True)
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    @property
    def returncode(self):
        return self.popen.poll()

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL after `timeout`. Returns the exit code."""
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(signal.SIGTERM)
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=timeout)
        return self.popen.returncode

    def stdout_text(self):
        with open(self.stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def tail(self, lines=25):
        text = self.stderr_text().splitlines()[-lines:]
        state = "running" if self.alive() else f"exited with {self.returncode}"
        return f"--- {self.name} (pid {self.pid}, {state}), last stderr lines:\n" + "\n".join(text)


def run(argv, timeout=60.0, cwd=None):
    """Runs a short command to completion; returns CompletedProcess (text)."""
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


class StartFailed(AssertionError):
    pass


def _looks_like_port_race(process):
    text = process.stderr_text().lower() + process.stdout_text().lower()
    return "in use" in text or "eaddrinuse" in text


class Echo(Process):
    """`lintel-echo --listen ADDR:PORT --name NAME`."""

    def __init__(self, address, port, name, log_dir):
        self.address, self.port, self.echo_name = address, port, name
        super().__init__([ECHO, "--listen", host_port(address, port), "--name", name],
                         f"echo-{name}", log_dir)

    @property
    def endpoint(self):
        return host_port(self.address, self.port)


class Lintel(Process):
    """`lintel serve` on ports chosen at run time, admin included."""

    def __init__(self, manifests, log_dir, host, ports, extra_args=(), workers=2,
                 access_log=True):
        self.manifests = manifests
        self.host = host
        self.http_port, self.https_port, self.admin_port = ports
        # --https too: its default (0.0.0.0:8443) would clash between parallel tests.
        argv = [LINTEL, "serve", "--manifests", manifests,
                "--http", host_port(host, self.http_port),
                "--https", host_port(host, self.https_port),
                "--admin", host_port(host, self.admin_port),
                "--workers", str(workers)]
        if not access_log:
            argv.append("--no-access-log")
        # Fixtures stop lintel with SIGTERM: without a shutdown delay (the default 5 s
        # would be added to every teardown) unless the test sets one (test_drain).
        if not any(str(a).startswith("--shutdown-delay") for a in extra_args):
            argv += ["--shutdown-delay", "0"]
        argv += list(extra_args)
        super().__init__(argv, "lintel", log_dir)

    # ---- admin
    def admin(self, target, timeout=5.0):
        with HttpConnection(self.host, self.admin_port, timeout=timeout) as c:
            c.request("GET", target, host=host_port(self.host, self.admin_port))
            return c.read_response()

    def ready(self):
        return self.admin("/readyz").status == 200

    def routes(self):
        response = self.admin("/routes")
        if response.status != 200:
            raise AssertionError(f"GET /routes answered {response.status}")
        return json.loads(response.body)

    def generation(self):
        return int(self.routes()["generation"])

    # ---- data plane
    def connect(self, timeout=IO_TIMEOUT, source=None):
        return HttpConnection(self.host, self.http_port, timeout=timeout, source=source)

    def connect_tls(self, server_name, timeout=IO_TIMEOUT):
        return HttpConnection(self.host, self.https_port, timeout=timeout,
                              tls_server_name=server_name)

    def serves_tls(self):
        """Whether the HTTPS listener accepts connections."""
        return can_connect(self.host, self.https_port)

    def get(self, target, host=None, headers=(), method="GET", body=None, source=None,
            timeout=IO_TIMEOUT):
        """One request on a fresh connection. host=None → Host is our IP:port."""
        with self.connect(timeout=timeout, source=source) as c:
            c.request(method, target, host=host or self.default_host, headers=headers, body=body)
            return c.read_response(method=method)

    @property
    def default_host(self):
        return host_port(self.host, self.http_port)

    def access_log(self):
        """The JSON access-log lines written so far (other stdout lines are skipped)."""
        entries = []
        for line in self.stdout_text().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    pass
        return entries


class Fixture:
    """Owns what a test starts and tears it down in reverse order. Register close() with
    addCleanup / addClassCleanup right after creating it."""

    def __init__(self, module_name):
        self.pool = AddressPool(module_name)
        self._cleanups = []
        self.log_dir = self.tmpdir(prefix="lintel-it-logs.")

    def defer(self, fn, *args):
        self._cleanups.append((fn, args))

    def close(self):
        errors = []
        while self._cleanups:
            fn, args = self._cleanups.pop()
            try:
                fn(*args)
            except Exception as e:  # keep cleaning up; report afterwards
                errors.append(e)
        if errors:
            raise errors[0]

    def tmpdir(self, prefix="lintel-it."):
        path = tempfile.mkdtemp(prefix=prefix)
        self.defer(shutil.rmtree, path, True)
        return path

    # ---- processes
    def _start(self, make, what, attempts=5):
        """Starts a process via make() → (Process, ready_predicate); retries when the
        process died because a port we picked was taken in the meantime."""
        last = None
        for _ in range(attempts):
            process, ready = make()
            self.defer(process.stop)
            try:
                wait_until(lambda: not process.alive() or ready(),
                           timeout=START_TIMEOUT, what=f"{what} to become ready")
            except Timeout as e:
                raise StartFailed(f"{e}\n{process.tail()}")
            if process.alive() and ready():
                return process
            last = process
            if not _looks_like_port_race(process):
                break
        raise StartFailed(f"{what} did not start: exit code {last.returncode}\n{last.tail()}")

    def echo(self, name, address=None, port=None):
        """Starts lintel-echo on address (default: a fresh 127.0.0.N) and port (default:
        free at run time)."""
        address = address or self.pool.take()

        def make():
            p = port or free_port(address)
            e = Echo(address, p, name, self.log_dir)
            return e, lambda: can_connect(address, p)

        return self._start(make, f"echo {name} on {address}")

    def echo_group(self, names, addresses=None):
        """One echo per name, each on its own 127.0.0.N, all on the same port (an
        EndpointSlice's ports are shared by all its endpoints). Returns [Echo]."""
        addresses = addresses or [self.pool.take() for _ in names]
        for attempt in range(5):
            port = free_port(addresses[0])
            if not all(port_is_free(a, port) for a in addresses[1:]):
                continue
            try:
                return [self.echo(n, a, port) for n, a in zip(names, addresses)]
            except StartFailed:
                if attempt == 4:
                    raise
        raise StartFailed(f"no port free on all of {addresses}")

    def lintel(self, manifests, extra_args=(), workers=2, access_log=True, wait_ready=True,
               address=None):
        require_binaries(LINTEL)

        # Listeners on one of this file's 127.0.0.N, not 127.0.0.1: lintel's HTTP listeners
        # use SO_REUSEPORT, so two lintels of parallel tests that picked the same port on
        # the same address would silently share it.
        address = address or self.pool.take()

        def make():
            ports = set()
            while len(ports) < 3:
                ports.add(free_port(address))
            p = Lintel(manifests, self.log_dir, address, sorted(ports), extra_args, workers,
                       access_log)
            admin_port = p.admin_port

            def ready():
                if not wait_ready:
                    return can_connect(p.host, admin_port)
                try:
                    return p.ready()
                except OSError:
                    return False

            return p, ready

        return self._start(make, "lintel")

    def recording_backend(self, name, address=None, hold=None):
        backend = RecordingBackend(address or self.pool.take(), name, hold)
        self.defer(backend.stop)
        return backend


# --------------------------------------------------------------------------- manifests

def backend_ref(service, port):
    """An IngressBackend: port int → number, str → name."""
    key = "number" if isinstance(port, int) else "name"
    return {"service": {"name": service, "port": {key: port}}}


def http_path(path, path_type, service, port):
    return {"path": path, "pathType": path_type, "backend": backend_ref(service, port)}


def rule(host, *paths):
    r = {} if host is None else {"host": host}
    r["http"] = {"paths": list(paths)}
    return r


def meta(name, namespace="default", **extra):
    m = {"name": name, "namespace": namespace}
    m.update({k: v for k, v in extra.items() if v is not None})
    return m


def ingress(name, namespace="default", rules=(), default_backend=None, annotations=None,
            ingress_class=None, creation_timestamp=None, tls=None):
    spec = {}
    if ingress_class is not None:
        spec["ingressClassName"] = ingress_class
    if default_backend is not None:
        spec["defaultBackend"] = default_backend
    if tls:
        spec["tls"] = tls
    if rules:
        spec["rules"] = list(rules)
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": meta(name, namespace, annotations=annotations,
                             creationTimestamp=creation_timestamp),
            "spec": spec}


def service(name, namespace="default", ports=(("http", 80, None),)):
    """ports: (name, port, targetPort or None)."""
    out = []
    for pname, port, target in ports:
        p = {"port": port, "protocol": "TCP"}
        if pname:
            p["name"] = pname
        if target is not None:
            p["targetPort"] = target
        out.append(p)
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name, namespace),
            "spec": {"type": "ClusterIP", "selector": {"app": name}, "ports": out}}


def endpoint_slice(service_name, namespace, endpoints, ports, name=None, address_type="IPv4"):
    """endpoints: addresses (str) or (address, ready, serving) tuples.
    ports: (name, port) pairs; name None = unnamed."""
    eps = []
    for e in endpoints:
        address, ready, serving = (e, True, True) if isinstance(e, str) else e
        eps.append({"addresses": [address],
                    "conditions": {"ready": ready, "serving": serving, "terminating": False}})
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": meta(name or f"{service_name}-slice", namespace,
                             labels={"kubernetes.io/service-name": service_name}),
            "addressType": address_type, "endpoints": eps,
            "ports": [dict({"port": p, "protocol": "TCP"}, **({"name": n} if n else {}))
                      for n, p in ports]}


def echo_service(name, echos, namespace="default", port_name="http", service_port=80):
    """Service + EndpointSlice for a group of echos that share one port."""
    port = echos[0].port
    address_type = "IPv6" if ":" in echos[0].address else "IPv4"
    return [service(name, namespace, ports=((port_name, service_port, port),)),
            endpoint_slice(name, namespace, [e.address for e in echos], [(port_name, port)],
                           address_type=address_type)]


def tls_secret(name, namespace, cert_pem, key_pem):
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": meta(name, namespace),
            "data": {"tls.crt": base64.b64encode(cert_pem).decode(),
                     "tls.key": base64.b64encode(key_pem).decode()}}


def self_signed(dns_names, workdir):
    """(cert_pem, key_pem) for dns_names via the openssl CLI; None if openssl is missing."""
    openssl = shutil.which("openssl")
    if not openssl:
        return None
    key, crt = os.path.join(workdir, "tls.key"), os.path.join(workdir, "tls.crt")
    san = ",".join(f"DNS:{n}" for n in dns_names)
    r = run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", f"/CN={dns_names[0]}", "-addext", f"subjectAltName={san}",
             "-keyout", key, "-out", crt], timeout=60)
    if r.returncode != 0:
        return None
    with open(crt, "rb") as c, open(key, "rb") as k:
        return c.read(), k.read()


def _yaml_scalar(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    # A JSON string is a valid YAML double-quoted scalar (same escapes).
    return json.dumps(str(v))


def _yaml_lines(v, indent):
    pad = " " * indent
    if isinstance(v, dict):
        if not v:
            return [pad + "{}"]
        lines = []
        for k, item in v.items():
            key = _yaml_scalar(k) if not re.fullmatch(r"[A-Za-z0-9_./-]+", str(k)) else str(k)
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:")
                lines += _yaml_lines(item, indent + 2)
            else:
                lines.append(f"{pad}{key}: {_yaml_inline(item)}")
        return lines
    if isinstance(v, list):
        if not v:
            return [pad + "[]"]
        lines = []
        for item in v:
            if isinstance(item, (dict, list)) and item:
                sub = _yaml_lines(item, indent + 2)
                lines.append(pad + "- " + sub[0][indent + 2:])
                lines += sub[1:]
            else:
                lines.append(f"{pad}- {_yaml_inline(item)}")
        return lines
    return [pad + _yaml_scalar(v)]


def _yaml_inline(v):
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return _yaml_scalar(v)


def to_yaml(*docs):
    """Multi-document block YAML (strings double-quoted, so no YAML type surprises)."""
    return "".join("---\n" + "\n".join(_yaml_lines(d, 0)) + "\n" for d in docs)


def write_manifests(directory, filename, objects, fmt=None, atomic=True):
    """Writes objects into directory/filename as YAML (or JSON for *.json: a single object
    as is, several as a v1 List). atomic: write a hidden temp file and rename it over,
    as editors and kubectl-style tools do; otherwise rewrite in place."""
    fmt = fmt or ("json" if filename.endswith(".json") else "yaml")
    objects = list(objects)
    if fmt == "json":
        doc = objects[0] if len(objects) == 1 else {"apiVersion": "v1", "kind": "List",
                                                    "items": objects}
        text = json.dumps(doc, indent=2) + "\n"
    else:
        text = to_yaml(*objects)
    path = os.path.join(directory, filename)
    write_text(path, text, atomic=atomic)
    return path


def write_text(path, text, atomic=True):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if atomic:
        tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    else:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


# --------------------------------------------------------------------------- HTTP client

class ConnectionClosed(ConnectionError):
    """The peer closed the connection before a complete response arrived."""

    def __init__(self, message, partial=b""):
        super().__init__(message)
        self.partial = partial


class Response:
    def __init__(self, version, status, reason, headers, body, interim, body_length, raw_head,
                 chunked):
        self.version, self.status, self.reason = version, status, reason
        self.headers = headers            # [(name, value)] as received
        self.body = body                  # bytes (b"" when the body was not kept)
        self.interim = interim            # 1xx statuses seen before this response
        self.body_length = body_length    # bytes of body received (kept or not)
        self.raw_head = raw_head
        self.chunked = chunked

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body)

    def wants_close(self):
        conn = ",".join(self.header_all("connection")).lower()
        if "close" in [t.strip() for t in conn.split(",")]:
            return True
        return self.version == "HTTP/1.0" and "keep-alive" not in conn

    def __repr__(self):
        return f"<Response {self.status} {self.reason!r} body={self.body[:200]!r}>"


class HttpConnection:
    """A raw HTTP/1.1 client connection over one TCP socket."""

    def __init__(self, host, port, timeout=IO_TIMEOUT, source=None, tls_server_name=None):
        """tls_server_name: speak TLS with this SNI (the certificate is not verified here;
        `peer_certificate` returns it for the test to compare)."""
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls_server_name is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            try:
                self.sock = ctx.wrap_socket(self.sock, server_hostname=tls_server_name)
            except Exception:
                self.sock.close()
                raise
        self.buf = bytearray()
        self.eof = False

    def peer_certificate(self):
        """The server certificate (DER) of a TLS connection."""
        return self.sock.getpeercert(binary_form=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()

    @property
    def local_address(self):
        return self.sock.getsockname()

    # ---- sending
    def send(self, data):
        self.sock.sendall(data)

    def request(self, method, target, host, headers=(), body=None, send=True):
        """Builds (and sends) a request. host=None → no Host header at all. A body gets a
        Content-Length unless the headers already frame it."""
        lines = [f"{method} {target} HTTP/1.1"]
        if host is not None:
            lines.append(f"Host: {host}")
        names = set()
        for k, v in (headers.items() if isinstance(headers, dict) else headers):
            lines.append(f"{k}: {v}")
            names.add(k.lower())
        if body is not None and "content-length" not in names and "transfer-encoding" not in names:
            lines.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        if send:
            self.send(data)
        return data

    def send_body(self, total, chunk_size=1 << 20, chunked=False):
        """Streams `total` generated bytes (never held whole), raw or as chunks."""
        block = (b"0123456789abcdef" * (chunk_size // 16 + 1))[:chunk_size]
        view = memoryview(block)
        left = total
        while left > 0:
            n = min(left, chunk_size)
            if chunked:
                self.sock.sendall(f"{n:x}\r\n".encode())
                self.sock.sendall(view[:n])
                self.sock.sendall(b"\r\n")
            else:
                self.sock.sendall(view[:n])
            left -= n
        if chunked:
            self.sock.sendall(b"0\r\n\r\n")

    # ---- receiving
    def _fill(self, timeout=None):
        if self.eof:
            return False
        self.sock.settimeout(timeout if timeout is not None else self.timeout)
        try:
            data = self.sock.recv(1 << 18)
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _read_until(self, marker, limit=1 << 20):
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out = bytes(self.buf[:i + len(marker)])
                del self.buf[:i + len(marker)]
                return out
            if len(self.buf) > limit:
                raise ValueError(f"no {marker!r} within {limit} bytes")
            if not self._fill():
                raise ConnectionClosed(f"connection closed while waiting for {marker!r}",
                                       bytes(self.buf))

    def _read_exact(self, n, keep):
        kept = bytearray() if keep else None
        while n > 0:
            if not self.buf and not self._fill():
                raise ConnectionClosed(f"connection closed with {n} body bytes missing")
            take = min(n, len(self.buf))
            if keep:
                kept += self.buf[:take]
            del self.buf[:take]
            n -= take
        return bytes(kept) if keep else b""

    def read_response(self, method="GET", keep_body=True):
        """Reads one final response (interim 1xx responses are collected on the way).
        Raises ConnectionClosed when the peer closes first, socket.timeout on silence."""
        interim = []
        while True:
            head = self._read_until(b"\r\n\r\n")
            text = head.decode("latin-1")
            status_line, *header_lines = text[:-4].split("\r\n")
            m = re.match(r"(HTTP/\d\.\d) (\d{3})(?: (.*))?$", status_line)
            if not m:
                raise ValueError(f"bad status line {status_line!r}")
            version, status, reason = m.group(1), int(m.group(2)), m.group(3) or ""
            headers = []
            for line in header_lines:
                k, sep, v = line.partition(":")
                if not sep:
                    raise ValueError(f"bad response header line {line!r}")
                headers.append((k.strip(), v.strip()))
            if 100 <= status < 200 and status != 101:
                interim.append(status)
                continue
            break
        r = Response(version, status, reason, headers, b"", interim, 0, head, False)
        te = ",".join(r.header_all("transfer-encoding")).lower()
        if method == "HEAD" or status in (204, 304) or status == 101:
            return r
        if "chunked" in te:
            r.chunked = True
            body = bytearray()
            while True:
                size_line = self._read_until(b"\r\n", limit=4096).decode("latin-1")
                size = int(size_line.split(";")[0].strip(), 16)
                if size == 0:
                    while self._read_until(b"\r\n", limit=65536) != b"\r\n":
                        pass  # trailer fields
                    break
                data = self._read_exact(size, keep_body)
                if keep_body:
                    body += data
                r.body_length += size
                if self._read_exact(2, True) != b"\r\n":
                    raise ValueError("chunk data not followed by CRLF")
            r.body = bytes(body)
        elif r.header("content-length") is not None:
            n = int(r.header("content-length"))
            r.body = self._read_exact(n, keep_body)
            r.body_length = n
        else:  # until close
            body = bytearray()
            while self.buf or self._fill():
                r.body_length += len(self.buf)
                if keep_body:
                    body += self.buf
                self.buf.clear()
            r.body = bytes(body)
        return r

    def read_all_until_close(self, timeout=5.0):
        """Everything the peer sends until it closes (or `timeout` of silence)."""
        out = bytearray(self.buf)
        self.buf.clear()
        try:
            while self._fill(timeout):
                out += self.buf
                self.buf.clear()
        except socket.timeout:
            pass
        return bytes(out)

    def closed_by_peer(self, timeout=5.0):
        """True when the peer closes (EOF or reset) within `timeout` with nothing more
        to read; extra bytes are an AssertionError (they would be an unexpected response)."""
        if self.buf:
            raise AssertionError(f"unexpected bytes after the response: {bytes(self.buf[:200])!r}")
        try:
            if self._fill(timeout):
                raise AssertionError(
                    f"unexpected bytes after the response: {bytes(self.buf[:200])!r}")
            return True
        except socket.timeout:
            return False


def echo_of(response):
    """The lintel-echo JSON of a response, with header names lowercased (values as lists)."""
    if response.status != 200:
        raise AssertionError(f"expected 200 from an echo, got {response!r}")
    info = json.loads(response.body)
    headers = {}
    raw = info.get("headers", {})
    items = raw.items() if isinstance(raw, dict) else ((h[0], h[1]) for h in raw)
    for k, v in items:
        headers.setdefault(k.lower(), []).extend(v if isinstance(v, list) else [v])
    info["headers"] = headers
    return info


def echo_name(response):
    """The echo's name when the response came from an echo (200 + its JSON), else None
    (an answer of lintel's own)."""
    if response.status != 200:
        return None
    try:
        info = json.loads(response.body)
    except ValueError:
        return None
    return info.get("name") if isinstance(info, dict) else None


def header_values(echo_info, name):
    """All values of a header the echo received, split on commas, stripped."""
    out = []
    for v in echo_info["headers"].get(name.lower(), []):
        out += [p.strip() for p in str(v).split(",") if p.strip()]
    return out


# --------------------------------------------------------------------------- /routes

def backend_label(backend):
    """A /routes backend as "ns/svc:port" whether it is printed as a string or an object
    ({"name": ...} or {"namespace", "service", "port"})."""
    if isinstance(backend, str):
        return backend
    if "namespace" in backend and "service" in backend:
        return f"{backend['namespace']}/{backend['service']}:{backend.get('port')}"
    return str(backend.get("name"))


def endpoint_labels(route):
    """The "addr:port" endpoints of a /routes route (listed on the route or its backend,
    as strings or {"address": ...} objects)."""
    eps = route.get("endpoints")
    if eps is None and isinstance(route.get("backend"), dict):
        eps = route["backend"].get("endpoints", [])
    return [e if isinstance(e, str) else e.get("address") for e in eps or []]


# --------------------------------------------------------------------------- memory

def memory_kib(pid):
    """{'VmRSS': kB, 'VmHWM': kB} from /proc/PID/status."""
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


# --------------------------------------------------------------------------- Python backend

class RecordedRequest:
    def __init__(self, raw_head, method, target, version, headers, body, body_ok):
        self.raw_head = raw_head   # bytes exactly as received, up to and including CRLFCRLF
        self.method, self.target, self.version = method, target, version
        self.headers = headers     # [(name, value)]
        self.body = body           # decoded body bytes
        self.body_ok = body_ok     # framing well-formed and complete (None: still reading)

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return f"<RecordedRequest {self.method} {self.target} {self.raw_head[:300]!r}>"


class RecordingBackend:
    """An HTTP/1.1 origin in Python that records every request it reads. It answers 200
    with JSON {"name", "method", "path", "headers", "body_bytes"} like lintel-echo, keeps
    connections alive, reads Content-Length and chunked bodies (sending 100 Continue when
    asked), and closes on anything it cannot frame (recording what it got)."""

    def __init__(self, address, name, hold=None):
        """hold: a path prefix; responses to requests under it wait until release() (to
        hold a request in flight), and `arrived` is set when one has come in."""
        self.name = name
        self.hold = hold
        self.arrived = threading.Event()
        self.released = threading.Event()
        self.requests = []
        self.raw_connections = []  # bytes received per connection, in full
        self.lock = threading.Lock()
        backend = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                backend._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            address_family = family(address)

        self.server = Server((address, 0), Handler)
        self.address, self.port = self.server.server_address[:2]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def endpoint(self):
        return host_port(self.address, self.port)

    def release(self):
        self.released.set()

    def stop(self):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def count(self):
        with self.lock:
            return len(self.requests)

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def _serve(self, sock):
        sock.settimeout(30)
        raw_all = bytearray()
        with self.lock:
            self.raw_connections.append(raw_all)
        buf = bytearray()

        def fill():
            data = sock.recv(1 << 16)
            if not data:
                return False
            buf.extend(data)
            raw_all.extend(data)
            return True

        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    if len(buf) > 1 << 20 or not fill():
                        if buf.strip():
                            self._record(bytes(buf), None, b"", False)
                        return
                end = buf.index(b"\r\n\r\n") + 4
                head = bytes(buf[:end])
                del buf[:end]
                parsed = self._parse_head(head)
                if parsed is None:
                    self._record(head, None, b"", False)
                    return
                method, target, version, headers = parsed
                # Recorded as soon as the head is in: a test must see that a request was
                # forwarded even when its body never completes.
                record = self._record(head, parsed, b"", None)
                lower = [(k.lower(), v) for k, v in headers]
                te = ",".join(v for k, v in lower if k == "transfer-encoding").lower()
                cls = [v for k, v in lower if k == "content-length"]
                if any(v.lower() == "100-continue" for k, v in lower if k == "expect"):
                    sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                body, ok = bytearray(), True
                try:
                    if te:
                        if te.strip() != "chunked":
                            raise ValueError("unsupported transfer-encoding")
                        while True:
                            while b"\r\n" not in buf:
                                if not fill():
                                    raise ValueError("eof in chunk size")
                            i = buf.index(b"\r\n")
                            size = int(bytes(buf[:i]).split(b";")[0], 16)
                            del buf[:i + 2]
                            if size == 0:
                                while True:  # trailers
                                    while b"\r\n" not in buf:
                                        if not fill():
                                            raise ValueError("eof in trailers")
                                    i = buf.index(b"\r\n")
                                    line = bytes(buf[:i])
                                    del buf[:i + 2]
                                    if not line:
                                        break
                                break
                            while len(buf) < size + 2:
                                if not fill():
                                    raise ValueError("eof in chunk")
                            body += buf[:size]
                            if buf[size:size + 2] != b"\r\n":
                                raise ValueError("chunk without CRLF")
                            del buf[:size + 2]
                    elif cls:
                        if len(set(cls)) != 1 or not cls[0].isdigit():
                            raise ValueError("bad content-length")
                        n = int(cls[0])
                        while len(buf) < n:
                            if not fill():
                                raise ValueError("eof in body")
                        body += buf[:n]
                        del buf[:n]
                except (ValueError, OSError):
                    ok = False
                with self.lock:
                    record.body, record.body_ok = bytes(body), ok
                if not ok:
                    return
                payload = json.dumps({
                    "name": self.name, "method": method, "path": target,
                    "headers": {k: v for k, v in headers}, "body_bytes": len(body),
                }).encode()
                if self.hold is not None and target.startswith(self.hold):
                    self.arrived.set()
                    self.released.wait(timeout=60)
                close = any("close" in v.lower() for k, v in lower if k == "connection")
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             + f"Content-Length: {len(payload)}\r\n".encode()
                             + (b"Connection: close\r\n" if close else b"")
                             + b"\r\n" + payload)
                if close:
                    return
        except OSError:
            return

    @staticmethod
    def _parse_head(head):
        try:
            text = head.decode("latin-1")
            request_line, *lines = text[:-4].split("\r\n")
            method, target, version = request_line.split(" ")
            headers = []
            for line in lines:
                k, sep, v = line.partition(":")
                if not sep:
                    return None
                headers.append((k, v.strip(" \t")))
            return method, target, version, headers
        except ValueError:
            return None

    def _record(self, head, parsed, body, ok):
        method, target, version, headers = parsed or (None, None, None, [])
        record = RecordedRequest(head, method, target, version, headers, body, ok)
        with self.lock:
            self.requests.append(record)
        return record


# --------------------------------------------------------------------------- TLS (issue 3)
#
# Helpers for test_tls.py (and the https vectors): the real `openssl` and `curl` CLIs, the
# files `lintel cert` writes, certificates made with openssl (chains, expired ones), and an
# HTTPS client on Python's ssl module that exposes what a test checks: the certificate
# served, the protocol version, ALPN, and session resumption.

OPENSSL = shutil.which("openssl") or "openssl"
CURL = shutil.which("curl") or "curl"

DEFAULT_CERT_SUBJECT = "Lintel default certificate"
HSTS_VALUE = "max-age=31536000; includeSubDomains"


def require_tools(*names):
    """Fails (not skips) when a CLI the TLS tests use is missing: the tests are about what
    a user does with curl and openssl."""
    for name in names:
        if not shutil.which(name):
            raise AssertionError(f"{name} is not on PATH; the TLS integration tests need it")


def openssl(*args, timeout=30.0, input_bytes=None, check=True):
    """Runs `openssl ARGS`; returns CompletedProcess (text). check: a non-zero exit is an
    AssertionError carrying openssl's stderr."""
    r = subprocess.run([OPENSSL, *args], input=input_bytes, capture_output=True,
                       timeout=timeout)
    r.stdout = r.stdout.decode("utf-8", "replace")
    r.stderr = r.stderr.decode("utf-8", "replace")
    if check and r.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def pem_certificates(pem):
    """The DER of every certificate in a PEM text or bytes, in order (leaf first)."""
    if isinstance(pem, bytes):
        pem = pem.decode("ascii")
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem, re.S)
    return [ssl.PEM_cert_to_DER_cert(b + "\n") for b in blocks]


def der_of_file(path):
    """The DER of the first certificate of a PEM file."""
    with open(path, "rb") as f:
        certs = pem_certificates(f.read())
    if not certs:
        raise AssertionError(f"no certificate in {path}")
    return certs[0]


def fingerprint(der):
    """SHA-256 of a DER certificate, lowercase hex (what `openssl x509 -fingerprint
    -sha256` prints without the colons)."""
    return hashlib.sha256(der).hexdigest()


class CertInfo:
    """What `openssl x509` says about one certificate: subject / issuer (one-line text),
    common name, DNS SANs, notAfter (UTC datetime), public key description."""

    def __init__(self, der):
        self.der = der
        self.fingerprint = fingerprint(der)
        r = openssl("x509", "-inform", "DER", "-noout", "-subject", "-issuer", "-enddate",
                    "-ext", "subjectAltName", "-nameopt", "RFC2253", input_bytes=der)
        text = r.stdout
        self.subject = re.search(r"^subject=(.*)$", text, re.M).group(1).strip()
        self.issuer = re.search(r"^issuer=(.*)$", text, re.M).group(1).strip()
        m = re.search(r"(?:^|,)CN=([^,]*)", self.subject)
        self.common_name = m.group(1) if m else None
        self.dns_names = re.findall(r"DNS:([^,\s]+)", text)
        end = re.search(r"^notAfter=(.*)$", text, re.M).group(1).strip()
        self.not_after = datetime.datetime.strptime(end, "%b %d %H:%M:%S %Y GMT").replace(
            tzinfo=datetime.timezone.utc)
        full = openssl("x509", "-inform", "DER", "-noout", "-text", input_bytes=der).stdout
        m = re.search(r"Public Key Algorithm:\s*(\S+)", full)
        self.key_algorithm = m.group(1) if m else ""
        m = re.search(r"(?:NIST CURVE|ASN1 OID):\s*(\S+)", full)
        self.curve = m.group(1) if m else ""
        self.self_signed = self.subject == self.issuer

    def is_default(self):
        return self.common_name == DEFAULT_CERT_SUBJECT

    def __repr__(self):
        return (f"<cert subject={self.subject!r} issuer={self.issuer!r} "
                f"dns={self.dns_names} sha256={self.fingerprint[:16]}…>")


class CertFiles:
    """The files of one `lintel cert` run (or of a certificate made with openssl)."""

    def __init__(self, out_dir, crt, key, ca_crt=None, ca_key=None, secret_yaml=None,
                 secret_name=None, namespace="default"):
        self.out_dir = out_dir
        self.crt, self.key = crt, key
        self.ca_crt, self.ca_key = ca_crt, ca_key
        self.secret_yaml = secret_yaml
        self.secret_name = secret_name
        self.namespace = namespace

    @property
    def der(self):
        return der_of_file(self.crt)

    @property
    def fingerprint(self):
        return fingerprint(self.der)

    def cert_pem(self):
        with open(self.crt, "rb") as f:
            return f.read()

    def key_pem(self):
        with open(self.key, "rb") as f:
            return f.read()

    def secret(self, name=None, namespace=None):
        """A kubernetes.io/tls Secret (dict) with this certificate and key."""
        return tls_secret(name or self.secret_name, namespace or self.namespace,
                          self.cert_pem(), self.key_pem())


def lintel_cert(hosts, out_dir, secret=None, namespace=None, days=None, timeout=60.0):
    """Runs `lintel cert --host H… --out DIR [--secret S] [--namespace NS] [--days N]` and
    returns its CertFiles: DIR/ca.crt + ca.key, DIR/<secret>.crt + .key, DIR/<secret>.yaml
    (when --secret is not given, the one new .yaml in DIR names the Secret)."""
    require_binaries(LINTEL)
    before = set(os.listdir(out_dir)) if os.path.isdir(out_dir) else set()
    argv = [LINTEL, "cert"]
    for host in hosts:
        argv += ["--host", host]
    argv += ["--out", out_dir]
    if secret:
        argv += ["--secret", secret]
    if namespace:
        argv += ["--namespace", namespace]
    if days is not None:
        argv += ["--days", str(days)]
    r = run(argv, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {r.returncode}: {r.stdout}{r.stderr}")
    if secret is None:
        new = sorted(n for n in set(os.listdir(out_dir)) - before if n.endswith(".yaml"))
        candidates = new or sorted(n for n in os.listdir(out_dir) if n.endswith(".yaml"))
        if len(candidates) != 1:
            raise AssertionError(f"cannot tell the Secret manifest among {candidates} in {out_dir}")
        secret = candidates[0][:-len(".yaml")]
    files = CertFiles(out_dir, os.path.join(out_dir, f"{secret}.crt"),
                      os.path.join(out_dir, f"{secret}.key"),
                      os.path.join(out_dir, "ca.crt"), os.path.join(out_dir, "ca.key"),
                      os.path.join(out_dir, f"{secret}.yaml"), secret, namespace or "default")
    for path in (files.crt, files.key, files.ca_crt, files.ca_key, files.secret_yaml):
        if not os.path.isfile(path):
            raise AssertionError(f"`lintel cert` did not write {path}; it wrote "
                                 f"{sorted(os.listdir(out_dir))}\n{r.stdout}{r.stderr}")
    return files


_OPENSSL_CA_CONF = """\
[ca]
default_ca = ca_default
[ca_default]
dir = .
database = ./index.txt
new_certs_dir = .
serial = ./serial
default_md = sha256
policy = policy_any
copy_extensions = none
unique_subject = no
[policy_any]
commonName = supplied
"""


def _openssl_time(t):
    return t.astimezone(datetime.timezone.utc).strftime("%Y%m%d%H%M%SZ")


def openssl_issue(workdir, common_name, dns_names=(), issuer=None, ca=False, key_type="ec",
                  not_before=None, not_after=None, days=2, name=None):
    """A certificate made with the openssl CLI (`openssl ca`, so the validity dates can be
    anything, in the past included). issuer: the CertFiles that signs it (None: self-signed).
    key_type: "ec" (P-256), "rsa" (2048) or "rsa:BITS". Returns CertFiles (crt, key) in a
    fresh folder under workdir."""
    d = tempfile.mkdtemp(prefix=f"{name or 'cert'}.", dir=workdir)
    now = datetime.datetime.now(datetime.timezone.utc)
    not_before = not_before or now - datetime.timedelta(hours=1)
    not_after = not_after or now + datetime.timedelta(days=days)
    key, csr, crt = (os.path.join(d, n) for n in ("tls.key", "req.csr", "tls.crt"))
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write(_OPENSSL_CA_CONF)
    with open(os.path.join(d, "index.txt"), "w"):
        pass
    with open(os.path.join(d, "serial"), "w") as f:
        f.write(os.urandom(8).hex() + "\n")
    ext = ["[v3]"]
    if ca:
        ext += ["basicConstraints = critical, CA:TRUE",
                "keyUsage = critical, keyCertSign, cRLSign",
                "subjectKeyIdentifier = hash"]
    else:
        ext += ["basicConstraints = critical, CA:FALSE",
                "keyUsage = critical, digitalSignature"
                + (", keyEncipherment" if key_type.startswith("rsa") else ""),
                "extendedKeyUsage = serverAuth"]
        if dns_names:
            ext.append("subjectAltName = " + ",".join(f"DNS:{n}" for n in dns_names))
    if issuer is not None:
        ext.append("authorityKeyIdentifier = keyid")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("\n".join(ext) + "\n")
    if key_type.startswith("rsa"):
        newkey = ["-newkey", key_type if ":" in key_type else "rsa:2048"]
    else:
        newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    r = subprocess.run([OPENSSL, "req", "-new", *newkey, "-nodes", "-subj", f"/CN={common_name}",
                        "-keyout", key, "-out", csr], capture_output=True, text=True,
                       timeout=60, cwd=d)
    if r.returncode != 0:
        raise AssertionError(f"openssl req failed: {r.stderr}")
    signer = (["-selfsign", "-keyfile", key] if issuer is None
              else ["-cert", issuer.crt, "-keyfile", issuer.key])
    r = subprocess.run([OPENSSL, "ca", "-batch", "-notext", "-config", "ca.cnf", *signer,
                        "-in", csr, "-out", crt, "-startdate", _openssl_time(not_before),
                        "-enddate", _openssl_time(not_after), "-extfile", "ext.cnf",
                        "-extensions", "v3"], capture_output=True, text=True, timeout=60, cwd=d)
    if r.returncode != 0:
        raise AssertionError(f"openssl ca failed: {r.stderr}")
    return CertFiles(d, crt, key, secret_name=name)


def chain_files(workdir, leaf, *intermediates):
    """A PEM file with the leaf followed by intermediates (a Secret's tls.crt chain);
    returns CertFiles with the leaf's key."""
    d = tempfile.mkdtemp(prefix="chain.", dir=workdir)
    path = os.path.join(d, "chain.crt")
    with open(path, "wb") as out:
        for part in (leaf, *intermediates):
            out.write(part.cert_pem())
    return CertFiles(d, path, leaf.key, secret_name=leaf.secret_name)


def client_context(minimum=None, maximum=None, alpn=None, cafile=None, ciphers=None):
    """An ssl.SSLContext for tests. Without cafile nothing is verified (the test compares
    the certificate itself); with cafile the chain and host name are verified."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


class HttpsConnection(HttpConnection):
    """HttpConnection over TLS with a caller's SSLContext: server_name None sends no SNI;
    session resumes a saved ssl.SSLSession. The handshake happens in the constructor.
    suppress_ragged_eofs=False: a TCP close without close_notify raises SSLEOFError on read
    instead of reading as b"" (to tell a clean TLS close from a bare one)."""

    def __init__(self, host, port, server_name, context=None, session=None,
                 timeout=IO_TIMEOUT, suppress_ragged_eofs=True):
        self.timeout = timeout
        self.context = context or client_context()
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock = self.context.wrap_socket(raw, server_hostname=server_name,
                                                 session=session,
                                                 suppress_ragged_eofs=suppress_ragged_eofs)
        except Exception:
            raw.close()
            raise
        self.buf = bytearray()
        self.eof = False

    @property
    def version(self):
        return self.sock.version()

    @property
    def alpn(self):
        return self.sock.selected_alpn_protocol()

    @property
    def session(self):
        return self.sock.session

    @property
    def session_reused(self):
        return self.sock.session_reused

    def certificate(self):
        return CertInfo(self.peer_certificate())


def https_connect(lintel, server_name, **kw):
    """An HttpsConnection to lintel's HTTPS listener."""
    return HttpsConnection(lintel.host, lintel.https_port, server_name, **kw)


def https_get(lintel, server_name, target="/", host=None, headers=(), method="GET", **kw):
    """One request over a fresh TLS connection (SNI server_name; Host defaults to it).
    Returns (Response, served certificate DER)."""
    with https_connect(lintel, server_name, **kw) as c:
        der = c.peer_certificate()
        c.request(method, target, host=host or server_name or lintel.default_host,
                  headers=headers)
        return c.read_response(method=method), der


def served_certificate(lintel, server_name, **kw):
    """The DER certificate lintel presents for an SNI (None: no SNI)."""
    with https_connect(lintel, server_name, **kw) as c:
        return c.peer_certificate()


def s_client(address, port, *args, server_name=None, timeout=20.0, stdin=b""):
    """`openssl s_client -connect ADDR:PORT [-servername S] ARGS`, stdin at EOF (so it
    closes after the handshake). Returns CompletedProcess with .output = stdout+stderr."""
    argv = [OPENSSL, "s_client", "-connect", host_port(address, port)]
    if server_name is not None:
        argv += ["-servername", server_name]
    else:
        argv += ["-noservername"]
    argv += list(args)
    r = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout)
    r.output = r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")
    return r


def s_client_negotiated(result):
    """(protocol, cipher) when an s_client run completed a handshake, else None. (On a
    refused handshake s_client still prints "Protocol : TLSv1.1", with cipher (NONE).)"""
    m = re.search(r"^New, (TLSv[\d.]+), Cipher is (\S+)", result.output, re.M)
    if result.returncode != 0 or not m or m.group(2) == "(NONE)":
        return None
    proto = re.search(r"^\s*Protocol\s*:\s*(\S+)", result.output, re.M)
    return (proto.group(1) if proto else m.group(1)), m.group(2)


def curl(*args, timeout=30.0):
    """`curl -sS ARGS` → CompletedProcess (text)."""
    return run([CURL, "-sS", *args], timeout=timeout)


def curl_https(lintel, host, target="/", cacert=None, extra=()):
    """What a user runs: curl --cacert CA --resolve HOST:PORT:ADDR https://HOST:PORT/…
    Returns (CompletedProcess, Response or None). The response is parsed from `-i`."""
    argv = ["-i", "--max-time", "20"]
    if cacert:
        argv += ["--cacert", cacert]
    argv += ["--resolve", f"{host}:{lintel.https_port}:{lintel.host}", *extra,
             f"https://{host}:{lintel.https_port}{target}"]
    r = curl(*argv)
    return r, (parse_curl_response(r.stdout) if r.returncode == 0 else None)


def parse_curl_response(text):
    """The last response of `curl -i` output (after redirects, when -L)."""
    heads = [m.start() for m in re.finditer(r"^HTTP/[\d.]+ \d{3}", text, re.M)]
    if not heads:
        raise ValueError(f"no HTTP response in curl output: {text[:300]!r}")
    last = text[heads[-1]:]
    head, _, body = last.replace("\r\n", "\n").partition("\n\n")
    status_line, *lines = head.split("\n")
    m = re.match(r"(HTTP/[\d.]+) (\d{3}) ?(.*)$", status_line)
    headers = []
    for line in lines:
        k, sep, v = line.partition(":")
        if sep:
            headers.append((k.strip(), v.strip()))
    return Response(m.group(1), int(m.group(2)), m.group(3), headers, body.encode("utf-8"),
                    [], len(body), head.encode("latin-1", "replace"), False)


def lintel_exits(argv, timeout=START_TIMEOUT, log_dir=None):
    """Starts `lintel ARGS` expecting it to refuse to start; returns (exit code, stderr
    text), or (None, stderr) when it was still running at the deadline (it is stopped)."""
    p = Process([LINTEL, *argv], "lintel-refuse", log_dir or tempfile.gettempdir())
    try:
        try:
            wait_until(lambda: not p.alive(), timeout=timeout, what="lintel to exit")
        except Timeout:
            p.stop()
            return None, p.stderr_text()
        return p.returncode, p.stderr_text() + p.stdout_text()
    finally:
        p.stop()
        for path in (p.stdout_path, p.stderr_path):
            with contextlib.suppress(OSError):
                os.unlink(path)
