#include "ingress/decode.h"

#include "ingress/base64.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <set>

#include "ingress/yaml_json.h"

namespace lintel::ingress {

using nlohmann::json;

namespace {

constexpr const char* kPathTypes = "Exact, Prefix, ImplementationSpecific";
constexpr const char* kServiceTypes = "ClusterIP, NodePort, LoadBalancer, ExternalName";
constexpr const char* kProtocols = "TCP, UDP, SCTP";
constexpr const char* kAddressTypes = "IPv4, IPv6, FQDN";
constexpr const char* kServiceNameLabel = "kubernetes.io/service-name";
constexpr const char* kDefaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class";
// Values longer than this are cut in messages: a message names the value, it does not
// reproduce a certificate.
constexpr size_t kMaxShownValue = 64;

// ---------------------------------------------------------------------------------------
// Validation of names, as the API server does it (k8s.io/apimachinery/pkg/util/validation).

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool is_dns_label_body(std::string_view s) {
  if (s.empty() || !is_lower_alnum(s.front()) || !is_lower_alnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) { return is_lower_alnum(c) || c == '-'; });
}

bool is_dns1123_label(std::string_view s) { return s.size() <= 63 && is_dns_label_body(s); }

// RFC 1123 subdomain: labels joined by '.', at most 253 characters.
bool is_dns1123_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) {
    return false;
  }
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    if (!is_dns_label_body(s.substr(start, dot == std::string_view::npos ? dot : dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    start = dot + 1;
  }
}

// RFC 1035 label (Service names): starts with a letter.
bool is_dns1035_label(std::string_view s) {
  return is_dns1123_label(s) && s.front() >= 'a' && s.front() <= 'z';
}

// IANA_SVC_NAME (named container and Service target ports): at most 15 characters,
// lowercase letters, digits and '-', at least one letter, no '-' at either end, no "--".
bool is_port_name(std::string_view s) {
  if (s.empty() || s.size() > 15 || s.front() == '-' || s.back() == '-' ||
      s.find("--") != std::string_view::npos) {
    return false;
  }
  bool letter = false;
  for (char c : s) {
    if (c >= 'a' && c <= 'z') {
      letter = true;
    } else if (!(c >= '0' && c <= '9') && c != '-') {
      return false;
    }
  }
  return letter;
}

bool is_ipv4(const std::string& s) {
  in_addr addr;
  return inet_pton(AF_INET, s.c_str(), &addr) == 1;
}

bool is_ipv6(const std::string& s) {
  in6_addr addr;
  return inet_pton(AF_INET6, s.c_str(), &addr) == 1;
}

// ---------------------------------------------------------------------------------------
// Showing values in messages.

std::string show(const std::string& s) {
  std::string shown = s.size() > kMaxShownValue ? s.substr(0, kMaxShownValue) + "..." : s;
  return json(shown).dump(-1, ' ', false, json::error_handler_t::replace);
}

// "the string \"80\"", "the boolean true", "a list", ...: what was found where something
// else was expected.
std::string describe_value(const json& v) {
  switch (v.type()) {
    case json::value_t::string:
      return "the string " + show(v.get<std::string>());
    case json::value_t::boolean:
      return v.get<bool>() ? "the boolean true" : "the boolean false";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "the number " + v.dump();
    case json::value_t::array:
      return "a list";
    case json::value_t::object:
      return "an object";
    default:
      return "null";
  }
}

// ---------------------------------------------------------------------------------------
// Decoding one object: fields are visited with their path; every problem is recorded with
// the path and turned into a Diagnostic once the object's name is known.

struct DocContext {
  const LineTable* lines = nullptr;
  std::string file;
  int document = 0;
  int line = 0;         // absolute line of the document start
  int line_offset = 0;  // added to the table's lines (decode_json of a part of a file)
};

std::string where_of(const DocContext& doc, int line) {
  if (doc.file.empty()) {
    return "";
  }
  return line > 0 ? doc.file + ":" + std::to_string(line) : doc.file;
}

int absolute_line(const DocContext& doc, const std::string& path) {
  int line = line_of(*doc.lines, path);
  return line > 0 ? line + doc.line_offset : doc.line;
}

struct Field {
  const json* value = nullptr;  // nullptr when absent or null (the API treats both alike)
  std::string path;
  explicit operator bool() const { return value != nullptr; }
};

struct Problem {
  std::string path;
  std::string message;
};

class ObjectDecoder {
 public:
  Field child(const Field& parent, const std::string& key) const {
    Field out;
    out.path = child_path(parent.path, key);
    if (parent.value != nullptr && parent.value->is_object()) {
      auto it = parent.value->find(key);
      if (it != parent.value->end() && !it->is_null()) {
        out.value = &*it;
      }
    }
    return out;
  }

  void fail(const std::string& path, std::string message) {
    problems_.push_back(Problem{path, std::move(message)});
  }
  void missing(const Field& f, const std::string& why = "") {
    fail(f.path,
         why.empty() ? "required field is missing" : "required field is missing (" + why + ")");
  }
  void wrong_type(const Field& f, const char* expected) {
    fail(f.path, std::string("must be ") + expected + ", not " + describe_value(*f.value));
  }

  // True when the field is present and an object; a present non-object is a type error.
  bool object(const Field& f, bool required = false) {
    if (!f) {
      if (required) {
        missing(f);
      }
      return false;
    }
    if (!f.value->is_object()) {
      wrong_type(f, "an object");
      return false;
    }
    return true;
  }

  std::vector<Field> list(const Field& f, bool required = false) {
    std::vector<Field> items;
    if (!f) {
      if (required) {
        missing(f);
      }
      return items;
    }
    if (!f.value->is_array()) {
      wrong_type(f, "a list");
      return items;
    }
    for (size_t i = 0; i < f.value->size(); ++i) {
      const json& item = (*f.value)[i];
      items.push_back(Field{item.is_null() ? nullptr : &item, item_path(f.path, i)});
    }
    return items;
  }

  std::optional<std::string> string(const Field& f, bool required = false) {
    if (!f) {
      if (required) {
        missing(f);
      }
      return std::nullopt;
    }
    if (!f.value->is_string()) {
      wrong_type(f, "a string");
      return std::nullopt;
    }
    return f.value->get<std::string>();
  }

  // A required string that must also be non-empty (names).
  std::optional<std::string> name(const Field& f) {
    std::optional<std::string> s = string(f, true);
    if (s && s->empty()) {
      missing(f);
      return std::nullopt;
    }
    return s;
  }

  std::optional<int64_t> integer(const Field& f, bool required = false) {
    if (!f) {
      if (required) {
        missing(f);
      }
      return std::nullopt;
    }
    if (f.value->is_number_unsigned()) {
      uint64_t u = f.value->get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) {
        fail(f.path, f.value->dump() + " is out of range");
        return std::nullopt;
      }
      return static_cast<int64_t>(u);
    }
    if (f.value->is_number_integer()) {
      return f.value->get<int64_t>();
    }
    // Floats are refused even when integral: the API server's JSON decoder refuses 80.0
    // for an int32 field too.
    wrong_type(f, "an integer");
    return std::nullopt;
  }

  std::optional<int32_t> integer_in(const Field& f, int64_t lo, int64_t hi, bool required = false) {
    std::optional<int64_t> v = integer(f, required);
    if (!v) {
      return std::nullopt;
    }
    if (*v < lo || *v > hi) {
      fail(f.path, std::to_string(*v) + " is out of range " + std::to_string(lo) + ".." +
                       std::to_string(hi));
      return std::nullopt;
    }
    return static_cast<int32_t>(*v);
  }

  std::optional<bool> boolean(const Field& f) {
    if (!f) {
      return std::nullopt;
    }
    if (!f.value->is_boolean()) {
      wrong_type(f, "a boolean");
      return std::nullopt;
    }
    return f.value->get<bool>();
  }

  // Labels, annotations, Secret data: every value must be a string (a common mistake is an
  // unquoted `true` in an annotation, which the API server refuses the same way).
  std::map<std::string, std::string> string_map(const Field& f) {
    std::map<std::string, std::string> out;
    if (!object(f)) {
      return out;
    }
    for (auto it = f.value->begin(); it != f.value->end(); ++it) {
      Field entry{it->is_null() ? nullptr : &*it, child_path(f.path, it.key())};
      if (entry && entry.value->is_string()) {
        out[it.key()] = entry.value->get<std::string>();
      } else if (entry) {
        wrong_type(entry, "a string");
      } else {
        out[it.key()] = "";
      }
    }
    return out;
  }

  // One of a fixed set of strings; `required` reports absence.
  std::optional<std::string> one_of(const Field& f, std::initializer_list<std::string_view> allowed,
                                    const char* allowed_text, bool required) {
    std::optional<std::string> s = string(f, false);
    if (!f) {
      if (required) {
        missing(f, std::string("one of ") + allowed_text);
      }
      return std::nullopt;
    }
    if (!s) {
      return std::nullopt;
    }
    if (std::find(allowed.begin(), allowed.end(), *s) == allowed.end()) {
      fail(f.path, show(*s) + " is not one of " + allowed_text);
      return std::nullopt;
    }
    return s;
  }

  bool ok() const { return problems_.empty(); }
  const std::vector<Problem>& problems() const { return problems_; }

 private:
  std::vector<Problem> problems_;
};

