#pragma once
// Idle keep-alive connections to endpoints, per worker, keyed by "address:port".
//
// Thread: one pool per worker, used on that worker's thread only.

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proxy/io.h"

namespace lintel::proxy {

class UpstreamPool {
 public:
  using Socket = proxy::Socket;
  using Clock = std::chrono::steady_clock;

  UpstreamPool(size_t max_idle_per_endpoint, std::chrono::milliseconds idle_timeout)
      : max_idle_(max_idle_per_endpoint), idle_timeout_(idle_timeout) {}

  // Connections parked for less than this are handed out without the liveness check
  // when the caller can retry (see take()).
  static constexpr std::chrono::milliseconds kTrustedIdle{1000};

  // The most recently used idle connection to `key` that still looks open, if any.
  // Connections closed by the peer, holding unexpected bytes, or idle for longer than
  // the idle timeout are dropped on the way.
  // `can_retry`: the caller retries on a new connection when a reused one fails before
  // any response byte (the whole request is still in hand). Then a connection parked for
  // less than kTrustedIdle skips the check (a recv syscall per request, ~1 µs of the
  // proxy's ~20): an origin closing it that soon is caught by the retry, and the one case
  // the retry cannot catch, unsolicited bytes (a "408" sent before an idle close), comes
  // from idle timeouts of seconds, far beyond kTrustedIdle.
  std::optional<Socket> take(std::string_view key, bool can_retry = false);
  // Parks a connection whose last response was complete and that may be reused.
  void put(std::string_view key, Socket socket);
  // Closes connections idle for longer than the idle timeout (called periodically).
  void sweep();
  void close_all();
  size_t idle_count() const;

 private:
  struct Idle {
    Socket socket;
    Clock::time_point since;
  };
  static bool looks_open(Socket& socket);

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  size_t max_idle_;
  std::chrono::milliseconds idle_timeout_;
  // Oldest first. A vector, and an entry kept when its list runs empty (sweep() removes
  // those): a take()/put() pair per request then allocates nothing, where a deque freed
  // and reallocated its block, and erasing the entry its node and key, whenever the list
  // went empty and back (measured: ~0.3 allocations per request at 32 connections).
  std::unordered_map<std::string, std::vector<Idle>, Hash, std::equal_to<>> idle_;
};

}  // namespace lintel::proxy
