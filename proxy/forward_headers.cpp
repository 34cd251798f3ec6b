#include "proxy/forward_headers.h"

#include <array>
#include <charconv>

namespace lintel::proxy {

namespace {

constexpr std::array<std::string_view, 8> kHopByHop = {
    "connection", "keep-alive", "proxy-connection",  "te",
    "trailer",    "upgrade",    "transfer-encoding", "content-length"};

// Fields the proxy sets itself on the way up; the client's values are dropped (or, for
// X-Forwarded-For, extended) so a client cannot pose as another address or scheme.
constexpr std::array<std::string_view, 6> kForwarding = {"x-forwarded-for",  "x-forwarded-proto",
                                                         "x-forwarded-host", "x-forwarded-port",
                                                         "x-real-ip",        "x-request-id"};

template <size_t N>
bool in(const std::array<std::string_view, N>& names, std::string_view name) {
  for (const auto n : names) {
    if (iequals(n, name)) return true;
  }
  return false;
}

// Field names listed in every Connection field: hop-by-hop for this message only.
std::vector<std::string_view> connection_options(const std::vector<HeaderField>& fields) {
  std::vector<std::string_view> out;
  for (const HeaderField& f : fields) {
    if (iequals(f.name, "connection")) {
      for_each_list_token(f.value, [&](std::string_view token) { out.push_back(token); });
    }
  }
  return out;
}

bool named_by(const std::vector<std::string_view>& options, std::string_view name) {
  for (const auto o : options) {
    if (iequals(o, name)) return true;
  }
  return false;
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

}  // namespace

bool is_hop_by_hop(std::string_view name) { return in(kHopByHop, name); }

std::string_view find_request_id(const std::vector<HeaderField>& fields) {
  for (const HeaderField& f : fields) {
    if (iequals(f.name, "x-request-id")) return f.value;
  }
  return {};
}

std::string upstream_request_head(const ValidRequest& request,
                                  const std::vector<HeaderField>& fields,
                                  const ForwardContext& ctx) {
  std::string out;
  upstream_request_head(request, fields, ctx, out);
  return out;
}

void upstream_request_head(const ValidRequest& request, const std::vector<HeaderField>& fields,
                           const ForwardContext& ctx, std::string& out) {
  out.clear();
  out.reserve(512 + request.path.size() + request.query.size() + fields.size() * 48);
  out.append(request.method).append(" ").append(request.path);
  if (request.has_query) out.append("?").append(request.query);
  out.append(" HTTP/1.1\r\n");

  const auto options = connection_options(fields);
  std::string forwarded_for;
  for (const HeaderField& f : fields) {
    if (iequals(f.name, "x-forwarded-for")) {
      if (!forwarded_for.empty()) forwarded_for.append(", ");
      forwarded_for.append(f.value);
      continue;
    }
    if (is_hop_by_hop(f.name) || named_by(options, f.name) || in(kForwarding, f.name)) continue;
    // The proxy answered "100-continue" itself when it started reading the body.
    if (iequals(f.name, "expect") && request.expect_continue) continue;
    append_field(out, f.name, f.value);
  }
  if (!request.host_present) append_field(out, "Host", request.host);

  if (!forwarded_for.empty()) forwarded_for.append(", ");
  forwarded_for.append(ctx.client_address);
  append_field(out, "X-Forwarded-For", forwarded_for);
  append_field(out, "X-Forwarded-Proto", ctx.scheme);
  append_field(out, "X-Forwarded-Host", request.host);
  char port[8];
  const auto port_end = std::to_chars(port, port + sizeof port, ctx.listener_port).ptr;
  append_field(out, "X-Forwarded-Port",
               std::string_view(port, static_cast<size_t>(port_end - port)));
  append_field(out, "X-Real-IP", ctx.client_address);
  append_field(out, "X-Request-ID", ctx.request_id);
  switch (request.framing) {
    case BodyFraming::kNone:
      break;
    case BodyFraming::kContentLength:
      append_field(out, "Content-Length", std::to_string(request.content_length));
      break;
    case BodyFraming::kChunked:
      append_field(out, "Transfer-Encoding", "chunked");
      break;
  }
  out.append("\r\n");
}

std::string downstream_response_head(int status, std::string_view reason,
                                     const std::vector<HeaderField>& fields,
                                     ResponseFraming framing, uint64_t content_length, bool close,
                                     int client_version, std::string_view hsts) {
  std::string out;
  downstream_response_head(status, reason, fields, framing, content_length, close, client_version,
                           hsts, out);
  return out;
}

void downstream_response_head(int status, std::string_view reason,
                              const std::vector<HeaderField>& fields, ResponseFraming framing,
                              uint64_t content_length, bool close, int client_version,
                              std::string_view hsts, std::string& out) {
  out.clear();
  out.reserve(256 + fields.size() * 48);
  out.append("HTTP/1.1 ").append(std::to_string(status)).append(" ");
  out.append(reason.empty() ? std::string_view("Unknown") : reason).append("\r\n");
  const auto options = connection_options(fields);
  for (const HeaderField& f : fields) {
    // A HEAD or 304 response's Content-Length describes the body a GET would get: keep it.
    if (framing == ResponseFraming::kNone && iequals(f.name, "content-length")) {
      append_field(out, f.name, f.value);
      continue;
    }
    if (is_hop_by_hop(f.name) || named_by(options, f.name)) continue;
    if (!hsts.empty() && iequals(f.name, "strict-transport-security")) hsts = {};
    append_field(out, f.name, f.value);
  }
  if (!hsts.empty()) append_field(out, "Strict-Transport-Security", hsts);
  switch (framing) {
    case ResponseFraming::kNone:
    case ResponseFraming::kClose:
      break;
    case ResponseFraming::kContentLength:
      append_field(out, "Content-Length", std::to_string(content_length));
      break;
    case ResponseFraming::kChunked:
      append_field(out, "Transfer-Encoding", "chunked");
      break;
  }
  if (close) {
    append_field(out, "Connection", "close");
  } else if (client_version == 10) {
    append_field(out, "Connection", "keep-alive");
  }
  out.append("\r\n");
}

}  // namespace lintel::proxy
