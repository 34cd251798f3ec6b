// Tests of the pure parts of Kubernetes Events (ingress/kube_events.h): diagnostic reasons,
// causes from the compile output, Event names and bodies, and the EventPlanner's state
// machine with time as an input (no server, no clock).

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "ingress/compiler.h"
#include "ingress/decode.h"
#include "ingress/kube_cache.h"
#include "ingress/kube_events.h"
#include "tls/generate.h"

namespace lintel::ingress {
namespace {

using nlohmann::json;
using routing::Diagnostic;
using std::chrono::days;
using std::chrono::milliseconds;
using std::chrono::seconds;

// ---- objects ----

const tls::TimePoint kNow = std::chrono::sys_days{std::chrono::year{2026} / 3 / 1};

HttpIngressPath path_to(std::string path, PathType type, std::string service, int port) {
  HttpIngressPath p;
  p.path = std::move(path);
  p.path_type = type;
  p.backend.service = IngressServiceBackend{std::move(service), {port, ""}};
  return p;
}

Ingress ingress(std::string ns, std::string name, std::vector<IngressRule> rules,
                std::string created = "2026-01-01T00:00:00Z") {
  Ingress i;
  i.metadata.namespace_ = std::move(ns);
  i.metadata.name = std::move(name);
  i.metadata.creation_timestamp = std::move(created);
  i.metadata.uid = "uid-" + i.metadata.name;
  i.metadata.resource_version = "41";
  i.spec.rules = std::move(rules);
  return i;
}

// "host" "/" → Service `service`:80.
Ingress simple(std::string ns, std::string name, std::string host, std::string service = "web",
               std::string created = "2026-01-01T00:00:00Z") {
  return ingress(std::move(ns), std::move(name),
                 {IngressRule{std::move(host), {path_to("/", PathType::kPrefix, service, 80)}}},
                 std::move(created));
}

void add_service(ClusterState& state, const std::string& ns, const std::string& name,
                 std::string protocol = "TCP", std::string type = "ClusterIP") {
  Service s;
  s.metadata.namespace_ = ns;
  s.metadata.name = name;
  s.type = std::move(type);
  s.external_name = s.type == "ExternalName" ? "db.example" : "";
  ServicePort port;
  port.name = "http";
  port.port = 80;
  port.protocol = std::move(protocol);
  s.ports.push_back(port);
  state.put(s);
}

Secret tls_secret(std::string ns, std::string name, std::vector<std::string> hosts,
                  tls::TimePoint issued = kNow - days(1)) {
  static const tls::CertifiedKey* ca = [] {
    auto made = tls::create_ca(kNow - days(365));
    EXPECT_TRUE(made.ok()) << made.error().message;
    return new tls::CertifiedKey(std::move(made).value());
  }();
  auto leaf = tls::issue_certificate(*ca, hosts, issued, 90);
  EXPECT_TRUE(leaf.ok()) << leaf.error().message;
  Secret s;
  s.metadata.namespace_ = std::move(ns);
  s.metadata.name = std::move(name);
  s.type = "kubernetes.io/tls";
  s.data = {{"tls.crt", leaf->chain_pem()}, {"tls.key", leaf->key_pem()}};
  return s;
}

CompileOptions options_at_now() {
  CompileOptions options;
  options.now = kNow;
  return options;
}

std::string all_diags(const std::vector<Diagnostic>& diags) {
  std::string out;
  for (const auto& d : diags) {
    out += "[" + d.reason + "] " + d.to_string() + "\n";
  }
  return out;
}

std::set<std::string> reasons_of(const std::vector<Diagnostic>& diags, const std::string& object) {
  std::set<std::string> out;
  for (const auto& d : diags) {
    if (d.object == object) {
      out.insert(d.reason);
    }
  }
  return out;
}

// ---- reasons ----

// One state per reason the compiler gives, and the reasons its Ingress "Ingress t/x" gets.
struct ReasonCase {
  const char* name;
  std::function<void(ClusterState&)> build;
  std::set<std::string> expect;
};

TEST(DiagnosticReasons, EveryCompilerDiagnosticHasTheRightReason) {
  const std::vector<ReasonCase> cases = {
      {"rejected (bad host)",
       [](ClusterState& s) { s.put(simple("t", "x", "Bad_Host.example")); },
       {"Rejected"}},
      {"service not found",
       [](ClusterState& s) { s.put(simple("t", "x", "a.example")); },
       {"ServiceNotFound"}},
      {"service port not found",
       [](ClusterState& s) {
         s.put(simple("t", "x", "a.example"));
         Service svc;
         svc.metadata.namespace_ = "t";
         svc.metadata.name = "web";
         svc.ports.push_back(ServicePort{"other", "TCP", 81, {}});
         s.put(svc);
       },
       {"ServicePortNotFound"}},
      {"service port UDP",
       [](ClusterState& s) {
         s.put(simple("t", "x", "a.example"));
         add_service(s, "t", "web", "UDP");
       },
       {"ServicePortUnsupported"}},
      {"ExternalName",
       [](ClusterState& s) {
         s.put(simple("t", "x", "a.example"));
         add_service(s, "t", "web", "TCP", "ExternalName");
       },
       {"ServiceTypeUnsupported"}},
      {"path conflict in one Ingress",
       [](ClusterState& s) {
         add_service(s, "t", "web");
         s.put(ingress("t", "x",
                       {IngressRule{"a.example",
                                    {path_to("/a", PathType::kPrefix, "web", 80),
                                     path_to("/a", PathType::kPrefix, "web", 80)}}}));
       },
       {"PathConflict"}},
      {"regex-like ImplementationSpecific path",
       [](ClusterState& s) {
         add_service(s, "t", "web");
         s.put(ingress(
             "t", "x",
             {IngressRule{"a.example",
                          {path_to("/api/(.*)", PathType::kImplementationSpecific, "web", 80)}}}));
       },
       {"PathRegexNotSupported"}},
      {"resource backend",
       [](ClusterState& s) {
         Ingress i = simple("t", "x", "a.example");
         i.spec.rules[0].paths[0].backend.service.reset();
         i.spec.rules[0].paths[0].backend.resource =
             TypedLocalObjectReference{"k8s.example", "Bucket", "b"};
         s.put(i);
       },
       {"ResourceBackendUnsupported"}},
      {"second defaultBackend",
       [](ClusterState& s) {
         add_service(s, "t", "web");
         Ingress old = simple("t", "old", "a.example", "web", "2025-01-01T00:00:00Z");
         IngressBackend backend;
         backend.service = IngressServiceBackend{"web", {80, ""}};
         old.spec.default_backend = backend;
         Ingress x = simple("t", "x", "b.example");
         x.spec.default_backend = backend;
         s.put(old);
         s.put(x);
       },
       {"DefaultBackendConflict"}},
      {"bad annotations",
       [](ClusterState& s) {
         add_service(s, "t", "web");
         Ingress i = simple("t", "x", "a.example");
         i.metadata.annotations["nginx.ingress.kubernetes.io/proxy-body-size"] = "lots";
         i.metadata.annotations["nginx.ingress.kubernetes.io/ssl-redirect"] = "maybe";
         s.put(i);
       },
       {"InvalidAnnotation"}},
      {"TLS Secret not found",
       [](ClusterState& s) {
         add_service(s, "t", "web");
         Ingress i = simple("t", "x", "a.example");
         i.spec.tls.push_back(IngressTls{{"a.example"}, "missing"});
         s.put(i);
       },
       {"TLSSecretNotFound"}},
      {"TLS Secret without a key",
       [](ClusterState& s) {
         add_service(s, "t", "web");
         Ingress i = simple("t", "x", "a.example");
         i.spec.tls.push_back(IngressTls{{"a.example"}, "cert"});
         s.put(i);
         Secret secret = tls_secret("t", "cert", {"a.example"});
         secret.data.erase("tls.key");
         s.put(secret);
       },
       {"TLSSecretInvalid"}},
      {"TLS certificate expired",
       [](ClusterState& s) {
         add_service(s, "t", "web");
         Ingress i = simple("t", "x", "a.example");
         i.spec.tls.push_back(IngressTls{{"a.example"}, "cert"});
         s.put(i);
         s.put(tls_secret("t", "cert", {"a.example"}, kNow - days(200)));
       },
       {"TLSCertificateNotValid"}},
      {"TLS host not in the certificate",
       [](ClusterState& s) {
         add_service(s, "t", "web");
         Ingress i = simple("t", "x", "a.example");
         i.spec.tls.push_back(IngressTls{{"a.example"}, "cert"});
         s.put(i);
         s.put(tls_secret("t", "cert", {"b.example"}));
       },
       {"TLSHostMismatch"}},
      {"TLS host with two certificates",
       [](ClusterState& s) {
         add_service(s, "t", "web");
         Ingress old = simple("t", "old", "a.example", "web", "2025-01-01T00:00:00Z");
         old.spec.tls.push_back(IngressTls{{"a.example"}, "one"});
         Ingress x = simple("t", "x", "a.example");
         x.spec.rules[0].paths[0].path = "/x";
         x.spec.tls.push_back(IngressTls{{"a.example"}, "two"});
         s.put(old);
         s.put(x);
         s.put(tls_secret("t", "one", {"a.example"}));
         s.put(tls_secret("t", "two", {"a.example"}));
       },
       {"TLSHostConflict"}},
      {"TLS entry without hosts, and a bad TLS host",
       [](ClusterState& s) {
         add_service(s, "t", "web");
         Ingress i = simple("t", "x", "a.example");
         i.spec.tls.push_back(IngressTls{{}, "cert"});
         i.spec.tls.push_back(IngressTls{{"10.0.0.1"}, ""});
         s.put(i);
       },
       {"TLSHostsMissing", "TLSHostInvalid"}},
  };
  for (const ReasonCase& c : cases) {
    SCOPED_TRACE(c.name);
    ClusterState state;
    c.build(state);
    CompileResult r = compile(state, options_at_now());
    EXPECT_EQ(reasons_of(r.diagnostics, "Ingress t/x"), c.expect) << all_diags(r.diagnostics);
    for (const Diagnostic& d : r.diagnostics) {
      EXPECT_FALSE(d.reason.empty()) << d.to_string();
    }
  }
}

TEST(DiagnosticReasons, EndpointSliceProblemsHaveReasons) {
  ClusterState state;
  state.put(simple("t", "x", "a.example"));
  add_service(state, "t", "web");
  EndpointSlice slice;
  slice.metadata.namespace_ = "t";
  slice.metadata.name = "web-1";
  slice.service_name = "web";
  slice.address_type = "FQDN";
  state.put(slice);
  slice.metadata.name = "web-2";
  slice.address_type = "IPv4";
  slice.ports.push_back(EndpointPort{"http", 8080, "TCP"});
  slice.endpoints.push_back(SliceEndpoint{{"not-an-ip"}, {}});
  state.put(slice);
  CompileResult r = compile(state, options_at_now());
  EXPECT_EQ(reasons_of(r.diagnostics, "EndpointSlice t/web-1"),
            std::set<std::string>{"AddressTypeUnsupported"});
  EXPECT_EQ(reasons_of(r.diagnostics, "EndpointSlice t/web-2"),
            std::set<std::string>{"EndpointAddressInvalid"});
}

// Every rejected-input fixture of the decoder, and everything the public vectors make the
// compiler say, carries a reason.
TEST(DiagnosticReasons, DecoderFixturesAndVectorsAllHaveReasons) {
  const std::string fixtures = std::string(LINTEL_SOURCE_DIR) + "/tests/ingress/fixtures/decode/";
  YAML::Node cases = YAML::LoadFile(fixtures + "errors.yaml");
  size_t seen = 0;
  for (const YAML::Node& c : cases) {
    DecodeResult decoded = decode_file(c["manifest"].as<std::string>(),
                                       c["file"] ? c["file"].as<std::string>() : "bad.yaml");
    for (const Diagnostic& d : decoded.errors) {
      ++seen;
      EXPECT_FALSE(d.reason.empty()) << c["name"].as<std::string>() << ": " << d.to_string();
      if (d.rejected) {
        EXPECT_TRUE(d.reason == "Rejected" || d.reason == "SyntaxError") << d.to_string();
      }
    }
  }
  EXPECT_GT(seen, 10u);

  std::ifstream in(std::string(LINTEL_SHARED_DIR) + "/vectors/ingress-public.json");
  if (!in) {
    return;  // the shared vectors are optional here; test_vectors.cpp requires them
  }
  json file = json::parse(in, nullptr, false);
  ASSERT_TRUE(file.is_object() && file.contains("cases"));
  size_t from_vectors = 0;
  {
    for (const json& c : file["cases"]) {
      ClusterState state;
      std::vector<Diagnostic> diags;
      for (const char* kind : {"ingresses", "services", "endpointslices", "ingressclasses"}) {
        if (!c.contains(kind) || !c[kind].is_array()) {
          continue;
        }
        for (const json& object : c[kind]) {
          DecodeResult decoded = decode_json(object.dump(), Origin{});
          diags.insert(diags.end(), decoded.errors.begin(), decoded.errors.end());
          for (Object& o : decoded.objects) {
            state.put(std::move(o));
          }
        }
      }
      CompileResult r = compile(state, options_at_now());
      diags.insert(diags.end(), r.diagnostics.begin(), r.diagnostics.end());
      for (const Diagnostic& d : diags) {
        ++from_vectors;
        EXPECT_FALSE(d.reason.empty()) << c.value("name", "") << ": " << d.to_string();
      }
    }
  }
  EXPECT_GT(from_vectors, 0u);
}

TEST(DiagnosticReasons, KubeCacheRejectionsAndRejectedIngresses) {
  KindCache cache(KubeKind::kIngress);
  json bad = json::parse(R"({"metadata":{"name":"x","namespace":"t","uid":"u-1",
      "resourceVersion":"7","annotations":{"kubernetes.io/ingress.class":"lintel"}},
      "spec":{"ingressClassName":"lintel","rules":[{"http":{"paths":[{"path":"/",
      "pathType":"prefix","backend":{"service":{"name":"web","port":{"number":80}}}}]}}]}})");
  ASSERT_TRUE(cache.apply(WatchEventType::kAdded, bad));
  ClusterState state;
  std::vector<Diagnostic> diags;
  cache.fill(state, diags);
  ASSERT_FALSE(diags.empty());
  for (const Diagnostic& d : diags) {
    EXPECT_EQ(d.reason, "Rejected") << d.to_string();
    EXPECT_TRUE(d.rejected);
  }
  auto rejected = cache.rejected_ingresses();
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0].key, "t/x");
  EXPECT_EQ(rejected[0].namespace_, "t");
  EXPECT_EQ(rejected[0].name, "x");
  EXPECT_EQ(rejected[0].uid, "u-1");
  EXPECT_EQ(rejected[0].resource_version, "7");
  EXPECT_EQ(rejected[0].ingress_class_name, "lintel");
  EXPECT_EQ(rejected[0].class_annotation, "lintel");

  // Fixed: no longer rejected.
  bad["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = "Prefix";
  ASSERT_TRUE(cache.apply(WatchEventType::kModified, bad));
  EXPECT_TRUE(cache.rejected_ingresses().empty());
  // Broken again with a good version kept: served, so not listed as rejected.
  bad["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = "prefix";
  ASSERT_TRUE(cache.apply(WatchEventType::kModified, bad));
  EXPECT_TRUE(cache.rejected_ingresses().empty());
  // A rejected object of another kind is never listed.
  KindCache services(KubeKind::kService);
  services.apply(WatchEventType::kAdded, json::parse(R"({"metadata":{"name":"s","namespace":"t"},
                     "spec":{"ports":[{"port":"eighty"}]}})"));
  EXPECT_TRUE(services.rejected_ingresses().empty());
}

// ---- causes ----

TEST(EventCauses, ClaimedIngressesWithTheirProblems) {
  ClusterState state;
  add_service(state, "t", "web");
  Ingress good = simple("t", "good", "a.example");
  Ingress broken = simple("t", "broken", "b.example", "missing");
  broken.spec.tls.push_back(IngressTls{{"b.example"}, "nope"});
  Ingress foreign = simple("t", "foreign", "c.example", "missing");
  foreign.spec.ingress_class_name = "other";
  IngressClass other;
  other.metadata.name = "other";
  other.controller = "example.com/other";
  state.put(good);
  state.put(broken);
  state.put(foreign);
  state.put(other);
  CompileOptions options = options_at_now();
  CompileResult r = compile(state, options);
  // A diagnostic of the foreign Ingress from the source (the decoder knows no classes).
  std::vector<Diagnostic> diags = r.diagnostics;
  Diagnostic from_source;
  from_source.object = "Ingress t/foreign";
  from_source.message = "whatever";
  from_source.reason = "Rejected";
  diags.push_back(from_source);

  EventCauses causes = event_causes(state, r, diags, {}, options);
  ASSERT_EQ(causes.size(), 2u);
  ASSERT_TRUE(causes.count("t/good"));
  ASSERT_TRUE(causes.count("t/broken"));
  EXPECT_TRUE(causes["t/good"].warnings.empty());
  EXPECT_EQ(causes["t/good"].uid, "uid-good");
  EXPECT_EQ(causes["t/good"].resource_version, "41");
  EXPECT_EQ(causes["t/good"].served_note, "no problems left: 1 route on 1 host is served");

  const IngressCauses& b = causes["t/broken"];
  EXPECT_EQ(b.namespace_, "t");
  EXPECT_EQ(b.name, "broken");
  ASSERT_EQ(b.warnings.size(), 2u);
  std::map<std::string, EventCause> by_reason;
  for (const EventCause& c : b.warnings) {
    EXPECT_EQ(c.type, "Warning");
    EXPECT_EQ(c.action, "Sync");
    by_reason[c.reason] = c;
  }
  ASSERT_TRUE(by_reason.count("ServiceNotFound"));
  ASSERT_TRUE(by_reason.count("TLSSecretNotFound"));
  EXPECT_EQ(by_reason["TLSSecretNotFound"].note.rfind("spec.tls[0].secretName: Secret \"nope\": "
                                                      "not found in namespace \"t\"",
                                                      0),
            0u)
      << by_reason["TLSSecretNotFound"].note;
  EXPECT_EQ(by_reason["ServiceNotFound"].note,
            "spec.rules[0].http.paths[0].backend.service: Service \"missing\" not found in "
            "namespace \"t\"; requests answer 503");
}

TEST(EventCauses, RejectedIngressesOfOurClassOnly) {
  ClusterState state;
  IngressClass other;
  other.metadata.name = "other";
  other.controller = "example.com/other";
  state.put(other);
  CompileOptions options = options_at_now();
  options.watch_ingress_without_class = false;
  CompileResult r = compile(state, options);

  auto rejected_one = [](std::string name, std::optional<std::string> class_name,
                         std::string annotation = "") {
    RejectedIngress out;
    out.key = "t/" + name;
    out.namespace_ = "t";
    out.name = name;
    out.uid = "uid-" + name;
    out.resource_version = "9";
    out.ingress_class_name = std::move(class_name);
    out.class_annotation = std::move(annotation);
    return out;
  };
  std::vector<RejectedIngress> rejected = {
      rejected_one("ours", "lintel"), rejected_one("legacy", std::nullopt, "lintel"),
      rejected_one("theirs", "other"), rejected_one("classless", std::nullopt)};
  std::vector<Diagnostic> diags;
  for (const char* name : {"ours", "legacy", "theirs", "classless"}) {
    Diagnostic d;
    d.object = std::string("Ingress t/") + name;
    d.field = "spec.rules[0].http.paths[0].pathType";
    d.message = "\"prefix\" is not one of Exact, Prefix, ImplementationSpecific";
    d.rejected = true;
    d.severity = Diagnostic::Severity::kError;
    d.reason = "Rejected";
    diags.push_back(d);
  }
  EventCauses causes = event_causes(state, r, diags, rejected, options);
  ASSERT_EQ(causes.size(), 2u);
  ASSERT_TRUE(causes.count("t/ours"));
  ASSERT_TRUE(causes.count("t/legacy"));
  const IngressCauses& ours = causes["t/ours"];
  EXPECT_EQ(ours.uid, "uid-ours");
  EXPECT_EQ(ours.resource_version, "9");
  ASSERT_EQ(ours.warnings.size(), 1u);
  EXPECT_EQ(ours.warnings[0].reason, "Rejected");
  EXPECT_EQ(ours.warnings[0].action, "Validate");
  EXPECT_EQ(ours.warnings[0].note,
            "spec.rules[0].http.paths[0].pathType: \"prefix\" is not one of Exact, Prefix, "
            "ImplementationSpecific");

  // Classless ones are ours when the controller watches them.
  options.watch_ingress_without_class = true;
  EXPECT_EQ(event_causes(state, r, diags, rejected, options).count("t/classless"), 1u);
}

TEST(EventCauses, NotesAreOneLineAndAtMostOneKiB) {
  Diagnostic d;
  d.field = "spec";
  d.message = "line one\nline two";
  EXPECT_EQ(event_note(d), "spec: line one line two");
  d.field.clear();
  EXPECT_EQ(event_note(d), "line one line two");
  d.message = std::string(1020, 'a') + "\xC3\xA9\xC3\xA9\xC3\xA9";  // "ééé" over the limit
  std::string note = event_note(d);
  EXPECT_LE(note.size(), kMaxEventNote);
  EXPECT_TRUE(note.ends_with("..."));
  // No split character: what precedes "..." is whole.
  std::string body = note.substr(0, note.size() - 3);
  EXPECT_NE(static_cast<unsigned char>(body.back()) & 0xC0, 0xC0) << "cut inside a character";
  EXPECT_EQ(body.size(), 1020u);
}

TEST(EventCauses, AtMostTenCausesPerIngress) {
  ClusterState state;
  state.put(simple("t", "x", "a.example"));
  CompileResult r = compile(state, options_at_now());
  std::vector<Diagnostic> diags;
  for (int i = 0; i < 25; ++i) {
    Diagnostic d;
    d.object = "Ingress t/x";
    d.message = "problem " + std::to_string(100 + i);
    d.reason = "Rejected";
    diags.push_back(d);
    diags.push_back(d);  // duplicates count once
  }
  EventCauses causes = event_causes(state, r, diags, {}, options_at_now());
  ASSERT_EQ(causes["t/x"].warnings.size(), kMaxCausesPerIngress);
  EXPECT_EQ(causes["t/x"].warnings.front().note, "problem 100");
}

// ---- names and times ----

TEST(EventNames, DeterministicValidAndDistinct) {
  EventCause a{"Warning", "PathConflict", "spec.rules[0]: taken", "Sync"};
  EventCause b = a;
  b.note = "spec.rules[1]: taken";
  const std::string name = event_name("web", "uid-1", a);
  EXPECT_EQ(name, event_name("web", "uid-1", a));
  ASSERT_EQ(name.size(), 3 + 1 + 16u);
  EXPECT_EQ(name.substr(0, 4), "web.");
  EXPECT_EQ(name.find_first_not_of("0123456789abcdef", 4), std::string::npos);
  EXPECT_NE(name, event_name("web", "uid-1", b));
  EXPECT_NE(name, event_name("web", "uid-2", a));
  // A long name is cut to 253 characters, never ending a label with '-' or '.'.
  std::string long_name = std::string(235, 'a') + "-b";
  const std::string cut = event_name(long_name, "u", a);
  EXPECT_LE(cut.size(), 253u);
  EXPECT_EQ(cut.substr(0, 235), std::string(235, 'a'));
  EXPECT_EQ(cut[235], '.');
}

TEST(EventNames, MicroTime) {
  using namespace std::chrono;
  const auto t =
      sys_days{year{2026} / 3 / 1} + hours(4) + minutes(5) + seconds(6) + microseconds(7);
  EXPECT_EQ(micro_time(t), "2026-03-01T04:05:06.000007Z");
  EXPECT_EQ(micro_time(sys_days{year{1970} / 1 / 1}), "1970-01-01T00:00:00.000000Z");
}

// ---- the planner ----

class Planner : public testing::Test {
 protected:
  using Steady = std::chrono::steady_clock::time_point;
  using Wall = std::chrono::system_clock::time_point;

  Planner() : planner_(identity(), policy(), 1) {}

  static EventPlanner::Identity identity() {
    EventPlanner::Identity id;
    id.reporting_controller = "lintel.dev/ingress-controller";
    id.reporting_instance = "lintel-0";
    return id;
  }
  static EventPolicy policy() {
    EventPolicy p;
    p.min_interval = seconds(10);
    p.max_pending = 100;
    p.max_attempts = 3;
    p.backoff.jitter = 0;
    p.backoff.base = milliseconds(500);
    return p;
  }

  static EventCause warning(std::string reason, std::string note) {
    return EventCause{"Warning", std::move(reason), std::move(note), "Sync"};
  }
  static IngressCauses ingress_causes(std::string name, std::vector<EventCause> warnings,
                                      std::string uid = "") {
    IngressCauses c;
    c.namespace_ = "shop";
    c.name = name;
    c.uid = uid.empty() ? "uid-" + name : uid;
    c.resource_version = "12";
    c.warnings = std::move(warnings);
    c.served_note = "no problems left: 2 routes on 1 host are served";
    return c;
  }

  // Advances the clocks.
  void tick(milliseconds d) {
    now_ += d;
    wall_ += d;
  }
  size_t observe(EventCauses causes) { return planner_.observe(std::move(causes), now_, wall_); }
  std::optional<EventWrite> next() { return planner_.next(now_); }
  WriteFollowUp finish(const EventWrite& w, WriteOutcome outcome,
                       milliseconds retry_after = milliseconds(0)) {
    return planner_.finished(w, outcome, now_, retry_after);
  }
  // Takes the next write, which must exist, and answers it.
  EventWrite write_ok() {
    auto w = next();
    EXPECT_TRUE(w.has_value());
    if (!w) {
      return {};
    }
    finish(*w, WriteOutcome::kOk);
    return *w;
  }

  EventPlanner planner_;
  Steady now_ = Steady{} + std::chrono::hours(1000);
  Wall wall_ = std::chrono::sys_days{std::chrono::year{2026} / 3 / 1};
};

TEST_F(Planner, AWarningIsCreatedOnceWithTheFullBody) {
  planner_.set_leader(true, now_, wall_);
  const EventCause cause =
      warning("TLSSecretInvalid", "spec.tls[0].secretName: Secret \"x\" is not kubernetes.io/tls");
  EXPECT_EQ(observe({{"shop/web", ingress_causes("web", {cause})}}), 0u);
  auto w = next();
  ASSERT_TRUE(w);
  EXPECT_EQ(w->verb, EventWrite::Verb::kCreate);
  EXPECT_EQ(w->method, "POST");
  EXPECT_EQ(w->target, "/apis/events.k8s.io/v1/namespaces/shop/events");
  EXPECT_EQ(w->content_type, "application/json");
  EXPECT_EQ(w->name, event_name("web", "uid-web", cause));
  json body = json::parse(w->body);
  EXPECT_EQ(body["apiVersion"], "events.k8s.io/v1");
  EXPECT_EQ(body["kind"], "Event");
  EXPECT_EQ(body["metadata"]["name"], w->name);
  EXPECT_EQ(body["metadata"]["namespace"], "shop");
  EXPECT_EQ(body["eventTime"], "2026-03-01T00:00:00.000000Z");
  EXPECT_EQ(body["reportingController"], "lintel.dev/ingress-controller");
  EXPECT_EQ(body["reportingInstance"], "lintel-0");
  EXPECT_EQ(body["action"], "Sync");
  EXPECT_EQ(body["reason"], "TLSSecretInvalid");
  EXPECT_EQ(body["note"], cause.note);
  EXPECT_EQ(body["type"], "Warning");
  EXPECT_EQ(body["regarding"], json({{"apiVersion", "networking.k8s.io/v1"},
                                     {"kind", "Ingress"},
                                     {"namespace", "shop"},
                                     {"name", "web"},
                                     {"uid", "uid-web"},
                                     {"resourceVersion", "12"}}));
  EXPECT_FALSE(body.contains("series"));
  EXPECT_EQ(finish(*w, WriteOutcome::kOk).next, WriteFollowUp::Next::kNothing);

  // The same cause again and again: nothing more.
  for (int i = 0; i < 5; ++i) {
    tick(seconds(30));
    observe({{"shop/web", ingress_causes("web", {cause})}});
    EXPECT_FALSE(next());
  }
  EXPECT_FALSE(planner_.next_due());
}

TEST_F(Planner, FixedGivesOneNormalEventAndFlappingPatchesTheSeries) {
  planner_.set_leader(true, now_, wall_);
  const EventCause cause = warning("PathConflict", "spec.rules[0].http.paths[1]: taken");
  observe({{"shop/web", ingress_causes("web", {cause})}});
  const EventWrite first = write_ok();

  tick(seconds(1));
  observe({{"shop/web", ingress_causes("web", {})}});
  auto normal = next();
  ASSERT_TRUE(normal);
  EXPECT_EQ(normal->type, "Normal");
  EXPECT_EQ(normal->reason, "Valid");
  json body = json::parse(normal->body);
  EXPECT_EQ(body["note"], "no problems left: 2 routes on 1 host are served");
  EXPECT_EQ(body["type"], "Normal");
  finish(*normal, WriteOutcome::kOk);
  // Still fine: nothing.
  tick(seconds(1));
  observe({{"shop/web", ingress_causes("web", {})}});
  EXPECT_FALSE(next());

  // Broken again 2 s after the create: the same Event, patched once the 10 s are over.
  tick(seconds(0));
  observe({{"shop/web", ingress_causes("web", {cause})}});
  EXPECT_FALSE(next()) << "rate limited";
  ASSERT_TRUE(planner_.next_due());
  EXPECT_EQ(*planner_.next_due() - now_, seconds(8));
  // Flaps twice more before then: counted into the same patch.
  for (int i = 0; i < 2; ++i) {
    tick(seconds(1));
    observe({{"shop/web", ingress_causes("web", {})}});
    tick(seconds(1));
    observe({{"shop/web", ingress_causes("web", {cause})}});
  }
  tick(seconds(4));
  auto patch = next();
  ASSERT_TRUE(patch);
  EXPECT_EQ(patch->name, first.name);
  EXPECT_EQ(patch->verb, EventWrite::Verb::kPatch);
  EXPECT_EQ(patch->method, "PATCH");
  EXPECT_EQ(patch->content_type, "application/merge-patch+json");
  EXPECT_EQ(patch->target, "/apis/events.k8s.io/v1/namespaces/shop/events/" + first.name);
  EXPECT_EQ(
      json::parse(patch->body),
      json::parse(R"({"series":{"count":4,"lastObservedTime":"2026-03-01T00:00:06.000000Z"}})"));
  finish(*patch, WriteOutcome::kOk);
  // The Normal Event of those flaps is patched too (same note, same name), 10 s after its
  // create.
  EXPECT_FALSE(next());
  tick(seconds(1));
  auto normal_again = next();
  ASSERT_TRUE(normal_again);
  EXPECT_EQ(normal_again->name, normal->name);
  EXPECT_EQ(normal_again->verb, EventWrite::Verb::kPatch);
  EXPECT_EQ(json::parse(normal_again->body)["series"]["count"], 3);
}

TEST_F(Planner, AlreadyExistsBecomesAPatchAtOnce) {
  planner_.set_leader(true, now_, wall_);
  observe({{"shop/web", ingress_causes("web", {warning("Rejected", "spec: bad")})}});
  auto create = next();
  ASSERT_TRUE(create);
  EXPECT_EQ(finish(*create, WriteOutcome::kAlreadyExists).next, WriteFollowUp::Next::kPatch);
  auto patch = next();
  ASSERT_TRUE(patch);
  EXPECT_EQ(patch->verb, EventWrite::Verb::kPatch);
  EXPECT_EQ(json::parse(patch->body)["series"]["count"], 2);
  finish(*patch, WriteOutcome::kOk);
  EXPECT_FALSE(next());
}

TEST_F(Planner, APatchOfAnExpiredEventCreatesItAgain) {
  planner_.set_leader(true, now_, wall_);
  const EventCause cause = warning("Rejected", "spec: bad");
  observe({{"shop/web", ingress_causes("web", {cause})}});
  write_ok();
  tick(std::chrono::hours(2));
  observe({{"shop/web", ingress_causes("web", {})}});
  auto normal = next();
  ASSERT_TRUE(normal);
  finish(*normal, WriteOutcome::kOk);
  observe({{"shop/web", ingress_causes("web", {cause})}});
  auto patch = next();
  ASSERT_TRUE(patch);
  EXPECT_EQ(patch->verb, EventWrite::Verb::kPatch);
  EXPECT_EQ(finish(*patch, WriteOutcome::kNotFound).next, WriteFollowUp::Next::kCreate);
  auto create = next();
  ASSERT_TRUE(create);
  EXPECT_EQ(create->verb, EventWrite::Verb::kCreate);
  json body = json::parse(create->body);
  EXPECT_FALSE(body.contains("series"));
  EXPECT_EQ(body["eventTime"], "2026-03-01T02:00:00.000000Z");
}

TEST_F(Planner, TransientFailuresBackOffThenDrop) {
  planner_.set_leader(true, now_, wall_);
  observe({{"shop/web", ingress_causes("web", {warning("Rejected", "spec: bad")})}});
  auto w = next();
  ASSERT_TRUE(w);
  WriteFollowUp f = finish(*w, WriteOutcome::kRetryable);
  EXPECT_EQ(f.next, WriteFollowUp::Next::kRetry);
  EXPECT_EQ(f.delay, milliseconds(500));
  EXPECT_EQ(f.attempt, 1);
  EXPECT_FALSE(next()) << "backing off";
  EXPECT_EQ(*planner_.next_due() - now_, milliseconds(500));
  tick(milliseconds(500));
  w = next();
  ASSERT_TRUE(w);
  // A 429 with Retry-After: 5 s is believed.
  f = finish(*w, WriteOutcome::kRetryable, seconds(5));
  EXPECT_EQ(f.next, WriteFollowUp::Next::kRetry);
  EXPECT_EQ(f.delay, seconds(5));
  tick(seconds(5));
  w = next();
  ASSERT_TRUE(w);
  f = finish(*w, WriteOutcome::kRetryable);
  EXPECT_EQ(f.next, WriteFollowUp::Next::kDropped);
  EXPECT_EQ(f.attempt, 3);
  tick(seconds(60));
  EXPECT_FALSE(next());
  EXPECT_FALSE(planner_.next_due());
}

TEST_F(Planner, ClientErrorsAreDroppedAtOnce) {
  planner_.set_leader(true, now_, wall_);
  observe({{"shop/web", ingress_causes("web", {warning("Rejected", "spec: bad")})}});
  auto w = next();
  ASSERT_TRUE(w);
  WriteFollowUp f = finish(*w, WriteOutcome::kFailed);
  EXPECT_EQ(f.next, WriteFollowUp::Next::kDropped);
  EXPECT_FALSE(next());
}

TEST_F(Planner, OnlyTheLeaderWritesAndANewLeaderSendsWhatIsCurrent) {
  const EventCause gone = warning("ServiceNotFound", "old problem");
  const EventCause current = warning("PathConflict", "current problem");
  observe({{"shop/web", ingress_causes("web", {gone})}});
  EXPECT_FALSE(next());
  EXPECT_FALSE(planner_.next_due());
  observe({{"shop/web", ingress_causes("web", {current})}});
  EXPECT_FALSE(next());

  planner_.set_leader(true, now_, wall_);
  auto w = next();
  ASSERT_TRUE(w);
  EXPECT_EQ(w->reason, "PathConflict");
  EXPECT_EQ(w->verb, EventWrite::Verb::kCreate);
  // The old leader wrote it already.
  finish(*w, WriteOutcome::kAlreadyExists);
  auto patch = next();
  ASSERT_TRUE(patch);
  EXPECT_EQ(json::parse(patch->body)["series"]["count"], 2);
  finish(*patch, WriteOutcome::kOk);
  EXPECT_FALSE(next()) << "no Normal Event for what the old leader saw being fixed";

  // Losing the lead drops what is queued; a write in flight is forgotten.
  tick(seconds(1));
  observe({{"shop/web", ingress_causes("web", {current, gone})}});
  auto in_flight = next();
  ASSERT_TRUE(in_flight);
  observe({{"shop/web", ingress_causes("web", {current, gone, warning("X", "y")})}});
  planner_.set_leader(false, now_, wall_);
  EXPECT_EQ(finish(*in_flight, WriteOutcome::kOk).next, WriteFollowUp::Next::kForgotten);
  EXPECT_FALSE(next());
  EXPECT_EQ(planner_.queued(), 0u);
}

TEST_F(Planner, DeletedOrRecreatedIngressesAreForgotten) {
  planner_.set_leader(true, now_, wall_);
  observe(
      {{"shop/web", ingress_causes("web", {warning("Rejected", "a"), warning("Rejected", "b")})}});
  auto w = next();
  ASSERT_TRUE(w);
  EXPECT_EQ(planner_.queued(), 1u);
  // Deleted while a write is in flight: nothing more, no Normal Event.
  observe({});
  EXPECT_EQ(planner_.queued(), 0u);
  EXPECT_EQ(planner_.tracked(), 0u);
  EXPECT_EQ(finish(*w, WriteOutcome::kOk).next, WriteFollowUp::Next::kForgotten);
  EXPECT_FALSE(next());

  // Re-created under the same name (a new uid): its causes are new Events.
  observe({{"shop/web", ingress_causes("web", {warning("Rejected", "a")}, "uid-1")}});
  const EventWrite one = write_ok();
  observe({{"shop/web", ingress_causes("web", {warning("Rejected", "a")}, "uid-2")}});
  auto two = next();
  ASSERT_TRUE(two);
  EXPECT_NE(two->name, one.name);
  EXPECT_EQ(two->verb, EventWrite::Verb::kCreate);
  EXPECT_EQ(json::parse(two->body)["regarding"]["uid"], "uid-2");
}

TEST_F(Planner, TheQueueIsBounded) {
  EventPolicy small = policy();
  small.max_pending = 2;
  EventPlanner planner(identity(), small, 1);
  planner.set_leader(true, now_, wall_);
  const size_t dropped = planner.observe(
      {{"shop/web",
        ingress_causes("web", {warning("A", "1"), warning("B", "2"), warning("C", "3")})}},
      now_, wall_);
  EXPECT_EQ(dropped, 1u);
  EXPECT_EQ(planner.queued(), 2u);
}

TEST_F(Planner, WritesForDifferentEventsAreNotHeldByAnothersRateLimit) {
  planner_.set_leader(true, now_, wall_);
  const EventCause a = warning("A", "1");
  const EventCause b = warning("B", "2");
  observe({{"shop/web", ingress_causes("web", {a})}});
  write_ok();
  tick(seconds(1));
  observe({{"shop/web", ingress_causes("web", {})}});
  write_ok();  // Normal
  tick(seconds(1));
  observe({{"shop/web", ingress_causes("web", {a, b})}});
  // A is rate limited (2 s after its create), B is new and goes first.
  auto w = next();
  ASSERT_TRUE(w);
  EXPECT_EQ(w->reason, "B");
  finish(*w, WriteOutcome::kOk);
  EXPECT_FALSE(next());
  tick(seconds(8));
  w = next();
  ASSERT_TRUE(w);
  EXPECT_EQ(w->reason, "A");
  EXPECT_EQ(w->verb, EventWrite::Verb::kPatch);
}

}  // namespace
}  // namespace lintel::ingress
