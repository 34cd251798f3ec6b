#include <nlohmann/json.hpp>

#include "admin/admin_server.h"

namespace lintel::admin {

namespace {

nlohmann::ordered_json backend_json(const routing::Backend& backend) {
  nlohmann::ordered_json endpoints = nlohmann::ordered_json::array();
  for (const routing::Endpoint& e : backend.endpoints->endpoints) {
    endpoints.push_back({{"address", e.to_string()}, {"ready", e.ready}});
  }
  nlohmann::ordered_json out = {{"name", backend.name},
                        {"namespace", backend.service_namespace},
                        {"service", backend.service_name},
                        {"port", backend.port},
                        {"endpoints", std::move(endpoints)}};
  if (!backend.problem.empty()) {
    out["problem"] = backend.problem;
  }
  return out;
}

const char* severity_name(routing::Diagnostic::Severity s) {
  return s == routing::Diagnostic::Severity::kError ? "error" : "warning";
}

}  // namespace

std::string routes_json(const proxy::Snapshot& snapshot) {
  nlohmann::ordered_json hosts = nlohmann::ordered_json::array();
  for (const routing::VirtualHost& vhost : snapshot.routes->virtual_hosts()) {
    nlohmann::ordered_json routes = nlohmann::ordered_json::array();
    for (const routing::Route& route : vhost.routes) {
      nlohmann::ordered_json r = {
          {"path", route.rule_path},
          {"type", route.path_type},
          {"match", route.match == routing::PathMatch::kExact ? "exact" : "prefix"},
          {"backend", backend_json(*route.backend)},
          {"source", route.source},
          {"tls", route.tls},
          {"https_redirect", route.https_redirect}};
      if (route.max_body_bytes) {
        r["max_body_bytes"] = *route.max_body_bytes;  // 0 = explicitly unlimited
      }
      routes.push_back(std::move(r));
    }
    hosts.push_back({{"host", vhost.host.empty() ? "*" : vhost.host}, {"routes", std::move(routes)}});
  }
  nlohmann::ordered_json diagnostics = nlohmann::ordered_json::array();
  for (const routing::Diagnostic& d : snapshot.diagnostics) {
    diagnostics.push_back({{"severity", severity_name(d.severity)},
                           {"object", d.object},
                           {"where", d.where},
                           {"field", d.field},
                           {"message", d.message},
                           {"rejected", d.rejected},
                           {"reason", d.reason},
                           {"text", d.to_string()}});
  }
  nlohmann::ordered_json tls_hosts = nlohmann::ordered_json::array();
  for (const std::string& host : snapshot.certs->hosts()) {
    tls_hosts.push_back(host);
  }
  nlohmann::ordered_json out = {
      {"generation", snapshot.generation},
      {"hosts", std::move(hosts)},
      {"default_backend", snapshot.routes->default_backend()
                              ? backend_json(*snapshot.routes->default_backend())
                              : nlohmann::ordered_json(nullptr)},
      {"tls_hosts", std::move(tls_hosts)},
      {"diagnostics", std::move(diagnostics)},
  };
  return out.dump(2) + "\n";
}

}  // namespace lintel::admin