// ---------------------------------------------------------------------------------------
// Field decoders. Each takes the decoder and the field; validation follows the API server
// (k8s.io/kubernetes/pkg/apis/*/validation) closely enough that what it would refuse is
// refused here with a message naming the field.

enum class NameRule { kSubdomain, kDns1035Label };

ObjectMeta decode_meta(ObjectDecoder& d, const Field& meta, bool namespaced, NameRule rule) {
  ObjectMeta out;
  // An absent metadata is reported as the missing name below, not twice.
  d.object(meta);
  Field name = d.child(meta, "name");
  if (std::optional<std::string> n = d.name(name)) {
    out.name = *n;
    bool valid = rule == NameRule::kSubdomain ? is_dns1123_subdomain(*n) : is_dns1035_label(*n);
    if (!valid) {
      d.fail(name.path,
             show(*n) + (rule == NameRule::kSubdomain
                             ? " is not a valid name: lowercase letters, digits, '-' and '.', "
                               "starting and ending with a letter or digit (RFC 1123 subdomain)"
                             : " is not a valid Service name: at most 63 lowercase letters, "
                               "digits and '-', starting with a letter (RFC 1035 label)"));
    }
  }
  out.namespace_ = "default";
  if (namespaced) {
    Field ns = d.child(meta, "namespace");
    if (std::optional<std::string> n = d.string(ns)) {
      if (!n->empty()) {
        out.namespace_ = *n;
        if (!is_dns1123_label(*n)) {
          d.fail(ns.path, show(*n) +
                              " is not a valid namespace: at most 63 lowercase letters, digits "
                              "and '-' (RFC 1123 label)");
        }
      }
    }
  } else {
    out.namespace_.clear();
  }
  out.creation_timestamp = d.string(d.child(meta, "creationTimestamp")).value_or("");
  out.resource_version = d.string(d.child(meta, "resourceVersion")).value_or("");
  out.uid = d.string(d.child(meta, "uid")).value_or("");
  out.labels = d.string_map(d.child(meta, "labels"));
  out.annotations = d.string_map(d.child(meta, "annotations"));
  return out;
}

