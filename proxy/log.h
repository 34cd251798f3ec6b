#pragma once
// The proxy's diagnostic log (stderr; stdout carries the access log). Uses the logger the
// application registered as "lintel" when there is one, else a stderr logger of its own.

namespace spdlog {
class logger;
}

namespace lintel::proxy {

spdlog::logger& proxy_log();

}  // namespace lintel::proxy
