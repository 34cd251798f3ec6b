"""The Helm chart (charts/lintel) and the Dockerfile, tested without Helm or Docker.

Helm cannot be installed on these machines, so this file renders the chart itself with a
small renderer for the subset of Go-template syntax the chart uses, and parses the result
(and values.yaml, and Chart.yaml) with the real kubectl: `kubectl label --local -o json`
reads YAML with Kubernetes' own parser and needs no API server.

The template subset (the chart must stay inside it; _helpers.tpl says so too):

    {{ PIPELINE }}                 print; `{{-` / `-}}` trim the whitespace before / after
    {{/* comment */}}
    {{- define "NAME" -}} ... {{- end }}
    {{- if PIPELINE }} ... [{{- else }} ...] {{- end }}
    PIPELINE  = COMMAND [| FUNCTION ARG...]...   (the piped value is the last argument)
    COMMAND   = VALUE | FUNCTION ARG...
    VALUE     = .Values.a.b | .Release.Name | .Release.Namespace | .Release.Service
              | .Chart.Name | .Chart.Version | .Chart.AppVersion | . | "string" | 123
    FUNCTION  = include "NAME" . | printf "%s-%s" A B | quote | default D | trunc N
              | trimSuffix "S" | contains SUB S | not | eq A B | ne A B | toYaml
              | nindent N | indent N

A .Values path that values.yaml lacks is an error here (Helm would print nothing), so a
typo in a template fails the test.

What is checked: every rendered document parses and has apiVersion, kind and metadata.name;
the RBAC rules equal EXPECTED_RBAC exactly; the Deployment's security context, probes,
ports, args (only flags `lintel serve --help` lists), anti-affinity and grace period; the
Service's ports; the IngressClass, PDB, HPA and metrics Service; variants of the values
(HPA on, metrics on, watchNamespace set, ...); values.yaml has a comment for every key; the
Deployment's container run as the kubelet would run it (the image's entrypoint `lintel`,
the rendered args and env, a service-account folder, build/kube-standin as the cluster)
passes its probes and routes an Ingress of the chart's class, then goes through every
write (status, Events and their series, the Lease, the clear on SIGTERM), and the API calls
it made equal the rendered RBAC rules both ways; the Dockerfile's runtime stage installs
the package of every library `ldd lintel` shows.

    cd tests/integration && LINTEL_BUILD_DIR=../../build python3 -m unittest -v test_chart
"""

import copy
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

import harness
import standin

REPO = pathlib.Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "lintel"
BUILD_DIR = pathlib.Path(os.environ.get("LINTEL_BUILD_DIR", REPO / "build")).resolve()
LINTEL = BUILD_DIR / "lintel"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"

RELEASE = {"Name": "lintel", "Namespace": "lintel", "Service": "Helm"}

# The RBAC the chart grants, as (apiGroup, resource, verb), in ONE place, for the default
# values. ChartContainerRunTest compares it (with updateStatusOnShutdown, which adds patch
# on ingresses/status) with the API calls a running Lintel makes, failing on a difference
# either way: nothing granted that Lintel does not use, nothing used that is not granted.
EXPECTED_RBAC = {
    # ClusterRole: the informers (list/watch), Ingress status (get + update), Events.
    "ClusterRole": {
        *{("networking.k8s.io", r, v) for r in ("ingresses", "ingressclasses")
          for v in ("list", "watch")},
        *{("", r, v) for r in ("services", "secrets") for v in ("list", "watch")},
        *{("discovery.k8s.io", "endpointslices", v) for v in ("list", "watch")},
        ("networking.k8s.io", "ingresses", "get"),
        ("networking.k8s.io", "ingresses/status", "update"),
        ("events.k8s.io", "events", "create"),
        ("events.k8s.io", "events", "patch"),
    },
    # Role in the release namespace: the leader-election Lease.
    "Role": {("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")},
}
# What the values change.
STATUS_RULES = {("networking.k8s.io", "ingresses", "get"),
                ("networking.k8s.io", "ingresses/status", "update")}
CLEAR_ON_SHUTDOWN_RULE = ("networking.k8s.io", "ingresses/status", "patch")

# Kinds without a namespace.
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "IngressClass"}


# ---------------------------------------------------------------------------------------
# YAML through kubectl


