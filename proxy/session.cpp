// The downstream session and the exchange with the upstream, the only Beast-heavy code of
// the proxy. Flow of one request (DESIGN.md "Data flow"):
//
//   read head (raw bytes, whole-head deadline) → RequestHeadScanner + validate_request
//   → Beast parser takes the validated head → route on the pinned snapshot
//   → body bytes already received are decoded (a framing error there is still a 400 that
//     reaches no backend) → endpoint by round-robin, pooled or new connection
//   → head re-serialized + body re-framed, streamed → response head → body streamed.
//
// Every operation has a deadline (a Deadline per side, proxy/deadline.h: beast::tcp_stream's
// semantics without a timer armed per operation; set where the operation starts) and every
// buffer a limit. No exception is used for expected failures: every async call
// reports through an error_code.
//
// Plain and TLS connections run the same Session, a template over the client stream type
// (PlainStream, TlsStream below), instantiated for both here and only here, so Beast and
// OpenSSL stream code stay out of headers. A TLS session first does the handshake
// (tls/cert_store.h, "Wiring for the HTTPS listener"), then serves requests exactly like a
// plain one, and ends with close_notify.

#include "proxy/session.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/flat_stream.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <charconv>
#include <cstring>
#include <optional>
#include <type_traits>
#include <vector>

#include "proxy/deadline.h"
#include "proxy/errors.h"
#include "proxy/forward_headers.h"
#include "proxy/log.h"
#include "proxy/request_head.h"
#include "proxy/worker.h"
#include "tls/cert_store.h"
#include "tls/server_context.h"

namespace lintel::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

// Body bytes copied per step, each direction: the memory a transfer of any size costs.
constexpr size_t kBodyBuffer = 64 * 1024;
// Bytes asked of the socket per read while a request head arrives.
constexpr size_t kHeadReadChunk = 16 * 1024;
// Slack in the client read buffer beyond the head limits, for pipelined bytes and for a
// chunk header (Beast needs a whole chunk-size line in the buffer).
constexpr size_t kReadBufferSlack = 16 * 1024;
// Bytes of an invalid request's target written to the access log.
constexpr size_t kLoggedTargetBytes = 256;
// Longest chunk extension accepted in a request body (they are dropped when re-chunking).
constexpr size_t kMaxChunkExtensionBytes = 4 * 1024;
// Longest upstream response head accepted.
constexpr size_t kMaxUpstreamHeadBytes = 64 * 1024;
// After refusing a request: how long and how much to read (and discard) before closing, so
// that closing with unread bytes does not reset the connection before the client has read
// the error response (the "lingering close" of nginx).
constexpr std::chrono::seconds kLingerTime{2};
constexpr size_t kLingerBytes = 1024 * 1024;
// Deadline for writing a response to a client that is being refused.
constexpr std::chrono::seconds kErrorWriteTimeout{5};
// Deadline for sending close_notify at the end of a TLS connection.
constexpr std::chrono::seconds kTlsShutdownTimeout{2};

// The session speaks HTTP/1.1 whatever ALPN chose, which is right while tls/ offers
// nothing else. Offering "h2" there must come with a dispatch on tls::negotiated_alpn()
// after the handshake (run()); this keeps the two from drifting apart.
static_assert(tls::kAlpnProtocols.size() == 1,
              "proxy/session.cpp serves HTTP/1.1 only: dispatch on the negotiated ALPN "
              "protocol after the handshake before offering another");

// The client side of a connection. beast::ssl_stream only takes an asio::ssl::context,
// while the SSL must come from the snapshot's CertStore (SSL_new on its default SSL_CTX),
// so the TLS stream is assembled here from the same parts beast::ssl_stream uses: an
// asio::ssl::stream constructed from a native SSL*, under a beast::flat_stream, which
// gathers a buffer sequence (head + chunk line + body + CRLF) into one TLS record instead
// of one record and one sendmsg per buffer. Deadlines are kept beside the socket (Deadline),
// not in a beast::tcp_stream layer: its timer armed and cancelled for every read and write
// cost ~2,500 instructions per proxied request.
using PlainStream = Socket;
using TlsStream = beast::flat_stream<asio::ssl::stream<Socket>>;

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kLastChunk = "0\r\n\r\n";
constexpr std::string_view kCrlf = "\r\n";

// The text of a response head kept by a FramingParser: status, reason phrase and fields, in
// one string whose capacity the session reuses (Beast's basic_fields allocates one block per
// field: six allocations per proxied request, measured, for three fields each way).
struct HeadText {
  struct Span {
    size_t offset;
    size_t size;
  };
  unsigned status = 0;
  std::string text;
  Span reason{};
  std::vector<std::pair<Span, Span>> fields;
  std::vector<HeaderField> views;  // filled by Session::response_fields()

  void clear() {
    status = 0;
    text.clear();
    reason = {};
    fields.clear();
  }
  Span add(std::string_view s) {
    const Span span{text.size(), s.size()};
    text.append(s);
    return span;
  }
  std::string_view view(Span s) const { return std::string_view(text).substr(s.offset, s.size); }
};

// Beast's HTTP/1 parser with the body handling of http::parser<isRequest, buffer_body> (the
// same put() into a caller's buffer, need_buffer when it is full) and none of its header
// storage. The request head was validated and its fields kept by RequestHeadScanner, so
// Beast's copy of them was never read: the request side keeps nothing. The response side
// keeps status, reason and fields in a HeadText owned by the session.
template <bool isRequest>
class FramingParser final : public http::basic_parser<isRequest> {
 public:
  // Where decoded body bytes go, like buffer_body::value_type.
  struct Body {
    void* data = nullptr;
    size_t size = 0;
  };

  // `head`: where a response's head is kept (responses only; cleared here).
  explicit FramingParser(HeadText* head = nullptr) : head_(head) {
    if (head_) head_->clear();
  }

  Body& body() { return body_; }
  // Chunk extensions longer than this are refused (bad_chunk_extension); 0: no limit.
  void max_chunk_extension(size_t n) { max_chunk_extension_ = n; }

 private:
  using string_view = beast::string_view;