// Rule and TLS hosts: a DNS name, optionally with a leading "*." wildcard label; never an
// IP address or host:port (the API server refuses both).
void validate_host(ObjectDecoder& d, const Field& f, const std::string& host) {
  if (is_ipv4(host) || is_ipv6(host) ||
      (host.size() > 2 && host.front() == '[' && host.back() == ']')) {
    d.fail(f.path, show(host) + " must be a DNS name, not an IP address");
    return;
  }
  if (host.find(':') != std::string::npos) {
    d.fail(f.path, show(host) + " must be a DNS name without a port");
    return;
  }
  std::string_view name = host;
  if (name.find('*') != std::string_view::npos) {
    if (name.substr(0, 2) != "*." || name.find('*', 1) != std::string_view::npos) {
      d.fail(f.path, show(host) +
                         " has a wildcard that is not the whole first label (only \"*.\" at "
                         "the start is allowed, as in \"*.example.com\")");
      return;
    }
    name.remove_prefix(2);
  }
  if (!is_dns1123_subdomain(name)) {
    d.fail(f.path, show(host) +
                       " is not a valid DNS name: lowercase letters, digits, '-' and '.', each "
                       "label starting and ending with a letter or digit");
  }
}

std::optional<IngressBackend> decode_backend(ObjectDecoder& d, const Field& f) {
  if (!d.object(f, true)) {
    return std::nullopt;
  }
  IngressBackend out;
  Field service = d.child(f, "service");
  Field resource = d.child(f, "resource");
  if (service && resource) {
    d.fail(f.path, "must have exactly one of service and resource, not both");
    return std::nullopt;
  }
  if (!service && !resource) {
    d.fail(f.path, "must have a service or a resource");
    return std::nullopt;
  }
  if (service) {
    if (!d.object(service)) {
      return std::nullopt;
    }
    IngressServiceBackend backend;
    Field name = d.child(service, "name");
    if (std::optional<std::string> n = d.name(name)) {
      backend.name = *n;
      if (!is_dns1035_label(*n)) {
        d.fail(name.path, show(*n) +
                              " is not a valid Service name: at most 63 lowercase "
                              "letters, digits and '-', starting with a letter");
      }
    }
    Field port = d.child(service, "port");
    if (d.object(port, true)) {
      Field number = d.child(port, "number");
      Field port_name = d.child(port, "name");
      // The API treats number 0 and name "" as unset (Go omitempty).
      const bool has_name = port_name && !(port_name.value->is_string() &&
                                           port_name.value->get_ref<const std::string&>().empty());
      if (number && has_name) {
        d.fail(port.path, "must have exactly one of number and name, not both");
      } else if (number) {
        backend.port.number = d.integer_in(number, 1, 65535);
      } else if (has_name) {
        if (std::optional<std::string> n = d.string(port_name)) {
          backend.port.name = *n;
          if (!is_port_name(*n)) {
            d.fail(port_name.path, show(*n) +
                                       " is not a valid port name: at most 15 lowercase letters, "
                                       "digits and '-', with at least one letter");
          }
        }
      } else {
        d.fail(port.path, "must have a number or a name");
      }
    }
    out.service = std::move(backend);
  } else {
    if (!d.object(resource)) {
      return std::nullopt;
    }
    TypedLocalObjectReference ref;
    ref.api_group = d.string(d.child(resource, "apiGroup")).value_or("");
    ref.kind = d.name(d.child(resource, "kind")).value_or("");
    ref.name = d.name(d.child(resource, "name")).value_or("");
    out.resource = std::move(ref);
  }
  return out;
}

