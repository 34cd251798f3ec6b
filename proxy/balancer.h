#pragma once
// Round-robin endpoint choice, per worker. The position is keyed by backend name (unique
// within a snapshot and stable across snapshots), so a snapshot swap does not restart
// every backend at its first endpoint.
//
// Thread: one balancer per worker, used on that worker's thread only.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace lintel::proxy {

class RoundRobin {
 public:
  // The index of the endpoint to try first among `count` (> 0), advancing the position.
  size_t next(std::string_view backend_name, size_t count) {
    auto it = positions_.find(backend_name);
    if (it == positions_.end()) {
      // Bound the table: backend names come from configuration, but a long-running worker
      // sees many snapshots; forgetting positions costs only fairness for one round.
      if (positions_.size() >= kMaxBackends) positions_.clear();
      it = positions_.emplace(std::string(backend_name), 0).first;
    }
    const size_t index = it->second % count;
    it->second = index + 1;
    return index;
  }

 private:
  static constexpr size_t kMaxBackends = 100'000;
  // Looked up by string_view without building a std::string: one allocation per request
  // less (backend names are longer than the small-string buffer).
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, size_t, Hash, std::equal_to<>> positions_;
};

}  // namespace lintel::proxy
