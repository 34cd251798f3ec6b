#include "ingress/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

namespace lintel::ingress {

using nlohmann::json;

namespace {

// Deeper than any Kubernetes object needs; the bound keeps the recursive conversion (and the
// paths it builds, whose length grows with depth) small on hostile input.
constexpr int kMaxDepth = 128;
// Beyond this depth the JSON line pass stops recording paths (memory grows with
// depth squared otherwise); fields that deep have no line and fall back to an ancestor's.
constexpr size_t kMaxLineDepth = 64;

bool is_identifier(std::string_view key) {
  if (key.empty()) {
    return false;
  }
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '$';
  });
}

bool all_of_class(std::string_view s, bool (*pred)(char)) {
  return !s.empty() && std::all_of(s.begin(), s.end(), pred);
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_octal(char c) { return c >= '0' && c <= '7'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

template <class T>
bool parse_whole(std::string_view s, T& out, int base) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// YAML 1.2 core schema integer, float and special-float forms.
bool resolve_number(std::string_view s, json& out) {
  if (s.empty()) {
    return false;
  }
  std::string_view unsigned_part = s;
  bool negative = false;
  if (s[0] == '-' || s[0] == '+') {
    negative = s[0] == '-';
    unsigned_part = s.substr(1);
  }
  // Integers: [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+ (the latter two unsigned only).
  int base = 0;
  std::string_view digits;
  if (all_of_class(unsigned_part, is_digit)) {
    base = 10;
    digits = unsigned_part;
  } else if (s.size() > 2 && s.substr(0, 2) == "0o" && all_of_class(s.substr(2), is_octal)) {
    base = 8;
    digits = s.substr(2);
  } else if (s.size() > 2 && s.substr(0, 2) == "0x" && all_of_class(s.substr(2), is_hex)) {
    base = 16;
    digits = s.substr(2);
  }
  if (base != 0) {
    uint64_t magnitude = 0;
    if (parse_whole(digits, magnitude, base)) {
      if (!negative) {
        out = magnitude;
        return true;
      }
      if (magnitude <= uint64_t{1} << 63) {
        out = magnitude == uint64_t{1} << 63 ? std::numeric_limits<int64_t>::min()
                                             : -static_cast<int64_t>(magnitude);
        return true;
      }
    }
    // Too large for 64 bits: like Go, fall through and keep it as a float.
  }
  // Floats: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
  if (unsigned_part == ".inf" || unsigned_part == ".Inf" || unsigned_part == ".INF") {
    out = negative ? -std::numeric_limits<double>::infinity()
                   : std::numeric_limits<double>::infinity();
    return true;
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  size_t i = 0;
  const std::string_view u = unsigned_part;
  size_t int_digits = 0;
  while (i < u.size() && is_digit(u[i])) {
    ++i;
    ++int_digits;
  }
  size_t frac_digits = 0;
  if (i < u.size() && u[i] == '.') {
    ++i;
    while (i < u.size() && is_digit(u[i])) {
      ++i;
      ++frac_digits;
    }
  }
  if (int_digits == 0 && frac_digits == 0) {
    return false;
  }
  if (i < u.size() && (u[i] == 'e' || u[i] == 'E')) {
    ++i;
    if (i < u.size() && (u[i] == '-' || u[i] == '+')) {
      ++i;
    }
    size_t exp_digits = 0;
    while (i < u.size() && is_digit(u[i])) {
      ++i;
      ++exp_digits;
    }
    if (exp_digits == 0) {
      return false;
    }
  }
  if (i != u.size()) {
    return false;
  }
  // strtod needs a terminated string; it accepts every form matched above.
  std::string copy(s);
  out = std::strtod(copy.c_str(), nullptr);
  return true;
}

// A plain (unquoted) scalar, resolved as sigs.k8s.io/yaml does with the core schema.
json resolve_plain(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
    return nullptr;
  }
  if (s == "true" || s == "True" || s == "TRUE") {
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    return false;
  }
  json number;
  if (resolve_number(s, number)) {
    return number;
  }
  return s;
}

json resolve_scalar(const YAML::Node& node) {
  const std::string& tag = node.Tag();
  const std::string& value = node.Scalar();
  // "!" is the non-specific tag yaml-cpp gives quoted and block scalars: always strings.
  if (tag == "!" || tag == "tag:yaml.org,2002:str" || tag == "tag:yaml.org,2002:binary") {
    return value;
  }
  // "?" (plain), explicit !!int/!!bool/!!float/!!null and unknown local tags resolve by
  // content.
  return resolve_plain(value);
}

int yaml_line(const YAML::Node& node) { return node.Mark().line >= 0 ? node.Mark().line + 1 : 0; }

class YamlConverter {
 public:
  YamlConverter(LineTable& lines, size_t max_nodes) : lines_(lines), max_nodes_(max_nodes) {}

  bool convert(const YAML::Node& node, const std::string& path, int depth, json& out) {
    if (++nodes_ > max_nodes_) {
      return fail(node, "document too large after alias expansion (more than " +
                            std::to_string(max_nodes_) + " nodes)");
    }
    if (depth > kMaxDepth) {
      return fail(node, "nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        out = nullptr;
        return true;
      case YAML::NodeType::Scalar:
        out = resolve_scalar(node);
        return true;
      case YAML::NodeType::Sequence: {
        out = json::array();
        size_t index = 0;
        for (const YAML::Node& item : node) {
          std::string item_p = item_path(path, index++);
          if (int line = yaml_line(item); line > 0) {
            lines_.emplace(item_p, line);
          }
          json converted;
          if (!convert(item, item_p, depth + 1, converted)) {
            return false;
          }
          out.push_back(std::move(converted));
        }
        return true;
      }
      case YAML::NodeType::Map: {
        out = json::object();
        // Not `const YAML::Node& key_node = it->first` with an iterator: yaml-cpp's
        // operator-> returns a proxy by value, so that reference dangles as soon as the
        // statement ends (AddressSanitizer: stack-use-after-scope on every mapping key).
        // Dereferencing gives the entry by value; range-for keeps it alive for the body.
        for (const auto& entry : node) {
          const YAML::Node& key_node = entry.first;
          std::string key;
          if (key_node.IsScalar()) {
            key = key_node.Scalar();
          } else if (!key_node.IsNull()) {
            return fail(key_node, "a mapping key must be a scalar");
          }
          if (out.contains(key)) {
            return fail(key_node, "duplicate key \"" + key + "\"");
          }
          std::string child = child_path(path, key);
          if (int line = yaml_line(key_node); line > 0) {
            lines_[child] = line;
          }
          json converted;
          if (!convert(entry.second, child, depth + 1, converted)) {
            return false;
          }
          out[key] = std::move(converted);
        }
        return true;
      }
    }
    out = nullptr;
    return true;
  }

  const std::string& error() const { return error_; }
  int error_line() const { return error_line_; }

 private:
  bool fail(const YAML::Node& node, std::string message) {
    error_ = std::move(message);
    error_line_ = yaml_line(node);
    return false;
  }

  LineTable& lines_;
  size_t max_nodes_;
  size_t nodes_ = 0;
  std::string error_;
  int error_line_ = 0;
};

int line_at_offset(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + offset, '\n'));
}

// Second pass over JSON text that nlohmann::json has already accepted: records the line of
// every object key and array item. Iterative, so nesting depth cannot exhaust the stack.
void scan_json_lines(std::string_view t, LineTable& lines) {
  struct Frame {
    bool object;
    size_t index;
    std::string path;
    bool record;  // false below kMaxLineDepth
  };
  std::vector<Frame> stack;
  std::string key_path;  // path of the value after the last key read
  bool expect_key = false;
  int line = 1;
  size_t i = 0;
  const size_t n = t.size();

  auto skip_string = [&](size_t start) {  // t[start] == '"'; returns index after closing quote
    size_t j = start + 1;
    while (j < n && t[j] != '"') {
      j += t[j] == '\\' ? 2 : 1;
    }
    return std::min(j + 1, n);
  };

  while (i < n) {
    const char c = t[i];
    if (c == '\n') {
      ++line;
      ++i;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == ':') {
      ++i;
      continue;
    }
    if (c == ',') {
      if (!stack.empty()) {
        if (stack.back().object) {
          expect_key = true;
        } else {
          ++stack.back().index;
        }
      }
      ++i;
      continue;
    }
    if (c == '}' || c == ']') {
      if (!stack.empty()) {
        stack.pop_back();
      }
      expect_key = false;
      ++i;
      continue;
    }
    const bool record = stack.empty() || stack.back().record;
    if (expect_key && !stack.empty() && stack.back().object) {
      const size_t end = skip_string(i);
      if (record) {
        std::string key;
        try {
          key = json::parse(t.substr(i, end - i)).get<std::string>();
        } catch (const json::exception&) {
          // Cannot happen for text nlohmann accepted; leave the key without a line.
        }
        key_path = child_path(stack.back().path, key);
        lines[key_path] = line;
      }
      expect_key = false;
      i = end;
      continue;
    }
    // A value starts here.
    std::string path;
    if (stack.empty()) {
      lines[""] = line;
    } else if (record) {
      if (stack.back().object) {
        path = key_path;
      } else {
        path = item_path(stack.back().path, stack.back().index);
        lines[path] = line;
      }
    }
    if (c == '{' || c == '[') {
      stack.push_back(Frame{c == '{', 0, std::move(path), record && stack.size() < kMaxLineDepth});
      expect_key = c == '{';
      ++i;
    } else if (c == '"') {
      i = skip_string(i);
    } else {
      while (i < n && t[i] != ',' && t[i] != '}' && t[i] != ']' && t[i] != ' ' && t[i] != '\n' &&
             t[i] != '\t' && t[i] != '\r') {
        ++i;
      }
    }
  }
}

}  // namespace

