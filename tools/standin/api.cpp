#include "standin/api.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <ctime>
#include <random>
#include <set>

#include "standin/protobuf.h"

namespace lintel::standin {
namespace {

constexpr std::chrono::minutes kContinueLifetime{5};  // what kube-apiserver gives a token
constexpr size_t kMaxSnapshots = 256;
constexpr std::chrono::seconds kDefaultWatchTimeout{1800};  // --min-request-timeout
constexpr std::chrono::seconds kMaxWatchTimeout{24 * 3600};

std::mt19937_64& rng() {
  static std::mt19937_64 generator{std::random_device{}()};
  return generator;
}

std::string new_uid() {
  std::array<uint8_t, 16> b{};
  for (auto& byte : b) {
    byte = static_cast<uint8_t>(rng()());
  }
  b[6] = (b[6] & 0x0f) | 0x40;  // version 4
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      out.push_back('-');
    }
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 15]);
  }
  return out;
}

// generateName's suffix: the alphabet of k8s.io/apimachinery/pkg/util/rand (no vowels, no
// look-alikes), five characters.
std::string random_suffix() {
  static const char* kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  for (int i = 0; i < 5; ++i) {
    out.push_back(kAlphabet[rng()() % 27]);
  }
  return out;
}

std::string now_rfc3339() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string base64_encode(std::string_view in, bool url) {
  static const char* kStd = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static const char* kUrl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char* alphabet = url ? kUrl : kStd;
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {alphabet[v >> 18], alphabet[(v >> 12) & 63], alphabet[(v >> 6) & 63], alphabet[v & 63]};
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) {
      v |= uint8_t(in[i + 1]) << 8;
    }
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    if (i + 1 < in.size()) {
      out += alphabet[(v >> 6) & 63];
    }
    if (!url) {
      out += i + 1 < in.size() ? "=" : "==";
    }
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+' || c == '-') {
      v = 62;
    } else if (c == '/' || c == '_') {
      v = 63;
    } else if (c == '=') {
      break;
    } else {
      return std::nullopt;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::optional<uint64_t> to_u64(std::string_view text) {
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return n;
}

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

Reply json_reply(unsigned status, const json& body) {
  return Reply{status, dump(body), "application/json", {}};
}

std::string trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) {
    return "";
  }
  const size_t e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

// Splits on commas outside parentheses ("a in (x,y),b=c" → two terms).
std::vector<std::string> split_terms(std::string_view text) {
  std::vector<std::string> out;
  int depth = 0;
  std::string current;
  for (char c : text) {
    if (c == '(') {
      depth++;
    } else if (c == ')') {
      depth--;
    }
    if (c == ',' && depth == 0) {
      out.push_back(trim(current));
      current.clear();
    } else {
      current.push_back(c);
    }
  }
  out.push_back(trim(current));
  return out;
}

using Op = Requirement::Op;

// Label selector syntax of k8s.io/apimachinery/pkg/labels: =, ==, !=, in, notin, key, !key.
std::optional<std::vector<Requirement>> parse_label_selector(std::string_view text,
                                                             std::string& error) {
  std::vector<Requirement> out;
  if (trim(text).empty()) {
    return out;
  }
  for (const std::string& term : split_terms(text)) {
    Requirement r;
    if (term.empty()) {
      error = "empty term in label selector";
      return std::nullopt;
    }
    if (term.front() == '!') {
      r.key = trim(std::string_view(term).substr(1));
      r.op = Op::kNotExists;
    } else if (const size_t paren = term.find('('); paren != std::string::npos) {
      if (term.back() != ')') {
        error = "unterminated set in label selector term \"" + term + "\"";
        return std::nullopt;
      }
      const std::string head = trim(std::string_view(term).substr(0, paren));
      const size_t space = head.find_last_of(" \t");
      const std::string word = space == std::string::npos ? "" : head.substr(space + 1);
      if (word != "in" && word != "notin") {
        error = "expected \"in\" or \"notin\" in label selector term \"" + term + "\"";
        return std::nullopt;
      }
      r.key = trim(std::string_view(head).substr(0, space));
      r.op = word == "in" ? Op::kIn : Op::kNotIn;
      for (const std::string& v :
           split_terms(std::string_view(term).substr(paren + 1, term.size() - paren - 2))) {
        r.values.push_back(v);
      }
    } else if (const size_t ne = term.find("!="); ne != std::string::npos) {
      r.key = trim(std::string_view(term).substr(0, ne));
      r.op = Op::kNotEquals;
      r.values.push_back(trim(std::string_view(term).substr(ne + 2)));
    } else if (const size_t eq = term.find('='); eq != std::string::npos) {
      const size_t skip = term.compare(eq, 2, "==") == 0 ? 2 : 1;
      r.key = trim(std::string_view(term).substr(0, eq));
      r.op = Op::kEquals;
      r.values.push_back(trim(std::string_view(term).substr(eq + skip)));
    } else {
      r.key = term;
      r.op = Op::kExists;
    }
    if (r.key.empty() || r.key.find_first_of(" \t()=!") != std::string::npos) {
      error = "invalid label key in selector term \"" + term + "\"";
      return std::nullopt;
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<std::vector<Requirement>> parse_field_selector(const Resource& resource,
                                                             std::string_view text,
                                                             std::string& error) {
  std::vector<Requirement> out;
  if (trim(text).empty()) {
    return out;
  }
  for (const std::string& term : split_terms(text)) {
    Requirement r;
    size_t pos = term.find("!=");
    size_t skip = 2;
    r.op = Op::kNotEquals;
    if (pos == std::string::npos) {
      r.op = Op::kEquals;
      pos = term.find("==");
      if (pos == std::string::npos) {
        pos = term.find('=');
        skip = 1;
      }
    }
    if (pos == std::string::npos) {
      error = "invalid field selector term \"" + term + "\": expected key=value";
      return std::nullopt;
    }
    r.key = trim(std::string_view(term).substr(0, pos));
    r.values.push_back(trim(std::string_view(term).substr(pos + skip)));
    // The field labels the real server accepts for each kind (the rest is a 400, as there),
    // converted to the stored shape's path the filter reads.
    const std::string path = stored_field(resource, r.key);
    if (path.empty()) {
      error = "field label not supported: " + r.key;
      return std::nullopt;
    }
    r.key = path;
    out.push_back(std::move(r));
  }
  return out;
}

// A dotted field path's value as a string; missing fields read as "".
std::string field_value(const json& object, const std::string& path) {
  const json* node = &object;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? dot : dot - start);
    if (!node->is_object() || !node->contains(part)) {
      return "";
    }
    node = &(*node)[part];
    if (dot == std::string::npos) {
      break;
    }
    start = dot + 1;
  }
  return node->is_string() ? node->get<std::string>() : node->is_null() ? "" : node->dump();
}

bool requirement_holds(const Requirement& r, bool exists, const std::string& value) {
  const auto in_values = [&] {
    return std::find(r.values.begin(), r.values.end(), value) != r.values.end();
  };
  switch (r.op) {
    case Op::kEquals:
      return exists && value == r.values.front();
    case Op::kNotEquals:
      return !exists || value != r.values.front();
    case Op::kIn:
      return exists && in_values();
    case Op::kNotIn:
      return !exists || !in_values();
    case Op::kExists:
      return exists;
    case Op::kNotExists:
      return !exists;
  }
  return false;
}

std::string name_of(const json& object) {
  return object.at("metadata").value("name", std::string());
}
std::string namespace_of(const json& object) {
  return object.at("metadata").value("namespace", std::string());
}
std::string rv_of(const json& object) {
  const json& meta = object.at("metadata");
  const auto it = meta.find("resourceVersion");
  return it != meta.end() && it->is_string() ? it->get<std::string>() : "";
}

// List items carry no kind/apiVersion on the real server (the list kind says it); a client
// that relies on them would break against a cluster, so the stand-in strips them too.
json list_item(json object) {
  object.erase("kind");
  object.erase("apiVersion");
  return object;
}

std::string event_text(const std::string& type, const json& object) {
  return dump(json{{"type", type}, {"object", object}});
}

// Everything except metadata and status: a change here bumps metadata.generation.
json generation_part(json object) {
  object.erase("metadata");
  object.erase("status");
  object.erase("kind");
  object.erase("apiVersion");
  return object;
}

json default_status(const Resource& resource) {
  if (resource.kind == "Namespace") {
    return {{"phase", "Active"}};
  }
  return {{"loadBalancer", json::object()}};
}

// The few server-side defaults a client could notice.
void apply_defaults(const Resource& resource, json& object) {
  json& meta = object["metadata"];
  if (resource.kind == "Secret") {
    if (object.contains("stringData") && object["stringData"].is_object()) {
      for (const auto& [k, v] : object["stringData"].items()) {
        object["data"][k] = base64_encode(v.is_string() ? v.get<std::string>() : v.dump(), false);
      }
    }
    object.erase("stringData");
    if (!object.contains("type") || object["type"].is_null()) {
      object["type"] = "Opaque";
    }
  } else if (resource.kind == "Namespace") {
    meta["labels"]["kubernetes.io/metadata.name"] = meta.value("name", "");
    if (!object.contains("spec")) {
      object["spec"] = {{"finalizers", {"kubernetes"}}};
    }
  } else if (resource.kind == "Service" && object.contains("spec")) {
    json& spec = object["spec"];
    if (!spec.contains("type")) {
      spec["type"] = "ClusterIP";
    }
    if (spec.contains("ports") && spec["ports"].is_array()) {
      for (json& port : spec["ports"]) {
        if (!port.contains("protocol")) {
          port["protocol"] = "TCP";
        }
        if (!port.contains("targetPort") && port.contains("port")) {
          port["targetPort"] = port["port"];
        }
      }
    }
  } else if (resource.kind == "EndpointSlice" && object.contains("ports") &&
             object["ports"].is_array()) {
    for (json& port : object["ports"]) {
      if (port.is_object() && !port.contains("protocol")) {
        port["protocol"] = "TCP";
      }
    }
  }
}

bool is_directive(const std::string& key) {
  return key.starts_with("$setElementOrder/") || key.starts_with("$deleteFromPrimitiveList/") ||
         key == "$retainKeys" || key == "$patch";
}

json strip_directives(json value) {
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end();) {
      if (is_directive(it.key())) {
        it = value.erase(it);
      } else {
        *it = strip_directives(*it);
        ++it;
      }
    }
  }
  return value;
}

