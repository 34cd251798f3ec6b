#pragma once
// Request validation, in one place, before anything is routed or forwarded.
//
// Boost 1.81's Beast parser is lenient where an edge proxy must not be (DESIGN.md "Errors
// and bad input"): it unfolds obs-fold, accepts bare LF in places, any printable byte in
// the target, any HTTP/x.y version, and has no field-count limit or Host check. So the raw
// header bytes go through RequestHeadScanner first (lexical rules, limits, as the bytes
// arrive), then validate_request() applies the semantic rules (framing, Host, target,
// version) to the fields the scanner found. Only a request that passes both is given to
// Beast, which then only has to decode the body framing we already accepted.
//
// Pure code: no I/O, no Beast, unit-tested with the hostile vectors.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/errors.h"

namespace lintel::proxy {

struct HeadLimits {
  size_t max_request_target = 16 * 1024;   // → 414
  size_t max_header_bytes = 64 * 1024;     // field lines, CRLFs included → 431
  size_t max_header_fields = 100;          // → 431
  std::optional<uint64_t> max_body_bytes;  // declared Content-Length above it → 413
};

// Empty lines tolerated before a request line (RFC 9112 §2.2: "at least one").
inline constexpr size_t kMaxLeadingEmptyLines = 4;
// Method and version around the target on the request line; the line is refused with 414
// once it is longer than max_request_target plus this.
inline constexpr size_t kRequestLineSlack = 64;

struct HeaderField {
  std::string_view name;   // as received
  std::string_view value;  // surrounding whitespace removed
};

// A request head as received. Views point into the bytes given to the scanner.
struct RequestHead {
  std::string_view method;
  std::string_view target;
  std::string_view version;  // "HTTP/1.1"
  std::vector<HeaderField> fields;
  size_t skipped = 0;     // bytes of leading empty lines before the request line
  size_t head_bytes = 0;  // request line to the final CRLF, after `skipped`
};

class RequestHeadScanner {
 public:
  enum class State { kNeedMore, kComplete, kError };

  explicit RequestHeadScanner(const HeadLimits& limits) : limits_(limits) {}

  // Ready for the next request with the same limits; keeps the field table's capacity, so
  // a session that reuses one scanner allocates nothing here per request.
  void reset();

  // `data`: every byte received for this request so far (the same prefix each call, maybe
  // longer; it may live at a new address). Only lines not seen before are scanned.
  State scan(std::string_view data);

  ErrorKind error() const { return error_; }
  // After kComplete: the head, with views into the `data` of the last call.
  RequestHead head(std::string_view data) const;
  // The same into `out`, reusing the capacity of its field vector.
  void head(std::string_view data, RequestHead& out) const;
  // Whether any byte of a request line has arrived (for a 408 rather than a silent close).
  bool started() const { return started_; }

 private:
  State fail(ErrorKind kind);
  bool scan_request_line(std::string_view line, size_t offset);
  bool scan_field_line(std::string_view line, size_t offset);

  HeadLimits limits_;
  size_t pos_ = 0;  // start of the first line not scanned yet
  size_t skipped_ = 0;
  size_t empty_lines_ = 0;
  bool have_request_line_ = false;
  bool started_ = false;
  size_t field_bytes_ = 0;
  size_t head_end_ = 0;
  ErrorKind error_ = ErrorKind::kBadRequest;
  struct Span {
    size_t offset;
    size_t size;
  };
  Span method_{}, target_{}, version_{};
  std::vector<std::pair<Span, Span>> fields_;
};

enum class BodyFraming { kNone, kContentLength, kChunked };

// What the proxy needs of a valid request, owning its strings.
struct ValidRequest {
  std::string method;
  int version = 11;  // 10 or 11
  bool host_present = false;
  std::string host;   // Host value, or the authority of an absolute-form target
  std::string path;   // normalized
  std::string query;  // without '?'
  bool has_query = false;
  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0;
  bool keep_alive = true;        // Connection: close, or HTTP/1.0 without keep-alive
  bool expect_continue = false;  // Expect: 100-continue
};

struct Validation {
  std::optional<ErrorKind> error;
  std::string detail;  // for the log line: which rule
  ValidRequest request;
};

// Semantic rules, in order (the first broken rule gives the status):
//  version: HTTP/1.x only (505 for another major); method: TRACE and CONNECT → 405;
//  target: origin-form, or absolute-form "http(s)://authority/path" whose authority equals
//    Host (then forwarded in origin-form); anything else → 400;
//  Host: exactly one on HTTP/1.1, at most one on HTTP/1.0, no userinfo, valid characters;
//  Content-Length: at most one field, 1*DIGIT, no overflow; over max_body_bytes → 413;
//  Transfer-Encoding: at most one field, exactly "chunked", not with Content-Length, not on
//    HTTP/1.0 (400); another well-formed coding → 501;
//  path normalization errors → 400; query characters → 400.
Validation validate_request(const RequestHead& head, const HeadLimits& limits);

// Case-insensitive ASCII comparison.
bool iequals(std::string_view a, std::string_view b);
// Calls `fn(token)` for each comma-separated element of a list value, trimmed, non-empty.
template <typename Fn>
void for_each_list_token(std::string_view value, Fn&& fn) {
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t end = value.find(',', pos);
    if (end == std::string_view::npos) end = value.size();
    std::string_view token = value.substr(pos, end - pos);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
      token.remove_prefix(1);
    }
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
      token.remove_suffix(1);
    }
    if (!token.empty()) fn(token);
    pos = end + 1;
  }
}

}  // namespace lintel::proxy
