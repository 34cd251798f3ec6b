#include "proxy/request_head.h"

#include <charconv>

#include "proxy/path_normalize.h"

namespace lintel::proxy {

namespace {

bool is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// field-vchar / SP / HTAB; obs-text (0x80-0xFF) is allowed in values (RFC 9110 §5.5).
bool is_value_byte(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool starts_with_icase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// Host = uri-host [ ":" port ]. Only what a DNS name or IP literal can hold: no userinfo
// ('@'), no percent-escapes, no sub-delims. Empty is allowed (RFC 9112 §3.2).
bool valid_host(std::string_view host) {
  if (host.empty()) return true;
  std::string_view port;
  if (host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (const char c : host.substr(1, close - 1)) {
      if (!(is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'f') || c == ':' || c == '.')) {
        return false;
      }
    }
    const std::string_view rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
    }
  } else {
    const auto colon = host.find(':');
    const std::string_view name = host.substr(0, colon);
    if (name.empty()) return false;
    for (const char c : name) {
      const char l = lower(c);
      if (!((l >= 'a' && l <= 'z') || is_digit(c) || c == '-' || c == '.' || c == '_' ||
            c == '~')) {
        return false;
      }
    }
    if (colon != std::string_view::npos) port = host.substr(colon + 1);
  }
  if (port.size() > 5) return false;
  for (const char c : port) {
    if (!is_digit(c)) return false;
  }
  return true;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

RequestHeadScanner::State RequestHeadScanner::fail(ErrorKind kind) {
  error_ = kind;
  return State::kError;
}

RequestHeadScanner::State RequestHeadScanner::scan(std::string_view data) {
  for (;;) {
    const size_t nl = data.find('\n', pos_);
    if (nl == std::string_view::npos) {
      // An incomplete line: refuse it as soon as it is over a limit or holds a byte no
      // valid line can hold, rather than waiting for the rest (or for the deadline).
      const std::string_view partial = data.substr(pos_);
      if (!partial.empty()) started_ = true;
      if (!have_request_line_) {
        if (partial.size() > limits_.max_request_target + kRequestLineSlack) {
          return fail(ErrorKind::kUriTooLong);
        }
        for (size_t i = 0; i < partial.size(); ++i) {
          const auto c = static_cast<unsigned char>(partial[i]);
          const bool final_cr = c == '\r' && i + 1 == partial.size();
          if ((c < 0x20 && !final_cr) || c >= 0x7f) return fail(ErrorKind::kBadRequest);
        }
      } else {
        if (field_bytes_ + partial.size() > limits_.max_header_bytes) {
          return fail(ErrorKind::kHeaderTooLarge);
        }
        for (size_t i = 0; i < partial.size(); ++i) {
          const auto c = static_cast<unsigned char>(partial[i]);
          const bool final_cr = c == '\r' && i + 1 == partial.size();
          if (!is_value_byte(c) && !final_cr) return fail(ErrorKind::kBadRequest);
        }
      }
      return State::kNeedMore;
    }
    std::string_view line = data.substr(pos_, nl - pos_);
    // Lines end in CRLF only: a bare LF (or a CR elsewhere, caught by the character
    // checks below) is a line end some peers see and others do not — a smuggling vector.
    if (line.empty() || line.back() != '\r') return fail(ErrorKind::kBadRequest);
    line.remove_suffix(1);
    if (!have_request_line_) {
      if (line.empty()) {
        if (++empty_lines_ > kMaxLeadingEmptyLines) return fail(ErrorKind::kBadRequest);
        pos_ = nl + 1;
        skipped_ = pos_;
        continue;
      }
      started_ = true;
      if (!scan_request_line(line, pos_)) return State::kError;
      have_request_line_ = true;
    } else if (line.empty()) {
      head_end_ = nl + 1;
      pos_ = head_end_;
      return State::kComplete;
    } else {
      field_bytes_ += line.size() + 2;
      if (field_bytes_ > limits_.max_header_bytes) return fail(ErrorKind::kHeaderTooLarge);
      if (!scan_field_line(line, pos_)) return State::kError;
      if (fields_.size() > limits_.max_header_fields) return fail(ErrorKind::kHeaderTooLarge);
    }
    pos_ = nl + 1;
  }
}

bool RequestHeadScanner::scan_request_line(std::string_view line, size_t offset) {
  // request-line = method SP request-target SP HTTP-version, single spaces (RFC 9112 §3).
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return fail(ErrorKind::kBadRequest), false;
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return fail(ErrorKind::kBadRequest), false;
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  for (const char c : method) {
    if (!is_tchar(static_cast<unsigned char>(c))) return fail(ErrorKind::kBadRequest), false;
  }
  if (target.size() > limits_.max_request_target) return fail(ErrorKind::kUriTooLong), false;
  if (target.empty()) return fail(ErrorKind::kBadRequest), false;  // "GET  / HTTP/1.1"
  for (const char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return fail(ErrorKind::kBadRequest), false;
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !is_digit(version[5]) ||
      version[6] != '.' || !is_digit(version[7])) {
    return fail(ErrorKind::kBadRequest), false;
  }
  method_ = {offset, method.size()};
  target_ = {offset + sp1 + 1, target.size()};
  version_ = {offset + sp2 + 1, version.size()};
  return true;
}

bool RequestHeadScanner::scan_field_line(std::string_view line, size_t offset) {
  // A line starting with whitespace is obs-fold (or, right after the request line, a
  // field some parsers would join to nothing): rejected, never unfolded (RFC 9112 §5.2).
  if (line.front() == ' ' || line.front() == '\t') return fail(ErrorKind::kBadRequest), false;
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return fail(ErrorKind::kBadRequest), false;
  const std::string_view name = line.substr(0, colon);
  for (const char c : name) {
    // No whitespace before the colon (RFC 9112 §5.1). No '_': CGI-style backends map '_'
    // and '-' to the same variable, so "X_Forwarded_For" could pose as a header we set.
    if (!is_tchar(static_cast<unsigned char>(c)) || c == '_') {
      return fail(ErrorKind::kBadRequest), false;
    }
  }
  const std::string_view raw_value = line.substr(colon + 1);
  for (const char c : raw_value) {
    if (!is_value_byte(static_cast<unsigned char>(c))) return fail(ErrorKind::kBadRequest), false;
  }
  const std::string_view value = trim_ows(raw_value);
  const size_t value_offset =
      value.empty() ? offset + colon + 1 : offset + static_cast<size_t>(value.data() - line.data());
  fields_.push_back({{offset, name.size()}, {value_offset, value.size()}});
  return true;
}

void RequestHeadScanner::reset() {
  pos_ = 0;
  skipped_ = 0;
  empty_lines_ = 0;
  have_request_line_ = false;
  started_ = false;
  field_bytes_ = 0;
  head_end_ = 0;
  error_ = ErrorKind::kBadRequest;
  method_ = {};
  target_ = {};
  version_ = {};
  fields_.clear();
}

RequestHead RequestHeadScanner::head(std::string_view data) const {
  RequestHead out;
  head(data, out);
  return out;
}

void RequestHeadScanner::head(std::string_view data, RequestHead& head) const {
  const auto view = [&](Span s) { return data.substr(s.offset, s.size); };
  head.method = view(method_);
  head.target = view(target_);
  head.version = view(version_);
  head.fields.clear();
  head.fields.reserve(fields_.size());
  for (const auto& [name, value] : fields_) head.fields.push_back({view(name), view(value)});
  head.skipped = skipped_;
  head.head_bytes = head_end_ - skipped_;
}

Validation validate_request(const RequestHead& head, const HeadLimits& limits) {
  Validation out;
  ValidRequest& rq = out.request;
  const auto fail = [&](ErrorKind kind, std::string detail) {
    out.error = kind;
    out.detail = std::move(detail);
    return out;
  };

  // Version: the scanner guarantees "HTTP/d.d". HTTP/1.2+ is answered as 1.1 (RFC 9110 §6.2).
  if (head.version[5] != '1') return fail(ErrorKind::kVersionNotSupported, "HTTP major version");
  rq.version = head.version[7] == '0' ? 10 : 11;
  rq.method = std::string(head.method);
  // TRACE reflects the request headers (cross-site tracing); CONNECT would open a tunnel.
  if (rq.method == "TRACE" || rq.method == "CONNECT") {
    return fail(ErrorKind::kMethodNotAllowed, "method " + rq.method);
  }

  // Fields the proxy interprets.
  const HeaderField* host = nullptr;
  const HeaderField* content_length = nullptr;
  const HeaderField* transfer_encoding = nullptr;
  rq.keep_alive = rq.version == 11;
  for (const HeaderField& f : head.fields) {
    if (iequals(f.name, "host")) {
      // Two Host fields: some peers route on the first, others on the last.
      if (host) return fail(ErrorKind::kBadRequest, "several Host fields");
      host = &f;
    } else if (iequals(f.name, "content-length")) {
      // Even two equal values are refused (as nginx does): collapsing them is allowed by
      // RFC 9110 §8.6, but forwarding them is a smuggling vector and refusing is simpler.
      if (content_length) return fail(ErrorKind::kBadRequest, "several Content-Length fields");
      content_length = &f;
    } else if (iequals(f.name, "transfer-encoding")) {
      // Two fields mean codings applied in turn, e.g. chunked twice (RFC 9112 §6.1).
      if (transfer_encoding) return fail(ErrorKind::kBadRequest, "several Transfer-Encoding");
      transfer_encoding = &f;
    } else if (iequals(f.name, "connection")) {
      for_each_list_token(f.value, [&](std::string_view token) {
        if (iequals(token, "close")) rq.keep_alive = false;
        if (iequals(token, "keep-alive") && rq.version == 10) rq.keep_alive = true;
      });
    } else if (iequals(f.name, "expect")) {
      if (iequals(f.value, "100-continue")) rq.expect_continue = true;
    }
  }
  // A Connection: close anywhere wins over a keep-alive token.
  for (const HeaderField& f : head.fields) {
    if (iequals(f.name, "connection")) {
      for_each_list_token(f.value, [&](std::string_view token) {
        if (iequals(token, "close")) rq.keep_alive = false;
      });
    }
  }

  // Target.
  std::string_view target = head.target;
  std::string_view authority;
  bool absolute_form = false;
  if (target.front() != '/') {
    // Absolute-form is accepted (RFC 9112 §3.2.2: a server MUST accept it) and turned into
    // origin-form, but only when its authority is the Host field: routing on one name while
    // a backend might read the other is how requests reach hosts they should not.
    size_t scheme_len = 0;
    if (starts_with_icase(target, "http://")) scheme_len = 7;
    if (starts_with_icase(target, "https://")) scheme_len = 8;
    if (scheme_len == 0) return fail(ErrorKind::kBadRequest, "request-target not origin-form");
    const std::string_view rest = target.substr(scheme_len);
    const size_t end = rest.find_first_of("/?");
    authority = rest.substr(0, end);
    if (authority.empty() || authority.find('@') != std::string_view::npos ||
        !valid_host(authority)) {
      return fail(ErrorKind::kBadRequest, "bad authority in absolute-form target");
    }
    target = end == std::string_view::npos ? std::string_view("/") : rest.substr(end);
    absolute_form = true;
  }

  // Host.
  if (host) {
    if (!valid_host(host->value)) return fail(ErrorKind::kBadRequest, "bad Host");
    rq.host_present = true;
    rq.host = std::string(host->value);
  } else if (rq.version == 11) {
    return fail(ErrorKind::kBadRequest, "no Host on HTTP/1.1");
  }
  if (absolute_form) {
    if (host && !iequals(host->value, authority)) {
      return fail(ErrorKind::kBadRequest, "absolute-form authority differs from Host");
    }
    rq.host = std::string(authority);
  }

  // Framing (RFC 9112 §6.3).
  if (content_length && transfer_encoding) {
    return fail(ErrorKind::kBadRequest, "Content-Length with Transfer-Encoding");
  }
  if (content_length) {
    const std::string_view v = content_length->value;
    uint64_t n = 0;
    // 1*DIGIT only: "5, 5", "+5", "5e0", "-1" and overflow are all refused.
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || !is_digit(v.front()) || ec != std::errc() || end != v.data() + v.size()) {
      return fail(ErrorKind::kBadRequest, "bad Content-Length");
    }
    if (limits.max_body_bytes && n > *limits.max_body_bytes) {
      return fail(ErrorKind::kPayloadTooLarge, "Content-Length over the body limit");
    }
    rq.framing = BodyFraming::kContentLength;
    rq.content_length = n;
  }
  if (transfer_encoding) {
    // RFC 9112 §6.1: a 1.0 recipient may not understand chunked, so the framing is faulty.
    if (rq.version == 10) return fail(ErrorKind::kBadRequest, "Transfer-Encoding on HTTP/1.0");
    if (!iequals(transfer_encoding->value, "chunked")) {
      // Chunked must be the final coding, applied once; other codings are not supported.
      // A well-formed list of codings gets 501, anything else 400.
      bool tokens_only = !transfer_encoding->value.empty();
      for (const char c : transfer_encoding->value) {
        if (!is_tchar(static_cast<unsigned char>(c)) && c != ',' && c != ' ' && c != '\t') {
          tokens_only = false;
        }
      }
      return fail(tokens_only ? ErrorKind::kNotImplemented : ErrorKind::kBadRequest,
                  "Transfer-Encoding other than chunked");
    }
    rq.framing = BodyFraming::kChunked;
  }

  // Path and query.
  const size_t q = target.find('?');
  const std::string_view raw_path = target.substr(0, q);
  if (q != std::string_view::npos) {
    rq.has_query = true;
    rq.query = std::string(target.substr(q + 1));
    if (!valid_query(rq.query)) return fail(ErrorKind::kBadRequest, "bad query characters");
  }
  NormalizedPath path = normalize_path(raw_path);
  switch (path.error) {
    case PathError::kNone:
      break;
    case PathError::kInvalidCharacter:
      return fail(ErrorKind::kBadRequest, "bad path characters");
    case PathError::kMalformedEscape:
      return fail(ErrorKind::kBadRequest, "malformed percent-escape in path");
    case PathError::kAboveRoot:
      return fail(ErrorKind::kBadRequest, "path climbs above the root");
    case PathError::kEncodedSlashTraversal:
      return fail(ErrorKind::kBadRequest, "dot-segment beside an encoded slash");
  }
  rq.path = std::move(path.path);
  return out;
}

}  // namespace lintel::proxy
