#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ingress/compiler.h"
#include "tls/generate.h"
#include "tls/session_tickets.h"

namespace lintel::ingress {
namespace {

using routing::Diagnostic;
using routing::Endpoint;

// ---- hand-built objects (the decoder is tested on its own) ----

HttpIngressPath path_to(std::string path, PathType type, std::string service, int port) {
  HttpIngressPath p;
  p.path = std::move(path);
  p.path_type = type;
  p.backend.service = IngressServiceBackend{std::move(service), {port, ""}};
  return p;
}

HttpIngressPath path_to(std::string path, PathType type, std::string service,
                        std::string port_name) {
  HttpIngressPath p;
  p.path = std::move(path);
  p.path_type = type;
  p.backend.service = IngressServiceBackend{std::move(service), {std::nullopt, port_name}};
  return p;
}

IngressRule rule(std::string host, std::vector<HttpIngressPath> paths) {
  return IngressRule{std::move(host), std::move(paths)};
}

Ingress ingress(std::string ns, std::string name, std::vector<IngressRule> rules,
                std::string created = "") {
  Ingress i;
  i.metadata.namespace_ = std::move(ns);
  i.metadata.name = std::move(name);
  i.metadata.creation_timestamp = std::move(created);
  i.spec.rules = std::move(rules);
  return i;
}

IngressBackend service_backend(std::string service, int port) {
  IngressBackend b;
  b.service = IngressServiceBackend{std::move(service), {port, ""}};
  return b;
}

ServicePort service_port(std::string name, int port, IntOrString target = {}) {
  ServicePort p;
  p.name = std::move(name);
  p.port = port;
  p.target_port = std::move(target);
  return p;
}

Service service(std::string ns, std::string name, std::vector<ServicePort> ports) {
  Service s;
  s.metadata.namespace_ = std::move(ns);
  s.metadata.name = std::move(name);
  s.ports = std::move(ports);
  return s;
}

struct Ep {
  std::vector<std::string> addresses;
  std::optional<bool> ready;
  std::optional<bool> serving;
};

EndpointSlice slice(std::string ns, std::string name, std::string service_name,
                    std::vector<std::pair<std::optional<std::string>, int>> ports,
                    std::vector<Ep> endpoints, std::string address_type = "IPv4") {
  EndpointSlice s;
  s.metadata.namespace_ = std::move(ns);
  s.metadata.name = std::move(name);
  s.metadata.labels["kubernetes.io/service-name"] = service_name;
  s.service_name = std::move(service_name);
  s.address_type = std::move(address_type);
  for (auto& [port_name, number] : ports) {
    EndpointPort p;
    p.name = port_name;
    p.port = number;
    s.ports.push_back(p);
  }
  for (auto& e : endpoints) {
    SliceEndpoint se;
    se.addresses = e.addresses;
    se.conditions.ready = e.ready;
    se.conditions.serving = e.serving;
    s.endpoints.push_back(std::move(se));
  }
  return s;
}

// A Service "ns/name" with port 80 "http" → 8080 and one ready Pod.
void add_service(ClusterState& state, const std::string& ns, const std::string& name,
                 const std::string& ip = "10.0.0.1") {
  state.put(service(ns, name, {service_port("http", 80, {8080, ""})}));
  state.put(slice(ns, name + "-abc", name, {{"http", 8080}}, {{{ip}, true, true}}));
}

std::string answer(const CompileResult& r, std::string_view host, std::string_view path) {
  auto m = r.routes->match(host, path);
  return m.backend ? m.backend->name : "";
}

bool has_diag(const CompileResult& r, const std::string& object, const std::string& needle,
              bool rejected = false) {
  return std::any_of(r.diagnostics.begin(), r.diagnostics.end(), [&](const Diagnostic& d) {
    return d.object == object && d.message.find(needle) != std::string::npos &&
           d.rejected == rejected;
  });
}

std::string all_diags(const CompileResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) {
    out += d.to_string() + "\n";
  }
  return out;
}

// ---- class filtering ----

IngressClass ingress_class(std::string name, std::string controller, bool is_default = false) {
  IngressClass c;
  c.metadata.name = std::move(name);
  c.controller = std::move(controller);
  c.is_default = is_default;
  return c;
}

TEST(CompileClasses, ClaimsOnlyOurIngresses) {
  ClusterState state;
  add_service(state, "default", "svc");
  state.put(ingress_class("lintel-prod", "lintel.dev/ingress-controller"));
  state.put(ingress_class("nginx", "k8s.io/ingress-nginx"));
  auto make = [&](std::string name, std::optional<std::string> cls, std::string annotation) {
    Ingress i = ingress("default", name,
                        {rule(name + ".example", {path_to("/", PathType::kPrefix, "svc", 80)})});
    i.spec.ingress_class_name = std::move(cls);
    if (!annotation.empty()) {
      i.metadata.annotations["kubernetes.io/ingress.class"] = annotation;
    }
    state.put(i);
  };
  make("by-class", "lintel-prod", "");  // our IngressClass by controller
  make("other-class", "nginx", "");     // another controller's class
  make("no-object", "lintel", "");      // our class name, no IngressClass object
  make("unknown", "traefik", "");       // unknown class, no object
  make("legacy-ours", std::nullopt, "lintel");
  make("legacy-other", std::nullopt, "nginx");
  make("classless", std::nullopt, "");

  CompileResult r = compile(state, CompileOptions{});
  EXPECT_EQ(answer(r, "by-class.example", "/"), "default/svc:80");
  EXPECT_EQ(answer(r, "no-object.example", "/"), "default/svc:80");
  EXPECT_EQ(answer(r, "legacy-ours.example", "/"), "default/svc:80");
  EXPECT_EQ(answer(r, "classless.example", "/"), "default/svc:80");
  EXPECT_EQ(answer(r, "other-class.example", "/"), "");
  EXPECT_EQ(answer(r, "unknown.example", "/"), "");
  EXPECT_EQ(answer(r, "legacy-other.example", "/"), "");
  EXPECT_EQ(r.stats.ingresses, 4u);
  EXPECT_TRUE(r.diagnostics.empty()) << all_diags(r);  // others are ignored silently
}

TEST(CompileClasses, ClasslessNeedsFlagOrDefaultClass) {
  ClusterState state;
  add_service(state, "default", "svc");
  state.put(ingress("default", "classless",
                    {rule("a.example", {path_to("/", PathType::kPrefix, "svc", 80)})}));
  CompileOptions options;
  options.watch_ingress_without_class = false;
  EXPECT_EQ(compile(state, options).stats.ingresses, 0u);

  state.put(ingress_class("lintel", "lintel.dev/ingress-controller", /*is_default=*/true));
  EXPECT_EQ(compile(state, options).stats.ingresses, 1u);

  // A default class of another controller does not make classless Ingresses ours.
  state.ingress_classes.clear();
  state.put(ingress_class("nginx", "k8s.io/ingress-nginx", true));
  EXPECT_EQ(compile(state, options).stats.ingresses, 0u);

  // Nor does a default class of our controller under another name than --ingress-class.
  state.ingress_classes.clear();
  state.put(ingress_class("lintel-internal", "lintel.dev/ingress-controller", true));
  EXPECT_EQ(compile(state, options).stats.ingresses, 0u);
  options.ingress_class = "lintel-internal";
  EXPECT_EQ(compile(state, options).stats.ingresses, 1u);
}

TEST(CompileClasses, ClassNameOfOurNameButOtherControllerIsNotOurs) {
  ClusterState state;
  add_service(state, "default", "svc");
  state.put(ingress_class("lintel", "example.com/someone-else"));
  Ingress i =
      ingress("default", "i", {rule("a.example", {path_to("/", PathType::kPrefix, "svc", 80)})});
  i.spec.ingress_class_name = "lintel";
  state.put(i);
  EXPECT_EQ(compile(state, CompileOptions{}).stats.ingresses, 0u);
}

// ---- merging and conflicts ----

TEST(CompileMerge, RulesMergeAcrossIngressesAndNamespaces) {
  ClusterState state;
  add_service(state, "team-a", "svc-a", "10.0.1.1");
  add_service(state, "team-b", "svc-b", "10.0.2.1");
  state.put(ingress("team-a", "a",
                    {rule("shared.example", {path_to("/a", PathType::kPrefix, "svc-a", 80)})}));
  state.put(ingress("team-b", "b",
                    {rule("Shared.Example", {path_to("/b", PathType::kPrefix, "svc-b", 80)})}));
  CompileResult r = compile(state, CompileOptions{});
  EXPECT_EQ(answer(r, "shared.example", "/a"), "team-a/svc-a:80");
  EXPECT_EQ(answer(r, "shared.example", "/b/x"), "team-b/svc-b:80");
  EXPECT_EQ(answer(r, "shared.example", "/c"), "");
  EXPECT_EQ(r.stats.hosts, 1u);
  EXPECT_EQ(r.stats.routes, 2u);
  auto m = r.routes->match("shared.example", "/b");
  ASSERT_NE(m.backend, nullptr);
  EXPECT_EQ(m.backend->service_namespace, "team-b");
  EXPECT_EQ(m.route->source, "Ingress team-b/b");
  EXPECT_TRUE(r.diagnostics.empty()) << all_diags(r);
}

TEST(CompileMerge, OlderIngressWinsAConflict) {
  ClusterState state;
  add_service(state, "default", "old-svc");
  add_service(state, "default", "new-svc");
  // "z-old" sorts after "a-new" by name, but is older by creationTimestamp.
  state.put(ingress("default", "a-new",
                    {rule("h.example", {path_to("/api", PathType::kPrefix, "new-svc", 80)})},
                    "2024-01-02T00:00:00Z"));
  state.put(ingress("default", "z-old",
                    {rule("h.example", {path_to("/api", PathType::kPrefix, "old-svc", 80)})},
                    "2024-01-01T00:00:00Z"));
  CompileResult r = compile(state, CompileOptions{});
  EXPECT_EQ(answer(r, "h.example", "/api"), "default/old-svc:80");
  ASSERT_EQ(r.diagnostics.size(), 1u) << all_diags(r);
  const Diagnostic& d = r.diagnostics[0];
  EXPECT_EQ(d.object, "Ingress default/a-new");
  EXPECT_EQ(d.severity, Diagnostic::Severity::kWarning);
  EXPECT_FALSE(d.rejected);
  EXPECT_EQ(d.field, "spec.rules[0].http.paths[0]");
  EXPECT_NE(d.message.find("Ingress default/z-old"), std::string::npos) << d.message;
  EXPECT_NE(d.message.find("\"h.example\""), std::string::npos) << d.message;
  EXPECT_NE(d.message.find("\"/api\""), std::string::npos) << d.message;
}

TEST(CompileMerge, TimestampsCompareInUtcThenNamespaceAndName) {
  ClusterState state;
  add_service(state, "default", "one");
  add_service(state, "default", "two");
  // 01:00+02:00 is 23:00Z the day before: older than 00:30Z.
  state.put(ingress("default", "a",
                    {rule("h.example", {path_to("/", PathType::kPrefix, "one", 80)})},
                    "2024-01-02T00:30:00Z"));
  state.put(ingress("default", "b",
                    {rule("h.example", {path_to("/", PathType::kPrefix, "two", 80)})},
                    "2024-01-02T01:00:00+02:00"));
  EXPECT_EQ(answer(compile(state, CompileOptions{}), "h.example", "/"), "default/two:80");

  // Same timestamp: namespace/name decides.
  ClusterState tie;
  add_service(tie, "default", "one");
  add_service(tie, "default", "two");
  tie.put(ingress("default", "b", {rule("h.example", {path_to("/", PathType::kPrefix, "two", 80)})},
                  "2024-01-01T00:00:00Z"));
  tie.put(ingress("default", "a", {rule("h.example", {path_to("/", PathType::kPrefix, "one", 80)})},
                  "2024-01-01T00:00:00Z"));
  EXPECT_EQ(answer(compile(tie, CompileOptions{}), "h.example", "/"), "default/one:80");
}

TEST(CompileMerge, ImplementationSpecificConflictsWithPrefix) {
  ClusterState state;
  add_service(state, "default", "one");
  add_service(state, "default", "two");
  state.put(
      ingress("default", "a", {rule("h.example", {path_to("/x", PathType::kPrefix, "one", 80)})}));
  state.put(
      ingress("default", "b",
              {rule("h.example", {path_to("/x", PathType::kImplementationSpecific, "two", 80)})}));
  CompileResult r = compile(state, CompileOptions{});
  EXPECT_EQ(answer(r, "h.example", "/x/y"), "default/one:80");
  EXPECT_TRUE(has_diag(r, "Ingress default/b", "matched as Prefix")) << all_diags(r);
}

TEST(CompileMerge, ExactAndPrefixOfTheSamePathCoexist) {
  ClusterState state;
  add_service(state, "default", "exact");
  add_service(state, "default", "prefix");
  state.put(ingress("default", "i",
                    {rule("", {path_to("/foo", PathType::kPrefix, "prefix", 80),
                               path_to("/foo", PathType::kExact, "exact", 80)})}));
  CompileResult r = compile(state, CompileOptions{});
  EXPECT_EQ(answer(r, "h", "/foo"), "default/exact:80");
  EXPECT_EQ(answer(r, "h", "/foo/bar"), "default/prefix:80");
  EXPECT_TRUE(r.diagnostics.empty()) << all_diags(r);
}

TEST(CompileMerge, DuplicateWithinOneIngressKeepsTheFirst) {
  ClusterState state;
  add_service(state, "default", "one");
  add_service(state, "default", "two");
  // "" is "/" for matching purposes, so these two collide.
  state.put(ingress("default", "i",
                    {rule("h.example", {path_to("/", PathType::kPrefix, "one", 80)}),
                     rule("H.example", {path_to("", PathType::kPrefix, "two", 80)})}));
  CompileResult r = compile(state, CompileOptions{});
  EXPECT_EQ(answer(r, "h.example", "/"), "default/one:80");
  EXPECT_TRUE(has_diag(r, "Ingress default/i", "same Ingress")) << all_diags(r);
}

// ---- defaultBackend ----

TEST(CompileDefaultBackend, SingleAndOldestWins) {
  ClusterState state;
  add_service(state, "default", "fallback");
  add_service(state, "other", "fallback2");
  Ingress a = ingress("default", "a", {}, "2024-01-01T00:00:00Z");
  a.spec.default_backend = service_backend("fallback", 80);
  state.put(a);
  CompileResult r = compile(state, CompileOptions{});
  EXPECT_EQ(answer(r, "anything.example", "/x"), "default/fallback:80");
  EXPECT_TRUE(r.diagnostics.empty()) << all_diags(r);

  Ingress b = ingress("other", "b", {}, "2024-01-03T00:00:00Z");
  b.spec.default_backend = service_backend("fallback2", 80);
  state.put(b);
  r = compile(state, CompileOptions{});
  EXPECT_EQ(answer(r, "anything.example", "/x"), "default/fallback:80");
  EXPECT_TRUE(has_diag(r, "Ingress other/b", "Ingress default/a")) << all_diags(r);
}

TEST(CompileDefaultBackend, NoneMeans404) {
  ClusterState state;
  add_service(state, "default", "svc");
  state.put(
      ingress("default", "i", {rule("a.example", {path_to("/", PathType::kPrefix, "svc", 80)})}));
  CompileResult r = compile(state, CompileOptions{});
  EXPECT_EQ(r.routes->default_backend(), nullptr);
  EXPECT_EQ(r.routes->match("b.example", "/").backend, nullptr);
}

// ---- annotations ----

constexpr const char* kBodySize = "nginx.ingress.kubernetes.io/proxy-body-size";

// Takes a std::string: assigning a literal to the map entry trips a GCC 12 -Wrestrict false
// alarm.
void set_body_size(Ingress& ingress, std::string value) {
  ingress.metadata.annotations[kBodySize] = std::move(value);
}

TEST(CompileAnnotations, ProxyBodySizeReadsNginxSizes) {
  struct Case {
    const char* value;
    std::optional<uint64_t> limit;  // nullopt: refused with a warning
  };
  const std::vector<Case> cases = {
      {"1024", 1024},
      {"0", 0},
      {"10k", 10 * 1024},
      {"10K", 10 * 1024},
      {"8m", 8 * 1024 * 1024},
      {"8M", 8 * 1024 * 1024},
      {"1g", uint64_t{1} << 30},
      {"1G", uint64_t{1} << 30},
      {"007", 7},
      {"17179869183G", uint64_t{17179869183} << 30},  // the largest that fits 64 bits
      {"17179869184G", std::nullopt},
      {"18446744073709551616", std::nullopt},
      {"", std::nullopt},
      {"m", std::nullopt},
      {"-1", std::nullopt},
      {"+5", std::nullopt},
      {"1.5m", std::nullopt},
      {" 1m", std::nullopt},
      {"1m ", std::nullopt},
      {"1mb", std::nullopt},
      {"1b", std::nullopt},
      {"1t", std::nullopt},
      {"1kk", std::nullopt},
      {"ten", std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string("value \"") + c.value + "\"");
    ClusterState state;
    add_service(state, "default", "svc");
    Ingress i =
        ingress("default", "up", {rule("a.example", {path_to("/", PathType::kPrefix, "svc", 80)})});
    set_body_size(i, c.value);
    state.put(i);
    CompileResult r = compile(state, CompileOptions{});
    auto m = r.routes->match("a.example", "/");
    ASSERT_NE(m.route, nullptr);
    EXPECT_EQ(m.route->max_body_bytes, c.limit);
    if (c.limit) {
      EXPECT_TRUE(r.diagnostics.empty()) << all_diags(r);
    } else {
      // The route is still served (without a limit): only the annotation is ignored.
      ASSERT_EQ(r.diagnostics.size(), 1u) << all_diags(r);
      const Diagnostic& d = r.diagnostics[0];
      EXPECT_EQ(d.severity, Diagnostic::Severity::kWarning);
      EXPECT_FALSE(d.rejected);
      EXPECT_EQ(d.object, "Ingress default/up");
      EXPECT_EQ(d.field, std::string("metadata.annotations[") + kBodySize + "]");
      EXPECT_NE(d.message.find(kBodySize), std::string::npos) << d.message;
      EXPECT_NE(d.message.find(std::string("\"") + c.value + "\""), std::string::npos) << d.message;
      EXPECT_NE(d.message.find("ignored"), std::string::npos) << d.message;
    }
  }
}

TEST(CompileAnnotations, ProxyBodySizeAppliesToTheOwningIngressOnly) {
  ClusterState state;
  add_service(state, "default", "svc");
  add_service(state, "default", "fallback");
  // Older, owns "/" of a.example and the default backend; sets 1m.
  Ingress limited = ingress("default", "limited",
                            {rule("a.example", {path_to("/", PathType::kPrefix, "svc", 80)})},
                            "2024-01-01T00:00:00Z");
  set_body_size(limited, "1m");
  limited.spec.default_backend = service_backend("fallback", 80);
  state.put(limited);
  // Newer, merges /upload into the same host without the annotation, and loses its
  // conflicting "/" and default backend.
  Ingress other = ingress("default", "other",
                          {rule("a.example", {path_to("/upload", PathType::kPrefix, "svc", 80),
                                              path_to("/", PathType::kPrefix, "svc", 80)})},
                          "2024-01-02T00:00:00Z");
  other.spec.default_backend = service_backend("svc", 80);
  state.put(other);
  CompileResult r = compile(state, CompileOptions{});
  auto m = r.routes->match("a.example", "/x");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->source, "Ingress default/limited");
  EXPECT_EQ(m.route->max_body_bytes, 1024u * 1024);
  m = r.routes->match("a.example", "/upload/file");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->source, "Ingress default/other");
  EXPECT_EQ(m.route->max_body_bytes, std::nullopt);
  const routing::Route* def = r.routes->default_route();
  ASSERT_NE(def, nullptr);
  EXPECT_EQ(def->backend->name, "default/fallback:80");
  EXPECT_EQ(def->source, "Ingress default/limited");
  EXPECT_EQ(def->max_body_bytes, 1024u * 1024);

  // The default backend takes the limit of the Ingress that owns it.
  ClusterState only_default;
  add_service(only_default, "default", "fallback");
  Ingress d = ingress("default", "d", {});
  d.spec.default_backend = service_backend("fallback", 80);
  set_body_size(d, "0");
  only_default.put(d);
  r = compile(only_default, CompileOptions{});
  ASSERT_NE(r.routes->default_route(), nullptr);
  EXPECT_EQ(r.routes->default_route()->max_body_bytes, 0u);
}