void decode_http_path(ObjectDecoder& d, const Field& f, HttpIngressPath& out) {
  if (!d.object(f, true)) {
    return;
  }
  Field path = d.child(f, "path");
  out.path = d.string(path).value_or("");
  Field type = d.child(f, "pathType");
  std::optional<std::string> type_name =
      d.one_of(type, {"Exact", "Prefix", "ImplementationSpecific"}, kPathTypes, true);
  if (type_name) {
    out.path_type = *type_name == "Exact"    ? PathType::kExact
                    : *type_name == "Prefix" ? PathType::kPrefix
                                             : PathType::kImplementationSpecific;
    const bool strict = out.path_type != PathType::kImplementationSpecific;
    if (out.path.empty()) {
      if (strict) {
        d.missing(path, "pathType " + *type_name + " needs an absolute path such as \"/\"");
      }
    } else if (out.path.front() != '/') {
      d.fail(path.path, show(out.path) + " must be an absolute path (start with '/')");
    } else if (strict) {
      // The API server refuses these for Exact and Prefix: they could never match a
      // normalized request path.
      for (const char* seq : {"//", "/./", "/../", "%2f", "%2F"}) {
        if (out.path.find(seq) != std::string::npos) {
          d.fail(path.path, show(out.path) + " must not contain '" + seq + "'");
        }
      }
      for (std::string_view suffix : {"/..", "/."}) {
        if (out.path.size() >= suffix.size() &&
            out.path.compare(out.path.size() - suffix.size(), suffix.size(), suffix) == 0) {
          d.fail(path.path, show(out.path) + " must not end with '" + std::string(suffix) + "'");
        }
      }
    }
  }
  if (std::optional<IngressBackend> backend = decode_backend(d, d.child(f, "backend"))) {
    out.backend = std::move(*backend);
  }
}

Ingress decode_ingress(ObjectDecoder& d, const Field& root) {
  Ingress out;
  out.metadata = decode_meta(d, d.child(root, "metadata"), true, NameRule::kSubdomain);
  Field spec = d.child(root, "spec");
  d.object(spec);
  Field class_name = d.child(spec, "ingressClassName");
  if (std::optional<std::string> c = d.string(class_name)) {
    if (!is_dns1123_subdomain(*c)) {
      d.fail(class_name.path, show(*c) + " is not a valid IngressClass name");
    }
    out.spec.ingress_class_name = *c;
  }
  Field default_backend = d.child(spec, "defaultBackend");
  if (default_backend) {
    out.spec.default_backend = decode_backend(d, default_backend);
  }
  for (const Field& tls_field : d.list(d.child(spec, "tls"))) {
    if (!d.object(tls_field, true)) {
      continue;
    }
    IngressTls tls;
    for (const Field& host : d.list(d.child(tls_field, "hosts"))) {
      if (std::optional<std::string> h = d.string(host, true)) {
        validate_host(d, host, *h);
        tls.hosts.push_back(*h);
      }
    }
    Field secret = d.child(tls_field, "secretName");
    tls.secret_name = d.string(secret).value_or("");
    if (!tls.secret_name.empty() && !is_dns1123_subdomain(tls.secret_name)) {
      d.fail(secret.path, show(tls.secret_name) + " is not a valid Secret name");
    }
    out.spec.tls.push_back(std::move(tls));
  }
  Field rules = d.child(spec, "rules");
  for (const Field& rule_field : d.list(rules)) {
    if (!d.object(rule_field, true)) {
      continue;
    }
    IngressRule rule;
    Field host = d.child(rule_field, "host");
    if (std::optional<std::string> h = d.string(host); h && !h->empty()) {
      validate_host(d, host, *h);
      rule.host = *h;
    }
    Field http = d.child(rule_field, "http");
    if (d.object(http)) {
      Field paths = d.child(http, "paths");
      std::vector<Field> items = d.list(paths, true);
      if (paths && paths.value->is_array() && items.empty()) {
        d.fail(paths.path, "must have at least one path");
      }
      for (const Field& path_field : items) {
        HttpIngressPath path;
        decode_http_path(d, path_field, path);
        rule.paths.push_back(std::move(path));
      }
    }
    out.spec.rules.push_back(std::move(rule));
  }
  if (out.spec.rules.empty() && !default_backend) {
    d.fail(spec.path, "must have rules or a defaultBackend");
  }
  return out;
}