  void on_request_impl(http::verb, string_view, string_view, int, error_code& ec) override {
    ec = {};
  }
  void on_response_impl(int code, string_view reason, int, error_code& ec) override {
    ec = {};
    if (!head_) return;
    head_->status = static_cast<unsigned>(code);
    // As http::header<false>::reason(): the standard phrase when the upstream sent none.
    const string_view phrase =
        reason.empty() ? http::obsolete_reason(static_cast<http::status>(code)) : reason;
    head_->reason = head_->add(std::string_view(phrase.data(), phrase.size()));
  }
  void on_field_impl(http::field, string_view name, string_view value, error_code& ec) override {
    ec = {};
    if (!head_) return;
    const HeadText::Span n = head_->add(std::string_view(name.data(), name.size()));
    const HeadText::Span v = head_->add(std::string_view(value.data(), value.size()));
    head_->fields.emplace_back(n, v);
  }
  void on_header_impl(error_code& ec) override { ec = {}; }
  void on_body_init_impl(const boost::optional<uint64_t>&, error_code& ec) override { ec = {}; }
  size_t on_body_impl(string_view bytes, error_code& ec) override { return put_body(bytes, ec); }
  void on_chunk_header_impl(uint64_t, string_view extensions, error_code& ec) override {
    ec = {};
    if (max_chunk_extension_ > 0 && extensions.size() > max_chunk_extension_) {
      ec = http::error::bad_chunk_extension;
    }
  }
  size_t on_chunk_body_impl(uint64_t, string_view bytes, error_code& ec) override {
    return put_body(bytes, ec);
  }
  void on_finish_impl(error_code& ec) override { ec = {}; }

  // buffer_body's reader: copy what fits, need_buffer when not everything did.
  size_t put_body(string_view bytes, error_code& ec) {
    if (!body_.data) {
      ec = http::error::need_buffer;
      return 0;
    }
    const size_t n = std::min(bytes.size(), body_.size);
    if (n > 0) std::memcpy(body_.data, bytes.data(), n);
    body_.data = static_cast<char*>(body_.data) + n;
    body_.size -= n;
    if (n == bytes.size()) {
      ec = {};
    } else {
      ec = http::error::need_buffer;
    }
    return n;
  }

  HeadText* head_;
  Body body_;
  size_t max_chunk_extension_ = 0;
};

using RequestParser = FramingParser<true>;
using ResponseParser = FramingParser<false>;

// The upstream side of a session, used like std::optional<Socket> (empty: no upstream
// connection), but one socket object for the session's life into which each request's
// connection is moved, so that the session's upstream Deadline always watches the same
// object (a beast::tcp_stream per request cost ~1,000 instructions per request).
class UpstreamStream {
 public:
  explicit UpstreamStream(asio::io_context& io) : socket_(io) {}

  explicit operator bool() const { return open_; }
  Socket* operator->() { return &socket_; }
  Socket& operator*() { return socket_; }
  Socket& socket() { return socket_; }

  void emplace(Socket socket) {
    socket_ = std::move(socket);
    open_ = true;
  }
  // Hands the connection over (to the pool).
  Socket release() {
    open_ = false;
    return std::move(socket_);
  }
  // Forgets the connection, closing it.
  void reset() {
    error_code ec;
    socket_.close(ec);
    open_ = false;
  }

 private:
  Socket socket_;
  bool open_ = false;
};

auto use_ec(error_code& ec) { return asio::redirect_error(asio::use_awaitable_t<Executor>{}, ec); }

std::string chunk_size_line(size_t n) {
  char buf[24];
  const int len = std::snprintf(buf, sizeof buf, "%zx\r\n", n);
  return std::string(buf, static_cast<size_t>(len));
}

// Endpoint::to_string() into `out`, reusing its capacity: the key of the upstream pool.
void endpoint_key(const routing::Endpoint& endpoint, std::string& out) {
  out.clear();
  if (endpoint.ipv6) {
    out.append("[").append(endpoint.address).append("]");
  } else {
    out.append(endpoint.address);
  }
  char port[8];
  const auto end = std::to_chars(port, port + sizeof port, endpoint.port).ptr;
  out.append(":").append(port, static_cast<size_t>(end - port));
}

std::string endpoint_ip(const Socket& socket) {
  error_code ec;
  const auto ep = socket.remote_endpoint(ec);
  if (ec) return "";
  const auto address = ep.address();
  // An IPv4 client on a dual-stack IPv6 listener: log and forward the IPv4 form.
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).to_string();
  }
  return address.to_string();
}

// Which kind of failure a body read from the client is.
ErrorKind client_body_error(const error_code& ec) {
  if (ec == beast::error::timeout) return ErrorKind::kRequestTimeout;
  if (ec == http::error::body_limit) return ErrorKind::kPayloadTooLarge;
  return ErrorKind::kBadRequest;
}

// Whether the client closed the connection (a read saw its end): no reason to send it
// anything more, close_notify included.
bool peer_closed(const error_code& ec) {
  return ec == asio::error::eof || ec == http::error::end_of_stream ||
         ec == asio::ssl::error::stream_truncated || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe;
}

template <class Stream>
class Session final : public Connection {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  // A plain connection.
  Session(Worker& worker, Socket socket) requires(!kTls)
      : worker_(worker), options_(worker.options()), down_(std::move(socket)), up_(worker.io()) {
    init();
  }

  // A TLS connection: `ssl` (owned from here on) was made from the default context of
  // `pinned`'s CertStore, which the servername callback reads during the handshake.
  Session(Worker& worker, Socket socket, SnapshotPtr pinned, SSL* ssl) requires kTls
      : worker_(worker),
        options_(worker.options()),
        pinned_(std::move(pinned)),
        down_(std::move(socket), ssl),
        up_(worker.io()) {
    handshake_.store = pinned_->certs.get();
    init();
  }

  void close_all() override {
    error_code ec;
    lowest().close(ec);
    if (up_) up_->close(ec);
  }

  // An idle keep-alive connection stops waiting: its read completes with operation_aborted
  // (or with the bytes that had already arrived, which are then served with Connection:
  // close) and serve_one() ends the connection, with close_notify on TLS. A busy one
  // notices the drain when it writes its response head (Worker::draining()).
  void drain() override {
    error_code ec;
    if (idle_) lowest().cancel(ec);
  }

  Awaitable<void> run() {
    worker_.track(this);
    // Accepted just before the worker stopped, started after its close_all(): end here.
    bool ready = !worker_.stopping();
    if constexpr (kTls) {
      if (ready) ready = co_await handshake();
    }
    bool first = true;
    while (ready && !worker_.stopping()) {
      const bool keep = co_await serve_one(first);
      first = false;
      if (!keep) break;
    }
    if constexpr (kTls) co_await close_notify();
    worker_.untrack(this);
    error_code ec;
    lowest().close(ec);
  }