// The text is also what tells a reload that something changed: a new limit must show.
TEST(CompileAnnotations, BodyLimitShowsInTheRouteTableText) {
  ClusterState state;
  add_service(state, "default", "svc");
  Ingress i =
      ingress("default", "up", {rule("a.example", {path_to("/", PathType::kPrefix, "svc", 80)})});
  set_body_size(i, "8k");
  i.spec.default_backend = service_backend("svc", 80);
  state.put(i);
  std::string text = format_route_table(*compile(state, CompileOptions{}).routes);
  EXPECT_EQ(text,
            "HOST       PATH  TYPE    BACKEND         ENDPOINTS\n"
            "a.example  /     Prefix  default/svc:80  10.0.0.1:8080 [max body: 8192 bytes]\n"
            "default backend: default/svc:80 10.0.0.1:8080 [max body: 8192 bytes]\n")
      << text;
  set_body_size(i, "0");
  state.put(i);
  text = format_route_table(*compile(state, CompileOptions{}).routes);
  EXPECT_NE(text.find("10.0.0.1:8080 [max body: none]\n"), std::string::npos) << text;
}

// ---- backend resolution ----

TEST(CompileBackends, NamedPortAndTargetPortByNameViaSlicePorts) {
  ClusterState state;
  state.put(service("default", "web",
                    {service_port("http", 8080, {9090, ""}),
                     service_port("http-alt", 8081, {std::nullopt, "alt"})}));
  state.put(slice(
      "default", "web-abc12", "web", {{"http", 9090}, {"http-alt", 9091}},
      {{{"10.0.0.5"}, true, true}, {{"10.0.0.6"}, false, true}, {{"10.0.0.7"}, false, false}}));
  state.put(ingress("default", "named",
                    {rule("named.example", {path_to("/", PathType::kPrefix, "web", "http-alt")})}));
  CompileResult r = compile(state, CompileOptions{});
  auto m = r.routes->match("named.example", "/");
  ASSERT_NE(m.backend, nullptr);
  EXPECT_EQ(m.backend->name, "default/web:http-alt");
  EXPECT_EQ(m.backend->port, "http-alt");
  ASSERT_EQ(m.backend->endpoints->endpoints.size(), 1u);
  EXPECT_EQ(m.backend->endpoints->endpoints[0].to_string(), "10.0.0.5:9091");
  EXPECT_TRUE(m.backend->endpoints->endpoints[0].ready);
  EXPECT_EQ(m.backend->problem, "");
  EXPECT_TRUE(r.diagnostics.empty()) << all_diags(r);
}

