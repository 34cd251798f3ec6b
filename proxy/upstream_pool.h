#pragma once
// Idle keep-alive connections to endpoints, per worker, keyed by "address:port".
//
// Thread: one pool per worker, used on that worker's thread only.

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>

namespace lintel::proxy {

class UpstreamPool {
 public:
  using Socket = boost::asio::ip::tcp::socket;
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
  std::optional<Socket> take(const std::string& key, bool can_retry = false);
  // Parks a connection whose last response was complete and that may be reused.
  void put(const std::string& key, Socket socket);
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

  size_t max_idle_;
  std::chrono::milliseconds idle_timeout_;
  std::unordered_map<std::string, std::deque<Idle>> idle_;
};

}  // namespace lintel::proxy
