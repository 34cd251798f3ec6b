#include "standin/resources.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
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

// ---- one object, two shapes

namespace {

// core v1 Event field ↔ events.k8s.io/v1 Event field, where the names differ.
constexpr std::pair<const char*, const char*> kEventRenames[] = {
    {"involvedObject", "regarding"},
    {"message", "note"},
    {"source", "deprecatedSource"},
    {"firstTimestamp", "deprecatedFirstTimestamp"},
    {"lastTimestamp", "deprecatedLastTimestamp"},
    {"count", "deprecatedCount"},
    {"reportingComponent", "reportingController"},
};

const Resource& core_events() {
  static const Resource& r = *find_kind("v1", "Event");
  return r;
}

bool is_empty_value(const json& v) {
  return v.is_null() || (v.is_string() && v.get<std::string>().empty()) ||
         (v.is_number() && v == 0) || (v.is_object() && v.empty());
}

}  // namespace

const Resource& storage_of(const Resource& served) {
  return served.is_events_v1() ? core_events() : served;
}

json to_served(const Resource& served, json stored) {
  if (!served.is_events_v1() || !stored.is_object()) {
    return stored;
  }
  json out = json::object();
  for (auto& [key, value] : stored.items()) {
    std::string name = key;
    for (const auto& [core, v1] : kEventRenames) {
      if (key == core) {
        name = v1;
      }
    }
    // events.k8s.io/v1 marks every field omitempty; core v1 writes "" / null / {} for the
    // unset ones (reportingComponent, source, firstTimestamp, ...).
    if (name != "metadata" && is_empty_value(value)) {
      continue;
    }
    out[name] = std::move(value);
  }
  out["apiVersion"] = served.api_version();
  out["kind"] = served.kind;
  if (!out.contains("regarding")) {
    out["regarding"] = json::object();  // a struct: present even when empty
  }
  return out;
}

json to_stored(const Resource& served, json object) {
  if (!served.is_events_v1() || !object.is_object()) {
    return object;
  }
  json out = json::object();
  for (auto& [key, value] : object.items()) {
    std::string name = key;
    for (const auto& [core, v1] : kEventRenames) {
      if (key == v1) {
        name = core;
      } else if (key == core) {
        name = "";  // a core-only name in a v1 body is an unknown field there: dropped
      }
    }
    if (!name.empty()) {
      out[name] = std::move(value);
    }
  }
  out["apiVersion"] = core_events().api_version();
  out["kind"] = core_events().kind;
  // What core v1 serializes for the fields it does not mark omitempty.
  for (const char* key : {"involvedObject", "source"}) {
    if (!out.contains(key) || out[key].is_null()) {
      out[key] = json::object();
    }
  }
  for (const char* key : {"reportingComponent", "reportingInstance"}) {
    if (!out.contains(key) || out[key].is_null()) {
      out[key] = "";
    }
  }
  for (const char* key : {"firstTimestamp", "lastTimestamp", "eventTime"}) {
    if (!out.contains(key)) {
      out[key] = nullptr;
    }
  }
  return out;
}

std::string stored_field(const Resource& served, const std::string& label) {
  if (label == "metadata.name" || label == "metadata.namespace") {
    return label;
  }
  static const char* kReference[] = {"kind",       "namespace",       "name",     "uid",
                                     "apiVersion", "resourceVersion", "fieldPath"};
  if (served.kind == "Event") {
    const std::string ref = served.is_events_v1() ? "regarding." : "involvedObject.";
    for (const char* field : kReference) {
      if (label == ref + field) {
        return std::string("involvedObject.") + field;
      }
    }
    if (label == "reason" || label == "type") {
      return label;
    }
    if (label == (served.is_events_v1() ? "reportingController" : "reportingComponent")) {
      return "reportingComponent";
    }
    if (!served.is_events_v1() && label == "source") {
      return "source.component";
    }
    return "";
  }
  if (served.kind == "Secret" && label == "type") {
    return label;
  }
  if (served.kind == "Namespace" && label == "status.phase") {
    return label;
  }
  if (served.kind == "Service" && (label == "spec.clusterIP" || label == "spec.type")) {
    return label;
  }
  return "";
}

// ---- times

std::optional<double> parse_time(std::string_view text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  int used = 0;
  const std::string t(text);
  if (std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &used) != 6 ||
      used != 19) {
    return std::nullopt;
  }
  size_t pos = 19;
  double fraction = 0;
  if (pos < t.size() && t[pos] == '.') {
    size_t end = pos + 1;
    while (end < t.size() && std::isdigit(static_cast<unsigned char>(t[end]))) {
      end++;
    }
    if (end == pos + 1) {
      return std::nullopt;
    }
    fraction = std::stod("0" + t.substr(pos, end - pos));
    pos = end;
  }
  long offset = 0;
  if (pos < t.size() && (t[pos] == 'Z' || t[pos] == 'z') && pos + 1 == t.size()) {
    offset = 0;
  } else if (pos + 6 == t.size() && (t[pos] == '+' || t[pos] == '-') && t[pos + 3] == ':') {
    int oh = 0, om = 0;
    if (std::sscanf(t.c_str() + pos + 1, "%2d:%2d", &oh, &om) != 2) {
      return std::nullopt;
    }
    offset = (t[pos] == '-' ? -1 : 1) * (oh * 3600L + om * 60L);
  } else {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<double>(timegm(&tm) - offset) + fraction;
}