 private:
  // Per-request state, also the access log record.
  struct Exchange {
    AccessRecord record;
    Clock::time_point start;
    // The client's X-Request-ID, or the one generated for it: a view of request_id_.
    std::string_view request_id;
    ValidRequest request;
    // The Strict-Transport-Security value for every response of this exchange, ours
    // included: set on a TLS connection for a route with Route::tls (ProxyOptions::hsts).
    std::string_view hsts;
  };

  void init() {
    in_.max_size(options_.max_request_target + kRequestLineSlack + options_.max_header_bytes +
                 kReadBufferSlack);
    auto& socket = lowest();
    client_ = endpoint_ip(socket);
    limits_.max_request_target = options_.max_request_target;
    limits_.max_header_bytes = options_.max_header_bytes;
    limits_.max_header_fields = options_.max_header_fields;
    scanner_.emplace(limits_);
    // No body limit in limits_: the limit depends on the route (see body_limit()), so it
    // is applied after matching, in forward().
    error_code ec;
    // The port the client connected to: X-Forwarded-Port names the TLS listener's port on
    // a TLS connection, the HTTP one otherwise.
    listener_port_ = socket.local_endpoint(ec).port();
    socket.set_option(tcp::no_delay(true), ec);
  }

  // The TCP socket under the client stream: socket options, close.
  Socket& lowest() { return beast::get_lowest_layer(down_); }

  // --- TLS -----------------------------------------------------------------------------

  // The handshake, under handshake_timeout. Returns whether requests may be served.
  Awaitable<bool> handshake() requires kTls {
    auto& ssl_stream = down_.next_layer();
    SSL* ssl = ssl_stream.native_handle();
    TlsCounters& counters = worker_.tls_counters();
    if (const tls::Status bad = tls::attach_handshake_state(ssl, &handshake_)) {
      TlsCounters::add(counters.handshake_failures);
      proxy_log().error("client {}: TLS: {}; closing", client_, bad->message);
      co_return false;
    }
    down_deadline_.expires_after(options_.handshake_timeout);
    error_code ec;
    down_deadline_.start();
    co_await ssl_stream.async_handshake(asio::ssl::stream_base::server, use_ec(ec));
    down_deadline_.finish(ec);
    down_deadline_.expires_never();
    // From here on the SSL holds its own reference to the SSL_CTX the servername callback
    // chose (certificate rotation never touches an established connection), and that
    // callback does not run again (no renegotiation: tls/server_context.h). So the store
    // and the snapshot pinned for the handshake are let go: a keep-alive connection must
    // not keep an old snapshot's routes and endpoints alive. Requests pin the current
    // snapshot each (forward()).
    const tls::Selection selection = handshake_.selection;
    handshake_.store = nullptr;
    pinned_.reset();
    if (ec) {
      // Counted and logged at debug level only: any client can fail a handshake at will.
      // Whatever alert OpenSSL produced was sent before the error was reported; the
      // connection is closed, nothing else is affected.
      const bool ssl_error = ec.category() == asio::error::get_ssl_category();
      const int reason = ssl_error ? ERR_GET_REASON(static_cast<unsigned long>(ec.value())) : 0;
      std::string_view what = "TLS handshake failed";
      if (ec == beast::error::timeout) {
        TlsCounters::add(counters.handshake_timeouts);
        what = "no TLS handshake within the deadline";
      } else if (ssl_error &&
                 (reason == SSL_R_HTTP_REQUEST || reason == SSL_R_HTTPS_PROXY_REQUEST)) {
        TlsCounters::add(counters.plain_http);
        what = "plain HTTP sent to the HTTPS port";
      } else {
        TlsCounters::add(counters.handshake_failures);
      }
      worker_.log_throttle().count_tls_refused();
      proxy_log().debug("client {}: {} ({}): closing", client_, what, ec.message());
      co_return false;
    }
    TlsCounters::add(counters.handshakes);
    tls_open_ = true;
    const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (sni && selection.match == tls::SniMatch::kDefault) {
      // Served with the default certificate (DESIGN.md "TLS"): a host whose Secret is
      // unusable is routed over it too, so this is not a reason to close.
      TlsCounters::add(counters.unknown_sni);
      proxy_log().debug("client {}: TLS SNI \"{}\" has no certificate: served the default one",
                        client_, sni);
    }
    co_return true;
  }

  // Sends close_notify (RFC 8446 §6.1) under a short deadline, unless the connection is
  // already unusable or the client has closed it. It does not wait for the client's own
  // close_notify: marking it received first makes SSL_shutdown complete once ours is
  // written, as nginx does; a client that has sent everything it wanted has no reason to
  // answer, and waiting would hold the connection for nothing.
  Awaitable<void> close_notify() requires kTls {
    if (!tls_open_ || !lowest().is_open()) co_return;
    tls_open_ = false;
    SSL* ssl = down_.next_layer().native_handle();
    SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
    down_deadline_.expires_after(kTlsShutdownTimeout);
    error_code ec;
    down_deadline_.start();
    co_await down_.next_layer().async_shutdown(use_ec(ec));
    down_deadline_.finish(ec);
  }

  // After any failed read or write on the client stream: whether close_notify may still
  // be sent. Not after a TLS protocol error (OpenSSL has sent its alert), nor once the
  // client has closed or the socket is gone (a deadline closes it).
  void note_client_error(const error_code& ec) {
    if constexpr (kTls) {
      if (ec && (peer_closed(ec) || ec.category() == asio::error::get_ssl_category() ||
                 !lowest().is_open())) {
        tls_open_ = false;
      }
    }
  }

  // --- downstream head ---------------------------------------------------------------

  std::string_view input() const {
    const auto data = in_.data();
    return {static_cast<const char*>(data.data()), data.size()};
  }

  // One read into in_, at most `max` bytes, under the deadline already set on down_deadline_.
  Awaitable<error_code> read_more(size_t max) {
    error_code ec;
    const size_t room = in_.max_size() - in_.size();
    down_deadline_.start();
    const size_t n = co_await down_.async_read_some(in_.prepare(std::min(max, room)), use_ec(ec));
    down_deadline_.finish(ec);
    in_.commit(n);
    note_client_error(ec);
    co_return ec;
  }

