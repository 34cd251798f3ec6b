#pragma once
// Every error the proxy answers itself, in one table: kind → status, short text body, log
// message and whether the downstream connection must be closed. Downstream protocol errors
// always close: after a framing error the byte stream cannot be trusted, so the next
// "request" on it could be smuggled. Upstream errors keep the connection when the request
// was read completely (the framing is intact), see Session.

#include <cstdint>
#include <string>
#include <string_view>

namespace lintel::proxy {

enum class ErrorKind {
  kBadRequest,           // malformed request line, header syntax, framing, host, path
  kMethodNotAllowed,     // TRACE, CONNECT
  kRequestTimeout,       // header or body deadline passed while the client was sending
  kPayloadTooLarge,      // body over ProxyOptions::max_body_bytes
  kUriTooLong,           // request-target over ProxyOptions::max_request_target
  kHeaderTooLarge,       // header block or field count over its limit
  kNotImplemented,       // a transfer coding other than chunked
  kVersionNotSupported,  // HTTP major version other than 1
  kNoRoute,              // no rule and no default backend
  kNoEndpoints,          // backend known, no endpoint takes traffic
  kNoSnapshot,           // no configuration published yet
  kUpstreamConnect,      // every endpoint tried refused or timed out the connect
  kUpstreamFailed,       // reset, early close or malformed response from the endpoint
  kUpstreamTimeout,      // no response head within ProxyOptions::response_timeout
};

struct ErrorInfo {
  int status;
  std::string_view reason;
  std::string_view body;  // short text, sent with a trailing newline
  std::string_view log;   // what happened, for the log line
  // true: the connection is closed after the response. false: it is kept when the request
  // body was read completely (otherwise unread body bytes would be taken for a request).
  bool close;
};

const ErrorInfo& error_info(ErrorKind kind);

// The whole response: status line, Content-Type text/plain, Content-Length, X-Request-ID
// when known, `extra_fields` (complete "Name: value\r\n" lines, e.g. the HSTS field of a
// TLS route), `Connection: close` when `close`.
std::string error_response(ErrorKind kind, bool close, std::string_view request_id,
                           std::string_view extra_fields = {});

// The 308 Permanent Redirect to HTTPS of a plain-HTTP request for a route with
// Route::https_redirect: Location, a short text body, X-Request-ID when known,
// `Connection: close` when `close`. 308 rather than 301: the method and body are kept
// (a POST stays a POST), as ingress-nginx answers.
std::string redirect_response(std::string_view location, bool close, std::string_view request_id);

// "https://" + host without its port (lowercase, as routed; IPv6 in brackets) + ":port"
// unless `https_port` is 443 + path (normalized) + "?query" when the request had one.
std::string https_location(std::string_view host, uint16_t https_port, std::string_view path,
                           bool has_query, std::string_view query);

}  // namespace lintel::proxy