def kubectl_load(text):
    """Parses a stream of Kubernetes-shaped YAML documents with kubectl; returns dicts."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(text)
        f.flush()
        proc = subprocess.run(
            [KUBECTL, "label", "--local", "-f", f.name, "lintel.dev/chart-test=1", "-o", "json"],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "KUBECONFIG": "/dev/null"})
    if proc.returncode != 0:
        raise AssertionError(f"kubectl could not parse:\n{text}\n--- stderr:\n{proc.stderr}")
    docs, decoder, pos, out = [], json.JSONDecoder(), 0, proc.stdout
    while True:
        while pos < len(out) and out[pos].isspace():
            pos += 1
        if pos == len(out):
            break
        doc, pos = decoder.raw_decode(out, pos)
        items = doc["items"] if doc.get("kind") == "List" and "items" in doc else [doc]
        for item in items:
            labels = item.get("metadata", {}).get("labels", {})
            labels.pop("lintel.dev/chart-test", None)
            if not labels and "labels" in item.get("metadata", {}):
                del item["metadata"]["labels"]
            docs.append(item)
    return docs


def load_plain_yaml(path):
    """Parses a plain YAML mapping (values.yaml, Chart.yaml) by wrapping it in an object."""
    body = "\n".join("  " + line for line in pathlib.Path(path).read_text().splitlines())
    wrapped = f"apiVersion: lintel.dev/v1\nkind: File\nmetadata:\n  name: f\ncontent:\n{body}\n"
    return kubectl_load(wrapped)[0].get("content") or {}


# ---------------------------------------------------------------------------------------
# The template renderer

ACTION = re.compile(r"\{\{(-\s)?\s*(.*?)\s*(\s-)?\}\}", re.S)
TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\||[^\s|"]+')


class TemplateError(Exception):
    pass


def parse_template(text):
    """Text → nodes: ("text", s) | ("print", expr) | ("if", expr, then, else) | ("define", name, body)."""
    pieces, pos = [], 0
    for m in ACTION.finditer(text):
        pieces.append(["text", text[pos:m.start()]])
        pieces.append(["action", m.group(2), bool(m.group(1)), bool(m.group(3))])
        pos = m.end()
    pieces.append(["text", text[pos:]])
    for i, p in enumerate(pieces):  # trim markers
        if p[0] != "action":
            continue
        if p[2]:
            pieces[i - 1][1] = pieces[i - 1][1].rstrip(" \t\r\n")
        if p[3]:
            pieces[i + 1][1] = pieces[i + 1][1].lstrip(" \t\r\n")

    root = []
    stack = [("root", root)]
    for p in pieces:
        if p[0] == "text":
            if p[1]:
                stack[-1][1].append(("text", p[1]))
            continue
        body = p[1]
        if body.startswith("/*"):
            if not body.endswith("*/"):
                raise TemplateError(f"unterminated comment: {body[:40]}")
            continue
        word = body.split(None, 1)[0] if body else ""
        rest = body[len(word):].strip()
        if word == "if":
            node = ["if", rest, [], []]
            stack[-1][1].append(node)
            stack.append(("if", node[2], node))
        elif word == "else":
            if rest or stack[-1][0] != "if":
                raise TemplateError(f"unsupported else: {body!r}")
            node = stack.pop()[2]
            stack.append(("else", node[3], node))
        elif word == "define":
            name = json.loads(rest)
            node = ["define", name, []]
            stack[-1][1].append(node)
            stack.append(("define", node[2], node))
        elif word == "end":
            if len(stack) == 1:
                raise TemplateError("end without if/define")
            stack.pop()
        elif word in ("range", "with", "template", "block", "else if"):
            raise TemplateError(f"{word} is outside the renderer's subset")
        else:
            stack[-1][1].append(["print", body])
    if len(stack) != 1:
        raise TemplateError(f"unclosed {stack[-1][0]}")
    return root


def truthy(v):
    """Go's template truth: false, 0, "", nil and empty maps/lists are false."""
    if v is None or v is False:
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v != 0
    if isinstance(v, (str, list, dict)):
        return len(v) > 0
    return True


def go_str(v):
    if v is None:
        raise TemplateError("printing a missing value")
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dict, list)):
        raise TemplateError(f"printing a map or list without toYaml: {v!r}")
    return str(v)


PLAIN_KEY = re.compile(r"^[A-Za-z0-9_./-]+$")


def to_yaml(v):
    """Block-style YAML of a value from values.yaml (strings double-quoted, JSON-style)."""
    def scalar(x):
        if x is None:
            return "null"
        if isinstance(x, bool):
            return "true" if x else "false"
        if isinstance(x, (int, float)):
            return go_str(x)
        return json.dumps(x)

    def key(k):
        return k if PLAIN_KEY.match(k) else json.dumps(k)

    def block(x):
        if isinstance(x, dict):
            if not x:
                return ["{}"]
            lines = []
            for k, val in x.items():
                if isinstance(val, (dict, list)) and val:
                    lines.append(f"{key(k)}:")
                    lines += ["  " + line for line in block(val)]
                else:
                    lines.append(f"{key(k)}: {block(val)[0]}")
            return lines
        if isinstance(x, list):
            if not x:
                return ["[]"]
            lines = []
            for item in x:
                sub = block(item)
                lines.append("- " + sub[0])
                lines += ["  " + line for line in sub[1:]]
            return lines
        return [scalar(x)]

    return "\n".join(block(v))


def indent_text(n, s):
    return "\n".join((" " * n + line) if line else line for line in s.split("\n"))