  // Serves one request. Returns whether the connection may carry another.
  Awaitable<bool> serve_one(bool first) {
    Exchange ex;
    // The record's strings are only filled when there is a log to write them to.
    const bool logged = worker_.access_log() != nullptr;
    if (logged) ex.record.client = client_;
    ex.record.tls = kTls;

    // Wait for the first byte: the keep-alive idle timeout between requests, the head
    // deadline for the first request of a connection.
    if (in_.size() == 0) {
      // Draining: a keep-alive connection is not kept waiting for a request it may never
      // send (its last response went out before the drain began, without Connection:
      // close). The first request of a new connection is still awaited, under the head
      // deadline: its client has just connected, and its request is likely on the way.
      if (!first && worker_.draining()) co_return false;
      down_deadline_.expires_after(first ? options_.header_timeout : options_.idle_timeout);
      idle_ = !first;
      error_code ec = co_await read_more(kHeadReadChunk);
      // The drain cancelled the wait (drain()) just as a request arrived: the client sent
      // it on a connection we had not closed yet, so it is served, with Connection: close.
      error_code ignored;
      while (ec == asio::error::operation_aborted && worker_.draining() && in_.size() == 0 &&
             lowest().is_open() && lowest().available(ignored) > 0) {
        ec = co_await read_more(kHeadReadChunk);
      }
      idle_ = false;
      // Closed or idle: nothing to answer. On TLS this includes a client that closes the
      // TCP connection without close_notify (stream_truncated). That is no attack here:
      // truncation matters when a message's end is inferred from the close, and every
      // response we sent was complete and self-delimited (Content-Length or chunked) before
      // we waited for the next request; a request cut short is never forwarded. Browsers
      // and curl routinely close this way, so it is not logged as an error.
      if (ec) co_return false;
    }
    ex.start = Clock::now();
    ex.record.time = std::chrono::system_clock::now();

    // The whole head must arrive within header_timeout: set once, not per read, so a
    // client sending one byte at a time cannot hold the connection (slowloris).
    down_deadline_.expires_after(options_.header_timeout);
    // One scanner and one head per session, reset per request: their vectors keep their
    // capacity, so reading a head allocates nothing.
    RequestHeadScanner& scanner = *scanner_;
    scanner.reset();
    for (;;) {
      const auto state = scanner.scan(input());
      if (state == RequestHeadScanner::State::kComplete) break;
      if (state == RequestHeadScanner::State::kError) {
        co_return co_await refuse(ex, scanner.error(), "request head");
      }
      if (in_.size() >= in_.max_size()) {
        co_return co_await refuse(ex, ErrorKind::kHeaderTooLarge, "read buffer full");
      }
      const error_code ec = co_await read_more(kHeadReadChunk);
      if (ec == beast::error::timeout && scanner.started()) {
        co_return co_await refuse(ex, ErrorKind::kRequestTimeout, "head deadline");
      }
      if (ec) co_return false;
    }
    RequestHead& head = head_;
    scanner.head(input(), head);
    ex.record.bytes_in = head.skipped + head.head_bytes;
    if (logged) {
      ex.record.method = std::string(head.method);
      // Until the request is valid, the log shows the target as received (bounded).
      ex.record.path = std::string(head.target.substr(0, kLoggedTargetBytes));
    }
    request_id_.assign(find_request_id(head.fields));
    if (request_id_.empty()) worker_.request_ids().next(request_id_);
    ex.request_id = request_id_;
    if (logged) ex.record.request_id = request_id_;

    Validation validation = validate_request(head, limits_);
    if (validation.error) co_return co_await refuse(ex, *validation.error, validation.detail);
    ex.request = std::move(validation.request);
    if (logged) {
      ex.record.host = ex.request.host;
      ex.record.path = ex.request.path;
    }
    ForwardContext ctx;
    ctx.client_address = client_;
    ctx.listener_port = listener_port_;
    ctx.scheme = kTls ? "https" : "http";
    ctx.request_id = ex.request_id;
    upstream_request_head(ex.request, head.fields, ctx, upstream_head_);

    // Beast now parses the same, validated bytes, for the body framing only. `head` views
    // point into in_ and are not used past this point.
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(in_.max_size()));
    // Set in forward() once the route is known; no body byte is decoded before that.
    parser_->body_limit(boost::none);
    // Beast 1.81 reads chunk extensions of any length (bounded only by our read buffer);
    // they carry nothing we forward, so a long one is refused as the abuse it is.
    parser_->max_chunk_extension(kMaxChunkExtensionBytes);
    in_.consume(head.skipped);
    error_code ec;
    const size_t used = parser_->put(asio::buffer(in_.data().data(), head.head_bytes), ec);
    if (ec || !parser_->is_header_done() || used != head.head_bytes) {
      co_return co_await refuse(ex, ErrorKind::kBadRequest, "beast: " + ec.message());
    }
    in_.consume(used);

