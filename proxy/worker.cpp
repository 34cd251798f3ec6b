#include "proxy/worker.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/log.h"
#include "proxy/session.h"

namespace lintel::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// How often idle pooled upstream connections are checked for their idle timeout.
constexpr std::chrono::seconds kPoolSweepInterval{5};
// Log volume: at most kUpstreamWarningsPerInterval upstream failure warnings per worker per
// kLogSummaryInterval, and one summary line per interval for what was counted instead.
constexpr std::chrono::seconds kLogSummaryInterval{10};
constexpr size_t kUpstreamWarningsPerInterval = 20;
// Pause after accept() fails for lack of descriptors, so the loop does not spin.
constexpr std::chrono::milliseconds kAcceptErrorPause{50};

using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

void log_exception(std::string_view where, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    proxy_log().error("{}: unexpected exception: {}; it was stopped", where, ex.what());
  } catch (...) {
    proxy_log().error("{}: unexpected exception; it was stopped", where);
  }
}

}  // namespace

void TlsCounters::sum_into(TlsStats& out) const {
  constexpr auto relaxed = std::memory_order_relaxed;
  out.handshakes += handshakes.load(relaxed);
  out.handshake_failures += handshake_failures.load(relaxed);
  out.handshake_timeouts += handshake_timeouts.load(relaxed);
  out.plain_http += plain_http.load(relaxed);
  out.unknown_sni += unknown_sni.load(relaxed);
  out.no_certificate += no_certificate.load(relaxed);
}

Worker::Worker(int index, const ProxyOptions& options, AccessLog* access_log)
    : index_(index),
      options_(options),
      access_log_(access_log),
      pool_(options.upstream_idle_per_endpoint, options.upstream_idle_timeout),
      log_throttle_(kUpstreamWarningsPerInterval) {}

Worker::~Worker() {
  // Sockets must go before the io_context they belong to (declared after pool_).
  pool_.close_all();
}