class Renderer:
    def __init__(self, chart_dir, values, release=RELEASE):
        self.chart_dir = pathlib.Path(chart_dir)
        chart = load_plain_yaml(self.chart_dir / "Chart.yaml")
        self.root = {
            "Values": values,
            "Release": dict(release),
            "Chart": {"Name": chart["name"], "Version": chart["version"],
                      "AppVersion": chart["appVersion"]},
        }
        self.templates, self.defines = {}, {}
        for path in sorted((self.chart_dir / "templates").iterdir()):
            if path.suffix not in (".yaml", ".yml", ".tpl"):
                continue
            nodes = parse_template(path.read_text())
            for node in nodes:
                if node[0] == "define":
                    self.defines[node[1]] = node[2]
            if not path.name.startswith("_"):
                self.templates[path.name] = nodes

    # -- expressions
    def lookup(self, path, dot):
        if path == ".":
            return dot
        value = dot
        for part in path.lstrip(".").split("."):
            if not isinstance(value, dict) or part not in value:
                raise TemplateError(f"{path}: no such value (is it in values.yaml?)")
            value = value[part]
        return value

    def arg(self, token, dot):
        if token.startswith('"'):
            return json.loads(token)
        if re.fullmatch(r"-?\d+", token):
            return int(token)
        if token in ("true", "false"):
            return token == "true"
        if token.startswith("."):
            return self.lookup(token, dot)
        raise TemplateError(f"unsupported argument {token!r}")

    def call(self, name, args, dot):
        if name == "include":
            if len(args) != 2 or args[0] not in self.defines:
                raise TemplateError(f"include {args!r}")
            return self.render_nodes(self.defines[args[0]], args[1])
        if name == "printf":
            fmt, rest = args[0], list(args[1:])
            if fmt.count("%s") != len(rest) or re.search(r"%[^s]", fmt):
                raise TemplateError(f"printf {fmt!r}: only %s, one per argument")
            return fmt.replace("%s", "{}").format(*(go_str(a) for a in rest))
        one = {
            "quote": lambda v: json.dumps("" if v is None else go_str(v)),
            "not": lambda v: not truthy(v),
            "toYaml": to_yaml,
        }
        two = {
            "default": lambda d, v: v if truthy(v) else d,
            "trunc": lambda n, s: go_str(s)[:n],
            "trimSuffix": lambda suf, s: s[: -len(suf)] if suf and s.endswith(suf) else s,
            "contains": lambda sub, s: go_str(sub) in go_str(s),
            "eq": lambda a, b: a == b,
            "ne": lambda a, b: a != b,
            "nindent": lambda n, s: "\n" + indent_text(n, s),
            "indent": indent_text,
        }
        if name in one and len(args) == 1:
            return one[name](*args)
        if name in two and len(args) == 2:
            return two[name](*args)
        raise TemplateError(f"unsupported function or arity: {name} {args!r}")

    FUNCTIONS = {"include", "printf", "quote", "not", "toYaml", "default", "trunc",
                 "trimSuffix", "contains", "eq", "ne", "nindent", "indent"}

    def evaluate(self, expr, dot):
        if "(" in expr or "$" in expr or ":=" in expr:
            raise TemplateError(f"outside the renderer's subset: {expr!r}")
        tokens = TOKEN.findall(expr)
        commands, current = [], []
        for t in tokens:
            if t == "|":
                commands.append(current)
                current = []
            else:
                current.append(t)
        commands.append(current)
        value, first = None, True
        for cmd in commands:
            if not cmd:
                raise TemplateError(f"empty command in {expr!r}")
            if cmd[0] in self.FUNCTIONS:
                args = [self.arg(t, dot) for t in cmd[1:]]
                if not first:
                    args.append(value)
                value = self.call(cmd[0], args, dot)
            elif first and len(cmd) == 1:
                value = self.arg(cmd[0], dot)
            else:
                raise TemplateError(f"unsupported command {cmd!r} in {expr!r}")
            first = False
        return value

    # -- rendering
    def render_nodes(self, nodes, dot):
        out = []
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "print":
                out.append(go_str(self.evaluate(node[1], dot)))
            elif kind == "if":
                branch = node[2] if truthy(self.evaluate(node[1], dot)) else node[3]
                out.append(self.render_nodes(branch, dot))
            # define: registered at load time, renders nothing in place
        return "".join(out)

    def render(self):
        """{template file name: rendered text}, as `helm template` would print them."""
        return {name: self.render_nodes(nodes, self.root) for name, nodes in self.templates.items()}


def meaningful(doc_text):
    return any(line.strip() and not line.strip().startswith("#")
               for line in doc_text.splitlines())


