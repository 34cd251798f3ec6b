#pragma once
// KubeConnection: one HTTPS/1.1 connection to the API server, (re)connected on demand and
// kept alive between requests. Each informer owns one, so a long watch never holds up
// another kind's list.
//
// - TLS only; the server certificate is verified against the configured CA (the only trust
//   anchor) and the server's host name or IP address (X509_check_host / _ip), unless
//   insecure-skip-tls-verify was configured.
// - Credentials: bearer token (static, or a file re-read every minute and after a 401:
//   TokenSource) and/or a client certificate in the SSL context.
// - Every operation has a deadline: connect + handshake + one request/response of a
//   list get `request_timeout`; a watch gets its whole lifetime (timeoutSeconds + slack).
// - Bodies have limits: a non-2xx body is kept up to 64 KiB (for the Status message); a
//   2xx body is handed to the caller's sink in pieces, and the caller limits what it keeps.
//
// Thread: one owner coroutine at a time, on the control thread. No exception escapes: the
// coroutines return outcomes.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "ingress/kube_config.h"

namespace lintel::ingress {

// The bearer token, read from a file at most every `reread` (or given once).
class TokenSource {
 public:
  TokenSource(const KubeConfig& config, std::chrono::milliseconds reread);
  // The token to send now ("" = none). Re-reads the file when due; a failed re-read keeps
  // the previous token (and is logged once per failure streak).
  const std::string& token();
  // After a 401: re-read at the next token() call. Returns false when there is no file to
  // re-read (a static token cannot get better by asking again).
  bool invalidate();

 private:
  std::string token_;
  std::string file_;
  std::chrono::milliseconds reread_;
  std::chrono::steady_clock::time_point read_at_{};
  bool due_ = true;
  bool failing_ = false;
};

// Builds the client SSL context (CA, client certificate, verification mode).
std::shared_ptr<boost::asio::ssl::context> make_client_context(const KubeConfig& config,
                                                               std::string& error);

struct KubeResponse {
  // Transport failure (connect, TLS, timeout, malformed HTTP): non-empty, status 0.
  std::string error;
  int status = 0;
  // The body of a non-2xx answer (up to 64 KiB), for Status reason/message.
  std::string body;
  // True when the caller's sink stopped the transfer.
  bool stopped = false;
  // Retry-After of a 429/503 in seconds (0 when absent or not a number of seconds).
  int retry_after = 0;
};

// For log lines: the transport error, or "HTTP 403: <the Status's message>" (the body
// itself when it is short and not a Status).
std::string describe_answer(const KubeResponse& response);

// A sink for get()/request() that appends the body to `out` and stops the transfer (false)
// rather than let it grow past `limit` bytes.
std::function<bool(std::string_view)> keep_body(std::string& out, size_t limit);

class KubeConnection {
 public:
  KubeConnection(boost::asio::any_io_executor executor,
                 std::shared_ptr<boost::asio::ssl::context> context, const KubeConfig& config,
                 std::shared_ptr<TokenSource> tokens, std::string user_agent,
                 std::chrono::milliseconds request_timeout);

  // GET `target`; a 2xx body goes to `sink` piece by piece (return false to stop: the
  // connection is then closed, as there is no other way to end a response early).
  // `deadline` bounds the whole exchange, connect included. A 401 re-reads the token file
  // and retries once.
  boost::asio::awaitable<KubeResponse> get(const std::string& target,
                                           std::chrono::milliseconds deadline,
                                           const std::function<bool(std::string_view)>& sink);

  // A write: `method` is "POST", "PUT", "PATCH" or "DELETE"; `content_type` is that of
  // `body` ("application/json", "application/merge-patch+json", ...). A 2xx body goes to
  // `sink` as with get(); a non-2xx body is in KubeResponse::body. Same deadline, token and
  // 401 rules as get(). Like get(), a request written on a kept-alive connection that the
  // server had already closed is sent once more on a fresh one; every write Lintel makes is
  // safe to repeat (a create of a named object answers 409, a PUT carries its
  // resourceVersion, a merge patch sets the same values again).
  boost::asio::awaitable<KubeResponse> request(const std::string& method,
                                               const std::string& target,
                                               const std::string& content_type,
                                               const std::string& body,
                                               std::chrono::milliseconds deadline,
                                               const std::function<bool(std::string_view)>& sink);

  // Closes the socket so that whatever is in flight on it fails at once (stop). The
  // owning coroutine then sees the error and returns.
  void cancel();

 private:
  void close();
  using Stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  boost::asio::awaitable<std::string> connect(std::chrono::steady_clock::time_point deadline);
  struct Outgoing {
    const std::string& method;
    const std::string& target;
    const std::string& content_type;
    const std::string& body;
  };
  boost::asio::awaitable<KubeResponse> exchange(const Outgoing& outgoing,
                                                std::chrono::steady_clock::time_point deadline,
                                                const std::function<bool(std::string_view)>& sink);

  boost::asio::any_io_executor executor_;
  std::shared_ptr<boost::asio::ssl::context> context_;
  KubeConfig config_;
  std::shared_ptr<TokenSource> tokens_;
  std::string user_agent_;
  std::chrono::milliseconds request_timeout_;
  std::unique_ptr<Stream> stream_;
  boost::beast::flat_buffer buffer_;
};

}  // namespace lintel::ingress