std::optional<std::string> normalize_micro_time(std::string_view text) {
  const auto at = parse_time(text);
  if (!at) {
    return std::nullopt;
  }
  const double whole = std::floor(*at);
  const std::time_t seconds = static_cast<std::time_t>(whole);
  const long micros = std::lround((*at - whole) * 1e6) % 1000000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
  return out;
}

std::string human_duration(double d) {
  const auto seconds = static_cast<long long>(d);
  if (seconds < -1) {
    return "<invalid>";
  }
  if (seconds < 0) {
    return "0s";
  }
  if (seconds < 120) {
    return std::to_string(seconds) + "s";
  }
  const long long minutes = seconds / 60;
  if (minutes < 10) {
    const long long s = seconds % 60;
    return std::to_string(minutes) + "m" + (s == 0 ? "" : std::to_string(s) + "s");
  }
  if (minutes < 180) {
    return std::to_string(minutes) + "m";
  }
  const long long hours = seconds / 3600;
  if (hours < 8) {
    const long long m = minutes % 60;
    return std::to_string(hours) + "h" + (m == 0 ? "" : std::to_string(m) + "m");
  }
  if (hours < 48) {
    return std::to_string(hours) + "h";
  }
  if (hours < 24 * 8) {
    const long long h = hours % 24;
    return std::to_string(hours / 24) + "d" + (h == 0 ? "" : std::to_string(h) + "h");
  }
  if (hours < 24 * 365 * 2) {
    return std::to_string(hours / 24) + "d";
  }
  if (hours < 24 * 365 * 8) {
    const long long dy = (hours / 24) % 365;
    return std::to_string(hours / 24 / 365) + "y" + (dy == 0 ? "" : std::to_string(dy) + "d");
  }
  return std::to_string(hours / 24 / 365) + "y";
}

// ---- tables

