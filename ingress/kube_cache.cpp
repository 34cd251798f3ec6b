#include "ingress/kube_cache.h"

#include <nlohmann/json.hpp>
#include <set>

#include "ingress/decode.h"

namespace lintel::ingress {

namespace {

using json = nlohmann::json;

constexpr KubeKindInfo kKinds[] = {
    {"IngressClass", "networking.k8s.io/v1", "/apis/networking.k8s.io/v1", "ingressclasses", false,
     ""},
    {"Ingress", "networking.k8s.io/v1", "/apis/networking.k8s.io/v1", "ingresses", true, ""},
    {"Service", "v1", "/api/v1", "services", true, ""},
    {"EndpointSlice", "discovery.k8s.io/v1", "/apis/discovery.k8s.io/v1", "endpointslices", true,
     ""},
    // Only TLS Secrets: the server filters, so Lintel never holds other Secrets in memory
    // (and needs RBAC to read nothing else in spirit, though list/watch RBAC cannot say so).
    {"Secret", "v1", "/api/v1", "secrets", true, "type=kubernetes.io/tls"},
};


// Read field by field with type checks: the object is the one the decoder refused, so any
// field may have any type.
RejectedIngress rejected_ingress(const std::string& key, const json& object) {
  RejectedIngress out;
  out.key = key;
  const size_t slash = key.find('/');
  out.namespace_ = key.substr(0, slash);
  out.name = slash == std::string::npos ? key : key.substr(slash + 1);
  out.uid = string_at(object, {"metadata", "uid"});
  out.resource_version = string_at(object, {"metadata", "resourceVersion"});
  if (auto spec = object.find("spec"); spec != object.end() && spec->is_object()) {
    if (auto name = spec->find("ingressClassName"); name != spec->end() && name->is_string()) {
      out.ingress_class_name = name->get<std::string>();
    }
  }
  if (auto meta = object.find("metadata"); meta != object.end() && meta->is_object()) {
    if (auto annotations = meta->find("annotations");
        annotations != meta->end() && annotations->is_object()) {
      if (auto value = annotations->find("kubernetes.io/ingress.class");
          value != annotations->end() && value->is_string()) {
        out.class_annotation = value->get<std::string>();
      }
    }
  }
  return out;
}

}  // namespace

const KubeKindInfo& kube_kind_info(KubeKind kind) { return kKinds[static_cast<int>(kind)]; }

std::string collection_path(KubeKind kind, const std::string& watch_namespace) {
  const KubeKindInfo& info = kube_kind_info(kind);
  std::string path = info.group_path;
  if (info.namespaced && !watch_namespace.empty()) {
    path += "/namespaces/" + query_escape(watch_namespace);
  }
  path += '/';
  path += info.resource;
  return path;
}

std::string query_escape(const std::string& value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string list_query(KubeKind kind, int limit, const std::string& continue_token) {
  std::string query = "limit=" + std::to_string(limit);
  if (const char* selector = kube_kind_info(kind).field_selector; *selector != '\0') {
    query += "&fieldSelector=" + query_escape(selector);
  }
  if (!continue_token.empty()) {
    query += "&continue=" + query_escape(continue_token);
  }
  return query;
}

std::string watch_query(KubeKind kind, const std::string& resource_version, int timeout_seconds) {
  std::string query =
      "watch=1&allowWatchBookmarks=true&resourceVersion=" + query_escape(resource_version) +
      "&timeoutSeconds=" + std::to_string(timeout_seconds);
  if (const char* selector = kube_kind_info(kind).field_selector; *selector != '\0') {
    query += "&fieldSelector=" + query_escape(selector);
  }
  return query;
}

WatchEventType parse_event_type(const std::string& type) {
  if (type == "ADDED") return WatchEventType::kAdded;
  if (type == "MODIFIED") return WatchEventType::kModified;
  if (type == "DELETED") return WatchEventType::kDeleted;
  if (type == "BOOKMARK") return WatchEventType::kBookmark;
  if (type == "ERROR") return WatchEventType::kError;
  return WatchEventType::kUnknown;
}

std::string string_at(const json& object, std::initializer_list<const char*> path) {
  const json* node = &object;
  for (const char* key : path) {
    if (!node->is_object()) {
      return {};
    }
    auto it = node->find(key);
    if (it == node->end()) {
      return {};
    }
    node = &*it;
  }
  return node->is_string() ? node->get<std::string>() : std::string();
}

std::string api_object_key(const json& object, bool namespaced) {
  std::string name = string_at(object, {"metadata", "name"});
  if (!namespaced) {
    return name;
  }
  std::string ns = string_at(object, {"metadata", "namespace"});
  return (ns.empty() ? std::string("default") : ns) + "/" + name;
}

std::string KindCache::key_of(const json& object) const {
  return api_object_key(object, kube_kind_info(kind_).namespaced);
}

bool KindCache::upsert(Entry& entry, const std::string& key, const json& object) const {
  // What the object says apart from bookkeeping the API server changes on its own (a
  // status write bumps resourceVersion; managedFields churn on every apply): equal prints
  // mean nothing Lintel reads can differ, so the event is not a change.
  json stripped = object;
  if (auto meta = stripped.find("metadata"); meta != stripped.end() && meta->is_object()) {
    meta->erase("resourceVersion");
    meta->erase("managedFields");
    meta->erase("generation");
  }
  stripped.erase("status");
  // List items may come without kind/apiVersion: the list's kind is the type.
  const KubeKindInfo& info = kube_kind_info(kind_);
  stripped["kind"] = info.kind;
  stripped["apiVersion"] = info.api_version;
  std::string print = stripped.dump(-1, ' ', false, json::error_handler_t::replace);
  if (print == entry.fingerprint) {
    return false;
  }
  entry.fingerprint = print;

  DecodeResult decoded = decode_json(print, Origin{});
  entry.problems.clear();
  entry.rejected.reset();
  for (routing::Diagnostic& d : decoded.errors) {
    if (d.rejected || d.severity == routing::Diagnostic::Severity::kError) {
      if (kind_ == KubeKind::kIngress && !entry.rejected) {
        entry.rejected = rejected_ingress(key, object);
      }
      d.rejected = true;
      if (d.reason.empty()) {
        d.reason = "Rejected";
      }
      d.message += entry.good ? " (the last good version of the object stays in force)"
                              : " (the object is not served)";
    }
    entry.problems.push_back(std::move(d));
  }
  for (Object& decoded_object : decoded.objects) {
    if (object_key(meta_of(decoded_object), info.namespaced) == key) {
      entry.good = std::move(decoded_object);
      break;
    }
  }
  return true;
}

bool KindCache::apply(WatchEventType type, const json& object) {
  if (!object.is_object()) {
    return false;
  }
  const std::string key = key_of(object);
  if (type == WatchEventType::kDeleted) {
    return entries_.erase(key) > 0;
  }
  if (type != WatchEventType::kAdded && type != WatchEventType::kModified) {
    return false;
  }
  auto [it, inserted] = entries_.try_emplace(key);
  bool changed = upsert(it->second, key, object);
  if (!it->second.good && it->second.problems.empty()) {
    // Decoded to nothing and said nothing: a kind the decoder skips (a Secret that is not
    // kubernetes.io/tls slipping past the field selector). Not ours to hold.
    entries_.erase(it);
    return !inserted;
  }
  return changed || inserted;
}

ReplaceResult KindCache::replace(const std::vector<json>& items) {
  ReplaceResult result;
  std::set<std::string> seen;
  for (const json& item : items) {
    if (!item.is_object()) {
      continue;
    }
    std::string key = key_of(item);
    const bool known = entries_.count(key) > 0;
    if (apply(WatchEventType::kAdded, item)) {
      result.changed = true;
    }
    if (entries_.count(key) > 0) {
      seen.insert(key);
      if (!known) {
        ++result.added;
      }
    }
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (seen.count(it->first) == 0) {
      result.deleted.push_back(it->first);
      it = entries_.erase(it);
      result.changed = true;
    } else {
      ++it;
    }
  }
  return result;
}

std::vector<RejectedIngress> KindCache::rejected_ingresses() const {
  std::vector<RejectedIngress> out;
  for (const auto& [key, entry] : entries_) {
    if (entry.rejected && !entry.good) {
      out.push_back(*entry.rejected);
    }
  }
  return out;
}

void KindCache::fill(ClusterState& state, std::vector<routing::Diagnostic>& diagnostics) const {
  for (const auto& [key, entry] : entries_) {
    if (entry.good) {
      state.put(*entry.good);
    }
    diagnostics.insert(diagnostics.end(), entry.problems.begin(), entry.problems.end());
  }
}

}  // namespace lintel::ingress