json strategic_merge(json original, const json& patch);

// A list under strategic merge patch. kubectl sends "$setElementOrder/<field>" for every
// list with a merge key that it changes; its elements hold only the merge key, which tells
// us the key. Elements are merged by key, "$patch: delete" removes one, elements only the
// server knows are kept after the ordered ones. Without the directive the list is replaced
// (what merge-patch does, and right for atomic lists such as Ingress rules).
json merge_list(const json& original, const json& patch, const json* order) {
  const auto deleted = [](const json& e) {
    return e.is_object() && e.value("$patch", "") == "delete";
  };
  if (order == nullptr || !order->is_array()) {
    json out = json::array();
    for (const json& e : patch) {
      if (!deleted(e)) {
        out.push_back(strip_directives(e));
      }
    }
    return out;
  }
  if (order->empty() || !(*order)[0].is_object() || (*order)[0].size() != 1) {
    return *order;  // a primitive list with a merge strategy: the order is the list
  }
  const std::string key = (*order)[0].begin().key();
  const auto find = [&](const json& list, const json& value) -> const json* {
    if (!list.is_array()) {
      return nullptr;
    }
    for (const json& e : list) {
      if (e.is_object() && e.contains(key) && e[key] == value && !deleted(e)) {
        return &e;
      }
    }
    return nullptr;
  };
  json out = json::array();
  std::vector<json> used;
  for (const json& o : *order) {
    if (!o.is_object() || !o.contains(key)) {
      continue;
    }
    const json& value = o[key];
    used.push_back(value);
    const json* p = find(patch, value);
    const json* e = find(original, value);
    if (p != nullptr && e != nullptr) {
      out.push_back(strategic_merge(*e, *p));
    } else if (p != nullptr) {
      out.push_back(strip_directives(*p));
    } else if (e != nullptr) {
      out.push_back(*e);
    }
  }
  const auto is_used = [&](const json& e) {
    return e.is_object() && e.contains(key) &&
           std::find(used.begin(), used.end(), e[key]) != used.end();
  };
  const auto deleted_by_patch = [&](const json& e) {
    for (const json& p : patch) {
      if (deleted(p) && e.is_object() && p.contains(key) && e.contains(key) && p[key] == e[key]) {
        return true;
      }
    }
    return false;
  };
  if (original.is_array()) {
    for (const json& e : original) {
      if (!is_used(e) && !deleted_by_patch(e)) {
        out.push_back(e);
      }
    }
  }
  return out;
}

json strategic_merge(json original, const json& patch) {
  if (!patch.is_object()) {
    return patch;
  }
  if (patch.value("$patch", "") == "replace") {
    return strip_directives(patch);
  }
  if (!original.is_object()) {
    original = json::object();
  }
  for (const auto& [k, v] : patch.items()) {
    if (is_directive(k)) {
      continue;
    }
    if (v.is_null()) {
      original.erase(k);
    } else if (v.is_object()) {
      if (v.value("$patch", "") == "delete") {
        original.erase(k);
      } else {
        original[k] = strategic_merge(original.contains(k) ? original[k] : json(nullptr), v);
      }
    } else if (v.is_array()) {
      const auto order = patch.find("$setElementOrder/" + k);
      original[k] = merge_list(original.contains(k) ? original[k] : json::array(), v,
                               order == patch.end() ? nullptr : &*order);
    } else {
      original[k] = v;
    }
  }
  for (const auto& [k, v] : patch.items()) {
    const std::string prefix = "$deleteFromPrimitiveList/";
    if (k.starts_with(prefix) && v.is_array()) {
      const std::string field = k.substr(prefix.size());
      if (original.contains(field) && original[field].is_array()) {
        json kept = json::array();
        for (const json& e : original[field]) {
          if (std::find(v.begin(), v.end(), e) == v.end()) {
            kept.push_back(e);
          }
        }
        original[field] = kept;
      }
    }
  }
  return original;
}