TEST(CompileBackends, PortByNumberUsesTheServicePortNameForTheSlice) {
  ClusterState state;
  // Unnamed single port: the slice port has no name (nil) and carries the target number.
  state.put(service("default", "single", {service_port("", 80, {})}));
  state.put(slice("default", "single-1", "single", {{std::nullopt, 80}},
                  {{{"10.0.0.9"}, std::nullopt, std::nullopt}}));
  // A slice port with the same NUMBER but another name must not be used.
  state.put(service("default", "two",
                    {service_port("a", 80, {8080, ""}), service_port("b", 81, {8080, ""})}));
  state.put(slice("default", "two-1", "two", {{"b", 8080}}, {{{"10.0.1.1"}, true, true}}));
  state.put(ingress("default", "i",
                    {rule("h.example", {path_to("/single", PathType::kPrefix, "single", 80),
                                        path_to("/a", PathType::kPrefix, "two", 80),
                                        path_to("/b", PathType::kPrefix, "two", 81)})}));
  CompileResult r = compile(state, CompileOptions{});
  auto single = r.routes->match("h.example", "/single").backend;
  ASSERT_NE(single, nullptr);
  ASSERT_EQ(single->endpoints->endpoints.size(), 1u);
  EXPECT_EQ(single->endpoints->endpoints[0].to_string(), "10.0.0.9:80");
  auto a = r.routes->match("h.example", "/a").backend;
  ASSERT_NE(a, nullptr);
  EXPECT_TRUE(a->endpoints->endpoints.empty());
  EXPECT_EQ(a->problem, "no endpoints for port \"a\"");
  auto b = r.routes->match("h.example", "/b").backend;
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->endpoints->endpoints.size(), 1u);
  EXPECT_EQ(b->endpoints->endpoints[0].to_string(), "10.0.1.1:8080");
}

