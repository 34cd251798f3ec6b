#include "ingress/kube_client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <nlohmann/json.hpp>

namespace lintel::ingress {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kMaxErrorBody = 64 * 1024;
constexpr size_t kReadPiece = 64 * 1024;
// The API server's response header is small; anything this large is not an API server.
constexpr uint32_t kMaxHeader = 64 * 1024;

auto use_ec(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

std::chrono::milliseconds left(Clock::time_point deadline) {
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return d.count() > 0 ? d : std::chrono::milliseconds(1);
}

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string host_header(const KubeConfig& config) {
  std::string host =
      config.host.find(':') != std::string::npos ? "[" + config.host + "]" : config.host;
  return config.port == "443" ? host : host + ":" + config.port;
}

}  // namespace

std::string describe_answer(const KubeResponse& response) {
  if (!response.error.empty()) {
    return response.error;
  }
  std::string text = "HTTP " + std::to_string(response.status);
  const nlohmann::json parsed = nlohmann::json::parse(response.body, nullptr, false);
  std::string message;
  if (parsed.is_object()) {
    if (auto m = parsed.find("message"); m != parsed.end() && m->is_string()) {
      message = m->get<std::string>();
    }
  } else if (!response.body.empty() && response.body.size() < 200 && !parsed.is_discarded()) {
    message = response.body;
  }
  if (!message.empty()) {
    text += ": " + message;
  }
  return text;
}

std::function<bool(std::string_view)> keep_body(std::string& out, size_t limit) {
  return [&out, limit](std::string_view piece) {
    if (out.size() + piece.size() > limit) {
      return false;
    }
    out.append(piece);
    return true;
  };
}

// ---- TokenSource ----

TokenSource::TokenSource(const KubeConfig& config, std::chrono::milliseconds reread)
    : token_(config.token),
      file_(config.token.empty() ? config.token_file : std::string()),
      reread_(reread) {}

const std::string& TokenSource::token() {
  if (file_.empty()) {
    return token_;
  }
  const auto now = Clock::now();
  if (due_ || now - read_at_ >= reread_) {
    auto fresh = read_token_file(file_);
    read_at_ = now;
    due_ = false;
    if (fresh) {
      if (failing_) {
        spdlog::info("kube: token file {} readable again", file_);
      }
      failing_ = false;
      token_ = std::move(*fresh);
    } else if (!failing_) {
      failing_ = true;
      spdlog::warn("kube: cannot re-read the token: {}; the previous token is used until it can",
                   fresh.error().message);
    }
  }
  return token_;
}

bool TokenSource::invalidate() {
  if (file_.empty()) {
    return false;
  }
  due_ = true;
  return true;
}

// ---- SSL context ----

std::shared_ptr<ssl::context> make_client_context(const KubeConfig& config, std::string& error) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  error_code ec;
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1,
                       ec);
  if (config.insecure_skip_tls_verify) {
    context->set_verify_mode(ssl::verify_none, ec);
  } else {
    // The configured CA is the only trust anchor: no system store (a public CA must not be
    // able to vouch for our API server).
    context->add_certificate_authority(asio::buffer(config.ca_pem), ec);
    if (ec) {
      error = config.description + ": the certificate authority cannot be used: " + ec.message();
      return nullptr;
    }
    context->set_verify_mode(ssl::verify_peer, ec);
  }
  if (!config.client_cert_pem.empty()) {
    context->use_certificate_chain(asio::buffer(config.client_cert_pem), ec);
    if (ec) {
      error = config.description + ": the client certificate cannot be used: " + ec.message();
      return nullptr;
    }
    context->use_private_key(asio::buffer(config.client_key_pem), ssl::context::pem, ec);
    if (ec) {
      error = config.description + ": the client key cannot be used: " + ec.message();
      return nullptr;
    }
  }
  return context;
}

// ---- KubeConnection ----

