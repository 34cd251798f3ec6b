#pragma once
// One worker: a thread running its own io_context, with its own listener sockets (HTTP,
// and HTTPS when configured; SO_REUSEPORT: the kernel spreads connections over the
// workers), upstream pool,
// round-robin state, request-id generator and current snapshot. Everything a request
// touches is owned by its worker, so the request path takes no lock.
//
// Thread: bind() and start() from the thread that creates the server; publish(),
// begin_drain() and stop() from any thread (they post to the worker); the accessors from
// the worker thread.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>

#include "proxy/access_log.h"
#include "proxy/balancer.h"
#include "proxy/io.h"
#include "proxy/log.h"
#include "proxy/request_id.h"
#include "proxy/server.h"
#include "proxy/snapshot.h"
#include "proxy/upstream_pool.h"

namespace lintel::proxy {

// Which listener accepted a connection.
enum class Listener { kHttp, kHttps };

// TLS counters of one worker. Written by the worker thread only (load + store, no locked
// read-modify-write on the handshake path); read by any thread through Server::tls_stats().
struct TlsCounters {
  std::atomic<uint64_t> handshakes{0};
  std::atomic<uint64_t> handshake_failures{0};
  std::atomic<uint64_t> handshake_timeouts{0};
  std::atomic<uint64_t> plain_http{0};
  std::atomic<uint64_t> unknown_sni{0};
  std::atomic<uint64_t> no_certificate{0};

  // Worker thread only.
  static void add(std::atomic<uint64_t>& counter) {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // Any thread: adds this worker's counts to `out`.
  void sum_into(TlsStats& out) const;
};

// A live connection, closed by the worker at stop(). Worker thread only.
class Connection {
 public:
  virtual void close_all() = 0;
  // The worker has begun to drain: a connection waiting for the next request of a
  // keep-alive connection stops waiting and closes; a busy one closes after its response.
  virtual void drain() = 0;

 protected:
  ~Connection() = default;
};

class Worker {
 public:
  Worker(int index, const ProxyOptions& options, AccessLog* access_log);
  ~Worker();

  // Opens, binds and listens for `listener`. "bind 1.2.3.4:80: Address already in use" on
  // failure. The HTTPS listener is optional (ProxyOptions::https_address).
  bool bind(Listener listener, const boost::asio::ip::tcp::endpoint& endpoint, std::string& error);
  uint16_t port(Listener listener) const {
    return listener == Listener::kHttp ? port_ : https_port_;
  }

  void start();
  void publish(SnapshotPtr snapshot);
  // Posts the drain (Server::begin_drain()): listeners closed, idle connections closed,
  // Connection: close on every response from now on. `drained` is called on the worker
  // thread once no downstream connection is left (at once if there is none).
  void begin_drain(std::function<void()> drained);
  void stop();  // posts the shutdown; join() waits for it
  void join();

  // Worker thread only.
  boost::asio::io_context& io() { return io_; }
  const ProxyOptions& options() const { return options_; }
  const SnapshotPtr& snapshot() const { return snapshot_; }
  UpstreamPool& pool() { return pool_; }
  RoundRobin& balancer() { return balancer_; }
  RequestIdGenerator& request_ids() { return request_ids_; }
  AccessLog* access_log() { return access_log_; }
  // Per-request log lines go through this; its summary is logged every kLogSummaryInterval.
  LogThrottle& log_throttle() { return log_throttle_; }
  TlsCounters& tls_counters() { return tls_counters_; }
  // True after the first call since the last publish(): one error line per snapshot about
  // a certificate store without a default certificate.
  bool warned_no_certificate() { return std::exchange(warned_no_certificate_, true); }
  // Any thread.
  const TlsCounters& tls_counters() const { return tls_counters_; }
  bool stopping() const { return stopping_; }
  // After begin_drain(): no response may keep its connection open.
  bool draining() const { return draining_; }
  // Any thread: downstream connections accepted and not yet finished (relaxed read).
  size_t open_connections() const { return open_connections_.load(std::memory_order_relaxed); }
  void track(Connection* c) { connections_.insert(c); }
  void untrack(Connection* c) { connections_.erase(c); }

 private:
  boost::asio::awaitable<void> accept_loop(Listener listener);
  boost::asio::awaitable<void> sweep_loop();
  void log_summary();
  void shutdown();
  void drain(std::function<void()> drained);
  // A session coroutine has finished: counted, and the drain completed when it was the last.
  void connection_finished();
  void check_drained();

  int index_;
  const ProxyOptions& options_;
  AccessLog* access_log_;
  uint16_t port_ = 0;
  uint16_t https_port_ = 0;
  SnapshotPtr snapshot_;
  UpstreamPool pool_;
  RoundRobin balancer_;
  RequestIdGenerator request_ids_;
  LogThrottle log_throttle_;
  TlsCounters tls_counters_;
  bool warned_no_certificate_ = false;
  std::chrono::steady_clock::time_point last_summary_ = std::chrono::steady_clock::now();
  std::unordered_set<Connection*> connections_;
  bool stopping_ = false;
  bool draining_ = false;
  std::function<void()> on_drained_;  // set by drain(), called once by check_drained()
  // Written by the worker thread only (accept, session end); read by any thread. Counted
  // from accept to the end of the session's coroutine, so a connection accepted but not
  // yet running its session is not missed by the drain.
  std::atomic<size_t> open_connections_{0};
  std::thread thread_;
  // Declared last, destroyed first: destroying the io_context destroys the coroutine frames
  // of connections still pending, which refer to the members above.
  boost::asio::io_context io_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  Acceptor acceptor_{io_};
  Acceptor https_acceptor_{io_};  // open only with an HTTPS listener
  boost::asio::steady_timer sweep_timer_{io_};
};

}  // namespace lintel::proxy
