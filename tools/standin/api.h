#pragma once
// The Kubernetes API as the stand-in serves it, without any HTTP machinery: a parsed
// request in, a reply (status + JSON) or a watch plan out. kube_standin.cpp owns sockets,
// TLS, auth, knobs and the watch streams; everything about objects lives here, so this
// translation unit stays free of Beast.
//
// What is modelled (see `kube-standin --help` for the list a user sees):
//   GET/LIST/WATCH/CREATE/UPDATE/PATCH/DELETE/DELETECOLLECTION on the kinds of
//   resources.h, the /status subresource, label selectors (=, ==, !=, in, notin, exists),
//   field selectors (metadata.name, metadata.namespace and a few per kind), limit/continue
//   pages served from a snapshot taken by the first page (so the list resourceVersion stays
//   valid across pages), resourceVersion / resourceVersionMatch semantics, "Too large
//   resource version", 410 Expired, optimistic concurrency, no-op writes that keep the
//   resourceVersion, merge / JSON / (approximated) strategic-merge patches.
//   Events: events.k8s.io/v1 and core v1 are one store in two shapes (resources.h:
//   storage_of / to_served / to_stored); the real server's Event validation (422 Invalid);
//   MicroTime fields written back in its six-digit form. GETs that ask for a meta.k8s.io/v1
//   Table (kubectl get) get one for the kinds resources.h has columns for.
//
// Thread: one (the server's io_context thread).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "standin/resources.h"
#include "standin/store.h"

namespace lintel::standin {

struct Request {
  std::string method;
  std::string target;  // path and query, as received
  std::string content_type;
  std::string accept;
  std::string body;
  std::string user_agent;  // for the --verbose log only
};

struct Reply {
  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

// A metav1.Status failure: {"kind":"Status",...,"reason":reason,"code":code}.
Reply status_reply(unsigned code, const std::string& reason, const std::string& message,
                   json details = nullptr);
// The usual reason for an HTTP status (404 → NotFound, 429 → TooManyRequests, ...).
std::string reason_for(unsigned code);

// Decodes %XX (and '+' in queries) — request paths and query values.
std::string percent_decode(std::string_view text, bool plus_is_space);
// Query string → decoded name/value pairs (a repeated name: the first one wins).
std::map<std::string, std::string> parse_query(std::string_view query);

// One requirement of a label or field selector.
struct Requirement {
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kNotExists };
  std::string key;
  Op op = Op::kEquals;
  std::vector<std::string> values;
};

struct WatchFilter {
  const Resource* resource = nullptr;
  std::string ns;  // "" = every namespace
  std::vector<Requirement> labels;
  std::vector<Requirement> fields;

  bool matches(const json& object) const;
};

enum class EventKind { kNone, kAdded, kModified, kDeleted, kLeft };

// What the server must stream for a WATCH that was accepted.
struct WatchPlan {
  WatchFilter filter;
  std::vector<std::string> initial;  // rendered events to send first, in order
  bool bookmarks = false;            // allowWatchBookmarks=true
  std::chrono::seconds timeout{1800};
  std::string describe;  // "ingresses in all namespaces from rv 12", for the log
};

class Api {
 public:
  // `server_address`: "127.0.0.1:PORT", for /api's serverAddressByClientCIDRs.
  Api(Store& store, std::string server_address);

  std::variant<Reply, WatchPlan> handle(const Request& request);

  // The watch event a change makes for one watch (kNone: the watch does not see it). A
  // MODIFIED object that starts matching a selector is ADDED, one that stops matching is
  // DELETED (kLeft), as the real watch cache does. Split from render() so that the server
  // serializes each change once per kind, not once per watch.
  static EventKind classify(const WatchFilter& filter, const Change& change);
  // `served`: the watched resource (filter.resource), whose shape the object is sent in
  // (an events.k8s.io/v1 watch sees core v1 Event changes converted).
  static std::string render(EventKind kind, const Change& change, const Resource& served);
  // A BOOKMARK at the store's current version (or the initial-events-end one).
  std::string bookmark(const WatchFilter& filter, bool initial_events_end = false) const;
  // The in-stream ERROR event of an expired watch (Status 410 Expired).
  std::string expired_event() const;

  // /_standin/compact: watch history gone, and every outstanding continue token with it.
  void compact();

 private:
  struct Target;
  struct ListSnapshot {
    const Resource* resource = nullptr;
    uint64_t rv = 0;
    std::vector<json> items;
    std::chrono::steady_clock::time_point created;
  };

  std::variant<Reply, WatchPlan> handle_resource(const Request& request, const Target& target,
                                                 const std::map<std::string, std::string>& query);
  Reply get(const Target& target);
  std::variant<Reply, WatchPlan> list_or_watch(const Target& target,
                                               const std::map<std::string, std::string>& query);
  Reply list(const Target& target, const std::map<std::string, std::string>& query,
             const WatchFilter& filter);
  std::variant<Reply, WatchPlan> watch(const std::map<std::string, std::string>& query,
                                       WatchFilter filter);
  Reply create(const Target& target, const Request& request);
  Reply update(const Target& target, const Request& request);
  Reply patch(const Target& target, const Request& request,
              const std::map<std::string, std::string>& query);
  Reply remove(const Target& target, const Request& request);
  Reply remove_collection(const Target& target, const std::map<std::string, std::string>& query);
  // The common tail of update and patch: preconditions, status handling, generation,
  // no-op detection, the write itself.
  Reply write_object(const Target& target, const json& current, json incoming);
  Reply write_update(const Target& target, const json& current, json desired);
  Reply create_object(const Target& target, json object);
  // The objects of a resource as they were at `rv` (>= the history start), rebuilt by
  // undoing the recorded changes after it.
  std::vector<json> objects_at(const Resource& resource, uint64_t rv) const;

  Store& store_;
  std::string server_address_;
  std::map<uint64_t, ListSnapshot> snapshots_;
  uint64_t next_snapshot_ = 1;
};

}  // namespace lintel::standin
