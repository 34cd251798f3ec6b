#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "admin/admin_server.h"

namespace lintel::admin {
namespace {

TEST(RoutesJson, ShowsGenerationHostsBackendsEndpointsAndDiagnostics) {
  auto endpoints = std::make_shared<routing::EndpointSet>();
  endpoints->endpoints.push_back({"127.0.0.5", 9001, false, true});
  auto backend = std::make_shared<routing::Backend>();
  backend->name = "shop/web:80";
  backend->service_namespace = "shop";
  backend->service_name = "web";
  backend->port = "80";
  backend->endpoints = endpoints;
  auto missing = std::make_shared<routing::Backend>();
  missing->name = "shop/gone:80";
  missing->problem = "service not found";
  missing->endpoints = std::make_shared<routing::EndpointSet>();

  routing::RouteTable::Builder builder;
  routing::Route route;
  route.path = "/app";
  route.rule_path = "/app/";
  route.path_type = "Prefix";
  route.backend = backend;
  route.source = "Ingress shop/web";
  route.max_body_bytes = 1024;
  route.tls = true;
  builder.add_route("Shop.Example.com", route);
  builder.set_default_backend(missing);

  proxy::Snapshot snapshot;
  snapshot.generation = 7;
  snapshot.routes = std::move(builder).build();
  snapshot.certs = std::make_shared<tls::CertStore>();
  snapshot.diagnostics.push_back({routing::Diagnostic::Severity::kError, "Ingress shop/bad",
                                  "a.yaml:3", "spec.rules[0].host", "bad host", true, "Rejected"});

  auto json = nlohmann::json::parse(routes_json(snapshot));
  EXPECT_EQ(json["generation"], 7);
  ASSERT_EQ(json["hosts"].size(), 1u);
  EXPECT_EQ(json["hosts"][0]["host"], "shop.example.com");
  const auto& r = json["hosts"][0]["routes"][0];
  EXPECT_EQ(r["path"], "/app/");
  EXPECT_EQ(r["type"], "Prefix");
  EXPECT_EQ(r["backend"]["name"], "shop/web:80");
  EXPECT_EQ(r["max_body_bytes"], 1024);
  EXPECT_EQ(r["tls"], true);
  EXPECT_EQ(r["https_redirect"], false);
  EXPECT_EQ(r["backend"]["endpoints"][0]["address"], "127.0.0.5:9001");
  EXPECT_EQ(json["default_backend"]["problem"], "service not found");
  ASSERT_EQ(json["diagnostics"].size(), 1u);
  EXPECT_EQ(json["diagnostics"][0]["rejected"], true);
  EXPECT_EQ(json["diagnostics"][0]["reason"], "Rejected");
  EXPECT_EQ(json["diagnostics"][0]["text"],
            "a.yaml:3 Ingress shop/bad: spec.rules[0].host: bad host");
}

}  // namespace
}  // namespace lintel::admin