std::string media_type(std::string_view content_type) {
  std::string out = trim(content_type.substr(0, content_type.find(';')));
  std::transform(out.begin(), out.end(), out.begin(), ::tolower);
  return out;
}

// Accept: application/json;as=Table;v=v1;g=meta.k8s.io (among others, in any order).
bool wants_table(std::string_view accept) {
  for (const std::string& entry : split_terms(accept)) {
    std::set<std::string> params;
    size_t pos = 0;
    while (pos <= entry.size()) {
      const size_t end = std::min(entry.find(';', pos), entry.size());
      params.insert(trim(std::string_view(entry).substr(pos, end - pos)));
      pos = end + 1;
    }
    if (params.contains("as=Table") && params.contains("v=v1") &&
        params.contains("g=meta.k8s.io")) {
      return true;
    }
  }
  return false;
}

Reply not_found_path() {
  return status_reply(404, "NotFound", "the server could not find the requested resource");
}

Reply too_large(uint64_t asked, uint64_t current) {
  return status_reply(
      504, "Timeout",
      "Too large resource version: " + std::to_string(asked) +
          ", current: " + std::to_string(current),
      {{"causes",
        {{{"reason", "ResourceVersionTooLarge"}, {"message", "Too large resource version"}}}},
       {"retryAfterSeconds", 1}});
}

}  // namespace

std::string reason_for(unsigned code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 406:
      return "NotAcceptable";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 413:
      return "RequestEntityTooLarge";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return code >= 500 ? "InternalError" : "BadRequest";
  }
}

Reply status_reply(unsigned code, const std::string& reason, const std::string& message,
                   json details) {
  json status = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
                 {"status", "Failure"}, {"message", message}, {"reason", reason},
                 {"code", code}};
  if (!details.is_null()) {
    status["details"] = std::move(details);
  }
  return json_reply(code, status);
}

std::string percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else if (text[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < query.size()) {
    size_t end = query.find('&', pos);
    if (end == std::string_view::npos) {
      end = query.size();
    }
    const std::string_view pair = query.substr(pos, end - pos);
    const size_t eq = pair.find('=');
    std::string key = percent_decode(pair.substr(0, eq), true);
    std::string value =
        eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1), true);
    out.emplace(std::move(key), std::move(value));
    pos = end + 1;
  }
  return out;
}

bool WatchFilter::matches(const json& object) const {
  if (!ns.empty() && namespace_of(object) != ns) {
    return false;
  }
  const json& meta = object.at("metadata");
  for (const Requirement& r : labels) {
    const auto all = meta.find("labels");
    bool exists = false;
    std::string value;
    if (all != meta.end() && all->is_object()) {
      const auto it = all->find(r.key);
      if (it != all->end() && it->is_string()) {
        exists = true;
        value = it->get<std::string>();
      }
    }
    if (!requirement_holds(r, exists, value)) {
      return false;
    }
  }
  for (const Requirement& r : fields) {
    // Fields always "exist" (a missing one reads as ""), as on the real server.
    if (!requirement_holds(r, true, field_value(object, r.key))) {
      return false;
    }
  }
  return true;
}

struct Api::Target {
  const Resource* resource = nullptr;
  std::string ns;
  std::string name;
  std::string subresource;

  Reply not_found() const {
    return status_reply(404, "NotFound",
                        resource->qualified_plural() + " \"" + name + "\" not found",
                        {{"name", name}, {"group", resource->group}, {"kind", resource->plural}});
  }
  Reply conflict(const std::string& why) const {
    return status_reply(409, "Conflict",
                        "Operation cannot be fulfilled on " + resource->qualified_plural() + " \"" +
                            name + "\": " + why,
                        {{"name", name}, {"group", resource->group}, {"kind", resource->plural}});
  }
  Reply modified() const {
    return conflict(
        "the object has been modified; please apply your changes to the latest version and "
        "try again");
  }
};

Api::Api(Store& store, std::string server_address)
    : store_(store), server_address_(std::move(server_address)) {}

void Api::compact() {
  store_.compact();
  snapshots_.clear();
}

std::variant<Reply, WatchPlan> Api::handle(const Request& request) {
  const std::string_view target(request.target);
  const size_t q = target.find('?');
  const std::string_view raw_path = target.substr(0, q);
  const auto query =
      parse_query(q == std::string_view::npos ? std::string_view() : target.substr(q + 1));
  std::vector<std::string> segments;
  for (size_t pos = 0; pos < raw_path.size();) {
    size_t end = raw_path.find('/', pos);
    if (end == std::string_view::npos) {
      end = raw_path.size();
    }
    if (end > pos) {
      segments.push_back(percent_decode(raw_path.substr(pos, end - pos), false));
    }
    pos = end + 1;
  }
  const bool is_get = request.method == "GET" || request.method == "HEAD";
  if (segments.empty()) {
    return not_found_path();
  }
  const std::string& root = segments[0];
  if (is_get && segments.size() == 1) {
    if (root == "version") {
      return json_reply(200, version_document());
    }
    if (root == "healthz" || root == "livez" || root == "readyz") {
      return Reply{200, "ok", "text/plain; charset=utf-8", {}};
    }
    if (root == "api") {
      return json_reply(200, core_versions_document(server_address_));
    }
    if (root == "apis") {
      return json_reply(200, groups_document());
    }
  }
  std::string group;
  std::string version;
  size_t rest = 0;
  if (root == "api" && segments.size() >= 2) {
    version = segments[1];
    rest = 2;
  } else if (root == "apis" && segments.size() >= 3) {
    group = segments[1];
    version = segments[2];
    rest = 3;
  } else if (root == "apis" && segments.size() == 2 && is_get) {
    for (const json& g : groups_document()["groups"]) {
      if (g["name"] == segments[1]) {
        json doc = g;
        doc["kind"] = "APIGroup";
        doc["apiVersion"] = "v1";
        return json_reply(200, doc);
      }
    }
    return not_found_path();
  } else if (root == "openapi" && is_get && segments.size() >= 2 && segments[1] == "v3") {
    if (segments.size() == 2) {
      return json_reply(200, openapi_v3_root());
    }
    json doc;
    if (segments.size() == 4 && segments[2] == "api") {
      doc = openapi_v3_document("", segments[3]);
    } else if (segments.size() == 5 && segments[2] == "apis") {
      doc = openapi_v3_document(segments[3], segments[4]);
    }
    return doc.is_null() ? not_found_path() : json_reply(200, doc);
  } else {
    // /openapi/v2 included (see resources.h: kubectl does not need it).
    return not_found_path();
  }
  if (segments.size() == rest) {
    json doc = resource_list_document(group, version);
    if (doc.is_null() || !is_get) {
      return not_found_path();
    }
    return json_reply(200, doc);
  }
  std::vector<std::string> parts(segments.begin() + static_cast<long>(rest), segments.end());
  Target t;
  if (parts.size() >= 3 && parts[0] == "namespaces") {
    const Resource* inner = find_resource(group, version, parts[2]);
    if (inner != nullptr && inner->namespaced) {
      t.ns = parts[1];
      parts.erase(parts.begin(), parts.begin() + 2);
    }
  }
  t.resource = find_resource(group, version, parts[0]);
  if (t.resource == nullptr || parts.size() > 3) {
    return not_found_path();
  }
  if (parts.size() >= 2) {
    t.name = parts[1];
  }
  if (parts.size() == 3) {
    t.subresource = parts[2];
    if (t.subresource != "status" || !t.resource->status_subresource) {
      return not_found_path();
    }
  }
  // A namespaced object is only addressed within its namespace.
  if (t.resource->namespaced && t.ns.empty() && (!t.name.empty() || request.method != "GET")) {
    return not_found_path();
  }
  try {
    return handle_resource(request, t, query);
  } catch (const json::exception& e) {
    return status_reply(400, "BadRequest", std::string("cannot handle the object: ") + e.what());
  } catch (const std::exception& e) {
    return status_reply(500, "InternalError", e.what());
  }
}