KubeConnection::KubeConnection(asio::any_io_executor executor,
                               std::shared_ptr<ssl::context> context, const KubeConfig& config,
                               std::shared_ptr<TokenSource> tokens, std::string user_agent,
                               std::chrono::milliseconds request_timeout)
    : executor_(std::move(executor)),
      context_(std::move(context)),
      config_(config),
      tokens_(std::move(tokens)),
      user_agent_(std::move(user_agent)),
      request_timeout_(request_timeout) {}

void KubeConnection::cancel() {
  if (stream_) {
    // Only the socket: the stream objects stay until the coroutine using them has seen
    // the error and returned (Beast's composed operations still refer to them).
    beast::get_lowest_layer(*stream_).close();
  }
}

void KubeConnection::close() {
  if (stream_) {
    error_code ec;
    beast::get_lowest_layer(*stream_).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(*stream_).close();
    stream_.reset();
  }
  buffer_.clear();
}

asio::awaitable<std::string> KubeConnection::connect(Clock::time_point deadline) {
  close();
  auto stream = std::make_unique<Stream>(executor_, *context_);
  error_code ec;
  asio::ip::tcp::resolver resolver(executor_);
  // The resolver has no deadline of its own; for an IP literal (the usual case, and always
  // in-cluster) it does not block, and a name is looked up once per connect.
  auto endpoints = co_await resolver.async_resolve(config_.host, config_.port, use_ec(ec));
  if (ec) {
    co_return "resolve " + config_.host + ": " + ec.message();
  }
  beast::get_lowest_layer(*stream).expires_after(left(deadline));
  co_await beast::get_lowest_layer(*stream).async_connect(endpoints, use_ec(ec));
  if (ec) {
    co_return "connect " + config_.server + ": " + ec.message();
  }
  beast::get_lowest_layer(*stream).socket().set_option(asio::ip::tcp::no_delay(true), ec);
  // A peer that vanished without a FIN is found by keepalive probes instead of waiting out
  // a whole watch.
  auto& socket = beast::get_lowest_layer(*stream).socket();
  socket.set_option(asio::socket_base::keep_alive(true), ec);
  // Linux defaults wait two hours before the first probe; a dead API server should be
  // noticed in about a minute (30 s idle, then 3 probes 10 s apart).
  const int idle = 30, interval = 10, probes = 3;
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
  SSL* ssl_handle = stream->native_handle();
  if (!is_ip_literal(config_.server_name)) {
    SSL_set_tlsext_host_name(ssl_handle, config_.server_name.c_str());
  }
  if (!config_.insecure_skip_tls_verify) {
    stream->set_verify_callback(ssl::host_name_verification(config_.server_name), ec);
  }
  co_await stream->async_handshake(ssl::stream_base::client, use_ec(ec));
  if (ec) {
    std::string detail = ec.message();
    long verify = SSL_get_verify_result(ssl_handle);
    if (verify != X509_V_OK) {
      detail =
          std::string("certificate verification failed: ") + X509_verify_cert_error_string(verify);
    }
    co_return "TLS handshake with " + config_.server + ": " + detail;
  }
  stream_ = std::move(stream);
  co_return std::string();
}

asio::awaitable<KubeResponse> KubeConnection::get(
    const std::string& target, std::chrono::milliseconds deadline,
    const std::function<bool(std::string_view)>& sink) {
  static const std::string kGet = "GET";
  static const std::string kNone;
  co_return co_await request(kGet, target, kNone, kNone, deadline, sink);
}

asio::awaitable<KubeResponse> KubeConnection::request(
    const std::string& method, const std::string& target, const std::string& content_type,
    const std::string& body, std::chrono::milliseconds deadline,
    const std::function<bool(std::string_view)>& sink) {
  const Clock::time_point until = Clock::now() + deadline;
  const Outgoing outgoing{method, target, content_type, body};
  KubeResponse response = co_await exchange(outgoing, until, sink);
  if (response.status == 401 && tokens_->invalidate()) {
    // A rotated service-account token: the kubelet already wrote the new one.
    spdlog::info("kube: 401 Unauthorized for {} {}; re-reading the token file and retrying",
                 method, target.substr(0, target.find('?')));
    response = co_await exchange(outgoing, until, sink);
  }
  co_return response;
}