TEST(CompileBackends, ServingEndpointsOnlyWhenNoneReady) {
  ClusterState state;
  state.put(service("default", "web", {service_port("http", 80, {8080, ""})}));
  state.put(slice("default", "web-1", "web", {{"http", 8080}},
                  {{{"10.0.0.6"}, false, true},
                   {{"10.0.0.7"}, false, false},
                   {{"10.0.0.8"}, false, std::nullopt}}));
  state.put(
      ingress("default", "i", {rule("h.example", {path_to("/", PathType::kPrefix, "web", 80)})}));
  CompileResult r = compile(state, CompileOptions{});
  auto b = r.routes->match("h.example", "/").backend;
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->endpoints->endpoints.size(), 1u);
  EXPECT_EQ(b->endpoints->endpoints[0].address, "10.0.0.6");
  EXPECT_FALSE(b->endpoints->endpoints[0].ready);

  // Nothing serving at all: an empty set with a reason.
  state.endpoint_slices.clear();
  state.put(slice("default", "web-1", "web", {{"http", 8080}}, {{{"10.0.0.7"}, false, false}}));
  r = compile(state, CompileOptions{});
  b = r.routes->match("h.example", "/").backend;
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(b->endpoints->endpoints.empty());
  EXPECT_EQ(b->problem, "no ready endpoints");
}

TEST(CompileBackends, Ipv6AndDedupeAndSortAcrossSlices) {
  ClusterState state;
  state.put(service("default", "web", {service_port("http", 80, {8080, ""})}));
  state.put(slice("default", "web-v4-b", "web", {{"http", 8080}},
                  {{{"10.0.0.10", "10.0.0.2"}, true, true}}));
  state.put(slice("default", "web-v4-a", "web", {{"http", 8080}},
                  {{{"10.0.0.2"}, true, true}, {{"not-an-ip"}, true, true}}));
  state.put(slice("default", "web-v6", "web", {{"http", 8080}},
                  {{{"FD00:0:0:0:0:0:0:1"}, true, true}}, "IPv6"));
  state.put(slice("default", "web-fqdn", "web", {{"http", 8080}},
                  {{{"pod.example.com"}, true, true}}, "FQDN"));
  state.put(
      ingress("default", "i", {rule("h.example", {path_to("/", PathType::kPrefix, "web", 80)})}));
  CompileResult r = compile(state, CompileOptions{});
  auto b = r.routes->match("h.example", "/").backend;
  ASSERT_NE(b, nullptr);
  std::vector<std::string> got;
  for (const Endpoint& e : b->endpoints->endpoints) {
    got.push_back(e.to_string());
  }
  EXPECT_EQ(got, (std::vector<std::string>{"10.0.0.2:8080", "10.0.0.10:8080", "[fd00::1]:8080"}));
  EXPECT_TRUE(b->endpoints->endpoints[2].ipv6);
  EXPECT_TRUE(has_diag(r, "EndpointSlice default/web-fqdn", "FQDN")) << all_diags(r);
  EXPECT_TRUE(has_diag(r, "EndpointSlice default/web-v4-a", "not-an-ip")) << all_diags(r);
}

TEST(CompileBackends, MissingServiceOrPortIsA503BackendWithAProblem) {
  ClusterState state;
  add_service(state, "default", "web");
  Service external = service("default", "ext", {service_port("http", 80)});
  external.type = "ExternalName";
  external.external_name = "example.org";
  state.put(external);
  state.put(ingress("default", "i",
                    {rule("h.example", {path_to("/missing", PathType::kPrefix, "nope", 80),
                                        path_to("/missing2", PathType::kExact, "nope", 80),
                                        path_to("/port", PathType::kPrefix, "web", 81),
                                        path_to("/named", PathType::kPrefix, "web", "grpc"),
                                        path_to("/ext", PathType::kPrefix, "ext", 80)})}));
  CompileResult r = compile(state, CompileOptions{});
  EXPECT_EQ(r.stats.routes, 5u);
  EXPECT_EQ(r.stats.rejected, 0u);
  auto missing = r.routes->match("h.example", "/missing").backend;
  ASSERT_NE(missing, nullptr);
  EXPECT_TRUE(missing->endpoints->endpoints.empty());
  EXPECT_EQ(missing->problem, "service not found");
  EXPECT_EQ(r.routes->match("h.example", "/port").backend->problem, "service has no port 81");
  EXPECT_EQ(r.routes->match("h.example", "/named").backend->problem,
            "service has no port named \"grpc\"");
  EXPECT_EQ(r.routes->match("h.example", "/ext").backend->problem,
            "ExternalName not supported yet");
  // One warning per (Ingress, backend), not per path.
  EXPECT_EQ(std::count_if(r.diagnostics.begin(), r.diagnostics.end(),
                          [](const Diagnostic& d) {
                            return d.message.find("\"nope\" not found") != std::string::npos;
                          }),
            1);
  EXPECT_TRUE(has_diag(r, "Ingress default/i", "has no port 81"));
  EXPECT_TRUE(has_diag(r, "Ingress default/i", "has no port named \"grpc\""));
  EXPECT_TRUE(has_diag(r, "Ingress default/i", "ExternalName"));
  for (const auto& d : r.diagnostics) {
    EXPECT_EQ(d.severity, Diagnostic::Severity::kWarning) << d.to_string();
    EXPECT_FALSE(d.rejected) << d.to_string();
  }
}

TEST(CompileBackends, ResourceBackendPathIsDropped) {
  ClusterState state;
  add_service(state, "default", "web");
  HttpIngressPath res;
  res.path = "/static";
  res.path_type = PathType::kPrefix;
  res.backend.resource = TypedLocalObjectReference{"k8s.example.com", "StorageBucket", "assets"};
  state.put(ingress("default", "i",
                    {rule("h.example", {res, path_to("/", PathType::kPrefix, "web", 80)})}));
  CompileResult r = compile(state, CompileOptions{});
  EXPECT_EQ(r.stats.routes, 1u);
  EXPECT_EQ(answer(r, "h.example", "/static"), "default/web:80");
  EXPECT_TRUE(has_diag(r, "Ingress default/i", "StorageBucket")) << all_diags(r);
}

