// Tests of the object decoder (ingress/decode.h) and the YAML → JSON step under it
// (ingress/yaml_json.h). Rejected input is table-driven from fixtures/decode/errors.yaml.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "ingress/decode.h"
#include "ingress/yaml_json.h"

namespace lintel::ingress {
namespace {

using nlohmann::json;

const std::string kFixtures = std::string(LINTEL_SOURCE_DIR) + "/tests/ingress/fixtures/decode/";

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<std::string> messages(const DecodeResult& result) {
  std::vector<std::string> out;
  for (const routing::Diagnostic& d : result.errors) {
    out.push_back(d.to_string());
  }
  return out;
}

template <class T>
std::vector<T> of_kind(const DecodeResult& result) {
  std::vector<T> out;
  for (const Object& o : result.objects) {
    if (const T* t = std::get_if<T>(&o)) {
      out.push_back(*t);
    }
  }
  return out;
}

// A canonical form of a decoded object without its origin, so that objects read from
// different files can be compared.
json canonical(const Object& object) {
  auto meta = [](const ObjectMeta& m) {
    return json{{"name", m.name},
                {"namespace", m.namespace_},
                {"creation_timestamp", m.creation_timestamp},
                {"resource_version", m.resource_version},
                {"uid", m.uid},
                {"labels", m.labels},
                {"annotations", m.annotations}};
  };
  auto opt_int = [](const std::optional<int32_t>& v) { return v ? json(*v) : json(nullptr); };
  auto opt_bool = [](const std::optional<bool>& v) { return v ? json(*v) : json(nullptr); };
  auto backend = [&](const IngressBackend& b) {
    json out = json::object();
    if (b.service) {
      out["service"] = {{"name", b.service->name},
                        {"number", opt_int(b.service->port.number)},
                        {"port_name", b.service->port.name}};
    }
    if (b.resource) {
      out["resource"] = {{"api_group", b.resource->api_group},
                         {"kind", b.resource->kind},
                         {"name", b.resource->name}};
    }
    return out;
  };
  json out;
  out["kind"] = kind_name(object);
  out["metadata"] = meta(meta_of(object));
  if (const auto* ing = std::get_if<Ingress>(&object)) {
    out["class"] = ing->spec.ingress_class_name ? json(*ing->spec.ingress_class_name) : json();
    out["default_backend"] =
        ing->spec.default_backend ? backend(*ing->spec.default_backend) : json();
    for (const IngressTls& tls : ing->spec.tls) {
      out["tls"].push_back({{"hosts", tls.hosts}, {"secret", tls.secret_name}});
    }
    for (const IngressRule& rule : ing->spec.rules) {
      json r{{"host", rule.host}, {"paths", json::array()}};
      for (const HttpIngressPath& p : rule.paths) {
        r["paths"].push_back({{"path", p.path},
                              {"type", static_cast<int>(p.path_type)},
                              {"backend", backend(p.backend)}});
      }
      out["rules"].push_back(r);
    }
  } else if (const auto* cls = std::get_if<IngressClass>(&object)) {
    out["controller"] = cls->controller;
    out["is_default"] = cls->is_default;
  } else if (const auto* svc = std::get_if<Service>(&object)) {
    out["type"] = svc->type;
    out["external_name"] = svc->external_name;
    for (const ServicePort& p : svc->ports) {
      out["ports"].push_back({{"name", p.name},
                              {"protocol", p.protocol},
                              {"port", p.port},
                              {"target_number", opt_int(p.target_port.number)},
                              {"target_name", p.target_port.name}});
    }
  } else if (const auto* slice = std::get_if<EndpointSlice>(&object)) {
    out["address_type"] = slice->address_type;
    out["service_name"] = slice->service_name;
    for (const SliceEndpoint& e : slice->endpoints) {
      out["endpoints"].push_back({{"addresses", e.addresses},
                                  {"ready", opt_bool(e.conditions.ready)},
                                  {"serving", opt_bool(e.conditions.serving)},
                                  {"terminating", opt_bool(e.conditions.terminating)}});
    }
    for (const EndpointPort& p : slice->ports) {
      out["ports"].push_back({{"name", p.name ? json(*p.name) : json()},
                              {"port", opt_int(p.port)},
                              {"protocol", p.protocol}});
    }
  } else if (const auto* secret = std::get_if<Secret>(&object)) {
    out["type"] = secret->type;
    out["data"] = secret->data;
  }
  return out;
}

// ---- YAML → JSON ----------------------------------------------------------------------

TEST(YamlJson, PlainScalarsResolveByCoreSchemaQuotedOnesStayStrings) {
  ParsedText parsed = parse_yaml(
      "plain_int: 80\n"
      "quoted_int: \"80\"\n"
      "single_quoted: '80'\n"
      "plain_bool: true\n"
      "capital_bool: False\n"
      "quoted_bool: \"true\"\n"
      "yaml11_bool: yes\n"
      "on_word: on\n"
      "tilde: ~\n"
      "null_word: null\n"
      "empty:\n"
      "quoted_empty: \"\"\n"
      "hex: 0x50\n"
      "octal: 0o17\n"
      "leading_zero: 010\n"
      "negative: -7\n"
      "float: 1.5\n"
      "exp: 1e3\n"
      "version: 1.2.3\n"
      "tagged_str: !!str 12\n"
      "block: |\n"
      "  80\n"
      "timestamp: 2024-03-01T10:00:00Z\n"
      "huge: 123456789012345678901234567890\n");
  ASSERT_FALSE(parsed.syntax_error) << parsed.error;
  ASSERT_EQ(parsed.documents.size(), 1u);
  const json& v = parsed.documents[0].value;
  EXPECT_EQ(v["plain_int"], json(80));
  EXPECT_TRUE(v["plain_int"].is_number_integer());
  EXPECT_EQ(v["quoted_int"], json("80"));
  EXPECT_EQ(v["single_quoted"], json("80"));
  EXPECT_EQ(v["plain_bool"], json(true));
  EXPECT_EQ(v["capital_bool"], json(false));
  EXPECT_EQ(v["quoted_bool"], json("true"));
  EXPECT_EQ(v["yaml11_bool"], json("yes"));
  EXPECT_EQ(v["on_word"], json("on"));
  EXPECT_TRUE(v["tilde"].is_null());
  EXPECT_TRUE(v["null_word"].is_null());
  EXPECT_TRUE(v["empty"].is_null());
  EXPECT_EQ(v["quoted_empty"], json(""));
  EXPECT_EQ(v["hex"], json(80));
  EXPECT_EQ(v["octal"], json(15));
  EXPECT_EQ(v["leading_zero"], json(10));
  EXPECT_EQ(v["negative"], json(-7));
  EXPECT_TRUE(v["float"].is_number_float());
  EXPECT_DOUBLE_EQ(v["float"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(v["exp"].get<double>(), 1000.0);
  EXPECT_EQ(v["version"], json("1.2.3"));
  EXPECT_EQ(v["tagged_str"], json("12"));
  EXPECT_EQ(v["block"], json("80\n"));
  EXPECT_EQ(v["timestamp"], json("2024-03-01T10:00:00Z"));
  EXPECT_TRUE(v["huge"].is_number_float());
}

TEST(YamlJson, LineTableUsesMessagePathsAndDocumentStarts) {
  ParsedText parsed = parse_yaml(
      "# comment\n"
      "a: 1\n"
      "---\n"
      "---\n"
      "spec:\n"
      "  rules:\n"
      "    - host: x\n"
      "      http:\n"
      "        paths: [{path: /}]\n"
      "metadata:\n"
      "  labels:\n"
      "    kubernetes.io/service-name: web\n");
  ASSERT_FALSE(parsed.syntax_error) << parsed.error;
  ASSERT_EQ(parsed.documents.size(), 2u);  // the empty middle document is left out
  EXPECT_EQ(parsed.documents[0].index, 1);
  EXPECT_EQ(parsed.documents[0].line, 2);
  EXPECT_EQ(parsed.documents[1].index, 3);
  EXPECT_EQ(parsed.documents[1].line, 5);
  const LineTable& lines = parsed.documents[1].lines;
  EXPECT_EQ(lines.at("spec"), 5);
  EXPECT_EQ(lines.at("spec.rules"), 6);
  EXPECT_EQ(lines.at("spec.rules[0]"), 7);
  EXPECT_EQ(lines.at("spec.rules[0].host"), 7);
  EXPECT_EQ(lines.at("spec.rules[0].http.paths[0].path"), 9);
  EXPECT_EQ(lines.at("metadata.labels[kubernetes.io/service-name]"), 12);
  // Fields without a line fall back to their nearest ancestor.
  EXPECT_EQ(line_of(lines, "spec.rules[0].http.paths[0].pathType"), 9);
  EXPECT_EQ(line_of(lines, "metadata.labels[kubernetes.io/service-name].x"), 12);
  EXPECT_EQ(line_of(lines, "status.loadBalancer"), 5);
}

TEST(YamlJson, JsonLineTableMatchesYamlPaths) {
  ParsedText parsed = parse_json(
      "{\n"
      "  \"spec\": {\n"
      "    \"rules\": [\n"
      "      {\"host\": \"x\",\n"
      "       \"http\": {\"paths\": [{\"path\": \"/\"}, {\"path\": \"/b\\\"}]\"}]}}\n"
      "    ]\n"
      "  },\n"
      "  \"metadata\": {\"labels\": {\n"
      "    \"kubernetes.io/service-name\": \"web\"}}\n"
      "}\n");
  ASSERT_FALSE(parsed.syntax_error) << parsed.error;
  ASSERT_EQ(parsed.documents.size(), 1u);
  const LineTable& lines = parsed.documents[0].lines;
  EXPECT_EQ(parsed.documents[0].line, 1);
  EXPECT_EQ(lines.at("spec"), 2);
  EXPECT_EQ(lines.at("spec.rules"), 3);
  EXPECT_EQ(lines.at("spec.rules[0]"), 4);
  EXPECT_EQ(lines.at("spec.rules[0].http"), 5);
  EXPECT_EQ(lines.at("spec.rules[0].http.paths[1].path"), 5);
  EXPECT_EQ(lines.count("spec.rules[1]"), 0u);  // the escaped "]" inside a string is text
  EXPECT_EQ(lines.at("metadata.labels[kubernetes.io/service-name]"), 9);
}

TEST(YamlJson, PathsBracketKeysThatAreNotIdentifiers) {
  EXPECT_EQ(child_path("", "spec"), "spec");
  EXPECT_EQ(child_path("spec", "ingressClassName"), "spec.ingressClassName");
  EXPECT_EQ(child_path("data", "tls.crt"), "data[tls.crt]");
  EXPECT_EQ(item_path("spec.rules", 3), "spec.rules[3]");
}

TEST(YamlJson, AliasBombIsASyntaxErrorNotAnOutOfMemory) {
  std::string text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'k'; ++c) {
    text += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) {
      text += std::string(i ? ", *" : "*") + prev;
    }
    text += "]\n";
    prev = c;
  }
  ParsedText parsed = parse_yaml(text);
  EXPECT_TRUE(parsed.syntax_error);
  EXPECT_NE(parsed.error.find("too large after alias expansion"), std::string::npos)
      << parsed.error;
}

TEST(YamlJson, DeepNestingIsRefused) {
  std::string text = std::string(300, '[') + std::string(300, ']');
  ParsedText parsed = parse_yaml(text);
  EXPECT_TRUE(parsed.syntax_error);
  // JSON nesting is parsed iteratively; only the line table stops descending.
  std::string deep_json = std::string(5000, '[') + std::string(5000, ']');
  ParsedText json_parsed = parse_json(deep_json);
  EXPECT_FALSE(json_parsed.syntax_error) << json_parsed.error;
}

// ---- Good manifests ---------------------------------------------------------------------

class GoodManifests : public ::testing::Test {
 protected:
  void SetUp() override {
    yaml_ = decode_file(read_text(kFixtures + "good.yaml"), "good.yaml");
    json_ = decode_file(read_text(kFixtures + "good.json"), "good.json");
  }
  DecodeResult yaml_;
  DecodeResult json_;
};

TEST_F(GoodManifests, EveryKindDecodesAndSkippedKindsLeaveNoTrace) {
  EXPECT_TRUE(yaml_.errors.empty()) << ::testing::PrintToString(messages(yaml_));
  EXPECT_FALSE(yaml_.syntax_error);
  // IngressClass, Ingress, 2 Services, EndpointSlice, TLS Secret; not the Deployment,
  // ConfigMap or Opaque Secret (whose invalid base64 is never looked at).
  ASSERT_EQ(yaml_.objects.size(), 6u);
  EXPECT_EQ(of_kind<IngressClass>(yaml_).size(), 1u);
  EXPECT_EQ(of_kind<Ingress>(yaml_).size(), 1u);
  EXPECT_EQ(of_kind<Service>(yaml_).size(), 2u);
  EXPECT_EQ(of_kind<EndpointSlice>(yaml_).size(), 1u);
  EXPECT_EQ(of_kind<Secret>(yaml_).size(), 1u);
}

TEST_F(GoodManifests, IngressFields) {
  ASSERT_EQ(of_kind<Ingress>(yaml_).size(), 1u);
  const Ingress ing = of_kind<Ingress>(yaml_)[0];
  EXPECT_EQ(ing.metadata.name, "web");
  EXPECT_EQ(ing.metadata.namespace_, "shop");
  EXPECT_EQ(ing.metadata.creation_timestamp, "2024-03-01T10:00:00Z");
  EXPECT_EQ(ing.metadata.labels.at("app"), "web");
  EXPECT_EQ(ing.metadata.annotations.at("nginx.ingress.kubernetes.io/proxy-body-size"), "8m");
  ASSERT_TRUE(ing.spec.ingress_class_name.has_value());
  EXPECT_EQ(*ing.spec.ingress_class_name, "lintel");
  ASSERT_TRUE(ing.spec.default_backend.has_value());
  ASSERT_TRUE(ing.spec.default_backend->service.has_value());
  EXPECT_EQ(ing.spec.default_backend->service->name, "fallback");
  EXPECT_FALSE(ing.spec.default_backend->service->port.number.has_value());
  EXPECT_EQ(ing.spec.default_backend->service->port.name, "http");
  ASSERT_EQ(ing.spec.tls.size(), 1u);
  EXPECT_EQ(ing.spec.tls[0].hosts,
            (std::vector<std::string>{"shop.example.com", "*.shop.example.com"}));
  EXPECT_EQ(ing.spec.tls[0].secret_name, "shop-tls");
  ASSERT_EQ(ing.spec.rules.size(), 3u);
  const IngressRule& shop = ing.spec.rules[0];
  EXPECT_EQ(shop.host, "shop.example.com");
  ASSERT_EQ(shop.paths.size(), 2u);
  EXPECT_EQ(shop.paths[0].path, "/");
  EXPECT_EQ(shop.paths[0].path_type, PathType::kPrefix);
  EXPECT_EQ(shop.paths[0].backend.service->name, "web");
  EXPECT_EQ(shop.paths[0].backend.service->port.number, 80);
  EXPECT_EQ(shop.paths[1].path, "/api/v1");
  EXPECT_EQ(shop.paths[1].path_type, PathType::kExact);
  EXPECT_EQ(shop.paths[1].backend.service->port.name, "http");
  const IngressRule& wildcard = ing.spec.rules[1];
  EXPECT_EQ(wildcard.host, "*.shop.example.com");
  ASSERT_EQ(wildcard.paths.size(), 1u);
  EXPECT_EQ(wildcard.paths[0].path, "");
  EXPECT_EQ(wildcard.paths[0].path_type, PathType::kImplementationSpecific);
  ASSERT_TRUE(wildcard.paths[0].backend.resource.has_value());
  EXPECT_FALSE(wildcard.paths[0].backend.service.has_value());
  EXPECT_EQ(wildcard.paths[0].backend.resource->api_group, "k8s.example.com");
  EXPECT_EQ(wildcard.paths[0].backend.resource->kind, "StorageBucket");
  EXPECT_EQ(wildcard.paths[0].backend.resource->name, "static-assets");
  EXPECT_EQ(ing.spec.rules[2].host, "");
  EXPECT_EQ(ing.origin.file, "good.yaml");
  EXPECT_EQ(ing.origin.document, 2);
  EXPECT_EQ(ing.origin.line, 11);
}

TEST_F(GoodManifests, IngressClassServiceSliceSecretFields) {
  const IngressClass cls = of_kind<IngressClass>(yaml_).at(0);
  EXPECT_EQ(cls.metadata.name, "lintel");
  EXPECT_EQ(cls.metadata.namespace_, "");  // cluster-scoped
  EXPECT_EQ(cls.controller, "lintel.dev/ingress-controller");
  EXPECT_TRUE(cls.is_default);
  EXPECT_EQ(describe(Object(cls)), "IngressClass lintel");
  EXPECT_EQ(cls.origin.document, 1);
  EXPECT_EQ(cls.origin.line, 2);

  const std::vector<Service> services = of_kind<Service>(yaml_);
  const Service& web = services.at(0);
  EXPECT_EQ(web.type, "ClusterIP");
  ASSERT_EQ(web.ports.size(), 2u);
  EXPECT_EQ(web.ports[0].name, "http");
  EXPECT_EQ(web.ports[0].protocol, "TCP");
  EXPECT_EQ(web.ports[0].port, 80);
  EXPECT_EQ(web.ports[0].target_port.number, 8080);
  EXPECT_EQ(web.ports[1].target_port.name, "metrics");
  EXPECT_FALSE(web.ports[1].target_port.number.has_value());
  const Service& legacy = services.at(1);
  EXPECT_EQ(legacy.type, "ExternalName");
  EXPECT_EQ(legacy.external_name, "legacy.example.net");
  EXPECT_TRUE(legacy.ports.empty());

  const EndpointSlice slice = of_kind<EndpointSlice>(yaml_).at(0);
  EXPECT_EQ(slice.service_name, "web");
  EXPECT_EQ(slice.address_type, "IPv4");
  ASSERT_EQ(slice.ports.size(), 2u);
  EXPECT_EQ(slice.ports[0].name, std::optional<std::string>("http"));
  EXPECT_EQ(slice.ports[0].port, 8080);
  EXPECT_EQ(slice.ports[1].protocol, "TCP");
  ASSERT_EQ(slice.endpoints.size(), 3u);
  EXPECT_EQ(slice.endpoints[0].addresses, std::vector<std::string>{"127.0.0.2"});
  EXPECT_EQ(slice.endpoints[0].conditions.ready, true);
  EXPECT_EQ(slice.endpoints[0].conditions.terminating, false);
  EXPECT_EQ(slice.endpoints[1].addresses, std::vector<std::string>{"127.0.0.3"});
  EXPECT_EQ(slice.endpoints[1].conditions.ready, false);
  EXPECT_EQ(slice.endpoints[1].conditions.serving, true);
  EXPECT_FALSE(slice.endpoints[1].conditions.terminating.has_value());
  EXPECT_FALSE(slice.endpoints[2].conditions.ready.has_value());  // nil: to be read as ready

  const Secret secret = of_kind<Secret>(yaml_).at(0);
  EXPECT_EQ(secret.type, "kubernetes.io/tls");
  EXPECT_EQ(secret.data.at("tls.crt"), "CERTIFICATE");
  EXPECT_EQ(secret.data.at("tls.key"), "KEY");
}

TEST_F(GoodManifests, YamlAndJsonGiveTheSameObjects) {
  EXPECT_TRUE(json_.errors.empty()) << ::testing::PrintToString(messages(json_));
  ASSERT_EQ(json_.objects.size(), yaml_.objects.size());
  for (size_t i = 0; i < yaml_.objects.size(); ++i) {
    EXPECT_EQ(canonical(yaml_.objects[i]).dump(1), canonical(json_.objects[i]).dump(1));
  }
  // JSON objects point at their own lines too (here: List items).
  EXPECT_EQ(origin_of(json_.objects[0]).file, "good.json");
  EXPECT_EQ(origin_of(json_.objects[0]).line, 8);
  EXPECT_EQ(origin_of(json_.objects[1]).line, 21);
}

TEST(Decode, UnknownFieldsAreIgnored) {
  DecodeResult r = decode_file(
      "apiVersion: v1\n"
      "kind: Service\n"
      "metadata:\n"
      "  name: web\n"
      "  managedFields: [{manager: kubectl}]\n"
      "  futureField: {x: 1}\n"
      "spec:\n"
      "  clusterIP: 10.96.0.10\n"
      "  sessionAffinity: None\n"
      "  ports: [{port: 80, appProtocol: http, nodePort: 30080}]\n"
      "status: {loadBalancer: {}}\n",
      "svc.yaml");
  EXPECT_TRUE(r.errors.empty()) << ::testing::PrintToString(messages(r));
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(std::get<Service>(r.objects[0]).ports.at(0).port, 80);
}

TEST(Decode, NamespaceDefaultsAndMultiDocumentOrigins) {
  DecodeResult r = decode_file(
      "---\n"
      "apiVersion: v1\n"
      "kind: Service\n"
      "metadata: {name: a}\n"
      "---\n"
      "# only a comment\n"
      "---\n"
      "\n"
      "apiVersion: v1\n"
      "kind: Service\n"
      "metadata: {name: b, namespace: shop}\n",
      "dir/two.yml");
  ASSERT_TRUE(r.errors.empty()) << ::testing::PrintToString(messages(r));
  ASSERT_EQ(r.objects.size(), 2u);
  EXPECT_EQ(describe(r.objects[0]), "Service default/a");
  EXPECT_EQ(origin_of(r.objects[0]).document, 1);
  EXPECT_EQ(origin_of(r.objects[0]).line, 2);
  EXPECT_EQ(describe(r.objects[1]), "Service shop/b");
  EXPECT_EQ(origin_of(r.objects[1]).file, "dir/two.yml");
  EXPECT_EQ(origin_of(r.objects[1]).document, 3);
  EXPECT_EQ(origin_of(r.objects[1]).line, 9);
}

TEST(Decode, TypedListItemsInheritKindAndApiVersion) {
  // The API server's list responses carry no kind/apiVersion on items.
  DecodeResult r = decode_json(
      R"({"apiVersion": "networking.k8s.io/v1", "kind": "IngressList",
          "metadata": {"resourceVersion": "42"},
          "items": [
            {"metadata": {"name": "a", "namespace": "x", "resourceVersion": "40", "uid": "u-1"},
             "spec": {"defaultBackend": {"service": {"name": "s", "port": {"number": 80}}}}},
            {"metadata": {"name": "b", "namespace": "x"},
             "spec": {"rules": [{"host": "b.example.com"}]}}
          ]})",
      Origin{});
  ASSERT_TRUE(r.errors.empty()) << ::testing::PrintToString(messages(r));
  ASSERT_EQ(r.objects.size(), 2u);
  const Ingress& a = std::get<Ingress>(r.objects[0]);
  EXPECT_EQ(a.metadata.resource_version, "40");
  EXPECT_EQ(a.metadata.uid, "u-1");
  EXPECT_EQ(describe(r.objects[1]), "Ingress x/b");
}

