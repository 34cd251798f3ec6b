#pragma once
// The proxy's diagnostic log (stderr; stdout carries the access log). Uses the logger the
// application registered as "lintel" when there is one, else a stderr logger of its own.

#include <cstddef>
#include <cstdint>
#include <string>

namespace spdlog {
class logger;
}

namespace lintel::proxy {

spdlog::logger& proxy_log();

// Keeps per-request log lines from flooding the log. Any client can make a request fail at
// will, so a line per failed request would let it fill the disk and drown the lines that
// matter:
// - requests refused as invalid (over a limit, too slow) are logged at debug level only
//   (each one is in the access log anyway) and counted here;
// - upstream failure warnings (502, 504) are logged up to a budget per interval and
//   counted beyond it;
// - failed TLS handshakes are logged at debug level only and counted here.
// summary() sums an interval up in one line and starts the next one.
//
// Thread: one per worker, used on that worker's thread only.
class LogThrottle {
 public:
  explicit LogThrottle(size_t warnings_per_interval) : warning_budget_(warnings_per_interval) {}

  void count_refused() { ++refused_; }
  // A TLS connection closed for a failed or timed-out handshake (plain HTTP included).
  void count_tls_refused() { ++tls_refused_; }
  // Whether this upstream failure warning may be logged; false: it is counted instead.
  bool allow_warning() {
    if (warnings_ < warning_budget_) {
      ++warnings_;
      return true;
    }
    ++suppressed_;
    return false;
  }
  // What happened since the last call, e.g. "12 requests refused (logged at debug level;
  // each is in the access log); 3 upstream failure warnings suppressed", or "" when
  // nothing needs saying. Resets the counts.
  std::string summary();

 private:
  size_t warning_budget_;
  size_t warnings_ = 0;
  uint64_t refused_ = 0;
  uint64_t tls_refused_ = 0;
  uint64_t suppressed_ = 0;
};

}  // namespace lintel::proxy
