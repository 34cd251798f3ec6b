#include "proxy/log.h"

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace lintel::proxy {

spdlog::logger& proxy_log() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    if (auto registered = spdlog::get("lintel")) return registered;
    auto own = std::make_shared<spdlog::logger>(
        "proxy", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    own->set_level(spdlog::level::info);
    return own;
  }();
  return *logger;
}

std::string LogThrottle::summary() {
  std::string out;
  if (refused_ > 0) {
    out = fmt::format(
        "{} request{} refused as invalid, over a limit or too slow (logged at debug level; "
        "each is in the access log)",
        refused_, refused_ == 1 ? "" : "s");
  }
  if (tls_refused_ > 0) {
    if (!out.empty()) out += "; ";
    out += fmt::format(
        "{} TLS connection{} closed for a failed or timed-out handshake or plain HTTP on the "
        "HTTPS port (logged at debug level)",
        tls_refused_, tls_refused_ == 1 ? "" : "s");
  }
  if (suppressed_ > 0) {
    if (!out.empty()) out += "; ";
    out += fmt::format("{} upstream failure warning{} suppressed (over {} per interval)",
                       suppressed_, suppressed_ == 1 ? "" : "s", warning_budget_);
  }
  refused_ = 0;
  tls_refused_ = 0;
  suppressed_ = 0;
  warnings_ = 0;
  return out;
}

}  // namespace lintel::proxy