bool Worker::bind(Listener listener, const tcp::endpoint& endpoint, std::string& error) {
  Acceptor& acceptor = listener == Listener::kHttp ? acceptor_ : https_acceptor_;
  boost::system::error_code ec;
  const auto where = [&] {
    return endpoint.address().is_v6()
               ? "[" + endpoint.address().to_string() + "]:" + std::to_string(endpoint.port())
               : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  };
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.set_option(reuse_port(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "bind " + where() + ": " + ec.message();
    acceptor.close(ec);
    return false;
  }
  (listener == Listener::kHttp ? port_ : https_port_) = acceptor.local_endpoint(ec).port();
  return true;
}

void Worker::start() {
  work_.emplace(io_.get_executor());
  asio::co_spawn(io_, accept_loop(Listener::kHttp), [index = index_](std::exception_ptr e) {
    log_exception("worker " + std::to_string(index) + " accept loop", e);
  });
  if (https_acceptor_.is_open()) {
    asio::co_spawn(io_, accept_loop(Listener::kHttps), [index = index_](std::exception_ptr e) {
      log_exception("worker " + std::to_string(index) + " HTTPS accept loop", e);
    });
  }
  asio::co_spawn(io_, sweep_loop(), [index = index_](std::exception_ptr e) {
    log_exception("worker " + std::to_string(index) + " pool sweep", e);
  });
  thread_ = std::thread([this] {
    // Handlers do not throw (coroutines end in a logging completion handler); this loop
    // only keeps a worker alive if something unexpected escapes anyway.
    for (;;) {
      try {
        io_.run();
        return;
      } catch (const std::exception& ex) {
        proxy_log().error("worker {}: unexpected exception: {}; continuing", index_, ex.what());
      }
    }
  });
}

void Worker::publish(SnapshotPtr snapshot) {
  asio::post(io_, [this, snapshot = std::move(snapshot)]() mutable {
    snapshot_ = std::move(snapshot);
    warned_no_certificate_ = false;
  });
}

void Worker::begin_drain(std::function<void()> drained) {
  asio::post(io_, [this, drained = std::move(drained)]() mutable { drain(std::move(drained)); });
}

void Worker::stop() {
  asio::post(io_, [this] { shutdown(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::shutdown() {
  stopping_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  https_acceptor_.close(ec);
  sweep_timer_.cancel();
  // close_all() only cancels operations (their completions are posted), so sessions do not
  // untrack themselves during the loop; the copy keeps it safe should that change.
  const auto connections = connections_;
  for (Connection* c : connections) c->close_all();
  pool_.close_all();
  log_summary();
  work_.reset();  // run() returns once the sessions have unwound
}

void Worker::drain(std::function<void()> drained) {
  if (stopping_ || draining_) return;
  draining_ = true;
  on_drained_ = std::move(drained);
  // Closing a listener also resets the connections still in its kernel backlog; the load
  // balancer stopped sending new ones during the shutdown delay, so few if any are there.
  // An accept that already completed is still served (accept_loop()).
  boost::system::error_code ec;
  acceptor_.close(ec);
  https_acceptor_.close(ec);
  // drain() only cancels the read of an idle connection (its completion is posted), so
  // sessions do not untrack themselves during the loop; the copy keeps it safe regardless.
  const auto connections = connections_;
  for (Connection* c : connections) c->drain();
  proxy_log().debug("worker {}: draining: listeners closed, {} connections open", index_,
                    open_connections());
  check_drained();
}

void Worker::connection_finished() {
  open_connections_.store(open_connections_.load(std::memory_order_relaxed) - 1,
                          std::memory_order_relaxed);
  check_drained();
}

void Worker::check_drained() {
  if (!draining_ || !on_drained_ || open_connections() > 0) return;
  // No session is left to take a pooled upstream connection.
  pool_.close_all();
  std::exchange(on_drained_, nullptr)();
}

void Worker::log_summary() {
  const auto now = std::chrono::steady_clock::now();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - last_summary_);
  last_summary_ = now;
  const std::string summary = log_throttle_.summary();
  if (!summary.empty()) {
    proxy_log().info("worker {}, last {} s: {}", index_, seconds.count(), summary);
  }
}

asio::awaitable<void> Worker::accept_loop(Listener listener) {
  const bool https = listener == Listener::kHttps;
  Acceptor& acceptor = https ? https_acceptor_ : acceptor_;
  for (;;) {
    boost::system::error_code ec;
    Socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    // A connection accepted just before a drain closed the listener is served (with
    // Connection: close); one accepted as the worker stops is closed with the rest.
    if (stopping_) co_return;
    if (ec == asio::error::operation_aborted || (ec && !acceptor.is_open())) co_return;
    if (ec) {
      // EMFILE/ENFILE/ENOBUFS: keep the listener, retry after a pause.
      proxy_log().warn("worker {}: {} accept failed: {}; retrying", index_,
                       https ? "HTTPS" : "HTTP", ec.message());
      asio::steady_timer pause(io_, kAcceptErrorPause);
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    open_connections_.store(open_connections_.load(std::memory_order_relaxed) + 1,
                            std::memory_order_relaxed);
    asio::co_spawn(
        io_,
        https ? run_tls_session(*this, std::move(socket)) : run_session(*this, std::move(socket)),
        [this](std::exception_ptr e) {
          log_exception("worker " + std::to_string(index_) + " connection", e);
          connection_finished();
        });
  }
}

asio::awaitable<void> Worker::sweep_loop() {
  while (!stopping_) {
    boost::system::error_code ec;
    sweep_timer_.expires_after(kPoolSweepInterval);
    co_await sweep_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) co_return;
    pool_.sweep();
    if (std::chrono::steady_clock::now() - last_summary_ >= kLogSummaryInterval) log_summary();
  }
}

}  // namespace lintel::proxy