namespace {

std::string str(const json& object, std::initializer_list<const char*> path) {
  const json* node = &object;
  for (const char* part : path) {
    if (!node->is_object() || !node->contains(part)) {
      return "";
    }
    node = &(*node)[part];
  }
  return node->is_string() ? node->get<std::string>() : "";
}

// translateTimestampSince: "<unknown>" for a missing time.
std::string since(const std::string& time) {
  const auto at = parse_time(time);
  if (!at) {
    return "<unknown>";
  }
  return human_duration(static_cast<double>(std::time(nullptr)) - *at);
}

json column(const char* name, const char* type, const char* description, int priority = 0,
            const char* format = "") {
  return {{"name", name},
          {"type", type},
          {"format", format},
          {"description", description},
          {"priority", priority}};
}

json columns(const Resource& r) {
  const json name = column("Name", "string",
                           "Name must be unique within a namespace. It is required when creating "
                           "resources, although some resources may allow a client to request the "
                           "generation of an appropriate name automatically.",
                           0, "name");
  const json age = column("Age", "string",
                          "CreationTimestamp is a timestamp representing the server time when "
                          "this object was created.");
  if (r.kind == "Ingress") {
    return {name,
            column("Class", "string", "The name of the IngressClass resource."),
            column("Hosts", "string", "Hosts that incoming requests are matched against."),
            column("Address", "string",
                   "Address is a list containing ingress points for the load-balancer."),
            column("Ports", "string", "Ports of TLS configurations that open."),
            age};
  }
  if (r.kind == "Lease") {
    return {name,
            column("Holder", "string",
                   "HolderIdentity contains the identity of the holder of a current lease."),
            age};
  }
  // Event (both shapes)
  return {
      column("Last Seen", "string",
             "The time at which the most recent occurrence of this event was recorded."),
      column("Type", "string",
             "Type of this event (Normal, Warning), new types could be added in the future."),
      column("Reason", "string",
             "This should be a short, machine understandable string that gives the reason for the "
             "transition into the object's current status."),
      column("Object", "string", "The object that this event is about."),
      column("Subobject", "string", "The subobject (fieldPath) that this event is about.", 1),
      column("Source", "string", "The component reporting this event.", 1),
      column("Message", "string", "A human-readable description of the status of this operation."),
      column("First Seen", "string", "The time at which the event was first recorded.", 1),
      column("Count", "integer", "The number of times this event has occurred.", 1),
      column("Name", "string", "Name of the event.", 1, "name")};
}

json cells(const Resource& r, const json& o) {
  const std::string name = str(o, {"metadata", "name"});
  const std::string age = since(str(o, {"metadata", "creationTimestamp"}));
  if (r.kind == "Ingress") {
    std::string cls = str(o, {"spec", "ingressClassName"});
    std::vector<std::string> hosts;
    size_t rules = 0;
    bool more = false;
    const json spec = o.value("spec", json::object());
    if (spec.contains("rules") && spec["rules"].is_array()) {
      for (const json& rule : spec["rules"]) {
        rules++;
        if (hosts.size() == 3) {
          more = true;
        }
        if (!more && rule.is_object() && !rule.value("host", "").empty()) {
          hosts.push_back(rule.value("host", ""));
        }
      }
    }
    std::string host_text;
    for (const std::string& h : hosts) {
      host_text += (host_text.empty() ? "" : ",") + h;
    }
    if (hosts.empty()) {
      host_text = "*";
    } else if (more) {
      host_text += " + " + std::to_string(rules - 3) + " more...";
    }
    std::set<std::string> addresses;  // sorted, as sets.NewString().List()
    const json lb = o.value("status", json::object()).value("loadBalancer", json::object());
    if (lb.contains("ingress") && lb["ingress"].is_array()) {
      for (const json& point : lb["ingress"]) {
        if (!point.is_object()) {
          continue;
        }
        if (!point.value("ip", "").empty()) {
          addresses.insert(point.value("ip", ""));
        } else if (!point.value("hostname", "").empty()) {
          addresses.insert(point.value("hostname", ""));
        }
      }
    }
    std::string address;
    for (const std::string& a : addresses) {
      address += (address.empty() ? "" : ",") + a;
    }
    const bool tls = spec.contains("tls") && spec["tls"].is_array() && !spec["tls"].empty();
    return {name, cls.empty() ? "<none>" : cls, host_text, address, tls ? "80, 443" : "80", age};
  }
  if (r.kind == "Lease") {
    return {name, str(o, {"spec", "holderIdentity"}), age};
  }
  // Event: printEvent, on the core shape.
  const json e = to_stored(r, o);
  std::string first = since(str(e, {"firstTimestamp"}));
  if (str(e, {"firstTimestamp"}).empty()) {
    first = since(str(e, {"eventTime"}));
  }
  std::string last = str(e, {"lastTimestamp"}).empty() ? first : since(str(e, {"lastTimestamp"}));
  int64_t count =
      e.contains("count") && e["count"].is_number_integer() ? e["count"].get<int64_t>() : 0;
  if (e.contains("series") && e["series"].is_object()) {
    last = since(str(e, {"series", "lastObservedTime"}));
    count = e["series"].value("count", int64_t{0});
  } else if (count == 0) {
    count = 1;
  }
  std::string kind = str(e, {"involvedObject", "kind"});
  std::transform(kind.begin(), kind.end(), kind.begin(), ::tolower);
  const std::string object_name = str(e, {"involvedObject", "name"});
  const std::string target = object_name.empty() ? kind : kind + "/" + object_name;
  std::string component = str(e, {"source", "component"});
  if (component.empty()) {
    component = str(e, {"reportingComponent"});
  }
  std::string host = str(e, {"source", "host"});
  if (host.empty()) {
    host = str(e, {"reportingInstance"});
  }
  std::string message = str(e, {"message"});
  message.erase(0, std::min(message.size(), message.find_first_not_of(" \t\r\n")));
  message.erase(message.find_last_not_of(" \t\r\n") + 1);
  return {last,
          str(e, {"type"}),
          str(e, {"reason"}),
          target,
          str(e, {"involvedObject", "fieldPath"}),
          host.empty() ? component : component + ", " + host,
          message,
          first,
          count,
          name};
}

}  // namespace

bool has_table(const Resource& served) {
  return served.kind == "Ingress" || served.kind == "Lease" || served.kind == "Event";
}

json to_table(const Resource& served, const json& list_or_object,
              const std::string& include_object) {
  const bool is_list = list_or_object.contains("items");
  json rows = json::array();
  const auto row = [&](const json& object) {
    json out = {{"cells", cells(served, object)}};
    if (include_object == "Object") {
      json full = object;
      full["apiVersion"] = served.api_version();
      full["kind"] = served.kind;
      out["object"] = std::move(full);
    } else if (include_object != "None") {
      out["object"] = {{"kind", "PartialObjectMetadata"},
                       {"apiVersion", "meta.k8s.io/v1"},
                       {"metadata", object.value("metadata", json::object())}};
    }
    rows.push_back(std::move(out));
  };
  json meta = json::object();
  if (is_list) {
    for (const json& item : list_or_object["items"]) {
      row(item);
    }
    meta = list_or_object.value("metadata", json::object());
  } else {
    row(list_or_object);
    meta["resourceVersion"] = list_or_object["metadata"].value("resourceVersion", "");
  }
  return {{"kind", "Table"},
          {"apiVersion", "meta.k8s.io/v1"},
          {"metadata", meta},
          {"columnDefinitions", columns(served)},
          {"rows", rows}};
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