std::variant<Reply, WatchPlan> Api::handle_resource(
    const Request& request, const Target& t, const std::map<std::string, std::string>& query) {
  const std::string& m = request.method;
  // Typed client-go clients (kubectl create namespace, ...) send protobuf unless told
  // otherwise; the stand-in speaks JSON only, and 415 makes them fall back to it.
  const std::string type = media_type(request.content_type);
  if (m == "POST" && type == kProtobufMediaType && t.name.empty()) {
    std::string error;
    auto object = decode_protobuf_object(request.body, error);
    if (!object) {
      return status_reply(415, "UnsupportedMediaType", error);
    }
    Request as_json = request;
    as_json.body = object->dump();
    as_json.content_type = "application/json";
    return create(t, as_json);
  }
  if (!request.body.empty() && (m == "POST" || m == "PUT" || m == "DELETE") && !type.empty() &&
      type != "application/json") {
    return status_reply(415, "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media types "
                        "include: application/json");
  }
  if (m == "GET" || m == "HEAD") {
    std::variant<Reply, WatchPlan> out =
        t.name.empty() ? list_or_watch(t, query) : std::variant<Reply, WatchPlan>(get(t));
    // kubectl get asks for a Table; watches stay plain objects (kubectl get -w prints
    // those with its own NAME/AGE columns).
    auto* reply = std::get_if<Reply>(&out);
    if (reply != nullptr && reply->status == 200 && has_table(*t.resource) &&
        wants_table(request.accept)) {
      const auto include = query.find("includeObject");
      reply->body = dump(to_table(*t.resource, json::parse(reply->body),
                                  include == query.end() ? "Metadata" : include->second));
    }
    return out;
  }
  if (m == "POST" && t.name.empty()) {
    return create(t, request);
  }
  if (m == "PUT" && !t.name.empty()) {
    return update(t, request);
  }
  if (m == "PATCH" && !t.name.empty()) {
    return patch(t, request, query);
  }
  if (m == "DELETE") {
    return t.name.empty() ? remove_collection(t, query) : remove(t, request);
  }
  return status_reply(405, "MethodNotAllowed",
                      "the server does not allow this method on the requested resource");
}

Reply Api::get(const Target& t) {
  const json* object = store_.get(storage_of(*t.resource), t.ns, t.name);
  if (object == nullptr) {
    return t.not_found();
  }
  return json_reply(200, to_served(*t.resource, *object));
}

std::variant<Reply, WatchPlan> Api::list_or_watch(const Target& t,
                                                  const std::map<std::string, std::string>& query) {
  WatchFilter filter;
  filter.resource = t.resource;
  filter.ns = t.ns;
  std::string error;
  const auto get_param = [&](const char* name) {
    const auto it = query.find(name);
    return it == query.end() ? std::string() : it->second;
  };
  auto labels = parse_label_selector(get_param("labelSelector"), error);
  if (!labels) {
    return status_reply(400, "BadRequest", "unable to parse requirement: " + error);
  }
  auto fields = parse_field_selector(*t.resource, get_param("fieldSelector"), error);
  if (!fields) {
    return status_reply(400, "BadRequest", error);
  }
  filter.labels = std::move(*labels);
  filter.fields = std::move(*fields);
  const std::string watch = get_param("watch");
  if (watch == "true" || watch == "1") {
    return this->watch(query, std::move(filter));
  }
  return list(t, query, filter);
}

std::vector<json> Api::objects_at(const Resource& resource, uint64_t rv) const {
  Store::Objects state = store_.objects(resource);
  const auto& history = store_.history();
  for (auto it = history.rbegin(); it != history.rend() && it->rv > rv; ++it) {
    if (it->resource != &resource) {
      continue;
    }
    const Store::Key key{namespace_of(it->object), name_of(it->object)};
    if (it->type == "ADDED") {
      state.erase(key);
    } else {
      state[key] = it->previous;
    }
  }
  std::vector<json> out;
  out.reserve(state.size());
  for (auto& [key, object] : state) {
    out.push_back(std::move(object));
  }
  return out;
}

