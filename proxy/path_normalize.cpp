#include "proxy/path_normalize.h"

#include <vector>

namespace lintel::proxy {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Bytes allowed raw in a path. RFC 3986 also excludes " < > ^ ` { | } [ ], but clients
// send some of them unencoded and they have no meaning to path resolution; the bytes that
// do (backslash: IIS treats it as '/'; '#': a fragment must never reach a server) and
// every control or non-ASCII byte are refused.
bool allowed_raw(unsigned char c) { return c > 0x20 && c < 0x7f && c != '\\' && c != '#'; }

bool is_dot_segment(std::string_view s) { return s == "." || s == ".."; }

// A segment split further on encoded slashes: "a%2F..%5Cb" → "a", "..", "b".
bool has_encoded_dot_segment(std::string_view segment) {
  size_t start = 0;
  bool had_encoded_slash = false;
  for (size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] == '%') {
      // Escapes were validated and upper-cased before segments are split.
      const std::string_view esc = segment.substr(i, 3);
      if (esc == "%2F" || esc == "%5C") {
        had_encoded_slash = true;
        if (is_dot_segment(segment.substr(start, i - start))) return true;
        start = i + 3;
        i += 2;
      }
    }
  }
  return had_encoded_slash && is_dot_segment(segment.substr(start));
}

}  // namespace

NormalizedPath normalize_path(std::string_view raw) {
  NormalizedPath out;
  if (raw.empty() || raw.front() != '/') {
    out.error = PathError::kInvalidCharacter;
    return out;
  }
  // Steps 1 and 2: validate and decode unreserved escapes.
  std::string decoded;
  decoded.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    const auto c = static_cast<unsigned char>(raw[i]);
    if (c == '%') {
      if (i + 2 >= raw.size()) {
        out.error = PathError::kMalformedEscape;
        return out;
      }
      const int hi = hex_value(raw[i + 1]);
      const int lo = hex_value(raw[i + 2]);
      if (hi < 0 || lo < 0) {
        out.error = PathError::kMalformedEscape;
        return out;
      }
      const auto value = static_cast<unsigned char>(hi * 16 + lo);
      if (is_unreserved(value)) {
        decoded.push_back(static_cast<char>(value));
      } else {
        static constexpr char kHex[] = "0123456789ABCDEF";
        decoded.push_back('%');
        decoded.push_back(kHex[hi]);
        decoded.push_back(kHex[lo]);
      }
      i += 2;
      continue;
    }
    if (!allowed_raw(c)) {
      out.error = PathError::kInvalidCharacter;
      return out;
    }
    decoded.push_back(static_cast<char>(c));
  }

  // Steps 3 and 4 on segments: empty segments (adjacent slashes) dropped, dot segments
  // resolved. A trailing "/", "/." or "/.." keeps the path ending in '/'.
  std::vector<std::string_view> segments;
  const std::string_view d = decoded;
  size_t pos = 1;  // after the leading '/'
  bool trailing_slash = false;
  while (pos <= d.size()) {
    size_t end = d.find('/', pos);
    if (end == std::string_view::npos) end = d.size();
    const std::string_view seg = d.substr(pos, end - pos);
    const bool last = end == d.size();
    if (seg.empty()) {
      trailing_slash = last;
    } else if (seg == ".") {
      trailing_slash = last;
    } else if (seg == "..") {
      if (segments.empty()) {
        out.error = PathError::kAboveRoot;
        return out;
      }
      segments.pop_back();
      trailing_slash = last;
    } else {
      if (has_encoded_dot_segment(seg)) {
        out.error = PathError::kEncodedSlashTraversal;
        return out;
      }
      segments.push_back(seg);
      trailing_slash = false;
    }
    pos = end + 1;
  }
  out.path.reserve(decoded.size());
  for (const auto seg : segments) {
    out.path.push_back('/');
    out.path.append(seg);
  }
  if (out.path.empty() || trailing_slash) {
    out.path.push_back('/');
  }
  return out;
}

bool valid_query(std::string_view query) {
  for (const char ch : query) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || c == '#') return false;
  }
  return true;
}

}  // namespace lintel::proxy
