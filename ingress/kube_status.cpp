#include "ingress/kube_status.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>

#include "ingress/decode.h"

namespace lintel::ingress {

namespace {

bool is_ip(const std::string& text) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

}  // namespace

std::optional<LoadBalancerStatus> parse_status_addresses(const std::string& text,
                                                         std::string& error) {
  LoadBalancerStatus out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? comma : comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (item.empty()) {
      error = fmt::format("\"{}\": an empty address", text);
      return std::nullopt;
    }
    LoadBalancerIngress entry;
    if (is_ip(item)) {
      entry.ip = item;
    } else if (is_dns_subdomain(item)) {
      entry.hostname = item;
    } else {
      error = fmt::format(
          "\"{}\" is neither an IP address nor a host name (lowercase letters, digits, '-' and "
          "'.')",
          item);
      return std::nullopt;
    }
    out.push_back(std::move(entry));
    if (comma == std::string::npos) {
      break;
    }
    start = comma + 1;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string> status_to_write(const std::map<std::string, LoadBalancerStatus>& current,
                                         const LoadBalancerStatus& desired,
                                         const std::map<std::string, LoadBalancerStatus>& written) {
  std::vector<std::string> out;
  for (const auto& [key, status] : current) {
    if (status == desired) {
      continue;
    }
    if (auto it = written.find(key); it != written.end() && it->second == desired) {
      continue;  // written, not yet seen back from the watch
    }
    out.push_back(key);
  }
  return out;
}

}  // namespace lintel::ingress