Reply Api::list(const Target& t, const std::map<std::string, std::string>& query,
                const WatchFilter& filter) {
  const auto param = [&](const char* name) {
    const auto it = query.find(name);
    return it == query.end() ? std::string() : it->second;
  };
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(snapshots_,
                [&](const auto& s) { return now - s.second.created > kContinueLifetime; });

  uint64_t limit = 0;
  if (const std::string text = param("limit"); !text.empty()) {
    const auto n = to_u64(text);
    if (!n) {
      return status_reply(400, "BadRequest", "invalid limit \"" + text + "\"");
    }
    limit = *n;
  }
  const std::string rv_param = param("resourceVersion");
  const std::string match = param("resourceVersionMatch");
  const std::string token = param("continue");
  uint64_t snapshot_id = 0;
  size_t offset = 0;
  if (!token.empty()) {
    if (!rv_param.empty() && rv_param != "0") {
      return status_reply(400, "BadRequest",
                          "specifying resource version is not allowed when using continue");
    }
    json decoded;
    try {
      decoded = json::parse(base64_decode(token).value_or(""));
      snapshot_id = decoded.at("id").get<uint64_t>();
      offset = decoded.at("offset").get<size_t>();
    } catch (const std::exception&) {
      return status_reply(400, "BadRequest", "continue key is not valid: \"" + token + "\"");
    }
    const auto it = snapshots_.find(snapshot_id);
    if (it == snapshots_.end() || it->second.resource != t.resource ||
        offset > it->second.items.size()) {
      // The real server's words for a continue token whose revision was compacted.
      return status_reply(
          410, "Expired",
          "The provided continue parameter is too old to display a consistent list result. You "
          "can start a new list without the continue parameter, or use the continue token in "
          "this response to retrieve the remainder of the results. Continuing with the provided "
          "token results in an inconsistent list - objects that were created, modified, or "
          "deleted between the time the first chunk was returned and now may show up in the "
          "list.");
    }
  } else {
    if (!match.empty() && match != "Exact" && match != "NotOlderThan") {
      return status_reply(400, "BadRequest",
                          "resourceVersionMatch: Unsupported value: \"" + match + "\"");
    }
    if (!match.empty() && rv_param.empty()) {
      return status_reply(400, "BadRequest",
                          "resourceVersionMatch is forbidden unless resourceVersion is provided");
    }
    const uint64_t current = store_.resource_version();
    uint64_t list_rv = current;
    std::vector<json> items;
    bool built = false;
    if (!rv_param.empty() && rv_param != "0") {
      const auto asked = to_u64(rv_param);
      if (!asked) {
        return status_reply(400, "BadRequest",
                            "resourceVersion: Invalid value: \"" + rv_param + "\"");
      }
      if (*asked > current) {
        return too_large(*asked, current);
      }
      // With a limit and no resourceVersionMatch, a non-zero version means "Exact".
      const bool exact = match == "Exact" || (match.empty() && limit > 0);
      if (exact && *asked != current) {
        if (*asked < store_.history_start()) {
          return status_reply(410, "Expired",
                              "The resourceVersion for the provided list is too old.");
        }
        items = objects_at(storage_of(*t.resource), *asked);
        list_rv = *asked;
        built = true;
      }
    }
    if (!built) {
      for (const auto& [key, object] : store_.objects(storage_of(*t.resource))) {
        items.push_back(object);
      }
    }
    ListSnapshot snapshot{t.resource, list_rv, {}, now};
    for (json& object : items) {
      if (filter.matches(object)) {  // on the stored shape, as the field paths are
        snapshot.items.push_back(list_item(to_served(*t.resource, std::move(object))));
      }
    }
    snapshot_id = next_snapshot_++;
    snapshots_.emplace(snapshot_id, std::move(snapshot));
    while (snapshots_.size() > kMaxSnapshots) {
      snapshots_.erase(snapshots_.begin());
    }
  }
  ListSnapshot& snapshot = snapshots_.at(snapshot_id);
  const size_t end =
      limit == 0 ? snapshot.items.size() : std::min<size_t>(snapshot.items.size(), offset + limit);
  json items = json::array();
  for (size_t i = offset; i < end; ++i) {
    items.push_back(snapshot.items[i]);
  }
  json meta = {{"resourceVersion", std::to_string(snapshot.rv)}};
  if (end < snapshot.items.size()) {
    const json& next = snapshot.items[end];
    // The shape of kube-apiserver's tokens (base64 of JSON), plus our snapshot id; opaque
    // to clients either way.
    meta["continue"] = base64_encode(json{{"v", "meta.k8s.io/v1"},
                                          {"rv", snapshot.rv},
                                          {"start", namespace_of(next) + "/" + name_of(next)},
                                          {"id", snapshot_id},
                                          {"offset", end}}
                                         .dump(),
                                     true);
    if (filter.labels.empty() && filter.fields.empty()) {
      meta["remainingItemCount"] = snapshot.items.size() - end;
    }
  } else {
    snapshots_.erase(snapshot_id);
  }
  return json_reply(200, json{{"kind", t.resource->list_kind()},
                              {"apiVersion", t.resource->api_version()},
                              {"metadata", std::move(meta)},
                              {"items", std::move(items)}});
}

std::variant<Reply, WatchPlan> Api::watch(const std::map<std::string, std::string>& query,
                                          WatchFilter filter) {
  const auto param = [&](const char* name) {
    const auto it = query.find(name);
    return it == query.end() ? std::string() : it->second;
  };
  WatchPlan plan;
  const std::string bookmarks = param("allowWatchBookmarks");
  plan.bookmarks = bookmarks == "true" || bookmarks == "1";
  if (const std::string text = param("timeoutSeconds"); !text.empty()) {
    const auto n = to_u64(text);
    if (!n) {
      return status_reply(400, "BadRequest", "invalid timeoutSeconds \"" + text + "\"");
    }
    // 0 means "the server's default", as on kube-apiserver.
    plan.timeout = *n == 0 ? kDefaultWatchTimeout
                           : std::chrono::seconds(std::min<uint64_t>(*n, kMaxWatchTimeout.count()));
  } else {
    plan.timeout = kDefaultWatchTimeout;
  }
  const std::string rv_param = param("resourceVersion");
  const std::string send_initial = param("sendInitialEvents");
  const uint64_t current = store_.resource_version();
  const std::string where = filter.resource->plural + " in " +
                            (filter.ns.empty() ? std::string("all namespaces") : filter.ns);
  const auto initial_state = [&] {
    for (const auto& [key, object] : store_.objects(storage_of(*filter.resource))) {
      if (filter.matches(object)) {
        plan.initial.push_back(event_text("ADDED", to_served(*filter.resource, object)));
      }
    }
  };
  if (send_initial == "true") {
    // Streaming lists (KEP-3157): the state as ADDED events, then a bookmark that marks
    // its end.
    if (!plan.bookmarks) {
      return status_reply(400, "BadRequest",
                          "sendInitialEvents requires setting allowWatchBookmarks to true");
    }
    initial_state();
    plan.initial.push_back(bookmark(filter, true));
    plan.describe = where + " with initial events";
  } else if (rv_param.empty() || rv_param == "0") {
    initial_state();
    plan.describe = where + " from the current state";
  } else {
    const auto asked = to_u64(rv_param);
    if (!asked) {
      return status_reply(400, "BadRequest",
                          "resourceVersion: Invalid value: \"" + rv_param + "\"");
    }
    if (*asked > current) {
      return too_large(*asked, current);
    }
    if (*asked < store_.history_start()) {
      return status_reply(410, "Expired",
                          "too old resource version: " + rv_param + " (" +
                              std::to_string(store_.history_start()) + ")");
    }
    for (const Change& change : store_.history()) {
      if (change.rv > *asked) {
        if (const EventKind kind = classify(filter, change); kind != EventKind::kNone) {
          plan.initial.push_back(render(kind, change, *filter.resource));
        }
      }
    }
    plan.describe = where + " from resourceVersion " + rv_param;
  }
  plan.filter = std::move(filter);
  return plan;
}

EventKind Api::classify(const WatchFilter& filter, const Change& change) {
  if (change.resource != &storage_of(*filter.resource)) {
    return EventKind::kNone;
  }
  if (change.type == "DELETED") {
    return filter.matches(change.object) ? EventKind::kDeleted : EventKind::kNone;
  }
  const bool now = filter.matches(change.object);
  const bool before = !change.previous.is_null() && filter.matches(change.previous);
  if (now) {
    // A change that brings an object into the selection is an ADDED for this watch.
    return before ? EventKind::kModified : EventKind::kAdded;
  }
  return before ? EventKind::kLeft : EventKind::kNone;
}

std::string Api::render(EventKind kind, const Change& change, const Resource& served) {
  switch (kind) {
    case EventKind::kAdded:
      return event_text("ADDED", to_served(served, change.object));
    case EventKind::kModified:
      return event_text("MODIFIED", to_served(served, change.object));
    case EventKind::kDeleted:
      return event_text("DELETED", to_served(served, change.object));
    case EventKind::kLeft: {
      // It left the selection: DELETED with its previous state at the new version.
      json gone = change.previous;
      gone["metadata"]["resourceVersion"] = std::to_string(change.rv);
      return event_text("DELETED", to_served(served, gone));
    }
    case EventKind::kNone:
      break;
  }
  return "";
}