TEST(Decode, SecretStringDataOverridesDataAndOtherTypesAreSkipped) {
  DecodeResult r = decode_file(
      "apiVersion: v1\n"
      "kind: Secret\n"
      "metadata: {name: tls}\n"
      "type: kubernetes.io/tls\n"
      "data:\n"
      "  tls.crt: |\n"
      "    QUJD\n"
      "    REVG\n"
      "  tls.key: b2xk\n"
      "  empty: \"\"\n"
      "stringData:\n"
      "  tls.key: new\n"
      "---\n"
      "apiVersion: v1\n"
      "kind: Secret\n"
      "metadata: {name: token}\n"
      "type: kubernetes.io/service-account-token\n"
      "data: {token: '!!!'}\n"
      "---\n"
      "apiVersion: v1\n"
      "kind: Secret\n"
      "metadata: {name: untyped}\n"
      "stringData: {password: x}\n",
      "secrets.yaml");
  ASSERT_TRUE(r.errors.empty()) << ::testing::PrintToString(messages(r));
  ASSERT_EQ(r.objects.size(), 1u);
  const Secret& s = std::get<Secret>(r.objects[0]);
  EXPECT_EQ(s.data.at("tls.crt"), "ABCDEF");  // line breaks inside base64 are allowed
  EXPECT_EQ(s.data.at("tls.key"), "new");
  EXPECT_EQ(s.data.at("empty"), "");
}