IngressClass decode_ingress_class(ObjectDecoder& d, const Field& root) {
  IngressClass out;
  out.metadata = decode_meta(d, d.child(root, "metadata"), false, NameRule::kSubdomain);
  Field spec = d.child(root, "spec");
  if (d.object(spec, true)) {
    out.controller = d.name(d.child(spec, "controller")).value_or("");
  }
  auto it = out.metadata.annotations.find(kDefaultClassAnnotation);
  out.is_default = it != out.metadata.annotations.end() && it->second == "true";
  return out;
}

Service decode_service(ObjectDecoder& d, const Field& root) {
  Service out;
  out.metadata = decode_meta(d, d.child(root, "metadata"), true, NameRule::kDns1035Label);
  Field spec = d.child(root, "spec");
  d.object(spec);
  out.type =
      d.one_of(d.child(spec, "type"), {"ClusterIP", "NodePort", "LoadBalancer", "ExternalName"},
               kServiceTypes, false)
          .value_or("ClusterIP");
  Field external_name = d.child(spec, "externalName");
  out.external_name = d.string(external_name).value_or("");
  if (out.type == "ExternalName" && out.external_name.empty()) {
    d.missing(external_name, "type ExternalName");
  }
  std::vector<Field> ports = d.list(d.child(spec, "ports"));
  std::set<std::string> port_names;
  for (const Field& port_field : ports) {
    if (!d.object(port_field, true)) {
      continue;
    }
    ServicePort port;
    Field name = d.child(port_field, "name");
    port.name = d.string(name).value_or("");
    if (port.name.empty() && ports.size() > 1) {
      d.missing(name, "a Service with more than one port must name each");
    } else if (!port.name.empty() && !port_names.insert(port.name).second) {
      d.fail(name.path, show(port.name) + " is a duplicate port name");
    }
    port.protocol =
        d.one_of(d.child(port_field, "protocol"), {"TCP", "UDP", "SCTP"}, kProtocols, false)
            .value_or("TCP");
    port.port = d.integer_in(d.child(port_field, "port"), 1, 65535, true).value_or(0);
    Field target = d.child(port_field, "targetPort");
    if (target && target.value->is_string()) {
      const std::string& t = target.value->get_ref<const std::string&>();
      if (!is_port_name(t)) {
        d.fail(target.path, show(t) +
                                " is not a valid port name: at most 15 lowercase "
                                "letters, digits and '-', with at least one letter");
      }
      port.target_port.name = t;
    } else if (target && target.value->is_number_integer()) {
      // 0 means "same as port" (the API server defaults it so).
      std::optional<int32_t> n = d.integer_in(target, 0, 65535);
      if (n && *n != 0) {
        port.target_port.number = n;
      }
    } else if (target) {
      d.wrong_type(target, "an integer or a string");
    }
    out.ports.push_back(std::move(port));
  }
  return out;
}