std::string child_path(const std::string& parent, std::string_view key) {
  std::string out = parent;
  if (is_identifier(key)) {
    if (!out.empty()) {
      out += '.';
    }
    out += key;
  } else {
    out += '[';
    out += key;
    out += ']';
  }
  return out;
}

std::string item_path(const std::string& parent, size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

int line_of(const LineTable& lines, std::string path) {
  while (true) {
    if (auto it = lines.find(path); it != lines.end()) {
      return it->second;
    }
    if (path.empty()) {
      return 0;
    }
    // Strip the last element: `a.b` → `a`, `a[0]` → `a`, `a[k.x]` → `a`.
    // A key with dots is always bracketed, so outside brackets the last '.' is a boundary.
    size_t cut = path.back() == ']' ? path.rfind('[') : path.rfind('.');
    if (cut == std::string::npos) {
      cut = 0;
    }
    path.resize(cut);
  }
}

ParsedText parse_yaml(std::string_view text) {
  ParsedText out;
  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    out.syntax_error = true;
    out.error_line = e.mark.line >= 0 ? e.mark.line + 1 : 0;
    out.error = "YAML syntax error: " + e.msg;
    return out;
  } catch (const std::exception& e) {
    out.syntax_error = true;
    out.error = std::string("YAML syntax error: ") + e.what();
    return out;
  }
  // Without aliases every node takes at least two bytes of text; the slack admits normal
  // alias use while an exponential alias bomb fails fast.
  const size_t max_nodes = 100000 + text.size();
  int index = 0;
  for (const YAML::Node& node : nodes) {
    ++index;
    if (node.IsNull() || !node.IsDefined()) {
      continue;  // empty document (e.g. a trailing `---`)
    }
    JsonDocument doc;
    doc.index = index;
    doc.line = yaml_line(node);
    if (doc.line > 0) {
      doc.lines[""] = doc.line;
    }
    YamlConverter converter(doc.lines, max_nodes);
    bool ok = false;
    try {
      ok = converter.convert(node, "", 0, doc.value);
    } catch (const std::exception& e) {
      out.syntax_error = true;
      out.error_line = doc.line;
      out.error = std::string("YAML syntax error: ") + e.what();
      out.documents.clear();
      return out;
    }
    if (!ok) {
      out.syntax_error = true;
      out.error_line = converter.error_line();
      out.error = "YAML syntax error: " + converter.error();
      out.documents.clear();
      return out;
    }
    out.documents.push_back(std::move(doc));
  }
  return out;
}

ParsedText parse_json(std::string_view text) {
  ParsedText out;
  if (std::all_of(text.begin(), text.end(),
                  [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; })) {
    return out;  // an empty file holds no objects, as an empty YAML file does
  }
  JsonDocument doc;
  try {
    doc.value = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    out.syntax_error = true;
    out.error_line = line_at_offset(text, e.byte > 0 ? e.byte - 1 : 0);
    // what() is "[json.exception.parse_error.101] parse error at line L, column C: reason";
    // the line is reported separately, so keep only the reason.
    std::string what = e.what();
    if (size_t at = what.find("parse error"); at != std::string::npos) {
      if (size_t colon = what.find(": ", at); colon != std::string::npos) {
        what = what.substr(colon + 2);
      }
    }
    out.error = "JSON syntax error: " + what;
    return out;
  } catch (const json::exception& e) {
    out.syntax_error = true;
    out.error = std::string("JSON syntax error: ") + e.what();
    return out;
  }
  doc.index = 1;
  scan_json_lines(text, doc.lines);
  doc.line = line_of(doc.lines, "");
  out.documents.push_back(std::move(doc));
  return out;
}

}  // namespace lintel::ingress
