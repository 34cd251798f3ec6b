#include "proxy/access_log.h"

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <ctime>

namespace lintel::proxy {

namespace {

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20 || c >= 0x7f) {
      // Bytes above 0x7f come from client headers (obs-text) and need not be UTF-8: each
      // is written as a code point so the line always stays valid JSON.
      static constexpr char kHex[] = "0123456789abcdef";
      out.append("\\u00");
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
}

std::string rfc3339_utc_ms(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
  const std::time_t secs = static_cast<std::time_t>(ms.count() / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms.count() % 1000));
  return buf;
}

}  // namespace

std::string format_access_record(const AccessRecord& r) {
  std::string out;
  out.reserve(256 + r.path.size());
  out.append("{\"time\":\"").append(rfc3339_utc_ms(r.time)).append("\",\"client\":");
  append_json_string(out, r.client);
  out.append(r.tls ? ",\"scheme\":\"https\"" : ",\"scheme\":\"http\"");
  out.append(",\"method\":");
  append_json_string(out, r.method);
  out.append(",\"host\":");
  append_json_string(out, r.host);
  out.append(",\"path\":");
  append_json_string(out, r.path);
  out.append(",\"status\":").append(std::to_string(r.status));
  out.append(",\"bytes_in\":").append(std::to_string(r.bytes_in));
  out.append(",\"bytes_out\":").append(std::to_string(r.bytes_out));
  out.append(",\"upstream\":");
  append_json_string(out, r.upstream);
  char duration[32];
  std::snprintf(duration, sizeof duration, "%.3f", r.duration_ms);
  out.append(",\"duration_ms\":").append(duration);
  out.append(",\"request_id\":");
  append_json_string(out, r.request_id);
  out.append("}");
  return out;
}

AccessLog::AccessLog()
    : pool_(std::make_shared<spdlog::details::thread_pool>(kQueueLines, 1)),
      logger_(std::make_shared<spdlog::async_logger>(
          "access", std::make_shared<spdlog::sinks::stdout_sink_mt>(), pool_,
          spdlog::async_overflow_policy::overrun_oldest)) {
  // Not registered with spdlog's registry: several servers (tests) may live in one process.
  logger_->set_pattern("%v");
  logger_->set_level(spdlog::level::info);
}

AccessLog::~AccessLog() { flush(); }

void AccessLog::write(const AccessRecord& record) {
  logger_->info("{}", format_access_record(record));
}

void AccessLog::flush() { logger_->flush(); }

}  // namespace lintel::proxy