def deep_merge(base, override):
    out = copy.deepcopy(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


# ---------------------------------------------------------------------------------------
# Facts from the binary


def serve_flags():
    """The long flags `lintel serve --help` lists."""
    proc = subprocess.run([str(LINTEL), "serve", "--help"], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    flags = set()
    for m in re.finditer(r"(?:^|,)\s*(--[a-z][a-z0-9-]*)", proc.stdout, re.M):
        flags.add(m.group(1))
    return flags


def flag_name(arg):
    return arg.split("=", 1)[0]


# ---------------------------------------------------------------------------------------


_VALUES = {}


def chart_values():
    """values.yaml, parsed once."""
    if not _VALUES:
        if not os.access(KUBECTL, os.X_OK):
            raise AssertionError(f"kubectl not found ({KUBECTL}); it parses the chart's YAML")
        _VALUES.update(load_plain_yaml(CHART / "values.yaml"))
    return copy.deepcopy(_VALUES)


def render_chart(overrides, release=RELEASE):
    """The chart's documents (dicts, in template order) for values.yaml + overrides, like
    `helm template --set ...`. Each has "_template": the file it came from."""
    values = deep_merge(chart_values(), overrides)
    rendered = Renderer(CHART, values, release).render()
    parts, origins = [], []
    for name, text in rendered.items():
        if "<no value>" in text:
            raise AssertionError(f"{name}: <no value> in\n{text}")
        for part in re.split(r"(?m)^---\s*$", text):
            if meaningful(part):
                parts.append(part)
                origins.append(name)
    # One kubectl run per render; it prints the documents in order, one object each.
    docs = kubectl_load("\n---\n".join(parts))
    if len(docs) != len(parts):
        raise AssertionError(f"{len(parts)} documents rendered, {len(docs)} parsed")
    for doc, name in zip(docs, origins):
        doc["_template"] = name
    return docs


class ChartTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.values = chart_values()
        cls.chart = load_plain_yaml(CHART / "Chart.yaml")
        cls.default = cls.render({})

    @staticmethod
    def render(overrides, release=RELEASE):
        return render_chart(overrides, release)

    @staticmethod
    def find(docs, kind, name=None):
        found = [d for d in docs if d["kind"] == kind
                 and (name is None or d["metadata"]["name"] == name)]
        return found

    def one(self, docs, kind, name=None):
        found = self.find(docs, kind, name)
        self.assertEqual(len(found), 1, f"one {kind} {name or ''} expected, got {len(found)}")
        return found[0]

    def container(self, docs):
        dep = self.one(docs, "Deployment")
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        return c

    # -- every document

    def test_documents_parse_and_are_named(self):
        kinds = sorted(d["kind"] for d in self.default)
        self.assertEqual(kinds, sorted([
            "ClusterRole", "ClusterRoleBinding", "Deployment", "IngressClass",
            "PodDisruptionBudget", "Role", "RoleBinding", "Service", "ServiceAccount"]))
        for variant in (self.default, self.render({"autoscaling": {"enabled": True},
                                                   "metrics": {"enabled": True}})):
            for d in variant:
                with self.subTest(kind=d["kind"], template=d["_template"]):
                    self.assertTrue(d.get("apiVersion"))
                    name = d["metadata"].get("name", "")
                    self.assertRegex(name, r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
                    self.assertLessEqual(len(name), 63)
                    if d["kind"] in CLUSTER_SCOPED:
                        self.assertNotIn("namespace", d["metadata"])
                    else:
                        self.assertEqual(d["metadata"].get("namespace"), RELEASE["Namespace"])
                    labels = d["metadata"].get("labels", {})
                    self.assertEqual(labels.get("app.kubernetes.io/managed-by"), "Helm")
                    self.assertEqual(labels.get("app.kubernetes.io/instance"), RELEASE["Name"])
                    self.assertEqual(labels.get("helm.sh/chart"),
                                     f"lintel-{self.chart['version']}")

    def test_names_follow_the_release(self):
        # `helm install lintel ...` → "lintel"; another release name gets a -lintel suffix.
        self.assertEqual(self.one(self.default, "Deployment")["metadata"]["name"], "lintel")
        other = self.render({}, {**RELEASE, "Name": "edge"})
        self.assertEqual(self.one(other, "Deployment")["metadata"]["name"], "edge-lintel")
        self.assertEqual(self.one(other, "ServiceAccount")["metadata"]["name"], "edge-lintel")
        named = self.render({"fullnameOverride": "front"})
        self.assertEqual(self.one(named, "Service")["metadata"]["name"], "front")

    def test_chart_yaml(self):
        self.assertEqual(self.chart["apiVersion"], "v2")
        self.assertEqual(self.chart["name"], "lintel")
        self.assertEqual(self.chart["type"], "application")
        self.assertRegex(self.chart["version"], r"^\d+\.\d+\.\d+$")
        version = subprocess.run([str(LINTEL), "version"], capture_output=True, text=True,
                                 timeout=30).stdout
        self.assertIn(self.chart["appVersion"], version,
                      "appVersion is the version of the Lintel the default image runs")

    # -- RBAC

    def rules(self, doc):
        triples = set()
        for rule in doc["rules"]:
            self.assertEqual(set(rule) - {"apiGroups", "resources", "verbs"}, set(),
                             f"no resourceNames / nonResourceURLs: {rule}")
            for g in rule["apiGroups"]:
                for r in rule["resources"]:
                    for v in rule["verbs"]:
                        self.assertNotIn("*", (g, r, v), rule)
                        triples.add((g, r, v))
        return triples

    def test_rbac_rules_are_exactly_the_expected_table(self):
        for kind in ("ClusterRole", "Role"):
            with self.subTest(kind=kind):
                got = self.rules(self.one(self.default, kind))
                expected = EXPECTED_RBAC[kind]
                self.assertEqual(sorted(got - expected), [], "granted but not expected")
                self.assertEqual(sorted(expected - got), [], "expected but not granted")
        role = self.one(self.default, "Role")
        self.assertEqual(role["metadata"]["namespace"], RELEASE["Namespace"],
                         "leases in the release namespace only")
        self.assertEqual(len(self.find(self.default, "ClusterRole")), 1)

    def test_rbac_follows_the_status_values(self):
        clear = self.render({"controller": {"updateStatusOnShutdown": True}})
        self.assertEqual(self.rules(self.one(clear, "ClusterRole")),
                         EXPECTED_RBAC["ClusterRole"] | {CLEAR_ON_SHUTDOWN_RULE})
        none = self.render({"controller": {"publishStatus": "none",
                                           "updateStatusOnShutdown": True}})
        self.assertEqual(self.rules(self.one(none, "ClusterRole")),
                         EXPECTED_RBAC["ClusterRole"] - STATUS_RULES)

    def test_bindings_tie_the_roles_to_the_service_account(self):
        sa = self.one(self.default, "ServiceAccount")["metadata"]["name"]
        dep = self.one(self.default, "Deployment")
        self.assertEqual(dep["spec"]["template"]["spec"]["serviceAccountName"], sa)
        for binding, role in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
            with self.subTest(binding=binding):
                b = self.one(self.default, binding)
                self.assertEqual(b["roleRef"], {
                    "apiGroup": "rbac.authorization.k8s.io", "kind": role,
                    "name": self.one(self.default, role)["metadata"]["name"]})
                self.assertEqual(b["subjects"], [{"kind": "ServiceAccount", "name": sa,
                                                  "namespace": RELEASE["Namespace"]}])
        off = self.render({"rbac": {"create": False}, "serviceAccount": {"create": False,
                                                                          "name": "mine"}})
        self.assertEqual([d for d in off if "Role" in d["kind"] or d["kind"] == "ServiceAccount"],
                         [])
        dep = self.one(off, "Deployment")
        self.assertEqual(dep["spec"]["template"]["spec"]["serviceAccountName"], "mine")

    # -- Deployment

    def test_deployment_defaults(self):
        dep = self.one(self.default, "Deployment")
        spec, pod = dep["spec"], dep["spec"]["template"]["spec"]
        self.assertEqual(spec["replicas"], 2)
        selector = spec["selector"]["matchLabels"]
        self.assertEqual(selector, {"app.kubernetes.io/name": "lintel",
                                    "app.kubernetes.io/instance": RELEASE["Name"]})
        template_labels = spec["template"]["metadata"]["labels"]
        self.assertLessEqual(selector.items(), template_labels.items())
        # Above the drain's --shutdown-timeout (30 s, counted from SIGTERM).
        self.assertGreater(pod["terminationGracePeriodSeconds"], 30)
        anti = pod["affinity"]["podAntiAffinity"]
        self.assertNotIn("requiredDuringSchedulingIgnoredDuringExecution", anti)
        (term,) = anti["preferredDuringSchedulingIgnoredDuringExecution"]
        self.assertEqual(term["podAffinityTerm"]["topologyKey"], "kubernetes.io/hostname")
        self.assertEqual(term["podAffinityTerm"]["labelSelector"]["matchLabels"], selector)
        c = self.container(self.default)
        self.assertEqual(c["image"], f"lintel:{self.chart['appVersion']}")
        self.assertTrue(c["resources"]["requests"]["cpu"])
        self.assertTrue(c["resources"]["requests"]["memory"])

    def test_security_context(self):
        dep = self.one(self.default, "Deployment")
        pod = dep["spec"]["template"]["spec"]
        self.assertIs(pod["securityContext"]["runAsNonRoot"], True)
        self.assertEqual(pod["securityContext"]["seccompProfile"], {"type": "RuntimeDefault"})
        sc = self.container(self.default)["securityContext"]
        self.assertIs(sc["runAsNonRoot"], True)
        self.assertEqual(sc["runAsUser"], 65532, "the Dockerfile's USER")
        self.assertIs(sc["readOnlyRootFilesystem"], True)
        self.assertIs(sc["allowPrivilegeEscalation"], False)
        self.assertEqual(sc["capabilities"], {"drop": ["ALL"]})
        self.assertEqual(sc["seccompProfile"], {"type": "RuntimeDefault"})

    def test_ports_and_probes(self):
        c = self.container(self.default)
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        self.assertEqual(ports, {"http": 8080, "https": 8443, "admin": 9000})
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            with self.subTest(probe=probe):
                get = c[probe]["httpGet"]
                self.assertEqual(get["path"], path)
                self.assertEqual(ports[get["port"]], 9000)
                self.assertNotIn("host", get, "the kubelet probes the Pod IP")

    def test_args_use_only_flags_lintel_accepts(self):
        known = serve_flags()
        self.assertIn("--kube", known, f"{LINTEL} predates the API source?")
        variants = {
            "default": {},
            "namespace": {"controller": {"watchNamespace": "shop"}},
            "without-class": {"controller": {"watchIngressWithoutClass": True}},
            "extra": {"controller": {"extraArgs": ["--workers=2", "--no-access-log"]}},
            "addresses": {"controller": {"publishStatus": "addresses",
                                         "publishStatusAddresses": "203.0.113.10,lb.example.com",
                                         "updateStatusOnShutdown": True}},
            "no-status": {"controller": {"publishStatus": "none"}},
        }
        for label, overrides in variants.items():
            with self.subTest(variant=label):
                args = self.container(self.render(overrides))["args"]
                self.assertEqual(args[:2], ["serve", "--kube"])
                unknown = [a for a in args[1:] if flag_name(a) not in known]
                self.assertEqual(unknown, [], f"not in `lintel serve --help`: {unknown}")

        args = self.container(self.default)["args"]
        self.assertEqual(args, [
            "serve", "--kube", "--ingress-class=lintel",
            "--controller-name=lintel.dev/ingress-controller", "--http=0.0.0.0:8080",
            "--https=0.0.0.0:8443", "--admin=0.0.0.0:9000", "--log-level=info",
            "--election-id=lintel-leader", f"--publish-service={RELEASE['Namespace']}/lintel",
            "--shutdown-delay=5s", "--shutdown-timeout=30s"])
        addresses = self.container(self.render(variants["addresses"]))["args"]
        self.assertIn("--publish-status-address=203.0.113.10,lb.example.com", addresses)
        self.assertIn("--update-status-on-shutdown", addresses)
        self.assertFalse([a for a in addresses if a.startswith("--publish-service")])
        none = self.container(self.render(variants["no-status"]))["args"]
        self.assertFalse([a for a in none if a.startswith("--publish")])
        ns = self.container(self.render(variants["namespace"]))["args"]
        self.assertIn("--watch-namespace=shop", ns)
        wc = self.container(self.render(variants["without-class"]))["args"]
        self.assertIn("--watch-ingress-without-class", wc)
        ex = self.container(self.render(variants["extra"]))["args"]
        self.assertEqual(ex[-2:], ["--workers=2", "--no-access-log"])

    def test_variants_hpa_and_affinity(self):
        hpa_docs = self.render({"autoscaling": {"enabled": True}})
        hpa = self.one(hpa_docs, "HorizontalPodAutoscaler")
        self.assertEqual(hpa["apiVersion"], "autoscaling/v2")
        self.assertEqual(hpa["spec"]["scaleTargetRef"],
                         {"apiVersion": "apps/v1", "kind": "Deployment", "name": "lintel"})
        self.assertEqual(hpa["spec"]["minReplicas"], 2)
        (metric,) = hpa["spec"]["metrics"]
        self.assertEqual(metric["resource"]["name"], "cpu")
        self.assertNotIn("replicas", self.one(hpa_docs, "Deployment")["spec"])

        no_anti = self.one(self.render({"antiAffinity": {"enabled": False}}), "Deployment")
        self.assertNotIn("affinity", no_anti["spec"]["template"]["spec"])
        mine = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "edge", "operator": "In", "values": ["true"]}]}]}}}
        own = self.one(self.render({"affinity": mine}), "Deployment")
        self.assertEqual(own["spec"]["template"]["spec"]["affinity"], mine)

    # -- Services, IngressClass, PDB

    def test_service(self):
        svc = self.one(self.default, "Service")
        self.assertEqual(svc["spec"]["type"], "LoadBalancer")
        self.assertEqual(svc["spec"]["externalTrafficPolicy"], "Cluster")
        ports = {p["port"]: p["targetPort"] for p in svc["spec"]["ports"]}
        self.assertEqual(ports, {80: "http", 443: "https"})
        dep = self.one(self.default, "Deployment")
        self.assertEqual(svc["spec"]["selector"], dep["spec"]["selector"]["matchLabels"])
        local = self.one(self.render({"service": {"externalTrafficPolicy": "Local"}}), "Service")
        self.assertEqual(local["spec"]["externalTrafficPolicy"], "Local")
        internal = self.one(self.render({"service": {"type": "ClusterIP"}}), "Service")
        self.assertNotIn("externalTrafficPolicy", internal["spec"])

    def test_metrics_service(self):
        docs = self.render({"metrics": {"enabled": True,
                                        "annotations": {"prometheus.io/scrape": "true"}}})
        svc = self.one(docs, "Service", "lintel-metrics")
        self.assertEqual(svc["spec"]["type"], "ClusterIP")
        self.assertEqual(svc["spec"]["ports"],
                         [{"name": "admin", "port": 9000, "targetPort": "admin",
                           "protocol": "TCP"}])
        self.assertEqual(svc["metadata"]["annotations"], {"prometheus.io/scrape": "true"})

    def test_ingress_class(self):
        ic = self.one(self.default, "IngressClass")
        self.assertEqual(ic["metadata"]["name"], "lintel")
        self.assertEqual(ic["spec"]["controller"], "lintel.dev/ingress-controller")
        self.assertNotIn("annotations", ic["metadata"])
        args = self.container(self.default)["args"]
        self.assertIn(f"--ingress-class={ic['metadata']['name']}", args)
        self.assertIn(f"--controller-name={ic['spec']['controller']}", args)
        default = self.one(self.render({"ingressClass": {"default": True}}), "IngressClass")
        self.assertEqual(default["metadata"]["annotations"],
                         {"ingressclass.kubernetes.io/is-default-class": "true"})

    def test_pod_disruption_budget(self):
        pdb = self.one(self.default, "PodDisruptionBudget")
        self.assertEqual(pdb["apiVersion"], "policy/v1")
        self.assertEqual(pdb["spec"]["maxUnavailable"], 1)
        dep = self.one(self.default, "Deployment")
        self.assertEqual(pdb["spec"]["selector"]["matchLabels"],
                         dep["spec"]["selector"]["matchLabels"])

    def test_notes_render(self):
        r = Renderer(CHART, chart_values())
        notes = r.render_nodes(parse_template((CHART / "templates" / "NOTES.txt").read_text()),
                               r.root)
        self.assertIn("port-forward deploy/lintel 9000", notes)
        self.assertIn("ingressClassName: lintel", notes)

    # -- values.yaml

    def test_values_are_documented_line_by_line(self):
        lines = (CHART / "values.yaml").read_text().splitlines()
        undocumented = []
        for i, line in enumerate(lines):
            if not re.match(r"^\s*[A-Za-z][\w.-]*:", line):
                continue
            above = lines[i - 1].strip() if i else ""
            if "#" not in line and not above.startswith("#"):
                undocumented.append(f"values.yaml:{i + 1}: {line.strip()}")
        self.assertEqual(undocumented, [], "every key has a comment on it or just above it")

    def test_templates_stay_in_the_renderer_subset(self):
        # Renders every template with the values that switch every optional part on.
        everything = self.render({
            "autoscaling": {"enabled": True}, "metrics": {"enabled": True,
                                                          "annotations": {"a": "b"}},
            "ingressClass": {"default": True}, "podAnnotations": {"x": "y"},
            "podLabels": {"team": "edge"}, "imagePullSecrets": [{"name": "regcred"}],
            "priorityClassName": "high", "tolerations": [{"key": "k", "operator": "Exists"}],
            "service": {"annotations": {"s": "t"}, "loadBalancerSourceRanges": ["10.0.0.0/8"]},
            "serviceAccount": {"annotations": {"u": "v"}},
            "extraVolumes": [{"name": "cert", "secret": {"secretName": "my-tls"}}],
            "extraVolumeMounts": [{"name": "cert", "mountPath": "/etc/lintel/tls",
                                   "readOnly": True}],
            "controller": {"watchNamespace": "shop", "watchIngressWithoutClass": True,
                           "extraArgs": ["--workers=2"]},
        })
        self.assertIn("HorizontalPodAutoscaler", {d["kind"] for d in everything})
        pod = self.one(everything, "Deployment")["spec"]["template"]
        self.assertEqual(pod["metadata"]["labels"]["team"], "edge")
        self.assertEqual(pod["spec"]["tolerations"], [{"key": "k", "operator": "Exists"}])
        self.assertEqual([v["name"] for v in pod["spec"]["volumes"]], ["tmp", "cert"])
        mounts = pod["spec"]["containers"][0]["volumeMounts"]
        self.assertEqual(mounts[1], {"name": "cert", "mountPath": "/etc/lintel/tls",
                                     "readOnly": True})


