#include "admin/admin_server.h"

#include "proxy/address.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace lintel::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// Admin requests are tiny; anything bigger is not a client of ours.
constexpr size_t kAdminHeaderLimit = 16 * 1024;
constexpr auto kAdminRequestTimeout = std::chrono::seconds(10);

class AdminServerImpl final : public AdminServer {
 public:
  AdminServerImpl(asio::io_context& io, tcp::acceptor acceptor)
      : io_(io), acceptor_(std::move(acceptor)) {}

  void start() override {
    asio::co_spawn(io_, accept_loop(), [](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("admin: accept loop ended: {}; the admin listener is down", ex.what());
        }
      }
    });
  }

  void stop() override {
    boost::system::error_code ec;
    acceptor_.close(ec);
    stopped_ = true;
  }

  void publish(proxy::SnapshotPtr snapshot) override { snapshot_ = std::move(snapshot); }
  void set_ready(bool ready) override { ready_ = ready; }

  std::string address() const override {
    boost::system::error_code ec;
    auto ep = acceptor_.local_endpoint(ec);
    if (ec) {
      return "";
    }
    if (ep.address().is_v6()) {
      return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
    }
    return ep.address().to_string() + ":" + std::to_string(ep.port());
  }

 private:
  asio::awaitable<void> accept_loop() {
    while (!stopped_) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (ec == asio::error::operation_aborted || stopped_) {
          co_return;
        }
        spdlog::warn("admin: accept failed: {}; accepting again", ec.message());
        continue;
      }
      asio::co_spawn(io_, session(beast::tcp_stream(std::move(socket))), asio::detached);
    }
  }

  asio::awaitable<void> session(beast::tcp_stream stream) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(kAdminHeaderLimit);
      parser.body_limit(kAdminHeaderLimit);
      stream.expires_after(kAdminRequestTimeout);
      auto [ec, n] =
          co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      if (ec) {
        co_return;  // closed, timed out or garbage: nothing to answer
      }
      auto& request = parser.get();
      http::response<http::string_body> response = answer(request);
      response.keep_alive(request.keep_alive());
      auto [wec, wn] =
          co_await http::async_write(stream, response, asio::as_tuple(asio::use_awaitable));
      if (wec || !response.keep_alive()) {
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        co_return;
      }
    }
  }

  http::response<http::string_body> answer(const http::request<http::string_body>& request) {
    http::response<http::string_body> response;
    response.version(11);
    response.set(http::field::server, "lintel-admin");
    auto text = [&](http::status status, std::string body) {
      response.result(status);
      response.set(http::field::content_type, "text/plain; charset=utf-8");
      response.body() = std::move(body);
    };
    std::string_view target = request.target();
    std::string_view path = target.substr(0, target.find('?'));
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
      text(http::status::method_not_allowed, "method not allowed\n");
      response.set(http::field::allow, "GET, HEAD");
    } else if (path == "/healthz") {
      text(http::status::ok, "ok\n");
    } else if (path == "/readyz") {
      if (ready_ && snapshot_) {
        text(http::status::ok, "ready\n");
      } else {
        text(http::status::service_unavailable,
             snapshot_ ? "not ready: draining\n" : "not ready: no configuration compiled yet\n");
      }
    } else if (path == "/routes") {
      if (!snapshot_) {
        text(http::status::service_unavailable, "no configuration compiled yet\n");
      } else {
        response.result(http::status::ok);
        response.set(http::field::content_type, "application/json");
        response.body() = routes_json(*snapshot_);
      }
    } else {
      text(http::status::not_found, "not found; try /healthz, /readyz or /routes\n");
    }
    response.prepare_payload();
    if (request.method() == http::verb::head) {
      response.body().clear();  // keep the GET answer's Content-Length, send no body
    }
    return response;
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  proxy::SnapshotPtr snapshot_;
  bool ready_ = true;
  bool stopped_ = false;
};

}  // namespace

std::unique_ptr<AdminServer> AdminServer::create(asio::io_context& io, const std::string& address,
                                                 std::string& error) {
  auto parsed = proxy::parse_host_port(address);
  boost::system::error_code ec;
  auto ip = parsed ? asio::ip::make_address(parsed->host.empty() ? "0.0.0.0" : parsed->host, ec)
                   : asio::ip::address();
  if (!parsed || ec) {
    error = "admin listener \"" + address + "\": expected host:port or [v6]:port with an IP literal";
    return nullptr;
  }
  tcp::endpoint endpoint(ip, parsed->port);
  tcp::acceptor acceptor(io);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    error = "admin listener " + address + ": " + ec.message();
    return nullptr;
  }
  return std::make_unique<AdminServerImpl>(io, std::move(acceptor));
}

}  // namespace lintel::admin
