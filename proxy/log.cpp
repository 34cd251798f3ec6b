#include "proxy/log.h"

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

}  // namespace lintel::proxy