def api_call(method, target):
    """(verb, apiGroup, resource, namespace) of an API request, as RBAC sees it."""
    path, _, query = target.partition("?")
    params = dict(p.partition("=")[::2] for p in query.split("&") if p)
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        raise AssertionError(f"not a resource request: {target}")
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    resource = rest[0] + ("/" + rest[2] if len(rest) > 2 else "")
    named = len(rest) > 1
    if method == "GET":
        verb = "watch" if params.get("watch") in ("1", "true") else ("get" if named else "list")
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]
    return verb, group, resource, namespace


class ChartContainerRunTest(unittest.TestCase):
    """The Deployment's container run as the kubelet would run it: the image's entrypoint
    (lintel) with the rendered args and env, a service-account folder, and the stand-in API
    server as the cluster, holding the chart's own IngressClass and Service. Its probes
    answer, and an Ingress of the chart's class is routed."""

    def setUp(self):
        harness.require_binaries(LINTEL, standin.STANDIN)
        self.work = tempfile.mkdtemp(prefix="lintel-chart.")
        self.addCleanup(shutil.rmtree, self.work, True)

    def start_container(self, argv, env):
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            p = harness.Process(argv, "lintel-chart", self.work)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        self.addCleanup(p.stop)
        return p

    @staticmethod
    def get(port, target, host="127.0.0.1"):
        with harness.HttpConnection("127.0.0.1", port) as c:
            c.request("GET", target, host=host)
            return c.read_response()

    def test_container_starts_with_the_chart_args_and_passes_its_probes(self):
        api_dir = os.path.join(self.work, "api")
        os.mkdir(api_dir)
        # --verbose: the stand-in logs every request it answers, watches included, with the
        # user agent (Lintel's calls are told from kubectl's by it).
        api = standin.StandIn.start(api_dir, self.work, extra_args=["--verbose"])
        self.addCleanup(api.stop)

        ports = set()
        while len(ports) < 3:
            ports.add(harness.free_port("0.0.0.0"))
        http, https, admin = sorted(ports)
        # updateStatusOnShutdown: every rule the chart can grant is then in play.
        docs = render_chart({"ports": {"http": http, "https": https, "admin": admin},
                             "controller": {"updateStatusOnShutdown": True,
                                            "shutdownDelay": "0s"}})
        granted = set()
        for kind in ("ClusterRole", "Role"):
            (role,) = [d for d in docs if d["kind"] == kind]
            granted |= {(kind, g, r, v) for rule in role["rules"] for g in rule["apiGroups"]
                        for r in rule["resources"] for v in rule["verbs"]}
        ours = [d for d in docs if d["kind"] in ("IngressClass", "Service")]
        for d in ours:
            d.pop("_template")
        api.kubectl("create", "namespace", RELEASE["Namespace"])
        api.kubectl("create", "--validate=false", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                           "items": ours}))
        first = {
            "apiVersion": "v1", "kind": "List", "items": [
                {"apiVersion": "v1", "kind": "Service",
                 "metadata": {"name": "web", "namespace": "default"},
                 "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
                {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                 "metadata": {"name": "first", "namespace": "default"},
                 "spec": {"ingressClassName": "lintel", "rules": [{
                     "host": "first.example.com", "http": {"paths": [{
                         "path": "/", "pathType": "Prefix", "backend": {"service": {
                             "name": "web", "port": {"number": 80}}}}]}}]}}]}
        api.kubectl("create", "--validate=false", "-f", "-", input=json.dumps(first))

        sa = os.path.join(self.work, "serviceaccount")
        os.mkdir(sa)
        for name in ("token", "ca.crt"):
            os.symlink(os.path.join(api_dir, name), os.path.join(sa, name))
        with open(os.path.join(sa, "namespace"), "w", encoding="utf-8") as f:
            f.write(RELEASE["Namespace"])

        c = self.container(docs)
        env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1",
               "KUBERNETES_SERVICE_PORT": str(api.port),
               "LINTEL_SERVICEACCOUNT_DIR": sa}
        for e in c["env"]:  # downward API: what the kubelet would fill in
            field = e["valueFrom"]["fieldRef"]["fieldPath"]
            env[e["name"]] = {"metadata.name": "lintel-7d9f-abcde",
                              "metadata.namespace": RELEASE["Namespace"]}[field]
        # ENTRYPOINT ["lintel"] + the Deployment's args.
        before = len(api.stderr_text().splitlines())
        lintel = self.start_container([str(LINTEL), *c["args"]], env)
        probe_ports = {p["name"]: p["containerPort"] for p in c["ports"]}

        def probe(name):
            get = c[name]["httpGet"]
            try:
                return self.get(probe_ports[get["port"]], get["path"]).status
            except OSError:
                return None

        harness.wait_until(lambda: not lintel.alive() or probe("readinessProbe") == 200,
                           timeout=harness.START_TIMEOUT, what="the readiness probe to pass")
        self.assertTrue(lintel.alive(), lintel.tail())
        self.assertEqual(probe("livenessProbe"), 200)
        # The chart's IngressClass makes the Ingress Lintel's; its Service has no endpoints.
        self.assertEqual(self.get(http, "/", host="first.example.com").status, 503)
        self.assertEqual(self.get(http, "/", host="other.example.com").status, 404)
        self.assertIn("in-cluster service account", lintel.stderr_text())

        # Make Lintel use every part of its client: the Service gets a load-balancer
        # address (→ Ingress status: get + update), an Ingress breaks, is fixed, breaks
        # again (→ Warning, Normal, and the same Warning again: create, then 409 → patch),
        # the Lease is renewed (update), and SIGTERM clears the status (patch) and
        # releases the Lease.
        api.kubectl("patch", "service", "lintel", "-n", RELEASE["Namespace"],
                    "--subresource=status", "--type=merge", "-p",
                    json.dumps({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.80"}]}}}))

        def first_addresses():
            obj = json.loads(api.kubectl("get", "ingress", "first", "-n", "default", "-o",
                                         "json").stdout)
            return (obj.get("status") or {}).get("loadBalancer", {}).get("ingress")

        harness.wait_until(lambda: first_addresses() == [{"ip": "192.0.2.80"}],
                           what="the Ingress status from the published Service")
        broken = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                  "metadata": {"name": "broken", "namespace": "default"},
                  "spec": {"ingressClassName": "lintel",
                           "tls": [{"hosts": ["broken.example.com"], "secretName": "broken-tls"}],
                           "rules": [{"host": "broken.example.com", "http": {"paths": [{
                               "path": "/", "pathType": "Prefix", "backend": {"service": {
                                   "name": "web", "port": {"number": 80}}}}]}}]}}
        api.kubectl("create", "-f", "-", input=json.dumps(broken))
        pem = harness.self_signed(["broken.example.com"], self.work)
        self.assertIsNotNone(pem, "openssl makes the Secret's certificate")
        secret = harness.tls_secret("broken-tls", "default", pem[0], pem[1])

        def seen(pattern):
            return re.search(pattern, api.stderr_text()) is not None

        harness.wait_until(lambda: seen(r"POST /apis/events\.k8s\.io/v1/namespaces/default/events → 201"),
                           what="a Warning Event")
        api.kubectl("create", "-f", "-", input=json.dumps(secret))
        harness.wait_until(lambda: len(re.findall(r"POST /apis/events\.k8s\.io/\S+ → 201",
                                                  api.stderr_text())) >= 2,
                           what="a Normal Event once fixed")
        api.kubectl("delete", "secret", "broken-tls", "-n", "default")
        # The same Warning again: 409, then a patch of its series (at most one write per
        # Event every 10 s, so this wait can take that long).
        harness.wait_until(lambda: seen(r"PATCH /apis/events\.k8s\.io/\S+ → 200"),
                           timeout=harness.STATE_TIMEOUT + 15, what="the repeat as a series patch")
        harness.wait_until(lambda: seen(r"PUT /apis/coordination\.k8s\.io/\S+/leases/lintel-leader → 200"),
                           what="a Lease renewal")
        lintel.popen.send_signal(signal.SIGTERM)
        self.assertEqual(lintel.popen.wait(timeout=60), 0, lintel.tail())
        self.assertIsNone(first_addresses(), "cleared on shutdown")

        # Every call Lintel made is granted, and every granted rule was used.
        calls = set()
        for line in api.stderr_text().splitlines()[before:]:
            m = re.search(r"kube-standin: ([A-Z]+) (/\S+) → \d+ \((.*)\)$", line)
            if m and m.group(3).startswith("lintel/"):
                calls.add(api_call(m.group(1), m.group(2)))
        used = set()
        for verb, group, resource, ns in calls:
            kind = "Role" if (group, resource, verb) in EXPECTED_RBAC["Role"] else "ClusterRole"
            used.add((kind, group, resource, verb))
        self.assertEqual(sorted(used - granted), [], "called but not granted")
        self.assertEqual(sorted(granted - used), [], "granted but never called")
        lists = {(g, r) for v, g, r, ns in calls if v == "list"}
        self.assertLessEqual({("networking.k8s.io", "ingressclasses"),
                              ("networking.k8s.io", "ingresses"), ("", "services"),
                              ("discovery.k8s.io", "endpointslices"), ("", "secrets")}, lists,
                             f"the five informers' lists, from {sorted(calls)}")
        # The Role's grants hold in the release namespace only: the Lease is there.
        self.assertEqual({ns for v, g, r, ns in calls if (g, r, v) in EXPECTED_RBAC["Role"]},
                         {RELEASE["Namespace"]})
        # The chart as rendered here is the default table plus the shutdown clear.
        self.assertEqual({(g, r, v) for k, g, r, v in granted},
                         EXPECTED_RBAC["ClusterRole"] | EXPECTED_RBAC["Role"]
                         | {CLEAR_ON_SHUTDOWN_RULE})

    @staticmethod
    def container(docs):
        (dep,) = [d for d in docs if d["kind"] == "Deployment"]
        (c,) = dep["spec"]["template"]["spec"]["containers"]
        return c


class DockerfileTest(unittest.TestCase):
    def setUp(self):
        self.text = (REPO / "Dockerfile").read_text()
        self.stages = re.split(r"(?m)^FROM ", self.text)[1:]

    def test_stages(self):
        self.assertEqual(len(self.stages), 2)
        self.assertTrue(self.stages[0].startswith("debian:12 AS build"))
        self.assertTrue(self.stages[1].startswith("debian:12-slim"))
        self.assertIn("scripts/setup.sh", self.stages[0])
        runtime = self.stages[1]
        self.assertRegex(runtime, r"(?m)^USER 65532:65532$")
        self.assertRegex(runtime, r'(?m)^ENTRYPOINT \["lintel"\]$')
        self.assertRegex(runtime, r'(?m)^CMD \["serve", "--kube"\]$')
        self.assertRegex(runtime, r"(?m)^EXPOSE 8080 8443 9000$")
        ignore = (REPO / ".dockerignore").read_text().split()
        for entry in ("build*", "bench-results", "demo-run", ".git"):
            self.assertIn(entry, ignore)

    def test_runtime_stage_installs_every_library_lintel_loads(self):
        if not shutil.which("dpkg"):
            self.skipTest("dpkg missing: not a Debian machine")
        runtime = self.stages[1].replace("\\\n", " ")  # join continued lines
        m = re.search(r"apt-get install ([^&\n]*)", runtime)
        self.assertIsNotNone(m, "the runtime stage installs its libraries with apt-get")
        installed = {w for w in m.group(1).split() if not w.startswith("-")}
        # Always in debian:12-slim (Essential: yes).
        base = {"libc6"}
        ldd = subprocess.run(["ldd", str(LINTEL)], capture_output=True, text=True, timeout=30)
        self.assertEqual(ldd.returncode, 0, ldd.stderr)
        needed = {}
        for line in ldd.stdout.splitlines():
            m2 = re.match(r"\s*(\S+) => (\S+)", line)
            if not m2:
                continue
            real = os.path.realpath(m2.group(2))
            owner = subprocess.run(["dpkg", "-S", real], capture_output=True, text=True)
            if owner.returncode != 0:
                owner = subprocess.run(["dpkg", "-S", m2.group(2)], capture_output=True,
                                       text=True)
            self.assertEqual(owner.returncode, 0, f"no package owns {real}")
            package = owner.stdout.split(":", 1)[0].strip()
            needed[m2.group(1)] = package
        missing = {lib: p for lib, p in needed.items() if p not in installed | base}
        self.assertEqual(missing, {}, f"the runtime stage installs {sorted(installed)}")
        self.assertIn("libssl3", needed.values())


if __name__ == "__main__":
    unittest.main()
