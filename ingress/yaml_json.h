#pragma once
// YAML and JSON text → nlohmann::json documents, each with a side table of line numbers,
// so that the decoder (ingress/decode.h) works on one form and can still point at the line
// of a bad field.
//
// Scalars follow the YAML 1.2 core schema, which is what Kubernetes (sigs.k8s.io/yaml)
// applies to manifests: plain true/false → bool, plain integers (decimal, 0x, 0o) → number,
// plain floats → number, null/~/empty → null, and any quoted or block scalar → string. So
// `port: "80"` stays a string and `ready: true` is a bool. `yes`/`on` are strings (YAML 1.2).
//
// Internal to ingress/ (decode.cpp and its tests); nothing else includes this.
// Thread: pure functions, any thread. yaml-cpp and nlohmann exceptions never escape.

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace lintel::ingress {

// Field path → 1-based line. Paths have the form used in error messages, relative to the
// document root: `spec.rules[0].http.paths[1].pathType`. The root itself is "".
using LineTable = std::map<std::string, int>;

struct JsonDocument {
  nlohmann::json value;
  int index = 0;  // 1-based position of the document in its file
  int line = 0;   // 1-based line where the document's content starts
  LineTable lines;
};

struct ParsedText {
  std::vector<JsonDocument> documents;  // empty documents are left out
  bool syntax_error = false;
  int error_line = 0;  // 1-based, 0 when unknown
  std::string error;   // e.g. "YAML syntax error: end of sequence flow not found"
};

// Every document of a (multi-document) YAML text. Limits: nesting depth and the number of
// nodes after alias expansion are bounded, so a "billion laughs" file is a syntax error,
// not an out-of-memory kill. Duplicate mapping keys are an error (as in kubectl).
ParsedText parse_yaml(std::string_view text);

// One JSON value (a .json file, or an API server body). The line table is computed by a
// second, non-recursive pass over the text once nlohmann::json has accepted it.
ParsedText parse_json(std::string_view text);

// The path of a child field: `parent.key`, or `parent[key]` when the key is not a plain
// identifier (label and annotation keys such as `kubernetes.io/service-name`).
std::string child_path(const std::string& parent, std::string_view key);
// The path of a list item: `parent[index]`.
std::string item_path(const std::string& parent, size_t index);

// The line of `path`, else of its nearest ancestor that has one, else 0.
int line_of(const LineTable& lines, std::string path);

}  // namespace lintel::ingress