    co_return co_await forward(ex);
  }

  // --- our own responses -------------------------------------------------------------

  // Refuses a request the client got wrong: error response, Connection: close, close.
  Awaitable<bool> refuse(Exchange& ex, ErrorKind kind, std::string_view detail) {
    const ErrorInfo& info = error_info(kind);
    if (!lowest().is_open()) {
      // A deadline passed: the Deadline closed the socket, so no answer can be sent.
      worker_.log_throttle().count_refused();
      proxy_log().debug("client {}: {} ({}): closed", client_, info.log, detail);
      finish(ex);  // status 0: closed without a response
      co_return false;
    }
    worker_.log_throttle().count_refused();
    proxy_log().debug("client {}: {} ({}): answering {}", client_, info.log, detail, info.status);
    co_await write_error(ex, kind, true);
    co_await linger();
    co_return false;
  }

  // Answers with our own error; returns whether the connection may continue. It may when
  // the table allows it and the request was read to its end (its framing is intact).
  Awaitable<bool> answer_error(Exchange& ex, ErrorKind kind) {
    const ErrorInfo& info = error_info(kind);
    const bool close = info.close || !ex.request.keep_alive || !parser_ || !parser_->is_done() ||
                       worker_.draining();
    co_await write_error(ex, kind, close);
    if (close) co_await linger();
    co_return !close;
  }

  Awaitable<void> write_error(Exchange& ex, ErrorKind kind, bool close) {
    std::string hsts_field;
    if (!ex.hsts.empty()) {
      hsts_field.append("Strict-Transport-Security: ").append(ex.hsts).append("\r\n");
    }
    const std::string response = error_response(kind, close, ex.request_id, hsts_field);
    co_await write_own(ex, response, error_info(kind).status);
  }

  // Writes a response of our own, complete in `response`, and logs the exchange.
  Awaitable<void> write_own(Exchange& ex, std::string_view response, int status) {
    down_deadline_.expires_after(kErrorWriteTimeout);
    error_code ec;
    down_deadline_.start();
    const size_t n = co_await asio::async_write(down_, asio::buffer(response), use_ec(ec));
    down_deadline_.finish(ec);
    note_client_error(ec);
    ex.record.bytes_out += n;
    ex.record.status = status;
    finish(ex);
  }

  // A plain-HTTP request for a route with https_redirect: 308 to the same host, path and
  // query over HTTPS, without contacting any upstream. The connection is kept when the
  // request had no body (or an empty one); otherwise it is closed after the answer, as for
  // our error responses, rather than reading a body nobody will use.
  Awaitable<bool> redirect(Exchange& ex) {
    const ValidRequest& rq = ex.request;
    const bool close = !rq.keep_alive || !parser_->is_done() || worker_.draining();
    // The host as routed: lowercase, without the port the client used for plain HTTP. An
    // HTTP/1.0 request without Host: the address it reached.
    std::string host = routing::normalize_host(rq.host);
    if (host.empty()) {
      error_code ec;
      const auto local = lowest().local_endpoint(ec).address();
      host = local.is_v6() ? "[" + local.to_string() + "]" : local.to_string();
    }
    const std::string location =
        https_location(host, options_.https_redirect_port, rq.path, rq.has_query, rq.query);
    co_await write_own(ex, redirect_response(location, close, ex.request_id), 308);
    if (close) co_await linger();
    co_return !close;
  }

  // Half-closes, then reads and discards what the client still sends, bounded in time and
  // bytes: closing a socket with unread data makes the kernel send a reset, which can
  // destroy the error response before the client has read it. On TLS, close_notify goes
  // first (the TCP half-close ends the TLS stream too), and what follows is discarded as
  // raw TCP bytes without decrypting them.
  Awaitable<void> linger() {
    if constexpr (kTls) co_await close_notify();
    error_code ec;
    lowest().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) co_return;
    down_deadline_.expires_after(kLingerTime);
    size_t discarded = in_.size();
    in_.consume(in_.size());
    while (discarded < kLingerBytes && !ec) {
      down_deadline_.start();
      discarded += co_await lowest().async_read_some(asio::buffer(body_), use_ec(ec));
      down_deadline_.finish(ec);
    }
  }

  void finish(Exchange& ex) {
    if (!worker_.access_log()) return;
    ex.record.duration_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - ex.start).count();
    worker_.access_log()->write(ex.record);
  }

  // --- request body --------------------------------------------------------------------

  // Decodes request body bytes already in in_ into body_, without any I/O. Returns the
  // byte count; `ec` is set on a framing error.
  size_t decode_buffered_body(error_code& ec) {
    auto& body = parser_->body();
    body.data = body_.data();
    body.size = body_.size();
    while (in_.size() > 0 && !parser_->is_done() && body.size > 0) {
      const size_t used = parser_->put(in_.data(), ec);
      in_.consume(used);
      if (ec == http::error::need_more || ec == http::error::need_buffer) {
        ec = {};
        break;
      }
      if (ec || used == 0) break;
    }
    return body_.size() - body.size;
  }

  // Reads the next body piece from the client into body_ (deadline: client_body_timeout).
  Awaitable<size_t> read_body(error_code& ec) {
    auto& body = parser_->body();
    body.data = body_.data();
    body.size = body_.size();
    down_deadline_.expires_after(options_.client_body_timeout);
    down_deadline_.start();
    co_await http::async_read_some(down_, in_, *parser_, use_ec(ec));
    down_deadline_.finish(ec);
    if (ec == http::error::need_buffer) ec = {};
    co_return body_.size() - body.size;
  }

  // Adds the framing of `n` body bytes in body_ to `out`. `chunk_line` must outlive it.
  void frame_body(std::vector<asio::const_buffer>& out, size_t n, bool chunked,
                  std::string& chunk_line) const {
    if (n == 0) return;
    if (chunked) {
      chunk_line = chunk_size_line(n);
      out.push_back(asio::buffer(chunk_line));
      out.push_back(asio::buffer(body_.data(), n));
      out.push_back(asio::buffer(kCrlf));
    } else {
      out.push_back(asio::buffer(body_.data(), n));
    }
  }

  // --- forwarding --------------------------------------------------------------------

  Awaitable<std::optional<Socket>> connect(const routing::Endpoint& endpoint) {
    error_code ec;
    const auto address = asio::ip::make_address(endpoint.address, ec);
    if (ec) {
      if (worker_.log_throttle().allow_warning()) {
        proxy_log().warn("endpoint {}: not an IP address", endpoint.to_string());
      }
      co_return std::nullopt;
    }
    // A beast::tcp_stream for the connect only: new connections are not the hot path.
    beast::basic_stream<tcp, Executor> stream(worker_.io());
    stream.expires_after(options_.connect_timeout);
    co_await stream.async_connect(tcp::endpoint(address, endpoint.port), use_ec(ec));
    if (ec) {
      if (worker_.log_throttle().allow_warning()) {
        proxy_log().warn("client {}: connect to {} failed: {}", client_, endpoint.to_string(),
                         ec.message());
      }
      co_return std::nullopt;
    }
    stream.socket().set_option(tcp::no_delay(true), ec);
    co_return stream.release_socket();
  }

  // The request body limit for `route` (nullptr: no route matched): the route's own when
  // it sets one (0 there means none), else ProxyOptions::max_body_bytes (0: none).
  std::optional<uint64_t> body_limit(const routing::Route* route) const {
    if (route && route->max_body_bytes) {
      if (*route->max_body_bytes == 0) return std::nullopt;
      return route->max_body_bytes;
    }
    if (options_.max_body_bytes > 0) return options_.max_body_bytes;
    return std::nullopt;
  }

  void drop_upstream() {
    if (up_) {
      error_code ec;
      up_.reset();
    }
  }

  Awaitable<bool> forward(Exchange& ex) {
    ValidRequest& rq = ex.request;

    // Pin the snapshot: this request (retries included) sees this configuration only.
    const SnapshotPtr snapshot = worker_.snapshot();
    if (!snapshot || !snapshot->routes) co_return co_await answer_error(ex, ErrorKind::kNoSnapshot);
    const auto match = snapshot->routes->match(rq.host, rq.path);

    // The body limit (DESIGN.md "Defaults"): a declared length over it is refused before
    // anything is forwarded; a chunked body is refused by the parser at the chunk header
    // that would exceed it, before that chunk is forwarded (see send_request()).
    const routing::Route* route = match.route;
    if (!route && match.backend) route = snapshot->routes->default_route();
    if constexpr (kTls) {
      if (options_.hsts && route && route->tls) ex.hsts = options_.hsts_value;
    } else {
      if (route && route->https_redirect) co_return co_await redirect(ex);
    }
    if (const auto limit = body_limit(route)) {
      if (rq.framing == BodyFraming::kContentLength && rq.content_length > *limit) {
        co_return co_await refuse(ex, ErrorKind::kPayloadTooLarge,
                                  "Content-Length over the body limit");
      }
      parser_->body_limit(*limit);
    }

    if (!match.backend) co_return co_await answer_error(ex, ErrorKind::kNoRoute);
    const routing::Backend& backend = *match.backend;
    if (!backend.endpoints || backend.endpoints->endpoints.empty()) {
      // Debug only: the cause is a diagnostic of the compile, and any client can repeat it.
      proxy_log().debug("client {}: backend {} has no endpoints ({}): answering 503", client_,
                        backend.name, backend.problem);
      co_return co_await answer_error(ex, ErrorKind::kNoEndpoints);
    }

    // Body bytes that came with the head are decoded now, before any upstream is chosen:
    // a framing error in them (bad chunk size, over the limit) is answered without the
    // request ever reaching a backend.
    error_code ec;
    size_t prefetched = decode_buffered_body(ec);
    if (ec) co_return co_await refuse(ex, client_body_error(ec), "request body: " + ec.message());
    ex.record.bytes_in += prefetched;

    // The client waits for "100 Continue" before sending its body; the proxy answers it
    // itself (and does not forward the Expect field) once it is ready to read the body.
    if (rq.expect_continue && !parser_->is_done()) {
      down_deadline_.expires_after(options_.send_timeout);
      down_deadline_.start();
      const size_t n = co_await asio::async_write(down_, asio::buffer(kContinue), use_ec(ec));
      down_deadline_.finish(ec);
      ex.record.bytes_out += n;
      if (ec) co_return false;
    }

    const auto& endpoints = backend.endpoints->endpoints;
    const size_t first = worker_.balancer().next(backend.name, endpoints.size());
    const size_t tries =
        std::min(endpoints.size(), static_cast<size_t>(1 + std::max(0, options_.connect_retries)));
    const routing::Endpoint* endpoint = nullptr;
    std::string& key = upstream_key_;
    bool pooled = false;
    for (size_t i = 0; i < tries && !up_; ++i) {
      endpoint = &endpoints[(first + i) % endpoints.size()];
      endpoint_key(*endpoint, key);
      // With the whole request in hand, a reused connection that turns out closed is
      // retried on a new one (below), which lets the pool skip its liveness check.
      if (auto socket = worker_.pool().take(key, parser_->is_done())) {
        up_.emplace(std::move(*socket));
        pooled = true;
      } else if (auto fresh = co_await connect(*endpoint)) {
        up_.emplace(std::move(*fresh));
      }
    }
    if (!up_) {
      if (worker_.log_throttle().allow_warning()) {
        proxy_log().warn(
            "client {}: backend {}: no endpoint of {} tried accepted a connection: "
            "answering 502",
            client_, backend.name, tries);
      }
      co_return co_await answer_error(ex, ErrorKind::kUpstreamConnect);
    }
    // The worker stopped while this request waited for its upstream: Worker::shutdown()'s
    // close_all() could not reach a socket that was still connecting, so nothing would
    // cancel the exchange that follows (and the worker's thread would wait for it).
    if (worker_.stopping()) {
      drop_upstream();
      co_return false;
    }
    if (worker_.access_log()) ex.record.upstream = key;

    const bool chunked = rq.framing == BodyFraming::kChunked;
    bool streamed = false;  // body bytes beyond `prefetched` were read: no retry possible
    std::optional<ErrorKind> failure;
    for (int attempt = 0;; ++attempt) {
      failure = co_await send_request(ex, prefetched, chunked, streamed);
      // Stays true when sending failed: nothing was read from the upstream then.
      bool no_response_byte = true;
      if (!failure) failure = co_await read_response_head(ex, no_response_byte);
      if (!failure) break;
      if (*failure == ErrorKind::kRequestTimeout || *failure == ErrorKind::kBadRequest ||
          *failure == ErrorKind::kPayloadTooLarge) {
        // The client broke off, broke its body or went over the body limit: the upstream
        // saw a partial request, and closing its connection tells it so. No response byte
        // was sent to the client yet (the response is read only once the whole body is
        // sent), so the client still gets the answer before the close.
        drop_upstream();
        co_return co_await refuse(ex, *failure, "request body");
      }
      // A pooled connection may have been closed by the upstream just as we reused it:
      // safe to retry once on a new connection when nothing came back and every body
      // byte sent is still in hand.
      const bool retry = attempt == 0 && pooled && !streamed && no_response_byte &&
                         *failure == ErrorKind::kUpstreamFailed;
      drop_upstream();
      if (!retry) break;
      auto fresh = co_await connect(*endpoint);
      if (!fresh) {
        failure = ErrorKind::kUpstreamConnect;
        break;
      }
      up_.emplace(std::move(*fresh));
      pooled = false;
      if (worker_.stopping()) {  // as above: connected after close_all()
        drop_upstream();
        co_return false;
      }
    }
    if (failure) {
      if (worker_.log_throttle().allow_warning()) {
        proxy_log().warn("client {}: upstream {} for {}: {}: answering {}", client_, key,
                         backend.name, error_info(*failure).log, error_info(*failure).status);
      }
      co_return co_await answer_error(ex, *failure);
    }
    co_return co_await relay_response(ex, key);
  }

  // Sends the head, the prefetched body bytes and the rest of the body. On failure: the
  // error kind (a client one when the client's body failed).
  Awaitable<std::optional<ErrorKind>> send_request(Exchange& ex, size_t prefetched, bool chunked,
                                                   bool& streamed) {
    error_code ec;
    std::vector<asio::const_buffer>& out = out_;
    out.clear();
    std::string chunk_line;
    out.push_back(asio::buffer(upstream_head_));
    frame_body(out, prefetched, chunked, chunk_line);
    if (chunked && parser_->is_done()) out.push_back(asio::buffer(kLastChunk));
    up_deadline_.expires_after(options_.response_timeout);
    up_deadline_.start();
    co_await asio::async_write(*up_, out, use_ec(ec));
    up_deadline_.finish(ec);
    if (ec)
      co_return ec == beast::error::timeout ? ErrorKind::kUpstreamTimeout
                                            : ErrorKind::kUpstreamFailed;
    while (!parser_->is_done()) {
      streamed = true;
      const size_t n = co_await read_body(ec);
      ex.record.bytes_in += n;
      if (ec) {
        proxy_log().debug("client {}: request body read failed: {}", client_, ec.message());
        co_return client_body_error(ec);
      }
      out.clear();
      frame_body(out, n, chunked, chunk_line);
      if (chunked && parser_->is_done()) out.push_back(asio::buffer(kLastChunk));
      if (out.empty()) continue;
      up_deadline_.expires_after(options_.response_timeout);
      up_deadline_.start();
      co_await asio::async_write(*up_, out, use_ec(ec));
      up_deadline_.finish(ec);
      if (ec)
        co_return ec == beast::error::timeout ? ErrorKind::kUpstreamTimeout
                                              : ErrorKind::kUpstreamFailed;
    }
    co_return std::nullopt;
  }

  void new_response_parser(const Exchange& ex) {
    response_.emplace(&response_head_text_);
    response_->header_limit(static_cast<uint32_t>(kMaxUpstreamHeadBytes));
    response_->body_limit(boost::none);
    // A response to HEAD has no body whatever its framing fields say.
    if (ex.request.method == "HEAD") response_->skip(true);
  }

  // Reads the final response head; 1xx heads before it are forwarded (HTTP/1.1 clients)
  // or dropped. "100 Continue" is always dropped: the proxy answered Expect itself.
  Awaitable<std::optional<ErrorKind>> read_response_head(Exchange& ex, bool& no_response_byte) {
    up_buffer_.consume(up_buffer_.size());
    for (bool first_head = true;; first_head = false) {
      new_response_parser(ex);
      error_code ec;
      up_deadline_.expires_after(options_.response_timeout);
      up_deadline_.start();
      co_await http::async_read_header(*up_, up_buffer_, *response_, use_ec(ec));
      up_deadline_.finish(ec);
      if (ec) {
        no_response_byte = first_head && up_buffer_.size() == 0 &&
                           (ec == http::error::end_of_stream || ec == asio::error::eof ||
                            ec == asio::error::connection_reset);
        co_return ec == beast::error::timeout ? ErrorKind::kUpstreamTimeout
                                              : ErrorKind::kUpstreamFailed;
      }
      const unsigned status = response_head_text_.status;
      if (status >= 200) co_return std::nullopt;
      // 101 cannot happen (Upgrade is not forwarded): a protocol error.
      if (status == 101) co_return ErrorKind::kUpstreamFailed;
      if (status != 100 && ex.request.version == 11) {
        std::string& head = response_head_;
        downstream_response_head(static_cast<int>(status), response_reason(), response_fields(),
                                 ResponseFraming::kNone, 0, false, 11, {}, head);
        down_deadline_.expires_after(options_.send_timeout);
        down_deadline_.start();
        const size_t n = co_await asio::async_write(down_, asio::buffer(head), use_ec(ec));
        down_deadline_.finish(ec);
        ex.record.bytes_out += n;
        if (ec) co_return ErrorKind::kUpstreamFailed;
      }
    }
  }

  // The response's reason phrase and fields as views into response_head_text_; the vector
  // is reused across responses.
  std::string_view response_reason() const {
    return response_head_text_.view(response_head_text_.reason);
  }
  const std::vector<HeaderField>& response_fields() {
    HeadText& h = response_head_text_;
    h.views.clear();
    for (const auto& [name, value] : h.fields) h.views.push_back({h.view(name), h.view(value)});
    return h.views;
  }

  // Whether the upstream might still send body bytes that belong to no response: a
  // response to HEAD (or a 204) has no body whatever its framing fields say, but a broken
  // origin that sends the body it announced anyway puts bytes on the connection that would
  // be read as the start of the next response on it (a 502 for an innocent request, or the
  // wrong answer relayed). They may arrive at any moment, after any check the pool makes, so
  // such a connection is not reused: it costs a new connection after a HEAD whose response
  // announces a body, which is cheap next to a desynchronised response stream. (A 304 may
  // rightly carry the Content-Length of the representation, and is frequent: kept.)
  bool may_send_unframed_body(const Exchange& ex) const {
    const ResponseParser& rp = *response_;
    if (ex.request.method != "HEAD" && response_head_text_.status != 204) return false;
    const auto length = rp.content_length();
    return rp.chunked() || (length && *length > 0);
  }

  // Decodes response body bytes already in up_buffer_ into body_, without any I/O. Returns
  // the byte count; `ec` is set when the upstream's framing is broken.
  size_t decode_buffered_response(error_code& ec) {
    ResponseParser& rp = *response_;
    auto& body = rp.body();
    body.data = body_.data();
    body.size = body_.size();
    while (up_buffer_.size() > 0 && !rp.is_done() && body.size > 0) {
      const size_t used = rp.put(up_buffer_.data(), ec);
      up_buffer_.consume(used);
      if (ec == http::error::need_more || ec == http::error::need_buffer) {
        ec = {};
        break;
      }
      if (ec || used == 0) break;
    }
    return body_.size() - body.size;
  }

  // Streams the response to the client. Returns whether the connection may continue.
  Awaitable<bool> relay_response(Exchange& ex, const std::string& key) {
    ResponseParser& rp = *response_;
    const ValidRequest& rq = ex.request;
    const int status = static_cast<int>(response_head_text_.status);
    const bool http11 = rq.version == 11;
    ResponseFraming framing;
    uint64_t length = 0;
    if (rq.method == "HEAD" || status == 204 || status == 304) {
      framing = ResponseFraming::kNone;
    } else if (rp.chunked()) {
      framing = http11 ? ResponseFraming::kChunked : ResponseFraming::kClose;
    } else if (rp.content_length()) {
      framing = ResponseFraming::kContentLength;
      length = *rp.content_length();
    } else {
      // Body delimited by the upstream closing: chunked for an HTTP/1.1 client keeps its
      // connection; an HTTP/1.0 client gets the same close-delimited body.
      framing = http11 ? ResponseFraming::kChunked : ResponseFraming::kClose;
    }
    // Draining: the last response of the connection, and it says so.
    const bool close = !rq.keep_alive || framing == ResponseFraming::kClose || worker_.draining();
    const std::string& head = response_head_;
    downstream_response_head(status, response_reason(), response_fields(), framing, length, close,
                             rq.version, ex.hsts, response_head_);
    ex.record.status = status;

    // The head goes out together with the body bytes that arrived with it and, when they
    // complete a chunked body, the last chunk: one write (one sendmsg, one TLS record) for
    // a small response instead of up to three. Later pieces are read and written one by
    // one, so memory stays at one body buffer whatever the size.
    const bool chunked = framing == ResponseFraming::kChunked;
    const bool has_body = framing != ResponseFraming::kNone;
    error_code ec;  // upstream side
    size_t n = has_body && !rp.is_done() ? decode_buffered_response(ec) : 0;
    out_.clear();
    out_.push_back(asio::buffer(head));
    std::string chunk_line;
    for (;;) {
      frame_body(out_, n, chunked, chunk_line);
      if (chunked && !ec && rp.is_done()) out_.push_back(asio::buffer(kLastChunk));
      if (!out_.empty()) {
        error_code wec;
        down_deadline_.expires_after(options_.send_timeout);
        down_deadline_.start();
        ex.record.bytes_out += co_await asio::async_write(down_, out_, use_ec(wec));
        down_deadline_.finish(wec);
        out_.clear();
        if (wec) {
          // The client went away or stopped reading: nothing more to do for it.
          note_client_error(wec);
          drop_upstream();
          finish(ex);
          co_return false;
        }
      }
      if (ec) {
        // The response head is out: the only way left to tell the client the body is
        // truncated is to close without the final chunk (or before Content-Length bytes).
        if (worker_.log_throttle().allow_warning()) {
          proxy_log().warn(
              "client {}: upstream {} failed during the response body: {}; "
              "closing the client connection",
              client_, key, ec.message());
        }
        drop_upstream();
        finish(ex);
        co_return false;
      }
      if (!has_body || rp.is_done()) break;
      auto& body = rp.body();
      body.data = body_.data();
      body.size = body_.size();
      up_deadline_.expires_after(options_.response_timeout);
      up_deadline_.start();
      co_await http::async_read_some(*up_, up_buffer_, rp, use_ec(ec));
      up_deadline_.finish(ec);
      if (ec == http::error::need_buffer) ec = {};
      n = body_.size() - body.size;
    }
    // Back to the pool only when the upstream's framing ended cleanly and nothing extra
    // arrived after the response (which would be taken for the next response).
    if (rp.is_done() && rp.keep_alive() && !rp.need_eof() && up_buffer_.size() == 0 &&
        !may_send_unframed_body(ex)) {
      worker_.pool().put(key, up_.release());
    } else {
      drop_upstream();
    }
    finish(ex);
    co_return !close;
  }

  Worker& worker_;
  const ProxyOptions& options_;
  HeadLimits limits_;
  // TLS only: the snapshot pinned for the handshake (its CertStore answers SNI) and the
  // per-connection handshake data the servername callback reads and fills. Declared before
  // down_, whose SSL points at handshake_, so that they outlive it. Both are released
  // after the handshake (see handshake()).
  SnapshotPtr pinned_;
  tls::HandshakeState handshake_;
  bool tls_open_ = false;  // handshake done, no TLS error, client not gone: close_notify due
  bool idle_ = false;      // waiting for the first byte of a keep-alive connection's next request
  Stream down_;
  // Deadline of every operation on the client connection (one at a time).
  Deadline down_deadline_{worker_.io().get_executor(), lowest()};
  beast::flat_buffer in_;
  beast::flat_buffer up_buffer_{kMaxUpstreamHeadBytes + kReadBufferSlack};
  std::vector<char> body_ = std::vector<char>(kBodyBuffer);
  // Buffers of one write (to the upstream, then to the client), reused across requests.
  std::vector<asio::const_buffer> out_;
  // Per-request text kept here rather than in the Exchange so that its capacity is reused:
  // in steady state a request allocates none of it.
  std::optional<RequestHeadScanner> scanner_;  // made in init(), once limits_ is set
  RequestHead head_;                           // views into in_, valid until it is consumed
  std::string request_id_;
  std::string upstream_head_;  // the request head as sent upstream
  std::string upstream_key_;   // "address:port" of the endpoint of this request
  std::string response_head_;  // the response head as sent to the client

  std::string client_;
  uint16_t listener_port_ = 0;
  std::optional<RequestParser> parser_;
  std::optional<ResponseParser> response_;
  HeadText response_head_text_;  // the head response_ parsed
  UpstreamStream up_;
  // Deadline of every operation on the upstream connection of the moment.
  Deadline up_deadline_{worker_.io().get_executor(), up_.socket()};
};

}  // namespace