std::string Api::bookmark(const WatchFilter& filter, bool initial_events_end) const {
  json meta = {{"resourceVersion", std::to_string(store_.resource_version())},
               {"creationTimestamp", nullptr}};
  if (initial_events_end) {
    meta["annotations"] = {{"k8s.io/initial-events-end", "true"}};
  }
  return event_text("BOOKMARK", json{{"kind", filter.resource->kind},
                                     {"apiVersion", filter.resource->api_version()},
                                     {"metadata", meta}});
}

std::string Api::expired_event() const {
  return event_text("ERROR", json{{"kind", "Status"},
                                  {"apiVersion", "v1"},
                                  {"metadata", json::object()},
                                  {"status", "Failure"},
                                  {"message", "too old resource version: expired by the stand-in"},
                                  {"reason", "Expired"},
                                  {"code", 410}});
}

namespace {

// metav1.MicroTime fields, rewritten as the real server writes them back (six digits, UTC);
// one that does not parse is a decode error there: 400.
std::optional<Reply> normalize_times(const Resource& resource, json& object) {
  std::vector<std::pair<json*, std::string>> fields;
  const auto add = [&](json& parent, const char* key, const std::string& path) {
    if (parent.is_object() && parent.contains(key) && !parent[key].is_null()) {
      fields.emplace_back(&parent[key], path);
    }
  };
  if (resource.kind == "Lease" && object.contains("spec")) {
    add(object["spec"], "acquireTime", "spec.acquireTime");
    add(object["spec"], "renewTime", "spec.renewTime");
  } else if (resource.kind == "Event") {
    add(object, "eventTime", "eventTime");
    if (object.contains("series")) {
      add(object["series"], "lastObservedTime", "series.lastObservedTime");
    }
  }
  for (auto& [value, path] : fields) {
    const auto normal =
        value->is_string() ? normalize_micro_time(value->get<std::string>()) : std::nullopt;
    if (!normal) {
      return status_reply(400, "BadRequest",
                          "the object could not be decoded: " + path + ": parsing time " +
                              value->dump() +
                              " as \"2006-01-02T15:04:05.000000Z07:00\": cannot "
                              "parse it");
    }
    *value = *normal;
  }
  return std::nullopt;
}

// One field.Error of k8s.io/apimachinery/pkg/util/validation/field.
struct FieldError {
  std::string type;  // "Required value", "Invalid value"
  std::string field;
  std::string detail;
  json value = nullptr;  // Invalid: the bad value

