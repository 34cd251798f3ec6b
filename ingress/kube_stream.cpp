#include "ingress/kube_stream.h"

namespace lintel::ingress {

namespace {

bool is_json_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Nesting deeper than this is not a Kubernetes object; it also keeps a hostile stream from
// making the caller's recursive parser (nlohmann) recurse without bound.
constexpr int kMaxDepth = 512;

}  // namespace

bool JsonStreamSplitter::feed(std::string_view data, std::vector<std::string>& out) {
  if (failed()) {
    return false;
  }
  size_t start = 0;  // first byte of `data` that belongs to current_ and is not yet copied
  for (size_t i = 0; i < data.size(); ++i) {
    const char c = data[i];
    if (depth_ == 0) {
      // Between documents: only whitespace, or the '{' that opens the next one.
      if (is_json_space(c)) {
        start = i + 1;
        continue;
      }
      if (c != '{') {
        error_ = "watch stream: expected '{' to start an event, got byte 0x" +
                 std::string(1, "0123456789abcdef"[(static_cast<unsigned char>(c) >> 4)]) +
                 std::string(1, "0123456789abcdef"[static_cast<unsigned char>(c) & 15]);
        return false;
      }
      start = i;
      depth_ = 1;
      continue;
    }
    if (in_string_) {
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string_ = true;
        break;
      case '{':
      case '[':
        if (++depth_ > kMaxDepth) {
          error_ = "watch stream: JSON nested deeper than " + std::to_string(kMaxDepth);
          return false;
        }
        break;
      case '}':
      case ']':
        if (--depth_ == 0) {
          // A complete document: current_ holds its earlier part (from previous feeds).
          if (current_.size() + (i + 1 - start) > max_document_) {
            error_ = "watch stream: event larger than " + std::to_string(max_document_) + " bytes";
            return false;
          }
          current_.append(data.substr(start, i + 1 - start));
          out.push_back(std::move(current_));
          current_.clear();
          start = i + 1;
        }
        break;
      default:
        break;
    }
  }
  if (depth_ > 0) {
    if (current_.size() + (data.size() - start) > max_document_) {
      error_ = "watch stream: event larger than " + std::to_string(max_document_) + " bytes";
      return false;
    }
    current_.append(data.substr(start));
  }
  return true;
}

}  // namespace lintel::ingress
