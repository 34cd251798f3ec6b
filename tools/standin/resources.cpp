#include "standin/resources.h"

#include <set>

namespace lintel::standin {

const std::vector<Resource>& resources() {
  static const std::vector<Resource> table = {
      {"", "v1", "Namespace", "namespaces", "namespace", false, {"ns"}, {}, true},
      {"", "v1", "Service", "services", "service", true, {"svc"}, {"all"}, true},
      {"", "v1", "Secret", "secrets", "secret", true, {}, {}, false},
      {"", "v1", "ConfigMap", "configmaps", "configmap", true, {"cm"}, {}, false},
      {"", "v1", "Event", "events", "event", true, {"ev"}, {}, false},
      {"networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", true, {"ing"}, {}, true},
      {"networking.k8s.io",
       "v1",
       "IngressClass",
       "ingressclasses",
       "ingressclass",
       false,
       {},
       {},
       false},
      {"discovery.k8s.io",
       "v1",
       "EndpointSlice",
       "endpointslices",
       "endpointslice",
       true,
       {},
       {},
       false},
      {"coordination.k8s.io", "v1", "Lease", "leases", "lease", true, {}, {}, false},
      {"events.k8s.io", "v1", "Event", "events", "event", true, {"ev"}, {}, false},
  };
  return table;
}

const Resource* find_resource(std::string_view group, std::string_view version,
                              std::string_view plural) {
  for (const Resource& r : resources()) {
    if (r.group == group && r.version == version && r.plural == plural) {
      return &r;
    }
  }
  return nullptr;
}

const Resource* find_kind(std::string_view api_version, std::string_view kind) {
  for (const Resource& r : resources()) {
    if (r.api_version() == api_version && r.kind == kind) {
      return &r;
    }
  }
  return nullptr;
}

json version_document() {
  return {{"major", "1"},
          {"minor", "32"},
          {"gitVersion", "v1.32.0-lintel-standin"},
          {"gitCommit", "0000000000000000000000000000000000000000"},
          {"gitTreeState", "clean"},
          {"buildDate", "2026-01-01T00:00:00Z"},
          {"goVersion", "go1.23.0"},
          {"compiler", "gc"},
          {"platform", "linux/amd64"}};
}

json core_versions_document(const std::string& server_address) {
  return {{"kind", "APIVersions"},
          {"versions", {"v1"}},
          {"serverAddressByClientCIDRs",
           {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server_address}}}}};
}

json groups_document() {
  json groups = json::array();
  std::set<std::string> seen;
  for (const Resource& r : resources()) {
    if (r.group.empty() || !seen.insert(r.group).second) {
      continue;
    }
    json version = {{"groupVersion", r.api_version()}, {"version", r.version}};
    groups.push_back({{"name", r.group}, {"versions", {version}}, {"preferredVersion", version}});
  }
  return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
}

json resource_list_document(std::string_view group, std::string_view version) {
  static const json kVerbs = {"create", "delete", "deletecollection", "get",
                              "list",   "patch",  "update",           "watch"};
  json list = json::array();
  std::string group_version;
  for (const Resource& r : resources()) {
    if (r.group != group || r.version != version) {
      continue;
    }
    group_version = r.api_version();
    json entry = {{"name", r.plural},
                  {"singularName", r.singular},
                  {"namespaced", r.namespaced},
                  {"kind", r.kind},
                  {"verbs", kVerbs}};
    if (!r.short_names.empty()) {
      entry["shortNames"] = r.short_names;
    }
    if (!r.categories.empty()) {
      entry["categories"] = r.categories;
    }
    list.push_back(entry);
    if (r.status_subresource) {
      list.push_back({{"name", r.plural + "/status"},
                      {"singularName", ""},
                      {"namespaced", r.namespaced},
                      {"kind", r.kind},
                      {"verbs", {"get", "patch", "update"}}});
    }
  }
  if (group_version.empty()) {
    return nullptr;
  }
  return {{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", group_version},
          {"resources", list}};
}

json openapi_v3_root() {
  json paths = json::object();
  for (const Resource& r : resources()) {
    const std::string path = r.group.empty() ? "api/" + r.version : "apis/" + r.api_version();
    paths[path] = {{"serverRelativeURL", "/openapi/v3/" + path + "?hash=kube-standin-1"}};
  }
  return {{"paths", paths}};
}

json openapi_v3_document(std::string_view group, std::string_view version) {
  json paths = json::object();
  for (const Resource& r : resources()) {
    if (r.group != group || r.version != version) {
      continue;
    }
    const std::string prefix = r.group.empty() ? "/api/" + r.version : "/apis/" + r.api_version();
    const std::string path =
        prefix + (r.namespaced ? "/namespaces/{namespace}/" : "/") + r.plural + "/{name}";
    paths[path] = {
        {"patch",
         {{"x-kubernetes-group-version-kind",
           {{"group", r.group}, {"version", r.version}, {"kind", r.kind}}},
          {"x-kubernetes-action", "patch"},
          {"parameters",
           {{{"name", "fieldValidation"}, {"in", "query"}, {"schema", {{"type", "string"}}}}}},
          {"responses", {{"200", {{"description", "OK"}}}}}}}};
  }
  if (paths.empty()) {
    return nullptr;
  }
  return {{"openapi", "3.0.0"},
          {"info", {{"title", "Kubernetes"}, {"version", "v1.32.0"}}},
          {"paths", paths},
          {"components", {{"schemas", json::object()}}}};
}

}  // namespace lintel::standin
