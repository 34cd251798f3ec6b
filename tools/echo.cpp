// lintel-echo: a stand-in Pod for tests, demos and benchmarks. Answers every request with
// 200 and a JSON description of what it received, after reading (and discarding) the whole
// body, streamed, so uploads of any size cost constant memory. Keeps connections alive.
// One thread, one io_context; every read and write has a deadline.

#include <CLI/CLI.hpp>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

constexpr char kHelp[] = R"(lintel-echo: answers every request with 200 and JSON
  {"name": NAME, "method": ..., "path": request-target as received,
   "headers": {name: value, or [values] when repeated}, "body_bytes": n}
after reading and discarding the request body. Keeps connections alive.

Test hooks, recognized by the LAST path segment (so they work behind any route prefix):
  .../download?bytes=N[&chunked=1]  streams N bytes ('x') with Content-Length, or chunked
  .../delay?ms=N                     answers (the usual JSON) after N ms (at most 600000)
  .../status?code=N                  answers with status N (100 < N < 600) and the JSON
  .../close                          closes the connection without answering
Prints "listening on ADDR" on stdout once bound.)";

constexpr size_t kHeaderLimit = 64 * 1024;
constexpr size_t kBodyChunk = 64 * 1024;
constexpr std::chrono::seconds kIdleTimeout{120};
constexpr std::chrono::seconds kIoTimeout{60};
constexpr uint64_t kMaxDelayMs = 600'000;

auto use_ec(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

// Value of `key` in a query string ("" if absent).
std::string query_param(std::string_view query, std::string_view key) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t end = query.find('&', pos);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(pos, end - pos);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key) {
      return eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1));
    }
    pos = end + 1;
  }
  return "";
}

uint64_t to_number(std::string_view text, uint64_t fallback) {
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  return ec == std::errc() && end == text.data() + text.size() ? n : fallback;
}

std::string status_reason(unsigned code) {
  switch (code) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

class Connection {
 public:
  Connection(tcp::socket socket, const std::string& name)
      : stream_(std::move(socket)),
        name_(name),
        buffer_(kHeaderLimit + kBodyChunk),
        body_(kBodyChunk) {}

  asio::awaitable<void> run() {
    for (;;) {
      if (!co_await serve_one()) break;
    }
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

 private:
  asio::awaitable<bool> serve_one() {
    http::request_parser<http::buffer_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(boost::none);
    error_code ec;
    stream_.expires_after(kIdleTimeout);
    co_await http::async_read_header(stream_, buffer_, parser, use_ec(ec));
    if (ec) {
      if (ec != http::error::end_of_stream && ec != beast::error::timeout) {
        co_await write_raw(
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"
            "bad request\n");
      }
      co_return false;
    }
    const auto& req = parser.get();
    const std::string target(req.target());
    const std::string method(req.method_string());
    const bool keep_alive = req.keep_alive();
    nlohmann::ordered_json headers = nlohmann::ordered_json::object();
    for (const auto& f : req) {
      const std::string key(f.name_string());
      const std::string value(f.value());
      auto it = headers.find(key);
      if (it == headers.end()) {
        headers[key] = value;
      } else {
        if (!it->is_array()) *it = nlohmann::ordered_json::array({*it});
        it->push_back(value);
      }
    }
    // A client that asked for it waits for "100 Continue" before sending the body.
    if (!parser.is_done() && beast::iequals(req[http::field::expect], "100-continue")) {
      if (!co_await write_raw("HTTP/1.1 100 Continue\r\n\r\n")) co_return false;
    }
    // Read and discard the body, one buffer at a time.
    uint64_t body_bytes = 0;
    while (!parser.is_done()) {
      parser.get().body().data = body_.data();
      parser.get().body().size = body_.size();
      stream_.expires_after(kIoTimeout);
      co_await http::async_read_some(stream_, buffer_, parser, use_ec(ec));
      if (ec == http::error::need_buffer) ec = {};
      body_bytes += body_.size() - parser.get().body().size;
      if (ec) co_return false;
    }

    const size_t q = target.find('?');
    const std::string_view path = std::string_view(target).substr(0, q);
    const std::string_view query =
        q == std::string::npos ? std::string_view() : std::string_view(target).substr(q + 1);
    const std::string_view hook = path.substr(path.rfind('/') + 1);

    if (hook == "close") co_return false;
    if (hook == "download") {
      co_return co_await download(to_number(query_param(query, "bytes"), 0),
                                  query_param(query, "chunked") == "1", method == "HEAD",
                                  keep_alive);
    }
    if (hook == "delay") {
      asio::steady_timer timer(stream_.get_executor());
      timer.expires_after(
          std::chrono::milliseconds(std::min(to_number(query_param(query, "ms"), 0), kMaxDelayMs)));
      co_await timer.async_wait(use_ec(ec));
    }
    unsigned status = 200;
    if (hook == "status") {
      const uint64_t code = to_number(query_param(query, "code"), 200);
      if (code > 100 && code < 600) status = static_cast<unsigned>(code);
    }

    nlohmann::ordered_json info;
    info["name"] = name_;
    info["method"] = method;
    info["path"] = target;
    info["headers"] = std::move(headers);
    info["body_bytes"] = body_bytes;
    // Header values may hold bytes that are not UTF-8 (obs-text): replaced, never thrown.
    std::string body = info.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    body.push_back('\n');
    const bool no_body = status == 204 || status == 304 || method == "HEAD";
    std::string head = "HTTP/1.1 " + std::to_string(status) + " " + status_reason(status) +
                       "\r\nContent-Type: application/json\r\nX-Echo-Name: " + name_ + "\r\n";
    if (status != 204) head += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    if (!keep_alive) head += "Connection: close\r\n";
    head += "\r\n";
    if (!no_body) head += body;
    if (!co_await write_raw(head)) co_return false;
    co_return keep_alive;
  }

  // `head_only`: the answer to HEAD, the same head without the body (RFC 9110 §9.3.2).
  asio::awaitable<bool> download(uint64_t bytes, bool chunked, bool head_only, bool keep_alive) {
    std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nX-Echo-Name: " + name_ +
        "\r\n";
    head += chunked ? std::string("Transfer-Encoding: chunked\r\n")
                    : "Content-Length: " + std::to_string(bytes) + "\r\n";
    if (!keep_alive) head += "Connection: close\r\n";
    head += "\r\n";
    if (!co_await write_raw(head)) co_return false;
    if (head_only) co_return keep_alive;
    std::fill(body_.begin(), body_.end(), 'x');
    uint64_t left = bytes;
    while (left > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, body_.size()));
      char size_line[24];
      const int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", n);
      std::vector<asio::const_buffer> out;
      if (chunked) out.push_back(asio::buffer(size_line, static_cast<size_t>(len)));
      out.push_back(asio::buffer(body_.data(), n));
      if (chunked) out.push_back(asio::buffer("\r\n", 2));
      error_code ec;
      stream_.expires_after(kIoTimeout);
      co_await asio::async_write(stream_, out, use_ec(ec));
      if (ec) co_return false;
      left -= n;
    }
    if (chunked && !co_await write_raw("0\r\n\r\n")) co_return false;
    co_return keep_alive;
  }

  asio::awaitable<bool> write_raw(std::string data) {
    error_code ec;
    stream_.expires_after(kIoTimeout);
    co_await asio::async_write(stream_, asio::buffer(data), use_ec(ec));
    co_return !ec;
  }

  beast::tcp_stream stream_;
  const std::string& name_;
  beast::flat_buffer buffer_;
  std::vector<char> body_;
};