asio::awaitable<KubeResponse> KubeConnection::exchange(
    const Outgoing& outgoing, Clock::time_point deadline,
    const std::function<bool(std::string_view)>& sink) {
  const std::string& target = outgoing.target;
  const std::string what = outgoing.method + " " + target.substr(0, target.find('?'));
  KubeResponse out;
  // A kept-alive connection may have been closed by the server while idle; then the write
  // or the header read fails at once, and one fresh connection is tried.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = stream_ != nullptr;
    if (!stream_) {
      const Clock::time_point connect_until = std::min(deadline, Clock::now() + request_timeout_);
      std::string error = co_await connect(connect_until);
      if (!error.empty()) {
        out.error = std::move(error);
        co_return out;
      }
    }
    http::request<http::string_body> request{http::string_to_verb(outgoing.method), target, 11};
    request.set(http::field::host, host_header(config_));
    request.set(http::field::user_agent, user_agent_);
    request.set(http::field::accept, "application/json");
    if (const std::string& token = tokens_->token(); !token.empty()) {
      request.set(http::field::authorization, "Bearer " + token);
    }
    request.keep_alive(true);
    if (!outgoing.content_type.empty()) {
      request.set(http::field::content_type, outgoing.content_type);
    }
    if (outgoing.method != "GET") {
      request.body() = outgoing.body;
      request.prepare_payload();
    }

    error_code ec;
    auto& tcp = beast::get_lowest_layer(*stream_);
    tcp.expires_after(left(deadline));
    co_await http::async_write(*stream_, request, use_ec(ec));
    http::response_parser<http::buffer_body> parser;
    parser.header_limit(kMaxHeader);
    parser.body_limit(boost::none);  // a watch is unbounded; the sink limits what it keeps
    if (!ec) {
      co_await http::async_read_header(*stream_, buffer_, parser, use_ec(ec));
    }
    if (ec) {
      close();
      if (reused && ec != beast::error::timeout && attempt == 0) {
        continue;
      }
      out.error = (ec == beast::error::timeout ? std::string("deadline exceeded") : ec.message()) +
                  " (" + what + ")";
      co_return out;
    }
    out.status = static_cast<int>(parser.get().result_int());
    if (auto it = parser.get().find(http::field::retry_after); it != parser.get().end()) {
      const std::string_view value = it->value();
      int seconds = 0;
      auto [end, parse_error] = std::from_chars(value.data(), value.data() + value.size(), seconds);
      if (parse_error == std::errc() && end == value.data() + value.size() && seconds > 0) {
        out.retry_after = std::min(seconds, 600);  // an HTTP-date or a silly value: ignored
      }
    }
    const bool success = out.status >= 200 && out.status < 300;
    char piece[kReadPiece];
    while (!parser.is_done()) {
      parser.get().body().data = piece;
      parser.get().body().size = sizeof piece;
      // read_some, not read: read() only returns once the piece is full or the message is
      // complete, which would hold watch events back until 64 KiB of them had arrived.
      co_await http::async_read_some(*stream_, buffer_, parser, use_ec(ec));
      if (ec == http::error::need_buffer) {
        ec = {};
      }
      if (ec) {
        break;
      }
      const size_t n = sizeof piece - parser.get().body().size;
      if (n == 0) {
        continue;
      }
      std::string_view data(piece, n);
      if (success) {
        if (!sink(data)) {
          out.stopped = true;
          close();
          co_return out;
        }
      } else if (out.body.size() < kMaxErrorBody) {
        out.body.append(data.substr(0, kMaxErrorBody - out.body.size()));
      }
    }
    if (ec) {
      close();
      out.error = (ec == beast::error::timeout ? std::string("deadline exceeded") : ec.message()) +
                  " (reading the body of " + what + ")";
      co_return out;
    }
    if (!parser.keep_alive()) {
      close();
    }
    co_return out;
  }
  co_return out;
}

}  // namespace lintel::ingress
