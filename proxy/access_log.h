#pragma once
// The access log: one JSON line per request on stdout. Workers hand a formatted line to an
// spdlog async logger whose queue overruns its oldest entry when full, so a slow stdout
// never blocks a worker (lines are lost instead, which an access log may do).
//
// Thread: write() from any worker.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace spdlog {
class logger;
namespace details {
class thread_pool;
}
}  // namespace spdlog

namespace lintel::proxy {

struct AccessRecord {
  std::chrono::system_clock::time_point time;  // when the request head started arriving
  std::string client;                          // peer IP
  bool tls = false;                            // "scheme": "https" or "http"
  std::string method;
  std::string host;
  std::string path;        // normalized, without query ("" if the request was not valid)
  int status = 0;          // 0 when the connection closed without a response
  uint64_t bytes_in = 0;   // request head and body bytes read from the client
  uint64_t bytes_out = 0;  // bytes written to the client
  std::string upstream;    // "10.0.0.1:80", "" when not forwarded
  double duration_ms = 0;
  std::string request_id;
};

// {"time":"2024-05-01T12:00:00.123Z","client":...} without a trailing newline.
std::string format_access_record(const AccessRecord& record);

class AccessLog {
 public:
  // Queue size in lines; when full, the oldest line is dropped.
  static constexpr size_t kQueueLines = 64 * 1024;

  AccessLog();
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  void write(const AccessRecord& record);
  void flush();

 private:
  std::shared_ptr<spdlog::details::thread_pool> pool_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace lintel::proxy