TEST(Decode, Base64PaddingRules) {
  auto decode_crt = [](const std::string& encoded) {
    return decode_json(R"({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                          "type": "kubernetes.io/tls",
                          "data": {"tls.key": "", "tls.crt": ")" +
                           encoded + "\"}}",
                       Origin{});
  };
  for (const char* good : {"", "QQ==", "QUI=", "QUJD", "+/+/"}) {
    DecodeResult r = decode_crt(good);
    EXPECT_TRUE(r.errors.empty()) << good << ": " << ::testing::PrintToString(messages(r));
  }
  for (const char* bad : {"QQ", "QQ=", "Q===", "QQ==QUJD", "QU=D", "QU JD", "QUJ-", "QUJD="}) {
    DecodeResult r = decode_crt(bad);
    ASSERT_EQ(r.errors.size(), 1u) << bad;
    EXPECT_EQ(r.errors[0].to_string(), "Secret default/s: data[tls.crt]: is not valid base64")
        << bad;
  }
}

TEST(Decode, DiagnosticsAreRejectedErrorsAndWarningsAreNot) {
  DecodeResult r = decode_file(
      "apiVersion: networking.k8s.io/v1beta1\n"
      "kind: Ingress\n"
      "metadata: {name: old}\n"
      "---\n"
      "apiVersion: v1\n"
      "kind: Service\n"
      "metadata: {name: web}\n"
      "spec: {ports: [{port: 0}]}\n",
      "mixed.yaml");
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].severity, routing::Diagnostic::Severity::kWarning);
  EXPECT_FALSE(r.errors[0].rejected);
  EXPECT_EQ(r.errors[1].severity, routing::Diagnostic::Severity::kError);
  EXPECT_TRUE(r.errors[1].rejected);
  EXPECT_EQ(r.errors[1].object, "Service default/web");
  EXPECT_EQ(r.errors[1].where, "mixed.yaml:8");
  EXPECT_EQ(r.errors[1].field, "spec.ports[0].port");
  EXPECT_EQ(r.errors[1].message, "0 is out of range 1..65535");
  EXPECT_FALSE(r.syntax_error);
}

