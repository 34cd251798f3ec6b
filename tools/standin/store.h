#pragma once
// The stand-in API server's storage: every object by resource, namespace and name, one
// global resourceVersion counter, a bounded history of changes for watches, and state.json
// persistence (written atomically after every change, loaded at start).
//
// The store knows nothing of HTTP or of Kubernetes semantics (defaults, preconditions,
// generation): api.cpp decides what to write, the store assigns resource versions, keeps
// history and tells the listener.
//
// Thread: one (the server's io_context thread). Nothing here locks.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "standin/resources.h"

namespace lintel::standin {

// One entry of the watch history.
struct Change {
  uint64_t rv = 0;
  const Resource* resource = nullptr;
  std::string type;  // "ADDED", "MODIFIED", "DELETED"
  // The new state; for DELETED the last state, stamped with the deletion's resourceVersion
  // (what the real server sends in a DELETED event).
  json object;
  json previous;  // the state before (null for ADDED)
};

class Store {
 public:
  using Key = std::pair<std::string, std::string>;  // namespace ("" when cluster-scoped), name
  using Objects = std::map<Key, json>;              // ordered: LIST pages by key, like etcd

  // `state_path` empty: nothing is persisted (unit use). `history_limit`: changes kept for
  // watches; a watch from before the oldest kept change gets 410 (like etcd compaction).
  Store(std::string state_path, size_t history_limit);

  // Reads state.json when it exists. An error message when it exists but cannot be used
  // (the stand-in then refuses to start rather than silently starting empty). A fresh
  // store gets the namespaces a real cluster starts with.
  std::optional<std::string> load();

  uint64_t resource_version() const { return rv_; }
  // A watch may start from any resourceVersion >= history_start(): every change after it
  // is still in history(). After a restart or compact() this is the current version.
  uint64_t history_start() const { return history_start_; }
  const std::deque<Change>& history() const { return history_; }
  void compact();

  const Objects& objects(const Resource& resource) const;
  const json* get(const Resource& resource, const std::string& ns, const std::string& name) const;

  // Each write takes the complete new object (namespace and name in its metadata), stamps
  // metadata.resourceVersion with the next version, records the change, saves state.json
  // and calls the listener. They return the stored object.
  json create(const Resource& resource, json object);
  json replace(const Resource& resource, json object);
  json remove(const Resource& resource, const std::string& ns, const std::string& name);

  // Called after every change (the server fans it out to open watches).
  void set_listener(std::function<void(const Change&)> listener) {
    listener_ = std::move(listener);
  }

  // The last save failure ("" when the last save worked), for the log.
  const std::string& save_error() const { return save_error_; }

 private:
  json commit(const Resource& resource, std::string type, json object, json previous);
  void save();

  std::string state_path_;
  size_t history_limit_;
  uint64_t rv_ = 0;
  uint64_t history_start_ = 0;
  std::map<std::string, Objects> by_resource_;  // Resource::id() → objects
  std::deque<Change> history_;
  std::function<void(const Change&)> listener_;
  std::string save_error_;
};

}  // namespace lintel::standin
