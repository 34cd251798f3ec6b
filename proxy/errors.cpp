#include "proxy/errors.h"

#include <array>

namespace lintel::proxy {

namespace {

// Indexed by ErrorKind; the static_assert below keeps the table and the enum in step.
constexpr std::array kErrors = {
    ErrorInfo{400, "Bad Request", "bad request", "malformed request, closing", true},
    ErrorInfo{405, "Method Not Allowed", "method not allowed", "method refused, closing", true},
    ErrorInfo{408, "Request Timeout", "request timeout", "client too slow, closing", true},
    ErrorInfo{413, "Payload Too Large", "payload too large", "body over limit, closing", true},
    ErrorInfo{414, "URI Too Long", "uri too long", "request-target over limit, closing", true},
    ErrorInfo{431, "Request Header Fields Too Large", "request header fields too large",
              "header block over limit, closing", true},
    ErrorInfo{501, "Not Implemented", "transfer coding not implemented",
              "unsupported transfer coding, closing", true},
    ErrorInfo{505, "HTTP Version Not Supported", "http version not supported",
              "unsupported HTTP version, closing", true},
    ErrorInfo{404, "Not Found", "no route", "no route for host and path", false},
    ErrorInfo{503, "Service Unavailable", "no endpoints available", "backend has no endpoints",
              false},
    ErrorInfo{503, "Service Unavailable", "no configuration yet", "no snapshot published yet",
              false},
    ErrorInfo{502, "Bad Gateway", "upstream connect failed",
              "could not connect to any endpoint tried", false},
    ErrorInfo{502, "Bad Gateway", "upstream failed", "upstream failed before a response", false},
    ErrorInfo{504, "Gateway Timeout", "upstream timeout", "no upstream response in time", false},
};
static_assert(kErrors.size() == static_cast<size_t>(ErrorKind::kUpstreamTimeout) + 1);

}  // namespace

const ErrorInfo& error_info(ErrorKind kind) { return kErrors[static_cast<size_t>(kind)]; }

std::string error_response(ErrorKind kind, bool close, std::string_view request_id,
                           std::string_view extra_fields) {
  const ErrorInfo& info = error_info(kind);
  std::string out;
  out.reserve(256);
  out.append("HTTP/1.1 ")
      .append(std::to_string(info.status))
      .append(" ")
      .append(info.reason)
      .append("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ")
      .append(std::to_string(info.body.size() + 1))
      .append("\r\n");
  if (!request_id.empty()) {
    out.append("X-Request-ID: ").append(request_id).append("\r\n");
  }
  out.append(extra_fields);
  if (close) {
    out.append("Connection: close\r\n");
  }
  out.append("\r\n").append(info.body).append("\n");
  return out;
}

std::string redirect_response(std::string_view location, bool close, std::string_view request_id) {
  constexpr std::string_view kBody = "redirecting to https\n";
  std::string out;
  out.reserve(192 + location.size());
  out.append("HTTP/1.1 308 Permanent Redirect\r\nLocation: ")
      .append(location)
      .append("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ")
      .append(std::to_string(kBody.size()))
      .append("\r\n");
  if (!request_id.empty()) {
    out.append("X-Request-ID: ").append(request_id).append("\r\n");
  }
  if (close) {
    out.append("Connection: close\r\n");
  }
  out.append("\r\n").append(kBody);
  return out;
}

std::string https_location(std::string_view host, uint16_t https_port, std::string_view path,
                           bool has_query, std::string_view query) {
  std::string out;
  out.reserve(16 + host.size() + path.size() + query.size());
  out.append("https://").append(host);
  if (https_port != 443) out.append(":").append(std::to_string(https_port));
  out.append(path);
  if (has_query) out.append("?").append(query);
  return out;
}

}  // namespace lintel::proxy