asio::awaitable<void> serve(tcp::socket socket, const std::string& name) {
  Connection connection(std::move(socket), name);
  co_await connection.run();
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, const std::string& name) {
  for (;;) {
    error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(use_ec(ec));
    if (!acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors and the like: pause rather than spin.
      asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(50));
      co_await pause.async_wait(use_ec(ec));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(
        acceptor.get_executor(), serve(std::move(socket), name), [](std::exception_ptr e) {
          if (!e) return;
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            std::cerr << "lintel-echo: connection ended by exception: " << ex.what() << "\n";
          }
        });
  }
}

// "host:port" or "[v6]:port" → endpoint.
bool parse_listen(const std::string& text, tcp::endpoint& out) {
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find("]:");
    if (close == std::string::npos) return false;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) return false;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  error_code ec;
  const auto address = asio::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  const uint64_t p = to_number(port, 70000);
  if (ec || p > 65535) return false;
  out = tcp::endpoint(address, static_cast<uint16_t>(p));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{kHelp, "lintel-echo"};
  std::string listen = "127.0.0.1:8081";
  std::string name = "echo";
  app.add_option("--listen", listen, "address to listen on, host:port or [v6]:port (port 0 ok)");
  app.add_option("--name", name, "name reported in every answer");
  CLI11_PARSE(app, argc, argv);

  tcp::endpoint endpoint;
  if (!parse_listen(listen, endpoint)) {
    std::cerr << "lintel-echo: --listen " << listen << ": expected host:port or [v6]:port\n";
    return 2;
  }
  asio::io_context io(1);
  tcp::acceptor acceptor(io);
  error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::cerr << "lintel-echo: bind " << listen << ": " << ec.message() << "\n";
    return 1;
  }
  const auto bound = acceptor.local_endpoint();
  std::cout << "listening on "
            << (bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                        : bound.address().to_string())
            << ":" << bound.port() << std::endl;

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const error_code&, int) {
    error_code ignored;
    acceptor.close(ignored);
    io.stop();
  });
  asio::co_spawn(io, accept_loop(acceptor, name), asio::detached);
  io.run();
  return 0;
}
