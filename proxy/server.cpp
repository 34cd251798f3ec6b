#include "proxy/server.h"

#include <sys/socket.h>

#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <mutex>
#include <optional>
#include <vector>

#include "proxy/access_log.h"
#include "proxy/address.h"
#include "proxy/worker.h"

namespace lintel::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// With SO_REUSEPORT on every worker socket, a second Lintel on the same port would bind
// without error and silently share the traffic. A probe without SO_REUSEPORT fails with
// EADDRINUSE when anyone listens there, so the port is still reported as taken.
bool probe_address_free(const tcp::endpoint& endpoint, std::string& error) {
  asio::io_context io;
  tcp::acceptor probe(io);
  boost::system::error_code ec;
  probe.open(endpoint.protocol(), ec);
  if (!ec) probe.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) probe.bind(endpoint, ec);
  if (ec) {
    error = "bind " +
            format_host_port(endpoint.address().to_string(), endpoint.port(),
                             endpoint.address().is_v6()) +
            ": " + ec.message();
    return false;
  }
  probe.close(ec);
  return true;
}

// "host:port" → endpoint, or nullopt with `error` set.
std::optional<tcp::endpoint> resolve(const std::string& text, std::string& error) {
  const auto parsed = parse_host_port(text);
  if (!parsed) {
    error = "listen address \"" + text + "\": expected host:port or [v6]:port with an IP literal";
    return std::nullopt;
  }
  boost::system::error_code ec;
  const auto address = parsed->host.empty() ? asio::ip::address(asio::ip::address_v4::any())
                                            : asio::ip::make_address(parsed->host, ec);
  if (ec || address.is_v6() != parsed->ipv6) {
    error = "listen address \"" + text + "\": not an IP literal";
    return std::nullopt;
  }
  return tcp::endpoint(address, parsed->port);
}

class ServerImpl final : public Server {
 public:
  explicit ServerImpl(const ProxyOptions& options) : options_(options) {
    if (options_.access_log) access_log_ = std::make_unique<AccessLog>();
  }
  ~ServerImpl() override { stop(); }

  bool bind(std::string& error) {
    auto http = resolve(options_.http_address, error);
    if (!http) return false;
    std::optional<tcp::endpoint> https;
    if (!options_.https_address.empty()) {
      https = resolve(options_.https_address, error);
      if (!https) return false;
      // Both listeners use SO_REUSEPORT, so binding them to one port would succeed and
      // split the connections between HTTP and TLS at random.
      if (https->port() != 0 && https->port() == http->port() &&
          (https->address() == http->address() || https->address().is_unspecified() ||
           http->address().is_unspecified())) {
        error = "HTTPS listen address \"" + options_.https_address +
                "\" overlaps the HTTP listener \"" + options_.http_address + "\"";
        return false;
      }
    }
    if (http->port() != 0 && !probe_address_free(*http, error)) return false;
    if (https && https->port() != 0 && !probe_address_free(*https, error)) return false;
    const int count = std::max(1, options_.workers);
    for (int i = 0; i < count; ++i) {
      auto worker = std::make_unique<Worker>(i, options_, access_log_.get());
      if (!worker->bind(Listener::kHttp, *http, error)) return false;
      // Port 0: the first bind picks the port, the other workers share it.
      http->port(worker->port(Listener::kHttp));
      if (https) {
        if (!worker->bind(Listener::kHttps, *https, error)) return false;
        https->port(worker->port(Listener::kHttps));
      }
      workers_.push_back(std::move(worker));
    }
    address_ = format_host_port(http->address().to_string(), http->port(), http->address().is_v6());
    if (https) {
      https_address_ =
          format_host_port(https->address().to_string(), https->port(), https->address().is_v6());
    }
    return true;
  }

  void start() override {
    std::lock_guard lock(mutex_);
    if (started_ || stopped_) return;
    started_ = true;
    for (auto& w : workers_) w->start();
  }

  void publish(SnapshotPtr snapshot) override {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    for (auto& w : workers_) w->publish(snapshot);
  }

  void begin_drain(std::function<void()> drained) override {
    std::lock_guard lock(mutex_);
    if (stopped_ || draining_) return;
    draining_ = true;
    // Each worker reports once; the last one to report calls `drained`.
    auto remaining = std::make_shared<std::atomic<size_t>>(workers_.size());
    auto done = std::make_shared<std::function<void()>>(std::move(drained));
    for (auto& w : workers_) {
      w->begin_drain([remaining, done] {
        if (remaining->fetch_sub(1) == 1 && *done) (*done)();
      });
    }
  }

  size_t open_connections() const override {
    size_t open = 0;
    for (const auto& w : workers_) open += w->open_connections();
    return open;
  }

  void stop() override {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& w : workers_) w->stop();
    for (auto& w : workers_) w->join();
    if (access_log_) access_log_->flush();
  }

  std::string http_address() const override { return address_; }
  std::string https_address() const override { return https_address_; }

  TlsStats tls_stats() const override {
    // workers_ is filled before create() returns and never changes afterwards.
    TlsStats stats;
    for (const auto& w : workers_) w->tls_counters().sum_into(stats);
    return stats;
  }

 private:
  ProxyOptions options_;  // workers keep a reference: lives as long as they do
  std::unique_ptr<AccessLog> access_log_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::string address_;
  std::string https_address_;
  std::mutex mutex_;  // start/publish/stop: control threads only, never the request path
  bool started_ = false;
  bool stopped_ = false;
  bool draining_ = false;
};

}  // namespace

std::unique_ptr<Server> Server::create(const ProxyOptions& options, std::string& error) {
  auto server = std::make_unique<ServerImpl>(options);
  if (!server->bind(error)) return nullptr;
  return server;
}

}  // namespace lintel::proxy
