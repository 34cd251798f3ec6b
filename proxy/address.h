#pragma once
// "host:port" listener and backend addresses, parsed without Asio so that tools and tests
// can share the parser.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lintel::proxy {

struct HostPort {
  std::string host;  // IP literal without brackets; "" = any IPv4 address
  uint16_t port = 0;
  bool ipv6 = false;  // the host was written in brackets
};

// Accepts "1.2.3.4:80", "[::1]:80", ":80" (any IPv4 address) and port 0. The host must be
// an IP literal (no DNS lookup on a listener address). nullopt when malformed.
std::optional<HostPort> parse_host_port(std::string_view text);

// "1.2.3.4:80" or "[::1]:80".
std::string format_host_port(std::string_view host, uint16_t port, bool ipv6);

}  // namespace lintel::proxy