EndpointSlice decode_endpoint_slice(ObjectDecoder& d, const Field& root) {
  EndpointSlice out;
  out.metadata = decode_meta(d, d.child(root, "metadata"), true, NameRule::kSubdomain);
  if (auto it = out.metadata.labels.find(kServiceNameLabel); it != out.metadata.labels.end()) {
    out.service_name = it->second;
  }
  std::optional<std::string> address_type =
      d.one_of(d.child(root, "addressType"), {"IPv4", "IPv6", "FQDN"}, kAddressTypes, true);
  out.address_type = address_type.value_or("");
  for (const Field& endpoint_field : d.list(d.child(root, "endpoints"))) {
    if (!d.object(endpoint_field, true)) {
      continue;
    }
    SliceEndpoint endpoint;
    Field addresses = d.child(endpoint_field, "addresses");
    std::vector<Field> items = d.list(addresses, true);
    if (addresses && addresses.value->is_array() && items.empty()) {
      d.fail(addresses.path, "must have at least one address");
    }
    for (const Field& address_field : items) {
      std::optional<std::string> address = d.string(address_field, true);
      if (!address) {
        continue;
      }
      // The proxy connects to these; an address that does not parse is refused here, as
      // the API server does, rather than failing later per request.
      if (address_type == "IPv4" && !is_ipv4(*address)) {
        d.fail(address_field.path, show(*address) + " is not an IPv4 address");
      } else if (address_type == "IPv6" && !is_ipv6(*address)) {
        d.fail(address_field.path, show(*address) + " is not an IPv6 address");
      } else if (address_type == "FQDN" && !is_dns1123_subdomain(*address)) {
        d.fail(address_field.path, show(*address) + " is not a valid DNS name");
      }
      endpoint.addresses.push_back(*address);
    }
    Field conditions = d.child(endpoint_field, "conditions");
    if (d.object(conditions)) {
      endpoint.conditions.ready = d.boolean(d.child(conditions, "ready"));
      endpoint.conditions.serving = d.boolean(d.child(conditions, "serving"));
      endpoint.conditions.terminating = d.boolean(d.child(conditions, "terminating"));
    }
    out.endpoints.push_back(std::move(endpoint));
  }
  for (const Field& port_field : d.list(d.child(root, "ports"))) {
    if (!d.object(port_field, true)) {
      continue;
    }
    EndpointPort port;
    if (std::optional<std::string> name = d.string(d.child(port_field, "name"))) {
      port.name = *name;
    }
    port.port = d.integer_in(d.child(port_field, "port"), 0, 65535);
    port.protocol =
        d.one_of(d.child(port_field, "protocol"), {"TCP", "UDP", "SCTP"}, kProtocols, false)
            .value_or("TCP");
    out.ports.push_back(std::move(port));
  }
  return out;
}

