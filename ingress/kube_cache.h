#pragma once
// The informer side that needs no network: which collections exist, and the per-kind
// cache that LIST results and WATCH events are folded into.
//
// KindCache keeps, per object key, the last version that decoded cleanly (what the
// compiler sees) and the diagnostics of the newest version when it was rejected. A bad
// update therefore never takes a working route away: DESIGN.md's "the last good state
// keeps serving", applied per object. The diagnostic says so, and it goes away with the
// next good version or the object's deletion.
//
// replace() is client-go's DeltaFIFO Replace: after a relist the list is the truth, and
// every cached key missing from it is a delete that happened while we were not watching.
//
// Thread: one owner (the control thread).

#include <initializer_list>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "ingress/cluster_state.h"
#include "routing/diagnostic.h"

namespace lintel::ingress {

enum class KubeKind { kIngressClass, kIngress, kService, kEndpointSlice, kSecret };
inline constexpr KubeKind kAllKubeKinds[] = {KubeKind::kIngressClass, KubeKind::kIngress,
                                             KubeKind::kService, KubeKind::kEndpointSlice,
                                             KubeKind::kSecret};

struct KubeKindInfo {
  const char* kind;         // "Ingress"
  const char* api_version;  // "networking.k8s.io/v1"
  const char* group_path;   // "/apis/networking.k8s.io/v1" or "/api/v1"
  const char* resource;     // "ingresses"
  bool namespaced;
  const char* field_selector;  // "" or "type=kubernetes.io/tls"
};

const KubeKindInfo& kube_kind_info(KubeKind kind);

// The collection's path: /apis/<group>/<version>[/namespaces/<ns>]/<resource>.
// `watch_namespace` applies to namespaced kinds only.
std::string collection_path(KubeKind kind, const std::string& watch_namespace);

// The query string of a LIST page or a WATCH (no leading '?'), escaped.
std::string list_query(KubeKind kind, int limit, const std::string& continue_token);
std::string watch_query(KubeKind kind, const std::string& resource_version, int timeout_seconds);

// The string at `path` in an API object ("" when absent or not a string), e.g.
// string_at(object, {"metadata", "name"}).
std::string string_at(const nlohmann::json& object, std::initializer_list<const char*> path);

// "namespace/name" of an API object (a missing namespace is "default"); the name alone for
// a cluster-scoped kind. The key of every cache and status map.
std::string api_object_key(const nlohmann::json& object, bool namespaced);

// Percent-encodes a query parameter value (RFC 3986 unreserved kept).
std::string query_escape(const std::string& value);

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError, kUnknown };
WatchEventType parse_event_type(const std::string& type);

// What is known of an Ingress whose newest version the decoder rejected and that has no
// good version (so it is not in the ClusterState): enough to tell whether it is ours and to
// point a Kubernetes Event at it (kube_events.h). Read from the raw object, not decoded.
struct RejectedIngress {
  std::string key;  // "namespace/name"
  std::string namespace_;
  std::string name;
  std::string uid;
  std::string resource_version;
  std::optional<std::string> ingress_class_name;  // spec.ingressClassName
  std::string class_annotation;                   // kubernetes.io/ingress.class
};

struct ReplaceResult {
  std::vector<std::string> deleted;  // keys that vanished (synthesized deletes)
  size_t added = 0;                  // keys new to the cache
  bool changed = false;
};

class KindCache {
 public:
  explicit KindCache(KubeKind kind) : kind_(kind) {}

  // ADDED/MODIFIED (upsert) or DELETED of one API object. Returns true when what the
  // compiler sees (objects or diagnostics) changed.
  bool apply(WatchEventType type, const nlohmann::json& object);
  // A relist: `items` is the whole collection.
  ReplaceResult replace(const std::vector<nlohmann::json>& items);

  // Adds this kind's good objects to `state` and its diagnostics to `diagnostics`.
  void fill(ClusterState& state, std::vector<routing::Diagnostic>& diagnostics) const;
  // The Ingresses (this is the Ingress kind's cache) whose newest version was rejected and
  // that have no good version, by key; empty for other kinds.
  std::vector<RejectedIngress> rejected_ingresses() const;

  size_t size() const { return entries_.size(); }
  bool contains(const std::string& key) const { return entries_.count(key) > 0; }
  KubeKind kind() const { return kind_; }

 private:
  struct Entry {
    std::optional<Object> good;                 // last version that decoded cleanly
    std::vector<routing::Diagnostic> problems;  // of the newest version ("" when it is good)
    std::string fingerprint;                    // newest version's JSON minus volatile fields
    std::optional<RejectedIngress> rejected;    // an Ingress whose newest version was rejected
  };
  // Decodes `object` into `entry` (keeping `good` on rejection). Returns true on change.
  bool upsert(Entry& entry, const std::string& key, const nlohmann::json& object) const;
  std::string key_of(const nlohmann::json& object) const;

  KubeKind kind_;
  std::map<std::string, Entry> entries_;
};

}  // namespace lintel::ingress