TEST(CompileBackends, SameNameSharesOneBackendAndPortsShareEndpointSets) {
  ClusterState state;
  add_service(state, "default", "web");
  state.put(
      ingress("default", "a", {rule("a.example", {path_to("/", PathType::kPrefix, "web", 80)})}));
  state.put(ingress("default", "b",
                    {rule("b.example", {path_to("/", PathType::kPrefix, "web", 80),
                                        path_to("/n", PathType::kPrefix, "web", "http")})}));
  CompileResult r = compile(state, CompileOptions{});
  auto a = r.routes->match("a.example", "/").backend;
  auto b = r.routes->match("b.example", "/").backend;
  auto n = r.routes->match("b.example", "/n").backend;
  EXPECT_EQ(a, b);
  EXPECT_NE(a, n);
  EXPECT_EQ(n->name, "default/web:http");
  EXPECT_EQ(a->endpoints, n->endpoints);  // one EndpointSet per Service port
  EXPECT_EQ(r.routes->backends().size(), 2u);
}

// ---- rejection ----

TEST(CompileReject, BadIngressIsRejectedWholeAndOthersServe) {
  ClusterState state;
  add_service(state, "default", "web");
  Ingress bad = ingress("default", "bad",
                        {rule("bad.example", {path_to("/ok", PathType::kPrefix, "web", 80),
                                              path_to("relative", PathType::kPrefix, "web", 80),
                                              path_to("/a b", PathType::kExact, "web", 80)})});
  bad.spec.default_backend = service_backend("web", 80);
  bad.spec.tls.push_back(IngressTls{{"bad.example"}, "whatever"});
  state.put(bad);
  state.put(ingress("default", "bad-host",
                    {rule("not_a_host!", {path_to("/", PathType::kPrefix, "web", 80)})}));
  state.put(ingress("default", "ip-host",
                    {rule("10.1.2.3", {path_to("/", PathType::kPrefix, "web", 80)})}));
  state.put(ingress("default", "dots",
                    {rule("d.example", {path_to("/a/../b", PathType::kPrefix, "web", 80)})}));
  state.put(ingress("default", "good",
                    {rule("good.example", {path_to("/", PathType::kPrefix, "web", 80)})}));
  CompileResult r = compile(state, CompileOptions{});
  EXPECT_EQ(answer(r, "good.example", "/"), "default/web:80");
  EXPECT_EQ(answer(r, "bad.example", "/ok"), "");
  EXPECT_EQ(r.routes->default_backend(), nullptr);
  EXPECT_TRUE(r.certs->hosts().empty());
  EXPECT_EQ(r.stats.rejected, 4u);
  EXPECT_EQ(r.stats.ingresses, 5u);
  EXPECT_EQ(r.stats.routes, 1u);
  EXPECT_TRUE(has_diag(r, "Ingress default/bad", "absolute path", true)) << all_diags(r);
  EXPECT_TRUE(has_diag(r, "Ingress default/bad", "byte 0x20", true)) << all_diags(r);
  EXPECT_TRUE(has_diag(r, "Ingress default/bad-host", "DNS name", true)) << all_diags(r);
  EXPECT_TRUE(has_diag(r, "Ingress default/ip-host", "not an IP address", true)) << all_diags(r);
  EXPECT_TRUE(has_diag(r, "Ingress default/dots", "'/../'", true)) << all_diags(r);
  for (const auto& d : r.diagnostics) {
    if (d.rejected) {
      EXPECT_EQ(d.severity, Diagnostic::Severity::kError);
    }
  }
}

TEST(CompileReject, ImplementationSpecificIsLenient) {
  ClusterState state;
  add_service(state, "default", "web");
  state.put(ingress("default", "regex",
                    {rule("h.example", {path_to("/api(/|$)(.*)", PathType::kImplementationSpecific,
                                                "web", 80)})}));
  CompileResult r = compile(state, CompileOptions{});
  EXPECT_EQ(r.stats.rejected, 0u);
  EXPECT_EQ(r.stats.routes, 1u);
  EXPECT_TRUE(has_diag(r, "Ingress default/regex", "regular expression")) << all_diags(r);
}

TEST(CompileReject, PercentEscapesOfUnreservedCharactersAreDecoded) {
  ClusterState state;
  add_service(state, "default", "web");
  state.put(
      ingress("default", "i",
              {rule("h.example", {path_to("/%7Euser/caf%c3%a9", PathType::kExact, "web", 80)})}));
  CompileResult r = compile(state, CompileOptions{});
  EXPECT_EQ(answer(r, "h.example", "/~user/caf%C3%A9"), "default/web:80");
}

// ---- TLS ----
//
// Certificates are made at test time (tls/generate.h) and time is an input, so "expired"
// and "not yet valid" are exact. Hosts use .example (RFC 2606).

using std::chrono::days;
using std::chrono::hours;

const tls::TimePoint kNow = std::chrono::sys_days{std::chrono::year{2026} / 3 / 1};

// One CA for every test certificate (key generation is the slow part).
const tls::CertifiedKey& test_ca() {
  static const tls::CertifiedKey* ca = [] {
    auto made = tls::create_ca(kNow - days(365));
    EXPECT_TRUE(made.ok()) << made.error().message;
    return new tls::CertifiedKey(std::move(made).value());
  }();
  return *ca;
}

struct Pem {
  std::string crt;
  std::string key;
};

// A leaf for `hosts`, valid from an hour before `issued` for `valid_days`.
Pem leaf(const std::vector<std::string>& hosts, tls::TimePoint issued = kNow - days(1),
         int valid_days = 90) {
  auto made = tls::issue_certificate(test_ca(), hosts, issued, valid_days);
  EXPECT_TRUE(made.ok()) << made.error().message;
  return Pem{made->chain_pem(), made->key_pem()};
}

Secret tls_secret(std::string ns, std::string name, const Pem& pem,
                  std::string type = "kubernetes.io/tls") {
  Secret s;
  s.metadata.namespace_ = std::move(ns);
  s.metadata.name = std::move(name);
  s.type = std::move(type);
  s.data = {{"tls.crt", pem.crt}, {"tls.key", pem.key}};
  return s;
}

// What `lintel serve` passes: a default certificate on a process-wide ticket ring.
std::shared_ptr<const tls::ServerContext> default_context() {
  static const auto context = [] {
    auto cert = tls::generate_default_certificate(kNow - days(1));
    EXPECT_TRUE(cert.ok()) << cert.error().message;
    auto made = tls::ServerContext::create(std::move(cert).value(),
                                           tls::ContextOptions{tls::TicketKeyRing::generate(kNow)});
    EXPECT_TRUE(made.ok()) << made.error().message;
    return std::move(made).value();
  }();
  return context;
}

CompileOptions tls_options() {
  CompileOptions options;
  options.now = kNow;
  options.default_context = default_context();
  return options;
}

// An Ingress with one "/" rule per host, all to Service "web" of its namespace.
Ingress web_ingress(std::string ns, std::string name, const std::vector<std::string>& hosts,
                    std::string created = "2026-01-01T00:00:00Z") {
  std::vector<IngressRule> rules;
  for (const std::string& host : hosts) {
    rules.push_back(rule(host, {path_to("/", PathType::kPrefix, "web", 80)}));
  }
  return ingress(std::move(ns), std::move(name), std::move(rules), std::move(created));
}