Awaitable<void> run_session(Worker& worker, Socket socket) {
  Session<PlainStream> session(worker, std::move(socket));
  co_await session.run();
}

Awaitable<void> run_tls_session(Worker& worker, Socket socket) {
  // The snapshot of the moment picks the certificates of this handshake; it stays pinned
  // until the handshake is over.
  SnapshotPtr snapshot = worker.snapshot();
  const tls::ServerContext* context =
      snapshot && snapshot->certs ? snapshot->certs->default_context().get() : nullptr;
  if (!context) {
    // A wiring error (app/ publishes stores with a default certificate whenever HTTPS is
    // on), or no snapshot yet: nothing to handshake with. Error level, but once per worker
    // until it is fixed, or a client could fill the log.
    TlsCounters::add(worker.tls_counters().no_certificate);
    if (!worker.warned_no_certificate()) {
      proxy_log().error(
          "HTTPS connection refused: {}; closing HTTPS connections until a snapshot with a "
          "default certificate is published",
          snapshot ? "the snapshot's certificate store has no default certificate"
                   : "no snapshot published yet");
    }
    error_code ec;
    socket.close(ec);
    co_return;
  }
  SSL* ssl = SSL_new(context->native());
  if (!ssl) {
    TlsCounters::add(worker.tls_counters().handshake_failures);
    proxy_log().error("HTTPS connection refused: SSL_new failed (out of memory?); closing");
    ERR_clear_error();
    error_code ec;
    socket.close(ec);
    co_return;
  }
  Session<TlsStream> session(worker, std::move(socket), std::move(snapshot), ssl);
  co_await session.run();
}

}  // namespace lintel::proxy
