#pragma once
// Rewriting of the header fields between client and upstream, both directions. Pure
// functions: the forwarded request head is re-serialized from parsed fields, never copied
// from client bytes, so whatever the client's framing looked like, the upstream sees one
// request line with single spaces, CRLF line ends and framing set by us.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/request_head.h"

namespace lintel::proxy {

// What the proxy adds about the client connection.
struct ForwardContext {
  std::string_view client_address;  // IP literal, IPv6 without brackets
  uint16_t listener_port = 0;
  std::string_view scheme = "http";
  std::string_view request_id;  // the client's X-Request-ID, or the one generated for it
};

// True for fields that describe one connection, not the message (RFC 9110 §7.6.1), plus
// the framing fields the proxy writes itself: Connection, Keep-Alive, Proxy-Connection,
// TE, Trailer, Upgrade, Transfer-Encoding, Content-Length.
bool is_hop_by_hop(std::string_view name);

// The first X-Request-ID value, "" when absent.
std::string_view find_request_id(const std::vector<HeaderField>& fields);

// The request head sent upstream:
//   METHOD path[?query] HTTP/1.1
//   every field but the hop-by-hop ones, the fields named by Connection, Expect:
//   100-continue (the proxy answers it itself) and the forwarding fields below, in order;
//   Host unchanged (added when an HTTP/1.0 client sent none);
//   X-Forwarded-For: the client's list with the client address appended;
//   X-Forwarded-Proto, X-Forwarded-Host (= Host), X-Forwarded-Port, X-Real-IP: replaced;
//   X-Request-ID: the client's, or ctx.request_id;
//   Content-Length: n, or Transfer-Encoding: chunked, per framing.
// The upstream connection is kept alive by HTTP/1.1 default: no Connection field is sent.
std::string upstream_request_head(const ValidRequest& request,
                                  const std::vector<HeaderField>& fields,
                                  const ForwardContext& ctx);
// The same into `out` (replacing its content): a caller that keeps `out` across requests
// allocates nothing once it has the capacity.
void upstream_request_head(const ValidRequest& request, const std::vector<HeaderField>& fields,
                           const ForwardContext& ctx, std::string& out);

enum class ResponseFraming {
  kNone,           // HEAD, 1xx, 204, 304: no body; a Content-Length field is kept as is
  kContentLength,  // body of `content_length` bytes
  kChunked,        // the proxy chunks the body
  kClose,          // body ends when the connection closes (HTTP/1.0 client)
};

// The response head sent to the client: status line "HTTP/1.1 code reason", the upstream's
// fields without hop-by-hop ones (and without those named by its Connection field), then
// framing and `Connection: close` when `close`, or `Connection: keep-alive` for an
// HTTP/1.0 client that keeps the connection.
// `hsts` (non-empty on HTTPS responses of TLS routes): the Strict-Transport-Security value
// added unless the upstream sent that field itself. The upstream's own field wins: an
// application that knows its HSTS policy (a longer max-age, preload, or max-age=0 to retire
// HSTS) must be able to say so, and a response never carries the field twice (browsers
// take the first one, so a second would only confuse). ingress-nginx differs here: its
// more_set_headers replaces the upstream's value with the controller's.
std::string downstream_response_head(int status, std::string_view reason,
                                     const std::vector<HeaderField>& fields,
                                     ResponseFraming framing, uint64_t content_length, bool close,
                                     int client_version, std::string_view hsts = {});
// The same into `out` (replacing its content).
void downstream_response_head(int status, std::string_view reason,
                              const std::vector<HeaderField>& fields, ResponseFraming framing,
                              uint64_t content_length, bool close, int client_version,
                              std::string_view hsts, std::string& out);

}  // namespace lintel::proxy