TEST(Decode, SyntaxErrorsRejectTheWholeFile) {
  DecodeResult r = decode_file(
      "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n"
      "a: [1\n",
      "f.yaml");
  EXPECT_TRUE(r.syntax_error);
  EXPECT_TRUE(r.objects.empty());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_TRUE(r.errors[0].rejected);
}

TEST(Decode, EmptyFilesHoldNothing) {
  for (const char* text : {"", "\n\n", "# nothing\n", "---\n---\n"}) {
    DecodeResult r = decode_file(text, "e.yaml");
    EXPECT_TRUE(r.objects.empty());
    EXPECT_TRUE(r.errors.empty()) << ::testing::PrintToString(messages(r));
  }
  for (const char* text : {"", " \n\n"}) {
    DecodeResult r = decode_file(text, "e.json");
    EXPECT_TRUE(r.objects.empty());
    EXPECT_TRUE(r.errors.empty()) << ::testing::PrintToString(messages(r));
  }
}

TEST(Decode, DecodeJsonPlacesLinesWithinItsOrigin) {
  const std::string text =
      "{\"apiVersion\": \"v1\", \"kind\": \"Service\",\n"
      " \"metadata\": {\"name\": \"web\"},\n"
      " \"spec\": {\"ports\": [{\"port\": true}]}}\n";
  DecodeResult in_file = decode_json(text, Origin{"stream.json", 4, 20});
  ASSERT_EQ(in_file.errors.size(), 1u);
  EXPECT_EQ(in_file.errors[0].to_string(),
            "stream.json:22 Service default/web: spec.ports[0].port: must be an integer, not "
            "the boolean true");
  // From the API there is no file: the message names the object and field only.
  DecodeResult from_api = decode_json(text, Origin{});
  ASSERT_EQ(from_api.errors.size(), 1u);
  EXPECT_EQ(from_api.errors[0].to_string(),
            "Service default/web: spec.ports[0].port: must be an integer, not the boolean true");
  DecodeResult broken = decode_json("{\"a\": }", Origin{});
  EXPECT_TRUE(broken.syntax_error);
  ASSERT_EQ(broken.errors.size(), 1u);
  EXPECT_EQ(broken.errors[0].to_string().rfind("(input):1: JSON syntax error: ", 0), 0u)
      << broken.errors[0].to_string();
}