Secret decode_secret(ObjectDecoder& d, const Field& root) {
  Secret out;
  out.metadata = decode_meta(d, d.child(root, "metadata"), true, NameRule::kSubdomain);
  out.type = "kubernetes.io/tls";
  Field data = d.child(root, "data");
  if (d.object(data)) {
    for (auto it = data.value->begin(); it != data.value->end(); ++it) {
      Field entry{it->is_null() ? nullptr : &*it, child_path(data.path, it.key())};
      if (!entry) {
        out.data[it.key()] = "";
        continue;
      }
      std::optional<std::string> encoded = d.string(entry);
      if (!encoded) {
        continue;
      }
      if (std::optional<std::string> bytes = base64_decode(*encoded)) {
        out.data[it.key()] = std::move(*bytes);
      } else {
        d.fail(entry.path, "is not valid base64");
      }
    }
  }
  // stringData is write-only convenience: the API server merges it over data.
  for (auto& [key, value] : d.string_map(d.child(root, "stringData"))) {
    out.data[key] = std::move(value);
  }
  for (const char* key : {"tls.crt", "tls.key"}) {
    // Present but undecodable counts as present: that error is already reported.
    const bool in_data = data && data.value->is_object() && data.value->contains(key);
    if (!in_data && out.data.find(key) == out.data.end()) {
      d.missing(d.child(data, key), "type kubernetes.io/tls");
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Documents: kind dispatch, List items, and turning problems into diagnostics.

struct KindInfo {
  const char* kind;
  const char* api_version;
};
constexpr KindInfo kKinds[] = {
    {"Ingress", "networking.k8s.io/v1"},
    {"IngressClass", "networking.k8s.io/v1"},
    {"Service", "v1"},
    {"EndpointSlice", "discovery.k8s.io/v1"},
    {"Secret", "v1"},
};

std::string object_description(const std::string& kind, const ObjectMeta& meta, bool namespaced) {
  std::string out = kind + " ";
  if (namespaced) {
    out += meta.namespace_.empty() ? "default" : meta.namespace_;
    out += '/';
  }
  out += meta.name.empty() ? "(no name)" : meta.name;
  return out;
}

// `reason` (routing/diagnostic.h): "Rejected" for everything that rejects an object.
routing::Diagnostic make_diagnostic(const DocContext& doc, const std::string& object,
                                    const Problem& problem, bool rejected,
                                    const char* reason = "Rejected") {
  routing::Diagnostic diag;
  diag.reason = reason;
  diag.severity =
      rejected ? routing::Diagnostic::Severity::kError : routing::Diagnostic::Severity::kWarning;
  diag.object = object;
  diag.where = where_of(doc, absolute_line(doc, problem.path));
  diag.field = problem.path;
  diag.message = problem.message;
  diag.rejected = rejected;
  return diag;
}

std::string document_name(const DocContext& doc, const std::string& path) {
  std::string out = "document " + std::to_string(doc.document > 0 ? doc.document : 1);
  if (!path.empty()) {
    out += " " + path;
  }
  return out;
}

void warn(const DocContext& doc, const char* reason, const std::string& object,
          const std::string& path, std::string message, DecodeResult& out) {
  out.errors.push_back(
      make_diagnostic(doc, object, Problem{path, std::move(message)}, false, reason));
}

// "Ingress default/web" from whatever metadata there is, for messages about objects that
// are not decoded.
std::string best_effort_description(const json& root, const std::string& kind) {
  ObjectMeta meta;
  if (auto m = root.find("metadata"); m != root.end() && m->is_object()) {
    if (auto n = m->find("name"); n != m->end() && n->is_string()) {
      meta.name = n->get<std::string>();
    }
    if (auto n = m->find("namespace"); n != m->end() && n->is_string()) {
      meta.namespace_ = n->get<std::string>();
    }
  }
  return object_description(kind, meta, kind != "IngressClass");
}

template <class T, class DecodeFn>
void decode_object(const DocContext& doc, const Field& root, const std::string& kind,
                   bool namespaced, DecodeFn decode, DecodeResult& out) {
  ObjectDecoder d;
  T object = decode(d, root);
  std::string description = object_description(kind, object.metadata, namespaced);
  if (!d.ok()) {
    // Fields are visited in schema order; report them in the order of the file.
    std::vector<routing::Diagnostic> errors;
    std::vector<int> lines;
    for (const Problem& problem : d.problems()) {
      errors.push_back(make_diagnostic(doc, description, problem, true));
      lines.push_back(absolute_line(doc, problem.path));
    }
    std::vector<size_t> order(errors.size());
    for (size_t i = 0; i < order.size(); ++i) {
      order[i] = i;
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return lines[a] < lines[b]; });
    for (size_t i : order) {
      out.errors.push_back(std::move(errors[i]));
    }
    return;
  }
  object.origin.file = doc.file;
  object.origin.document = doc.document;
  object.origin.line = absolute_line(doc, root.path);
  out.objects.emplace_back(std::move(object));
}

void decode_value(const DocContext& doc, const Field& root, const std::string& default_kind,
                  const std::string& default_api_version, int list_depth, DecodeResult& out) {
  if (!root) {
    return;  // a null list item
  }
  if (!root.value->is_object()) {
    warn(doc, "NotAnObject", document_name(doc, root.path), "",
         "not a Kubernetes object (found " + describe_value(*root.value) + "); skipped", out);
    return;
  }
  auto text_of = [&](const char* key) -> std::string {
    auto it = root.value->find(key);
    return it != root.value->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string kind = text_of("kind");
  std::string api_version = text_of("apiVersion");
  if (kind.empty()) {
    kind = default_kind;
  }
  if (api_version.empty()) {
    api_version = default_api_version;
  }
  if (kind.empty() && api_version.empty()) {
    // A values.yaml or other non-manifest YAML in the folder: say so, reject nothing.
    warn(doc, "NotAnObject", document_name(doc, root.path), "",
         "not a Kubernetes object (no kind and apiVersion); skipped", out);
    return;
  }
  // `kind: List` (v1) and typed lists such as IngressList: decode the items. Items of a
  // typed list as the API server returns them carry no kind/apiVersion; they inherit them.
  if (kind.size() >= 4 && kind.compare(kind.size() - 4, 4, "List") == 0) {
    if (list_depth > 0) {
      warn(doc, "NestedListSkipped", document_name(doc, root.path), "",
           "a List inside a List is not read; skipped", out);
      return;
    }
    std::string item_kind = kind == "List" ? "" : kind.substr(0, kind.size() - 4);
    std::string item_api_version = kind == "List" ? "" : api_version;
    ObjectDecoder d;
    Field items = d.child(root, "items");
    std::vector<Field> list = d.list(items);
    for (const Problem& problem : d.problems()) {
      out.errors.push_back(make_diagnostic(doc, kind, problem, true));
    }
    for (const Field& item : list) {
      decode_value(doc, item, item_kind, item_api_version, list_depth + 1, out);
    }
    return;
  }
  const KindInfo* known = nullptr;
  for (const KindInfo& info : kKinds) {
    if (kind == info.kind) {
      known = &info;
    }
  }
  if (known == nullptr) {
    return;  // Deployment, ConfigMap, ...: not ours to read
  }
  if (api_version != known->api_version) {
    // A kind we read at another version (e.g. networking.k8s.io/v1beta1 Ingress, removed in
    // Kubernetes 1.22). Skipped, but said, because a silently ignored Ingress is a puzzle.
    const std::string field = child_path(root.path, "apiVersion");
    const std::string object = best_effort_description(*root.value, kind);
    if (api_version.empty()) {
      out.errors.push_back(make_diagnostic(
          doc, object,
          Problem{field, std::string("required field is missing (") + known->api_version + ")"},
          true));
    } else {
      warn(doc, "APIVersionUnsupported", object, field,
           show(api_version) + " is not supported (only " + known->api_version + " " + kind +
               " objects are read); skipped",
           out);
    }
    return;
  }
  if (kind == "Ingress") {
    decode_object<Ingress>(doc, root, kind, true, decode_ingress, out);
  } else if (kind == "IngressClass") {
    decode_object<IngressClass>(doc, root, kind, false, decode_ingress_class, out);
  } else if (kind == "Service") {
    decode_object<Service>(doc, root, kind, true, decode_service, out);
  } else if (kind == "EndpointSlice") {
    decode_object<EndpointSlice>(doc, root, kind, true, decode_endpoint_slice, out);
  } else if (kind == "Secret") {
    // Only TLS Secrets matter to an Ingress controller; others (tokens, passwords) are
    // neither decoded nor kept in memory.
    if (text_of("type") != "kubernetes.io/tls") {
      return;
    }
    decode_object<Secret>(doc, root, kind, true, decode_secret, out);
  }
}

routing::Diagnostic syntax_diagnostic(const std::string& file, const ParsedText& parsed,
                                      int line_offset) {
  // Formatted as "file:LINE: YAML syntax error: ...": the object of a syntax error is the
  // file at that line, so `where` stays empty and to_string() does not repeat the file.
  routing::Diagnostic diag;
  std::string name = file.empty() ? std::string("(input)") : file;
  if (parsed.error_line > 0) {
    name += ":" + std::to_string(parsed.error_line + line_offset);
  }
  diag.object = std::move(name);
  diag.message = parsed.error;
  diag.rejected = true;
  diag.reason = "SyntaxError";
  return diag;
}

void decode_parsed(const ParsedText& parsed, const std::string& file, int document_base,
                   int line_offset, DecodeResult& out) {
  if (parsed.syntax_error) {
    out.syntax_error = true;
    out.errors.push_back(syntax_diagnostic(file, parsed, line_offset));
    return;
  }
  for (const JsonDocument& document : parsed.documents) {
    DocContext doc;
    doc.lines = &document.lines;
    doc.file = file;
    doc.document = document_base > 0 ? document_base : document.index;
    doc.line_offset = line_offset;
    doc.line = document.line + line_offset;
    try {
      decode_value(doc, Field{&document.value, ""}, "", "", 0, out);
    } catch (const std::exception& e) {
      // Not expected (every access is type-checked); kept so no exception leaves the module.
      out.errors.push_back(make_diagnostic(doc, document_name(doc, ""),
                                           Problem{"", std::string("cannot decode: ") + e.what()},
                                           true));
    }
  }
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

DecodeResult decode_file(std::string_view content, const std::string& file) {
  DecodeResult out;
  const bool is_json = ends_with(file, ".json");
  decode_parsed(is_json ? parse_json(content) : parse_yaml(content), file, 0, 0, out);
  return out;
}

DecodeResult decode_json(std::string_view json_text, const Origin& origin) {
  DecodeResult out;
  decode_parsed(parse_json(json_text), origin.file, origin.document,
                origin.line > 0 ? origin.line - 1 : 0, out);
  return out;
}

bool is_dns_subdomain(std::string_view name) { return is_dns1123_subdomain(name); }

LoadBalancerStatus decode_load_balancer_status(const json& object) {
  LoadBalancerStatus out;
  if (!object.is_object()) {
    return out;
  }
  auto status = object.find("status");
  if (status == object.end() || !status->is_object()) {
    return out;
  }
  auto lb = status->find("loadBalancer");
  if (lb == status->end() || !lb->is_object()) {
    return out;
  }
  auto list = lb->find("ingress");
  if (list == lb->end() || !list->is_array()) {
    return out;
  }
  for (const json& item : *list) {
    if (!item.is_object()) {
      continue;
    }
    LoadBalancerIngress entry;
    if (auto ip = item.find("ip"); ip != item.end() && ip->is_string()) {
      entry.ip = ip->get<std::string>();
    }
    if (auto host = item.find("hostname"); host != item.end() && host->is_string()) {
      entry.hostname = host->get<std::string>();
    }
    if (auto ports = item.find("ports"); ports != item.end() && ports->is_array()) {
      entry.ports = ports->size();
    }
    if (!entry.ip.empty() || !entry.hostname.empty()) {
      out.push_back(std::move(entry));
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace lintel::ingress