  std::string body() const {
    std::string out = type;
    if (type == "Invalid value") {
      out += ": " + (value.is_string() ? json(value.get<std::string>()).dump() : value.dump());
    }
    if (!detail.empty()) {
      out += ": " + detail;
    }
    return out;
  }
  std::string cause_type() const {
    return type == "Required value" ? "FieldValueRequired" : "FieldValueInvalid";
  }
};

// apierrors.NewInvalid: 422, `Kind.group "name" is invalid: <aggregate>`, one cause each.
std::optional<Reply> invalid_reply(const Resource& resource, const std::string& name,
                                   const std::vector<FieldError>& errors) {
  if (errors.empty()) {
    return std::nullopt;
  }
  json causes = json::array();
  std::vector<std::string> messages;
  for (const FieldError& e : errors) {
    causes.push_back({{"reason", e.cause_type()}, {"message", e.body()}, {"field", e.field}});
    const std::string message = e.field + ": " + e.body();
    if (std::find(messages.begin(), messages.end(), message) == messages.end()) {
      messages.push_back(message);
    }
  }
  std::string aggregate = messages.size() == 1 ? messages.front() : "[";
  if (messages.size() > 1) {
    for (size_t i = 0; i < messages.size(); ++i) {
      aggregate += (i ? ", " : "") + messages[i];
    }
    aggregate += "]";
  }
  const std::string qualified =
      resource.group.empty() ? resource.kind : resource.kind + "." + resource.group;
  return status_reply(
      422, "Invalid", qualified + " \"" + name + "\" is invalid: " + aggregate,
      {{"name", name}, {"group", resource.group}, {"kind", resource.kind}, {"causes", causes}});
}

// A qualified name (validation.IsQualifiedName): [prefix/]name, name of at most 63
// characters, alphanumeric at both ends, '-', '_', '.' inside.
bool is_qualified_name(const std::string& value) {
  const size_t slash = value.find('/');
  const std::string name = slash == std::string::npos ? value : value.substr(slash + 1);
  if (slash != std::string::npos &&
      (slash == 0 || value.find('/', slash + 1) != std::string::npos)) {
    return false;
  }
  if (name.empty() || name.size() > 63 || !std::isalnum(static_cast<unsigned char>(name.front())) ||
      !std::isalnum(static_cast<unsigned char>(name.back()))) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

// k8s.io/kubernetes pkg/apis/core/validation/events.go, on the stored (core) shape: the
// legacy checks for every request version, and for events.k8s.io/v1 the strict ones of
// ValidateEventCreate (`old` null) or ValidateEventUpdate (series, immutable fields).
std::vector<FieldError> validate_event(const json& e, const json* old, bool events_v1) {
  std::vector<FieldError> errors;
  const auto text = [&](const json& o, const char* key) {
    return o.contains(key) && o[key].is_string() ? o[key].get<std::string>() : std::string();
  };
  const auto set = [&](const json& o, const char* key) {
    return o.contains(key) && !o[key].is_null() && o[key] != "" && o[key] != 0 &&
           o[key] != json::object();
  };
  const std::string ns = e["metadata"].value("namespace", "");
  const std::string object_ns = e.contains("involvedObject") && e["involvedObject"].is_object()
                                    ? e["involvedObject"].value("namespace", "")
                                    : "";
  const std::string controller_field = events_v1 ? "reportingController" : "reportingComponent";
  if (!set(e, "eventTime")) {
    if (object_ns.empty() ? (ns != "" && ns != "default") : ns != object_ns) {
      errors.push_back({"Invalid value", "involvedObject.namespace",
                        "does not match event.namespace", object_ns});
    }
  } else {
    if (object_ns.empty() && ns != "default" && ns != "kube-system") {
      errors.push_back({"Invalid value", "involvedObject.namespace",
                        "does not match event.namespace", object_ns});
    }
    const std::string controller = text(e, "reportingComponent");
    if (controller.empty()) {
      errors.push_back({"Required value", controller_field, ""});
    } else if (!is_qualified_name(controller)) {
      errors.push_back({"Invalid value", controller_field,
                        "name part must consist of alphanumeric characters, '-', '_' or '.', and "
                        "must start and end with an alphanumeric character",
                        controller});
    }
    const auto limited = [&](const char* key, const std::string& field, size_t limit,
                             bool required) {
      const std::string value = text(e, key);
      if (required && value.empty()) {
        errors.push_back({"Required value", field, ""});
      }
      if (value.size() > limit) {
        errors.push_back({"Invalid value", field,
                          "can have at most " + std::to_string(limit) + " characters", ""});
      }
    };
    limited("reportingInstance", "reportingInstance", 128, true);
    limited("action", "action", 128, true);
    limited("reason", "reason", 128, true);
    limited("message", "message", 1024, false);
  }
  if (!events_v1) {
    return errors;
  }
  const auto series_errors = [&] {
    if (!e.contains("series") || e["series"].is_null()) {
      return;
    }
    const json& series = e["series"];
    if (!series.is_object() || !series.contains("count") || !series["count"].is_number() ||
        series["count"].get<double>() < 2) {
      errors.push_back({"Invalid value", "series.count", "should be at least 2", ""});
    }
    if (!series.is_object() || !set(series, "lastObservedTime")) {
      errors.push_back({"Required value", "series.lastObservedTime", ""});
    }
  };
  if (old == nullptr) {
    series_errors();
    if (!set(e, "eventTime")) {
      errors.push_back({"Required value", "eventTime", ""});
    }
    const std::string type = text(e, "type");
    if (type != "Normal" && type != "Warning") {
      errors.push_back({"Invalid value", "type", "has invalid value: " + type, ""});
    }
    for (const char* key : {"firstTimestamp", "lastTimestamp", "count", "source"}) {
      if (set(e, key)) {
        errors.push_back({"Invalid value", key, "needs to be unset", ""});
      }
    }
    return errors;
  }
  const auto field_or_null = [](const json& o, const char* key) {
    return o.contains(key) && o[key] != "" && o[key] != 0 && o[key] != json::object() ? o[key]
                                                                                      : json();
  };
  if (field_or_null(e, "series") != field_or_null(*old, "series")) {
    series_errors();
  }
  for (const char* key :
       {"involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count",
        "type", "eventTime", "action", "related", "reportingComponent", "reportingInstance"}) {
    const json now = field_or_null(e, key);
    if (now != field_or_null(*old, key)) {
      const std::string field =
          std::string(key) == "reportingComponent" ? "reportingController" : key;
      errors.push_back({"Invalid value", field, "field is immutable", now});
    }
  }
  return errors;
}

// The body of a write: a JSON object of the resource's kind. kind/apiVersion may be
// omitted (they are filled in) but not wrong.
std::optional<Reply> check_body(const Resource& resource, json& object) {
  if (!object.is_object()) {
    return status_reply(400, "BadRequest", "the body must be a JSON object");
  }
  const std::string api_version = object.value("apiVersion", "");
  const std::string kind = object.value("kind", "");
  if ((!api_version.empty() && api_version != resource.api_version()) ||
      (!kind.empty() && kind != resource.kind)) {
    return status_reply(400, "BadRequest",
                        "the API version in the data (" + api_version + ") and kind (" + kind +
                            ") do not match the expected " + resource.api_version() + " " +
                            resource.kind);
  }
  object["apiVersion"] = resource.api_version();
  object["kind"] = resource.kind;
  if (!object.contains("metadata") || !object["metadata"].is_object()) {
    object["metadata"] = json::object();
  }
  return std::nullopt;
}

}  // namespace

Reply Api::create(const Target& t, const Request& request) {
  json object = json::parse(request.body);
  if (auto bad = check_body(*t.resource, object)) {
    return *bad;
  }
  json& meta = object["metadata"];
  if (t.resource->namespaced) {
    const std::string ns = meta.value("namespace", "");
    if (!ns.empty() && ns != t.ns) {
      return status_reply(400, "BadRequest",
                          "the namespace of the provided object does not match the namespace "
                          "sent on the request");
    }
    meta["namespace"] = t.ns;
  } else {
    meta.erase("namespace");
  }
  return create_object(t, std::move(object));
}

Reply Api::create_object(const Target& t, json object) {
  json& meta = object["metadata"];
  std::string name = meta.value("name", "");
  if (name.empty()) {
    const std::string prefix = meta.value("generateName", "");
    if (prefix.empty()) {
      return status_reply(422, "Invalid",
                          t.resource->kind +
                              " \"\" is invalid: metadata.name: Required value: name or "
                              "generateName is required",
                          {{"group", t.resource->group}, {"kind", t.resource->kind}});
    }
    name = prefix + random_suffix();
    meta["name"] = name;
  }
  if (store_.get(storage_of(*t.resource), t.ns, name) != nullptr) {
    return status_reply(
        409, "AlreadyExists", t.resource->qualified_plural() + " \"" + name + "\" already exists",
        {{"name", name}, {"group", t.resource->group}, {"kind", t.resource->plural}});
  }
  meta["uid"] = new_uid();
  meta["creationTimestamp"] = now_rfc3339();
  // metadata.generation is set by the strategies of kinds with a spec that controllers
  // observe; Events and Leases have none on the real server.
  if (t.resource->kind == "Event" || t.resource->kind == "Lease") {
    meta.erase("generation");
  } else {
    meta["generation"] = 1;
  }
  meta.erase("resourceVersion");
  meta.erase("deletionTimestamp");
  meta.erase("selfLink");
  if (t.resource->status_subresource) {
    object["status"] = default_status(*t.resource);
  }
  apply_defaults(*t.resource, object);
  if (auto bad = normalize_times(*t.resource, object)) {
    return *bad;
  }
  if (t.resource->kind == "Event") {
    const json stored = to_stored(*t.resource, object);
    if (auto bad = invalid_reply(*t.resource, name,
                                 validate_event(stored, nullptr, t.resource->is_events_v1()))) {
      return *bad;
    }
  }
  const Resource& storage = storage_of(*t.resource);
  return json_reply(
      201,
      to_served(*t.resource, store_.create(storage, to_stored(*t.resource, std::move(object)))));
}

Reply Api::update(const Target& t, const Request& request) {
  json body = json::parse(request.body);
  if (auto bad = check_body(*t.resource, body)) {
    return *bad;
  }
  json& meta = body["metadata"];
  const std::string name = meta.value("name", "");
  if (!name.empty() && name != t.name) {
    return status_reply(400, "BadRequest",
                        "the name of the object (" + name +
                            ") does not match the name on the URL (" + t.name + ")");
  }
  meta["name"] = t.name;
  if (t.resource->namespaced) {
    const std::string ns = meta.value("namespace", "");
    if (!ns.empty() && ns != t.ns) {
      return status_reply(400, "BadRequest",
                          "the namespace of the provided object does not match the namespace "
                          "sent on the request");
    }
    meta["namespace"] = t.ns;
  }
  const json* stored = store_.get(storage_of(*t.resource), t.ns, t.name);
  if (stored == nullptr) {
    return t.not_found();
  }
  const json served = to_served(*t.resource, *stored);
  const json* current = &served;
  // An update without a resourceVersion is unconditional (allowed for every kind here).
  return write_object(t, *current, std::move(body));
}

Reply Api::patch(const Target& t, const Request& request,
                 const std::map<std::string, std::string>& query) {
  const std::string type = media_type(request.content_type);
  if (type != "application/merge-patch+json" && type != "application/strategic-merge-patch+json" &&
      type != "application/json-patch+json" && type != "application/apply-patch+yaml") {
    return status_reply(415, "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media types "
                        "include: application/json-patch+json, application/merge-patch+json, "
                        "application/apply-patch+yaml, application/strategic-merge-patch+json");
  }
  json body;
  try {
    body = json::parse(request.body);
  } catch (const json::exception& e) {
    // Server-side apply bodies are YAML in general; kubectl sends JSON, which is all the
    // stand-in reads.
    return status_reply(400, "BadRequest", std::string("the patch is not JSON: ") + e.what());
  }
  const json* stored = store_.get(storage_of(*t.resource), t.ns, t.name);
  const json served = stored == nullptr ? json() : to_served(*t.resource, *stored);
  const json* current = stored == nullptr ? nullptr : &served;
  if (current == nullptr) {
    if (type == "application/apply-patch+yaml" && t.subresource.empty()) {
      // Server-side apply creates what does not exist (field ownership is not modelled).
      if (auto bad = check_body(*t.resource, body)) {
        return *bad;
      }
      body["metadata"]["name"] = t.name;
      if (t.resource->namespaced) {
        body["metadata"]["namespace"] = t.ns;
      }
      return create_object(t, std::move(body));
    }
    return t.not_found();
  }
  json patched = *current;
  if (type == "application/json-patch+json") {
    try {
      patched = current->patch(body);
    } catch (const json::exception& e) {
      return status_reply(422, "Invalid", std::string("the JSON patch failed: ") + e.what());
    }
  } else if (type == "application/strategic-merge-patch+json") {
    patched = strategic_merge(*current, body);
  } else {
    if (type == "application/apply-patch+yaml") {
      // Apply approximated as a merge patch: the applied fields win, lists are replaced.
      body.erase("status");
    }
    patched.merge_patch(body);
  }
  if (!patched.is_object() || !patched.contains("metadata") || !patched["metadata"].is_object()) {
    return status_reply(422, "Invalid", "the patch removed the object's metadata");
  }
  if (name_of(patched) != t.name || namespace_of(patched) != namespace_of(*current)) {
    return status_reply(400, "BadRequest", "a patch may not change the name or namespace");
  }
  // A resourceVersion in the patch is a precondition, as on the real server.
  (void)query;  // fieldManager, fieldValidation, dryRun: accepted, not modelled
  return write_object(t, *current, std::move(patched));
}

// PUT and PATCH alike: `incoming` is the whole object the client wants. Its
// resourceVersion, when it has one, must be the current one (409 otherwise). Through the
// status subresource only `status` changes; through the main resource of a kind with a
// status subresource everything but `status` does.
Reply Api::write_object(const Target& t, const json& current, json incoming) {
  const std::string asked = rv_of(incoming);
  if (!asked.empty() && asked != rv_of(current)) {
    return t.modified();
  }
  json desired;
  if (t.subresource == "status") {
    desired = current;
    desired["status"] = incoming.contains("status") ? incoming["status"] : json::object();
  } else {
    desired = std::move(incoming);
    if (t.resource->status_subresource) {
      if (current.contains("status") && !current["status"].is_null()) {
        desired["status"] = current["status"];
      } else {
        desired.erase("status");
      }
    }
  }
  return write_update(t, current, std::move(desired));
}

Reply Api::write_update(const Target& t, const json& current, json desired) {
  if (auto bad = check_body(*t.resource, desired)) {
    return *bad;
  }
  json& meta = desired["metadata"];
  const json& old_meta = current["metadata"];
  for (const char* kept : {"uid", "creationTimestamp", "generation", "deletionTimestamp"}) {
    if (old_meta.contains(kept)) {
      meta[kept] = old_meta[kept];
    } else {
      meta.erase(kept);
    }
  }
  meta["resourceVersion"] = rv_of(current);
  apply_defaults(*t.resource, desired);
  if (generation_part(desired) != generation_part(current) && old_meta.contains("generation")) {
    meta["generation"] = old_meta["generation"].get<int64_t>() + 1;
  }
  // A write that changes nothing keeps the resourceVersion and makes no watch event, as on
  // the real server; status writers rely on it to avoid feedback loops.
  if (auto bad = normalize_times(*t.resource, desired)) {
    return *bad;
  }
  if (desired == current) {
    return json_reply(200, current);
  }
  if (t.resource->kind == "Event") {
    const json stored = to_stored(*t.resource, desired);
    const json old = to_stored(*t.resource, current);
    if (auto bad = invalid_reply(*t.resource, t.name,
                                 validate_event(stored, &old, t.resource->is_events_v1()))) {
      return *bad;
    }
  }
  const Resource& storage = storage_of(*t.resource);
  return json_reply(
      200,
      to_served(*t.resource, store_.replace(storage, to_stored(*t.resource, std::move(desired)))));
}

Reply Api::remove(const Target& t, const Request& request) {
  const json* current = store_.get(storage_of(*t.resource), t.ns, t.name);
  if (current == nullptr) {
    return t.not_found();
  }
  if (!request.body.empty()) {
    const json options = json::parse(request.body);
    if (options.is_object() && options.contains("preconditions") &&
        options["preconditions"].is_object()) {
      const json& pre = options["preconditions"];
      const auto differs = [&](const char* field) {
        return pre.contains(field) && pre[field].is_string() &&
               pre[field].get<std::string>() != (*current)["metadata"].value(field, "");
      };
      if (differs("resourceVersion") || differs("uid")) {
        return t.conflict(
            "the object has been modified; please apply your changes to the "
            "latest version and try again");
      }
    }
  }
  if (t.resource->kind == "Namespace") {
    // Immediate, where the real server would go through Terminating: what is in the
    // namespace goes with it (each with its DELETED event).
    for (const Resource& r : resources()) {
      if (!r.namespaced) {
        continue;
      }
      std::vector<std::string> names;
      for (const auto& [key, object] : store_.objects(r)) {
        if (key.first == t.name) {
          names.push_back(key.second);
        }
      }
      for (const std::string& name : names) {
        store_.remove(r, t.name, name);
      }
    }
  }
  return json_reply(200,
                    to_served(*t.resource, store_.remove(storage_of(*t.resource), t.ns, t.name)));
}

Reply Api::remove_collection(const Target& t, const std::map<std::string, std::string>& query) {
  WatchFilter filter;
  filter.resource = t.resource;
  filter.ns = t.ns;
  std::string error;
  const auto param = [&](const char* name) {
    const auto it = query.find(name);
    return it == query.end() ? std::string() : it->second;
  };
  auto labels = parse_label_selector(param("labelSelector"), error);
  auto fields =
      labels ? parse_field_selector(*t.resource, param("fieldSelector"), error) : std::nullopt;
  if (!labels || !fields) {
    return status_reply(400, "BadRequest", error);
  }
  filter.labels = std::move(*labels);
  filter.fields = std::move(*fields);
  std::vector<Store::Key> doomed;
  const Resource& storage = storage_of(*t.resource);
  for (const auto& [key, object] : store_.objects(storage)) {
    if (filter.matches(object)) {
      doomed.push_back(key);
    }
  }
  json items = json::array();
  for (const auto& [ns, name] : doomed) {
    items.push_back(list_item(to_served(*t.resource, store_.remove(storage, ns, name))));
  }
  return json_reply(
      200, json{{"kind", t.resource->list_kind()},
                {"apiVersion", t.resource->api_version()},
                {"metadata", {{"resourceVersion", std::to_string(store_.resource_version())}}},
                {"items", std::move(items)}});
}

}  // namespace lintel::standin
