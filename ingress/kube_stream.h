#pragma once
// JsonStreamSplitter: cuts a watch response body into its JSON documents.
//
// The API server writes each watch event with Go's json.Encoder ("{...}\n"), but neither
// TCP segments nor HTTP chunks are aligned with events: one read may end in the middle of
// a string, of an escape or of a multi-byte UTF-8 character, and one chunk may hold several
// events. JSON documents are self-delimiting, so this splitter only tracks object/array
// depth, whether it is inside a string, and whether the previous byte was a backslash;
// each complete top-level object is handed on as text and parsed whole (nlohmann) by the
// caller. Whitespace between documents is skipped.
//
// Limits: a document larger than `max_document` bytes is an error (a Secret is at most
// 1 MiB in etcd; the default leaves room for several of those plus JSON escaping).
//
// Thread: one owner; no I/O.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace lintel::ingress {

class JsonStreamSplitter {
 public:
  static constexpr size_t kDefaultMaxDocument = 16 * 1024 * 1024;

  explicit JsonStreamSplitter(size_t max_document = kDefaultMaxDocument)
      : max_document_(max_document) {}

  // Consumes `data`, appending every document it completes to `out`. Returns false (and
  // stays failed, `error()` says why) when the stream is not a sequence of JSON objects or
  // a document is over the limit; documents completed before the fault are still appended.
  bool feed(std::string_view data, std::vector<std::string>& out);

  // True when no document is partly read (between documents, whitespace only).
  bool idle() const { return depth_ == 0 && current_.empty(); }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  // Bytes of the document being read (for the limit and for messages).
  size_t pending() const { return current_.size(); }

 private:
  size_t max_document_;
  std::string current_;
  int depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;
  std::string error_;
};

}  // namespace lintel::ingress