// Every case of fixtures/decode/errors.yaml.
TEST(Decode, RejectedInputTable) {
  YAML::Node cases = YAML::LoadFile(kFixtures + "errors.yaml");
  ASSERT_TRUE(cases.IsSequence());
  ASSERT_GE(cases.size(), 20u);
  for (const YAML::Node& c : cases) {
    const std::string name = c["name"].as<std::string>();
    SCOPED_TRACE(name);
    const std::string file = c["file"] ? c["file"].as<std::string>() : "bad.yaml";
    DecodeResult r = decode_file(c["manifest"].as<std::string>(), file);
    std::vector<std::string> expected;
    for (const YAML::Node& e : c["expect"]) {
      expected.push_back(e.as<std::string>());
    }
    EXPECT_EQ(messages(r), expected);
    EXPECT_EQ(r.objects.size(), c["objects"] ? c["objects"].as<size_t>() : 0u);
    EXPECT_EQ(r.syntax_error, c["syntax_error"] ? c["syntax_error"].as<bool>() : false);
    for (const routing::Diagnostic& d : r.errors) {
      if (d.severity == routing::Diagnostic::Severity::kError) {
        EXPECT_TRUE(d.rejected) << d.to_string();
      }
    }
  }
}

// The public routing vectors hold the objects other tests feed to the compiler: all of them
// must decode cleanly (this is also how the API path will see them: one JSON item each).
TEST(Decode, SharedVectorObjectsDecodeCleanly) {
  const std::string path = std::string(LINTEL_SHARED_DIR) + "/vectors/ingress-public.json";
  std::string text = read_text(path);
  if (text.empty()) {
    GTEST_SKIP() << path << " not present";
  }
  json vectors = json::parse(text);
  size_t decoded = 0;
  for (const json& c : vectors["cases"]) {
    for (const char* group : {"ingresses", "services", "endpointslices"}) {
      if (!c.contains(group)) {
        continue;
      }
      for (const json& object : c[group]) {
        DecodeResult r = decode_json(object.dump(), Origin{});
        EXPECT_TRUE(r.errors.empty()) << c["name"] << ": " << ::testing::PrintToString(messages(r));
        decoded += r.objects.size();
      }
    }
  }
  EXPECT_GT(decoded, 50u);
}

}  // namespace
}  // namespace lintel::ingress