// The SANs of the certificate a handshake with this SNI would get ("" for none).
std::string served(const CompileResult& r, std::string_view sni) {
  const tls::ServerContext* context = r.certs->select(sni).context;
  if (context == nullptr) {
    return "";
  }
  if (context == r.certs->default_context().get()) {
    return "default";
  }
  std::string sans;
  for (const std::string& name : context->certificate().dns_names()) {
    sans += (sans.empty() ? "" : ",") + name;
  }
  return sans;
}

const routing::Route* route_of(const CompileResult& r, std::string_view host,
                               std::string_view path = "/") {
  return r.routes->match(host, path).route;
}

TEST(CompileTls, GoodSecretServesItsHostsAndFlagsTheirRoutes) {
  ClusterState state;
  add_service(state, "shop", "web");
  state.put(tls_secret("shop", "shop-tls", leaf({"shop.example", "*.shop.example"})));
  Ingress i = web_ingress("shop", "shop", {"shop.example", "a.shop.example", "plain.example"});
  i.spec.tls.push_back(IngressTls{{"Shop.Example", "*.shop.example"}, "shop-tls"});
  state.put(i);
  CompileResult r = compile(state, tls_options());
  EXPECT_TRUE(r.diagnostics.empty()) << all_diags(r);

  EXPECT_EQ(r.certs->hosts(), (std::set<std::string>{"*.shop.example", "shop.example"}));
  ASSERT_EQ(r.certs->certificates().size(), 2u);
  EXPECT_EQ(r.certs->certificates().at("shop.example"),
            r.certs->certificates().at("*.shop.example"));  // one context per Secret
  EXPECT_EQ(served(r, "shop.example"), "shop.example,*.shop.example");
  EXPECT_EQ(r.certs->select("SHOP.example").match, tls::SniMatch::kExact);
  EXPECT_EQ(served(r, "b.shop.example"), "shop.example,*.shop.example");
  EXPECT_EQ(r.certs->select("b.shop.example").match, tls::SniMatch::kWildcard);
  EXPECT_EQ(served(r, "plain.example"), "default");
  EXPECT_EQ(served(r, ""), "default");

  ASSERT_NE(route_of(r, "shop.example"), nullptr);
  EXPECT_TRUE(route_of(r, "shop.example")->tls);
  EXPECT_TRUE(route_of(r, "shop.example")->https_redirect);
  // a.shop.example is not listed but the wildcard TLS host covers it (SNI picks it too).
  EXPECT_TRUE(route_of(r, "a.shop.example")->tls);
  EXPECT_FALSE(route_of(r, "plain.example")->tls);
  EXPECT_FALSE(route_of(r, "plain.example")->https_redirect);
}

// Every way a Secret can be unusable: a diagnostic naming the Ingress, the Secret and the
// reason; the host stays a TLS host on the default certificate; the Ingress's routes and
// its other TLS host are unaffected.
TEST(CompileTls, UnusableSecretQuarantinesOnlyItsHost) {
  const Pem good = leaf({"bad.example"});
  const Pem other = leaf({"other.example"});
  struct Case {
    const char* name;
    std::function<void(ClusterState&)> setup;  // puts (or not) Secret "bad-tls"
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"missing", [](ClusterState&) {}, "not found in namespace \"shop\""},
      {"other namespace", [&](ClusterState& s) { s.put(tls_secret("elsewhere", "bad-tls", good)); },
       "not found in namespace \"shop\""},
      {"wrong type", [&](ClusterState& s) { s.put(tls_secret("shop", "bad-tls", good, "Opaque")); },
       "is of type \"Opaque\", not kubernetes.io/tls"},
      {"no key",
       [&](ClusterState& s) {
         Secret secret = tls_secret("shop", "bad-tls", good);
         secret.data.erase("tls.key");
         s.put(secret);
       },
       "has no data tls.key"},
      {"unparsable",
       [](ClusterState& s) {
         s.put(tls_secret("shop", "bad-tls", Pem{"not a PEM", "nor this"}));
       },
       "tls.crt"},
      {"mismatched key",
       [&](ClusterState& s) {
         s.put(tls_secret("shop", "bad-tls", Pem{good.crt, other.key}));
       },
       "tls.key does not match the certificate"},
      {"expired",
       [](ClusterState& s) {
         s.put(tls_secret("shop", "bad-tls", leaf({"bad.example"}, kNow - days(100), 30)));
       },
       "certificate expired on"},
      {"not yet valid",
       [](ClusterState& s) {
         s.put(tls_secret("shop", "bad-tls", leaf({"bad.example"}, kNow + days(2))));
       },
       "not valid before"},
      {"host not covered",
       [](ClusterState& s) { s.put(tls_secret("shop", "bad-tls", leaf({"else.example"}))); },
       "does not cover host bad.example"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    for (bool with_default : {true, false}) {
      SCOPED_TRACE(with_default ? "with a default context" : "without a default context");
      ClusterState state;
      add_service(state, "shop", "web");
      state.put(tls_secret("shop", "other-tls", other));
      c.setup(state);
      Ingress i = web_ingress("shop", "shop", {"bad.example", "other.example", "plain.example"});
      i.spec.tls.push_back(IngressTls{{"bad.example"}, "bad-tls"});
      i.spec.tls.push_back(IngressTls{{"other.example"}, "other-tls"});
      state.put(i);
      CompileOptions options = tls_options();
      if (!with_default) {
        options.default_context = nullptr;
      }
      CompileResult r = compile(state, options);

      ASSERT_EQ(r.diagnostics.size(), 1u) << all_diags(r);
      const Diagnostic& d = r.diagnostics.front();
      EXPECT_EQ(d.object, "Ingress shop/shop");
      EXPECT_EQ(d.severity, Diagnostic::Severity::kWarning);
      EXPECT_FALSE(d.rejected);
      EXPECT_NE(d.message.find("Secret \"bad-tls\""), std::string::npos) << d.message;
      EXPECT_NE(d.message.find(c.reason), std::string::npos) << d.message;
      EXPECT_NE(d.message.find("bad.example is served with the default certificate"),
                std::string::npos)
          << d.message;

      EXPECT_EQ(r.certs->hosts(), (std::set<std::string>{"bad.example", "other.example"}));
      EXPECT_EQ(answer(r, "bad.example", "/"), "shop/web:80");
      EXPECT_TRUE(route_of(r, "bad.example")->tls);
      EXPECT_TRUE(route_of(r, "bad.example")->https_redirect);
      EXPECT_TRUE(route_of(r, "other.example")->tls);
      EXPECT_FALSE(route_of(r, "plain.example")->tls);
      if (with_default) {
        EXPECT_EQ(served(r, "bad.example"), "default");
        EXPECT_EQ(served(r, "other.example"), "other.example");
        EXPECT_EQ(r.certs->certificates().size(), 1u);
      } else {
        EXPECT_EQ(served(r, "other.example"), "");  // no contexts without a default
        EXPECT_TRUE(r.certs->certificates().empty());
      }
    }
  }
}

TEST(CompileTls, ASecretOfAnotherNamespaceIsNeverUsed) {
  ClusterState state;
  add_service(state, "team-a", "web");
  state.put(tls_secret("team-b", "shared-tls", leaf({"a.example"})));
  Ingress i = web_ingress("team-a", "a", {"a.example"});
  i.spec.tls.push_back(IngressTls{{"a.example"}, "shared-tls"});
  state.put(i);
  CompileResult r = compile(state, tls_options());
  EXPECT_EQ(served(r, "a.example"), "default");
  EXPECT_TRUE(has_diag(r, "Ingress team-a/a",
                       "Secret \"shared-tls\": not found in namespace "
                       "\"team-a\""))
      << all_diags(r);
  // The other namespace is not mentioned: its contents are not the author's to know.
  EXPECT_EQ(all_diags(r).find("team-b"), std::string::npos) << all_diags(r);
}

