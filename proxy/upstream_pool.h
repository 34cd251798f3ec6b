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

  // The most recently used idle connection to `key` that still looks open, if any.
  // Connections closed by the peer, holding unexpected bytes, or idle for longer than
  // the idle timeout are dropped on the way.
  std::optional<Socket> take(const std::string& key);
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