TEST(CompileTls, ConflictingCertificatesForAHostOlderIngressWins) {
  ClusterState state;
  add_service(state, "old", "web");
  add_service(state, "new", "web");
  state.put(tls_secret("old", "cert", leaf({"shared.example"})));
  state.put(tls_secret("new", "cert", leaf({"shared.example", "new.example"})));
  Ingress older = web_ingress("old", "site", {"shared.example"}, "2025-01-01T00:00:00Z");
  older.spec.tls.push_back(IngressTls{{"shared.example"}, "cert"});
  Ingress newer = web_ingress("new", "site", {"new.example"}, "2025-06-01T00:00:00Z");
  newer.spec.tls.push_back(IngressTls{{"shared.example", "new.example"}, "cert"});
  state.put(newer);
  state.put(older);
  CompileResult r = compile(state, tls_options());
  EXPECT_EQ(served(r, "shared.example"), "shared.example");
  EXPECT_EQ(served(r, "new.example"), "shared.example,new.example");
  ASSERT_EQ(r.diagnostics.size(), 1u) << all_diags(r);
  EXPECT_TRUE(has_diag(r, "Ingress new/site",
                       "host shared.example already has the certificate of Secret \"old/cert\" "
                       "from Ingress old/site, which is older and wins; Secret \"cert\" is not "
                       "used for it"))
      << all_diags(r);
  EXPECT_EQ(r.diagnostics.front().field, "spec.tls[0].hosts[0]");
}

TEST(CompileTls, TheSameSecretFromTwoIngressesIsNoConflict) {
  ClusterState state;
  add_service(state, "shop", "web");
  state.put(tls_secret("shop", "shop-tls", leaf({"shop.example"})));
  for (const char* name : {"front", "api"}) {
    Ingress i = web_ingress("shop", name, {"shop.example"});
    i.spec.tls.push_back(IngressTls{{"shop.example"}, "shop-tls"});
    state.put(i);
  }
  CompileResult r = compile(state, tls_options());
  EXPECT_EQ(served(r, "shop.example"), "shop.example");
  // The only diagnostic is the path conflict, not the certificate.
  for (const Diagnostic& d : r.diagnostics) {
    EXPECT_EQ(d.message.find("certificate"), std::string::npos) << d.to_string();
  }
}

TEST(CompileTls, EntriesWithoutSecretNameOrHosts) {
  ClusterState state;
  add_service(state, "default", "web");
  state.put(tls_secret("default", "orphan-tls", leaf({"orphan.example"})));
  Ingress i = web_ingress("default", "i", {"nosecret.example", "orphan.example"});
  i.spec.tls.push_back(IngressTls{{"nosecret.example"}, ""});  // the default certificate
  i.spec.tls.push_back(IngressTls{{}, "orphan-tls"});
  state.put(i);
  CompileResult r = compile(state, tls_options());
  EXPECT_EQ(r.certs->hosts(), (std::set<std::string>{"nosecret.example"}));
  EXPECT_EQ(served(r, "nosecret.example"), "default");
  EXPECT_TRUE(route_of(r, "nosecret.example")->https_redirect);
  EXPECT_FALSE(route_of(r, "orphan.example")->tls);
  ASSERT_EQ(r.diagnostics.size(), 1u) << all_diags(r);
  EXPECT_EQ(r.diagnostics.front().field, "spec.tls[1].hosts");
  EXPECT_TRUE(has_diag(r, "Ingress default/i", "lists no hosts, so Secret \"orphan-tls\""))
      << all_diags(r);
}

TEST(CompileTls, PreviousStoreContextsAreReused) {
  ClusterState state;
  add_service(state, "shop", "web");
  state.put(tls_secret("shop", "a-tls", leaf({"a.example"})));
  state.put(tls_secret("shop", "b-tls", leaf({"b.example"})));
  Ingress i = web_ingress("shop", "shop", {"a.example", "b.example"});
  i.spec.tls.push_back(IngressTls{{"a.example"}, "a-tls"});
  i.spec.tls.push_back(IngressTls{{"b.example"}, "b-tls"});
  state.put(i);
  CompileOptions options = tls_options();
  CompileResult first = compile(state, options);
  options.previous_certs = first.certs;

  CompileResult same = compile(state, options);
  EXPECT_EQ(same.certs->certificates().at("a.example"),
            first.certs->certificates().at("a.example"));
  EXPECT_TRUE(same.certs->equivalent(*first.certs));

  // Rotate one Secret: its host gets a new context, the other keeps the old one.
  state.put(tls_secret("shop", "b-tls", leaf({"b.example"})));
  CompileResult rotated = compile(state, options);
  EXPECT_EQ(rotated.certs->certificates().at("a.example"),
            first.certs->certificates().at("a.example"));
  EXPECT_NE(rotated.certs->certificates().at("b.example"),
            first.certs->certificates().at("b.example"));
  EXPECT_FALSE(rotated.certs->equivalent(*first.certs));
}

TEST(CompileTls, ValidityIsCheckedAtTheGivenTime) {
  ClusterState state;
  add_service(state, "default", "web");
  state.put(tls_secret("default", "t", leaf({"t.example"}, kNow, 10)));
  Ingress i = web_ingress("default", "i", {"t.example"});
  i.spec.tls.push_back(IngressTls{{"t.example"}, "t"});
  state.put(i);
  CompileOptions options = tls_options();
  EXPECT_EQ(served(compile(state, options), "t.example"), "t.example");
  options.now = kNow + days(11);
  CompileResult later = compile(state, options);
  EXPECT_EQ(served(later, "t.example"), "default");
  EXPECT_TRUE(has_diag(later, "Ingress default/i", "certificate expired on")) << all_diags(later);
}

TEST(CompileTls, RedirectAnnotations) {
  struct Case {
    const char* name;
    std::map<std::string, std::string> annotations;
    bool tls_redirect;    // https_redirect of a TLS host's route
    bool plain_redirect;  // https_redirect of a host without TLS
    const char* warning;  // "" = none
  };
  const std::string ssl = "nginx.ingress.kubernetes.io/ssl-redirect";
  const std::string force = "nginx.ingress.kubernetes.io/force-ssl-redirect";
  const std::vector<Case> cases = {
      {"defaults", {}, true, false, ""},
      {"ssl-redirect false", {{ssl, "false"}}, false, false, ""},
      {"ssl-redirect False", {{ssl, "False"}}, false, false, ""},
      {"ssl-redirect true", {{ssl, "true"}}, true, false, ""},
      {"force", {{force, "true"}}, true, true, ""},
      {"force wins over ssl-redirect false", {{ssl, "false"}, {force, "true"}}, true, true, ""},
      {"force 1", {{force, "1"}}, true, true, ""},
      {"bad ssl-redirect", {{ssl, "nope"}}, true, false, "ssl-redirect: \"nope\" is not a boolean"},
      {"bad force", {{force, "yes"}}, true, false, "force-ssl-redirect: \"yes\" is not a boolean"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ClusterState state;
    add_service(state, "default", "web");
    state.put(tls_secret("default", "s", leaf({"secure.example"})));
    Ingress i = web_ingress("default", "i", {"secure.example", "plain.example"});
    i.spec.tls.push_back(IngressTls{{"secure.example"}, "s"});
    i.spec.default_backend = service_backend("web", 80);
    i.metadata.annotations = c.annotations;
    state.put(i);
    CompileResult r = compile(state, tls_options());
    EXPECT_TRUE(route_of(r, "secure.example")->tls);
    EXPECT_EQ(route_of(r, "secure.example")->https_redirect, c.tls_redirect);
    EXPECT_FALSE(route_of(r, "plain.example")->tls);
    EXPECT_EQ(route_of(r, "plain.example")->https_redirect, c.plain_redirect);
    ASSERT_NE(r.routes->default_route(), nullptr);
    EXPECT_FALSE(r.routes->default_route()->tls);
    EXPECT_EQ(r.routes->default_route()->https_redirect, c.plain_redirect);
    if (*c.warning == '\0') {
      EXPECT_TRUE(r.diagnostics.empty()) << all_diags(r);
    } else {
      ASSERT_EQ(r.diagnostics.size(), 1u) << all_diags(r);
      EXPECT_TRUE(has_diag(r, "Ingress default/i", c.warning)) << all_diags(r);
      EXPECT_FALSE(r.diagnostics.front().rejected);
    }
  }
}

// TLS is per host: another Ingress's tls entry makes this Ingress's routes for the host
// TLS routes too; the redirect follows the annotations of the Ingress owning each route.
TEST(CompileTls, TlsIsPerHostAcrossIngressesRedirectPerOwner) {
  ClusterState state;
  add_service(state, "default", "web");
  state.put(tls_secret("default", "s", leaf({"shop.example"})));
  Ingress front = web_ingress("default", "front", {"shop.example"});
  front.spec.tls.push_back(IngressTls{{"shop.example"}, "s"});
  state.put(front);
  Ingress hooks = ingress("default", "hooks",
                          {rule("shop.example", {path_to("/hooks", PathType::kPrefix, "web", 80)})},
                          "2026-01-02T00:00:00Z");
  hooks.metadata.annotations["nginx.ingress.kubernetes.io/ssl-redirect"] = "false";
  state.put(hooks);
  CompileResult r = compile(state, tls_options());
  EXPECT_TRUE(route_of(r, "shop.example", "/")->tls);
  EXPECT_TRUE(route_of(r, "shop.example", "/")->https_redirect);
  EXPECT_TRUE(route_of(r, "shop.example", "/hooks")->tls);
  EXPECT_FALSE(route_of(r, "shop.example", "/hooks")->https_redirect);
}

TEST(CompileTls, RejectedIngressContributesNoTlsHost) {
  ClusterState state;
  add_service(state, "default", "web");
  Ingress bad = web_ingress("default", "bad", {"bad.example"});
  bad.spec.rules[0].paths[0].path = "relative";
  bad.spec.tls.push_back(IngressTls{{"bad.example"}, "whatever"});
  state.put(bad);
  CompileResult r = compile(state, tls_options());
  EXPECT_TRUE(r.certs->hosts().empty());
  EXPECT_FALSE(has_diag(r, "Ingress default/bad", "whatever")) << all_diags(r);
}

TEST(CompileTls, RouteTableShowsTlsAndRedirects) {
  ClusterState state;
  add_service(state, "default", "web");
  state.put(tls_secret("default", "s", leaf({"a.example", "b.example"})));
  Ingress i = web_ingress("default", "i", {"a.example"});
  i.spec.tls.push_back(IngressTls{{"a.example"}, "s"});
  state.put(i);
  Ingress j = web_ingress("default", "j", {"b.example"}, "2026-01-02T00:00:00Z");
  j.spec.tls.push_back(IngressTls{{"b.example"}, "s"});
  j.metadata.annotations["nginx.ingress.kubernetes.io/ssl-redirect"] = "false";
  j.metadata.annotations["nginx.ingress.kubernetes.io/proxy-body-size"] = "1k";
  state.put(j);
  Ingress k = web_ingress("default", "k", {"c.example"}, "2026-01-03T00:00:00Z");
  k.metadata.annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] = "true";
  state.put(k);
  std::string text = format_route_table(*compile(state, tls_options()).routes);
  EXPECT_EQ(text,
            "HOST       PATH  TYPE    BACKEND         ENDPOINTS\n"
            "a.example  /     Prefix  default/web:80  10.0.0.1:8080 [tls, https redirect]\n"
            "b.example  /     Prefix  default/web:80  10.0.0.1:8080 [tls, no https redirect, max "
            "body: 1024 bytes]\n"
            "c.example  /     Prefix  default/web:80  10.0.0.1:8080 [https redirect]\n"
            "default backend: none (404)\n")
      << text;
}

// ---- output ----

ClusterState busy_state() {
  ClusterState state;
  add_service(state, "default", "web", "10.0.0.2");
  add_service(state, "shop", "cart", "10.0.3.1");
  state.put(slice("default", "web-more", "web", {{"http", 8080}}, {{{"10.0.0.1"}, true, true}}));
  state.put(ingress("default", "web",
                    {rule("www.example", {path_to("/", PathType::kPrefix, "web", 80),
                                          path_to("/login", PathType::kExact, "web", 80)}),
                     rule("*.example", {path_to("/", PathType::kPrefix, "web", 80)})},
                    "2024-01-01T00:00:00Z"));
  Ingress shop = ingress("shop", "cart",
                         {rule("www.example", {path_to("/cart", PathType::kPrefix, "cart", 80),
                                               path_to("/", PathType::kPrefix, "missing", 80)}),
                          rule("", {path_to("/health", PathType::kExact, "cart", 80)})},
                         "2024-01-02T00:00:00Z");
  shop.spec.default_backend = service_backend("cart", 80);
  state.put(shop);
  return state;
}

TEST(CompileOutput, FormatRouteTable) {
  CompileResult r = compile(busy_state(), CompileOptions{});
  std::string text = format_route_table(*r.routes);
  EXPECT_EQ(text,
            "HOST         PATH     TYPE    BACKEND         ENDPOINTS\n"
            "www.example  /login   Exact   default/web:80  10.0.0.1:8080,10.0.0.2:8080\n"
            "www.example  /cart    Prefix  shop/cart:80    10.0.3.1:8080\n"
            "www.example  /        Prefix  default/web:80  10.0.0.1:8080,10.0.0.2:8080\n"
            "*.example    /        Prefix  default/web:80  10.0.0.1:8080,10.0.0.2:8080\n"
            "*            /health  Exact   shop/cart:80    10.0.3.1:8080\n"
            "default backend: shop/cart:80 10.0.3.1:8080\n")
      << text;
}

TEST(CompileOutput, DeterministicAndSortedDiagnostics) {
  ClusterState state = busy_state();
  CompileResult a = compile(state, CompileOptions{});
  CompileResult b = compile(state, CompileOptions{});
  EXPECT_EQ(format_route_table(*a.routes), format_route_table(*b.routes));
  ASSERT_EQ(a.diagnostics.size(), b.diagnostics.size());
  ASSERT_FALSE(a.diagnostics.empty());
  for (size_t i = 0; i < a.diagnostics.size(); ++i) {
    EXPECT_EQ(a.diagnostics[i].to_string(), b.diagnostics[i].to_string());
  }
  EXPECT_TRUE(std::is_sorted(
      a.diagnostics.begin(), a.diagnostics.end(), [](const Diagnostic& x, const Diagnostic& y) {
        return std::tie(x.object, x.field, x.message) < std::tie(y.object, y.field, y.message);
      }));
  EXPECT_EQ(a.stats.hosts, 3u);
  EXPECT_EQ(a.stats.routes, 5u);
  EXPECT_EQ(a.stats.ingresses, 2u);
  // shop/cart's "/" lost to the older default/web "/" on www.example.
  EXPECT_TRUE(has_diag(a, "Ingress shop/cart", "Ingress default/web")) << all_diags(a);
}

TEST(CompileOutput, EmptyStateIsAnEmptyTable) {
  CompileResult r = compile(ClusterState{}, CompileOptions{});
  ASSERT_NE(r.routes, nullptr);
  ASSERT_NE(r.certs, nullptr);
  EXPECT_EQ(r.stats.routes, 0u);
  EXPECT_EQ(format_route_table(*r.routes),
            "HOST  PATH  TYPE  BACKEND  ENDPOINTS\ndefault backend: none (404)\n");
}

}  // namespace
}  // namespace lintel::ingress
