#include "ingress/compiler.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <tuple>
#include <utility>

// How Ingress semantics become a route table (DESIGN.md "Ingress semantics").
//
// Decisions worth knowing:
// - Validation is the API server's: an Ingress the API would refuse (a bad host, a relative
//   path, an Exact/Prefix path with a character that cannot be in a URL path or with
//   "//", "/./", "/../", "%2F", a backend without a port) is rejected AS A WHOLE: it
//   contributes no route, no default backend and no TLS host, exactly as if it had never
//   been applied. Half an Ingress would route some paths of an application and 404 others
//   in a way nobody wrote down. Other objects are not affected.
// - A dangling reference (missing Service, missing port, ExternalName, no endpoints) is not
//   a rejection: the route exists and answers 503, and a warning says why, because the
//   Service usually appears a moment later.
// - ImplementationSpecific is matched as Prefix (what ingress-nginx does without regex
//   annotations), so it conflicts with a Prefix rule of the same path.
// - Rule paths are compared after the normalization the proxy applies to request paths:
//   percent-encoded unreserved characters decoded, other escapes with uppercase hex.
// - Endpoint sets are keyed by (namespace, Service, Service port) and kept apart from
//   Backends, so that an incremental compile can later rebuild one set when one
//   EndpointSlice changes and reuse the table.
namespace lintel::ingress {

namespace {

using routing::Backend;
using routing::Diagnostic;
using routing::Endpoint;
using routing::EndpointSet;
using routing::PathMatch;
using routing::Route;
using routing::RouteTable;
using Severity = routing::Diagnostic::Severity;

constexpr std::string_view kLegacyClassAnnotation = "kubernetes.io/ingress.class";
constexpr std::string_view kProxyBodySizeAnnotation = "nginx.ingress.kubernetes.io/proxy-body-size";
constexpr std::string_view kSslRedirectAnnotation = "nginx.ingress.kubernetes.io/ssl-redirect";
constexpr std::string_view kForceSslRedirectAnnotation =
    "nginx.ingress.kubernetes.io/force-ssl-redirect";
constexpr std::string_view kTlsSecretType = "kubernetes.io/tls";

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

std::string where_of(const Origin& origin) {
  if (origin.file.empty()) {
    return {};
  }
  return origin.line > 0 ? fmt::format("{}:{}", origin.file, origin.line) : origin.file;
}

std::string ingress_name(const Ingress& ingress) {
  return fmt::format("Ingress {}/{}", ingress.metadata.namespace_, ingress.metadata.name);
}

// `reason`: the Event reason (routing/diagnostic.h), one CamelCase word.
Diagnostic make_diag(std::string reason, std::string object, const Origin& origin,
                     std::string field, std::string message, Severity severity = Severity::kWarning,
                     bool rejected = false) {
  Diagnostic d;
  d.reason = std::move(reason);
  d.severity = severity;
  d.object = std::move(object);
  d.where = where_of(origin);
  d.field = std::move(field);
  d.message = std::move(message);
  d.rejected = rejected;
  return d;
}

const char* path_type_name(PathType type) {
  switch (type) {
    case PathType::kExact:
      return "Exact";
    case PathType::kPrefix:
      return "Prefix";
    case PathType::kImplementationSpecific:
      return "ImplementationSpecific";
  }
  return "Prefix";
}

std::string host_label(const std::string& host) {
  return host.empty() ? std::string("any host") : fmt::format("host \"{}\"", host);
}

// ---- creationTimestamp ----

// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm): no clock, no locale.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// RFC 3339 ("2024-01-01T00:00:00Z", "2024-01-01T01:00:00.5+01:00") as (seconds, nanos) in
// UTC, so that offsets and fractions compare correctly; nullopt when absent or unreadable.
std::optional<std::pair<int64_t, int32_t>> parse_rfc3339(std::string_view s) {
  auto digits = [&](size_t pos, size_t n, int& out) {
    if (pos + n > s.size()) {
      return false;
    }
    out = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') {
        return false;
      }
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int year, month, day, hour, minute, second;
  if (s.size() < 20 || !digits(0, 4, year) || s[4] != '-' || !digits(5, 2, month) || s[7] != '-' ||
      !digits(8, 2, day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(11, 2, hour) || s[13] != ':' || !digits(14, 2, minute) || s[16] != ':' ||
      !digits(17, 2, second) || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 ||
      minute > 59 || second > 60) {
    return std::nullopt;
  }
  size_t pos = 19;
  int32_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int scale = 100000000;
    size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      nanos += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) {
      return std::nullopt;
    }
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(pos + 4, 2, om)) {
      return std::nullopt;
    }
    offset = (int64_t{oh} * 3600 + int64_t{om} * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) {
    return std::nullopt;
  }
  int64_t secs =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
      int64_t{hour} * 3600 + int64_t{minute} * 60 + second - offset;
  return std::make_pair(secs, nanos);
}

// Age order of Ingresses: creationTimestamp, then namespace/name. An Ingress without a
// (readable) timestamp sorts first, as the model documents for "".
struct AgeKey {
  bool has_time = false;
  int64_t seconds = 0;
  int32_t nanos = 0;
  std::string namespace_;
  std::string name;
  bool operator<(const AgeKey& o) const {
    return std::tie(has_time, seconds, nanos, namespace_, name) <
           std::tie(o.has_time, o.seconds, o.nanos, o.namespace_, o.name);
  }
};

AgeKey age_key(const Ingress& ingress) {
  AgeKey key;
  if (auto t = parse_rfc3339(ingress.metadata.creation_timestamp)) {
    key.has_time = true;
    key.seconds = t->first;
    key.nanos = t->second;
  }
  key.namespace_ = ingress.metadata.namespace_;
  key.name = ingress.metadata.name;
  return key;
}

// ---- class filtering ----

bool is_ours(const Ingress& ingress, const ClusterState& state, const CompileOptions& options,
             bool our_class_is_default) {
  const auto& class_name = ingress.spec.ingress_class_name;
  if (class_name && !class_name->empty()) {
    if (auto it = state.ingress_classes.find(*class_name); it != state.ingress_classes.end()) {
      return it->second.controller == options.controller_name;
    }
    // No IngressClass of that name exists at all. In files mode users write
    // `ingressClassName: lintel` without an IngressClass manifest; accept our own class
    // name then (a cluster always has the object, so this never claims another
    // controller's Ingress there).
    return *class_name == options.ingress_class;
  }
  const auto& annotations = ingress.metadata.annotations;
  if (auto it = annotations.find(std::string(kLegacyClassAnnotation));
      it != annotations.end() && !it->second.empty()) {
    return it->second == options.ingress_class;
  }
  return options.watch_ingress_without_class || our_class_is_default;
}

// ---- validation (what the API server would refuse) ----

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  return (c | 0x20) - 'a' + 10;
}

bool is_unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// RFC 3986 pchar and '/', '%' excepted (checked with its two hex digits).
bool is_path_char(char c) {
  return is_unreserved(c) || std::strchr("!$&'()*+,;=:@/", c) != nullptr;
}

// Why a Exact/Prefix path would be refused, or "" when it is fine. The sequences are the
// API server's own list (networking/validation: invalidPathSequences and suffixes).
std::string path_problem(std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return "must be an absolute path (start with '/')";
  }
  for (std::string_view seq : {"//", "/./", "/../", "%2f", "%2F"}) {
    if (path.find(seq) != std::string_view::npos) {
      return fmt::format("must not contain '{}'", seq);
    }
  }
  for (std::string_view suffix : {"/..", "/."}) {
    if (path.ends_with(suffix)) {
      return fmt::format("must not end with '{}'", suffix);
    }
  }
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '%') {
      if (i + 2 >= path.size() || !is_hex(path[i + 1]) || !is_hex(path[i + 2])) {
        return "has a '%' that is not followed by two hex digits";
      }
      i += 2;
    } else if (!is_path_char(c)) {
      unsigned char u = static_cast<unsigned char>(c);
      std::string shown =
          (u > 0x20 && u < 0x7f) ? fmt::format("'{}'", c) : fmt::format("byte 0x{:02X}", u);
      return fmt::format(
          "contains {}, which cannot appear in a URL path (percent-encode it, or use "
          "pathType ImplementationSpecific)",
          shown);
    }
  }
  return {};
}

// The form a request path has after the proxy's normalization, applied to a rule path so
// that "/%7Efoo" matches a request for "/~foo": unreserved escapes decoded, others kept
// with uppercase hex (RFC 3986 6.2.2).
std::string normalize_rule_path(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size() && is_hex(path[i + 1]) && is_hex(path[i + 2])) {
      char decoded = static_cast<char>(hex_value(path[i + 1]) * 16 + hex_value(path[i + 2]));
      if (is_unreserved(decoded)) {
        out += decoded;
      } else {
        out += '%';
        out += static_cast<char>(std::toupper(static_cast<unsigned char>(path[i + 1])));
        out += static_cast<char>(std::toupper(static_cast<unsigned char>(path[i + 2])));
      }
      i += 2;
    } else {
      out += path[i];
    }
  }
  return out.empty() ? std::string("/") : out;
}

bool is_dns_label(std::string_view label) {
  if (label.empty() || label.size() > 63) {
    return false;
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(label.front()) || !alnum(label.back())) {
    return false;
  }
  return std::all_of(label.begin(), label.end(), [&](char c) { return alnum(c) || c == '-'; });
}

// Ingress hosts are DNS-1123 subdomains, optionally "*." + one; never IP addresses.
// Compared after lowercasing: the API wants lowercase, files mode forgives capitals.
std::string host_problem(const std::string& host) {
  std::string_view name = host;
  if (name.starts_with("*.")) {
    name.remove_prefix(2);
  }
  if (name.size() > 253) {
    return "is longer than 253 characters";
  }
  in6_addr v6;
  in_addr v4;
  std::string bare(name);
  if (inet_pton(AF_INET, bare.c_str(), &v4) == 1 || inet_pton(AF_INET6, bare.c_str(), &v6) == 1) {
    return "must be a DNS name, not an IP address";
  }
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    std::string_view label = name.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (!is_dns_label(label)) {
      return host.find('*') != std::string::npos && !host.starts_with("*.")
                 ? "a wildcard must be the whole first label (\"*.example.com\")"
                 : "must be a DNS name: lowercase letters, digits, '-' and '.', each label "
                   "starting and ending with a letter or digit";
    }
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  return {};
}

// Problems of a backend reference itself (not of what it points at).
void check_backend(const IngressBackend& backend, const std::string& field,
                   std::vector<std::pair<std::string, std::string>>& errors) {
  if (backend.service && backend.resource) {
    errors.emplace_back(field, "must set exactly one of service and resource, not both");
    return;
  }
  if (!backend.service && !backend.resource) {
    errors.emplace_back(field, "must set service or resource");
    return;
  }
  if (backend.service) {
    const IngressServiceBackend& svc = *backend.service;
    if (svc.name.empty()) {
      errors.emplace_back(field + ".service.name", "is required");
    }
    if (svc.port.number && !svc.port.name.empty()) {
      errors.emplace_back(field + ".service.port", "must set exactly one of number and name");
    } else if (svc.port.number) {
      if (*svc.port.number < 1 || *svc.port.number > 65535) {
        errors.emplace_back(field + ".service.port.number",
                            fmt::format("{} is not a port number (1-65535)", *svc.port.number));
      }
    } else if (svc.port.name.empty()) {
      errors.emplace_back(field + ".service.port", "a port number or name is required");
    }
  }
}

// Every reason the API server would refuse this Ingress, as (field, message).
std::vector<std::pair<std::string, std::string>> validate(const Ingress& ingress) {
  std::vector<std::pair<std::string, std::string>> errors;
  const IngressSpec& spec = ingress.spec;
  if (spec.rules.empty() && !spec.default_backend) {
    errors.emplace_back("spec", "either defaultBackend or rules must be specified");
  }
  if (spec.default_backend) {
    check_backend(*spec.default_backend, "spec.defaultBackend", errors);
  }
  for (size_t r = 0; r < spec.rules.size(); ++r) {
    const IngressRule& rule = spec.rules[r];
    if (!rule.host.empty()) {
      if (std::string problem = host_problem(lowercase(rule.host)); !problem.empty()) {
        errors.emplace_back(fmt::format("spec.rules[{}].host", r),
                            fmt::format("\"{}\" {}", rule.host, problem));
      }
    }
    for (size_t p = 0; p < rule.paths.size(); ++p) {
      const HttpIngressPath& path = rule.paths[p];
      std::string field = fmt::format("spec.rules[{}].http.paths[{}]", r, p);
      // An absent path is "/" (see model.h). ImplementationSpecific only has to be
      // absolute: its syntax is ours to define, and we read it as a literal prefix.
      std::string_view written = path.path.empty() ? std::string_view("/") : path.path;
      std::string problem;
      if (path.path_type == PathType::kImplementationSpecific) {
        if (written.front() != '/') {
          problem = "must be an absolute path (start with '/')";
        }
      } else {
        problem = path_problem(written);
      }
      if (!problem.empty()) {
        errors.emplace_back(field + ".path", fmt::format("\"{}\" {}", path.path, problem));
      }
      check_backend(path.backend, field + ".backend", errors);
    }
  }
  return errors;
}

// ---- endpoints and backends ----

struct ResolvedAddress {
  std::array<unsigned char, 16> bytes{};
  bool ipv6 = false;
  std::string text;  // canonical form
};

std::optional<ResolvedAddress> parse_address(const std::string& address, bool ipv6) {
  ResolvedAddress out;
  out.ipv6 = ipv6;
  char buf[INET6_ADDRSTRLEN];
  if (inet_pton(ipv6 ? AF_INET6 : AF_INET, address.c_str(), out.bytes.data()) != 1 ||
      inet_ntop(ipv6 ? AF_INET6 : AF_INET, out.bytes.data(), buf, sizeof buf) == nullptr) {
    return std::nullopt;
  }
  out.text = buf;
  return out;
}

// A problem tied to an object other than the Ingress being compiled (an EndpointSlice).
struct ForeignDiag {
  std::string key;  // dedupe key
  Diagnostic diag;
};

class BackendResolver {
 public:
  explicit BackendResolver(const ClusterState& state) : state_(state) {
    for (const auto& [key, slice] : state.endpoint_slices) {
      if (!slice.service_name.empty()) {
        slices_[slice.metadata.namespace_ + "/" + slice.service_name].push_back(&slice);
      }
    }
  }

  struct Result {
    std::shared_ptr<const Backend> backend;
    // Why the backend cannot take traffic, for a diagnostic on the referring Ingress ("" =
    // nothing to report; an empty endpoint set alone is a normal state, not reported).
    std::string warning;
    std::string reason;  // the diagnostic's reason when `warning` is set
  };

  const Result& resolve(const std::string& ns, const IngressServiceBackend& ref) {
    std::string port = ref.port.number ? std::to_string(*ref.port.number) : ref.port.name;
    std::string name = fmt::format("{}/{}:{}", ns, ref.name, port);
    if (auto it = backends_.find(name); it != backends_.end()) {
      return it->second;
    }
    auto backend = std::make_shared<Backend>();
    backend->name = name;
    backend->service_namespace = ns;
    backend->service_name = ref.name;
    backend->port = port;
    Result result;
    fill(*backend, ref, result.warning, result.reason);
    if (!backend->endpoints) {
      backend->endpoints = empty_set();
    }
    result.backend = std::move(backend);
    return backends_.emplace(name, std::move(result)).first->second;
  }

  std::vector<Diagnostic> take_foreign_diags() {
    std::vector<Diagnostic> out;
    for (auto& [key, diag] : foreign_) {
      out.push_back(std::move(diag));
    }
    foreign_.clear();
    return out;
  }

 private:
  const std::shared_ptr<const EndpointSet>& empty_set() {
    if (!empty_) {
      empty_ = std::make_shared<const EndpointSet>();
    }
    return empty_;
  }

  void fill(Backend& backend, const IngressServiceBackend& ref, std::string& warning,
            std::string& reason) {
    const std::string& ns = backend.service_namespace;
    auto it = state_.services.find(ns + "/" + ref.name);
    if (it == state_.services.end()) {
      backend.problem = "service not found";
      reason = "ServiceNotFound";
      warning = fmt::format("Service \"{}\" not found in namespace \"{}\"; requests answer 503",
                            ref.name, ns);
      return;
    }
    const Service& service = it->second;
    if (service.type == "ExternalName") {
      backend.problem = "ExternalName not supported yet";
      reason = "ServiceTypeUnsupported";
      warning = fmt::format(
          "Service {}/{} is of type ExternalName ({}), which is not supported yet; requests "
          "answer 503",
          ns, ref.name, service.external_name);
      return;
    }
    const ServicePort* port = nullptr;
    for (const ServicePort& candidate : service.ports) {
      if (ref.port.number ? candidate.port == *ref.port.number : candidate.name == ref.port.name) {
        port = &candidate;
        break;
      }
    }
    if (port == nullptr) {
      backend.problem = ref.port.number
                            ? fmt::format("service has no port {}", *ref.port.number)
                            : fmt::format("service has no port named \"{}\"", ref.port.name);
      reason = "ServicePortNotFound";
      warning =
          fmt::format("Service {}/{} {}; requests answer 503", ns, ref.name,
                      ref.port.number ? fmt::format("has no port {}", *ref.port.number)
                                      : fmt::format("has no port named \"{}\"", ref.port.name));
      return;
    }
    if (!port->protocol.empty() && port->protocol != "TCP") {
      backend.problem = fmt::format("service port is {}, not TCP", port->protocol);
      reason = "ServicePortUnsupported";
      warning = fmt::format("Service {}/{} port {} is {}; HTTP needs TCP; requests answer 503", ns,
                            ref.name, port->port, port->protocol);
      return;
    }
    const EndpointEntry& entry = endpoints_for(service, *port);
    backend.endpoints = entry.set;
    backend.problem = entry.problem;
  }

  struct EndpointEntry {
    std::shared_ptr<const EndpointSet> set;
    std::string problem;
  };

  // The endpoints of one Service port. EndpointSlice ports carry the Service port's NAME
  // ("" for a single unnamed port) and the resolved targetPort NUMBER, which may differ
  // from Pod to Pod slice when targetPort is a container port name; so slices are matched
  // by name, never by number.
  const EndpointEntry& endpoints_for(const Service& service, const ServicePort& port) {
    std::string key =
        fmt::format("{}/{}#{}", service.metadata.namespace_, service.metadata.name, port.name);
    if (auto it = endpoint_sets_.find(key); it != endpoint_sets_.end()) {
      return it->second;
    }
    EndpointEntry entry;
    auto slices_it = slices_.find(service.metadata.namespace_ + "/" + service.metadata.name);
    std::vector<std::pair<ResolvedAddress, uint16_t>> ready, serving;
    bool port_seen = false;
    if (slices_it != slices_.end()) {
      for (const EndpointSlice* slice : slices_it->second) {
        std::string slice_name =
            fmt::format("EndpointSlice {}/{}", slice->metadata.namespace_, slice->metadata.name);
        bool ipv6 = slice->address_type == "IPv6";
        if (!ipv6 && slice->address_type != "IPv4") {
          foreign_.emplace(
              slice_name + "#type",
              make_diag("AddressTypeUnsupported", slice_name, slice->origin, "addressType",
                        fmt::format("addressType {} is not supported; the "
                                    "slice's endpoints are skipped",
                                    slice->address_type)));
          continue;
        }
        const EndpointPort* slice_port = nullptr;
        for (const EndpointPort& candidate : slice->ports) {
          if (candidate.name.value_or("") == port.name) {
            slice_port = &candidate;
            break;
          }
        }
        // A nil port means "all ports" (no number to dial), out of range is invalid.
        if (slice_port == nullptr || !slice_port->port || *slice_port->port < 1 ||
            *slice_port->port > 65535) {
          continue;
        }
        port_seen = true;
        uint16_t number = static_cast<uint16_t>(*slice_port->port);
        for (size_t e = 0; e < slice->endpoints.size(); ++e) {
          const SliceEndpoint& endpoint = slice->endpoints[e];
          // API: a nil ready "should be interpreted as true"; a nil serving falls back to
          // ready (KEP-1669).
          bool is_ready = endpoint.conditions.ready.value_or(true);
          bool is_serving = endpoint.conditions.serving.value_or(is_ready);
          if (!is_ready && !is_serving) {
            continue;
          }
          for (const std::string& address : endpoint.addresses) {
            auto parsed = parse_address(address, ipv6);
            if (!parsed) {
              foreign_.emplace(slice_name + "#addr#" + address,
                               make_diag("EndpointAddressInvalid", slice_name, slice->origin,
                                         fmt::format("endpoints[{}].addresses", e),
                                         fmt::format("\"{}\" is not an {} address; skipped",
                                                     address, slice->address_type)));
              continue;
            }
            (is_ready ? ready : serving).emplace_back(std::move(*parsed), number);
          }
        }
      }
    }
    // Terminating-but-serving Pods take traffic only when no Pod is ready (as kube-proxy
    // does since KEP-1669), so a rollout of a one-replica Deployment does not answer 503.
    bool use_ready = !ready.empty();
    auto& chosen = use_ready ? ready : serving;
    std::sort(chosen.begin(), chosen.end(), [](const auto& a, const auto& b) {
      return std::tie(a.first.ipv6, a.first.bytes, a.second) <
             std::tie(b.first.ipv6, b.first.bytes, b.second);
    });
    chosen.erase(std::unique(chosen.begin(), chosen.end(),
                             [](const auto& a, const auto& b) {
                               return a.first.ipv6 == b.first.ipv6 &&
                                      a.first.bytes == b.first.bytes && a.second == b.second;
                             }),
                 chosen.end());
    auto set = std::make_shared<EndpointSet>();
    for (auto& [address, number] : chosen) {
      set->endpoints.push_back(Endpoint{address.text, number, address.ipv6, use_ready});
    }
    if (set->endpoints.empty()) {
      if (slices_it == slices_.end()) {
        entry.problem = "no endpoints (no EndpointSlice for the service)";
      } else if (!port_seen) {
        entry.problem = port.name.empty() ? std::string("no endpoints for the service port")
                                          : fmt::format("no endpoints for port \"{}\"", port.name);
      } else {
        entry.problem = "no ready endpoints";
      }
      entry.set = empty_set();
    } else {
      entry.set = std::move(set);
    }
    return endpoint_sets_.emplace(std::move(key), std::move(entry)).first->second;
  }

  const ClusterState& state_;
  std::map<std::string, std::vector<const EndpointSlice*>> slices_;  // "ns/service" → slices
  std::map<std::string, Result> backends_;                           // by Backend::name
  std::map<std::string, EndpointEntry> endpoint_sets_;               // "ns/service#port name"
  std::map<std::string, Diagnostic> foreign_;
  std::shared_ptr<const EndpointSet> empty_;
};

// ---- TLS ----

// Turns the claimed Ingresses' spec.tls into the certificate store, oldest Ingress first
// (so "first added wins" in CertStore::add is "the older Ingress wins").
//
// Decisions worth knowing:
// - Every problem with a Secret is a warning, never a rejection: the Ingress's routes are
//   served, and its TLS hosts are still TLS hosts (add_host), answered with the default
//   certificate. Refusing the routes would turn a certificate mistake into an outage.
// - The Secret is looked up in the Ingress's own namespace only. A Secret of the same name
//   elsewhere is not mentioned either: the diagnostic reaches the Ingress's author, who
//   may not be allowed to know what other namespaces hold.
// - A tls entry without hosts is reported and ignored. The API documents that its hosts
//   "default to the wildcard host of the load balancer"; guessing hosts from the
//   certificate's SANs (as ingress-nginx does) would let a Secret claim hosts nobody listed.
// - The checks are the same with and without a default context, so `lintel check` and a
//   test without TLS report what `serve` would; without one the store only records hosts.
class TlsBuilder {
 public:
  TlsBuilder(const ClusterState& state, const CompileOptions& options, tls::CertStore& certs)
      : state_(state), options_(options), certs_(certs) {}

  void add(const Ingress& ingress, std::vector<Diagnostic>& diags) {
    const std::string object = ingress_name(ingress);
    for (size_t t = 0; t < ingress.spec.tls.size(); ++t) {
      const IngressTls& entry = ingress.spec.tls[t];
      const std::string field = fmt::format("spec.tls[{}]", t);

      // Hosts first: a bad one is reported and skipped, whatever the Secret.
      std::vector<std::pair<size_t, std::string>> hosts;
      for (size_t h = 0; h < entry.hosts.size(); ++h) {
        std::string host = lowercase(entry.hosts[h]);
        if (std::string bad = host_problem(host); !bad.empty()) {
          diags.push_back(make_diag("TLSHostInvalid", object, ingress.origin,
                                    fmt::format("{}.hosts[{}]", field, h),
                                    fmt::format("\"{}\" {}; ignored", entry.hosts[h], bad)));
          continue;
        }
        hosts.emplace_back(h, std::move(host));
      }
      if (entry.hosts.empty()) {
        diags.push_back(make_diag(
            "TLSHostsMissing", object, ingress.origin, field + ".hosts",
            entry.secret_name.empty()
                ? std::string("the entry lists no hosts and no secretName; it is ignored")
                : fmt::format("the entry lists no hosts, so Secret \"{}\" is used for none; "
                              "list the hosts it is for",
                              entry.secret_name)));
        continue;
      }
      if (entry.secret_name.empty()) {
        // No secretName: TLS hosts served with the default certificate (ingress-nginx does
        // the same; the API allows it, e.g. for a wildcard default certificate).
        for (auto& [h, host] : hosts) {
          certs_.add_host(std::move(host));
        }
        continue;
      }

      const Loaded& loaded = load(ingress.metadata.namespace_, entry.secret_name);
      std::string problem = loaded.problem;
      if (problem.empty()) {
        if (tls::Status bad = loaded.key->check_validity(options_.now)) {
          problem = bad->message;
        }
      }
      if (!problem.empty()) {
        std::string names;
        for (const auto& [h, host] : hosts) {
          names += (names.empty() ? "" : ", ") + host;
          certs_.add_host(host);
        }
        diags.push_back(make_diag(
            loaded.problem.empty() ? "TLSCertificateNotValid" : loaded.reason, object,
            ingress.origin, field + ".secretName",
            fmt::format("Secret \"{}\": {}; {} {} served with the default certificate",
                        entry.secret_name, problem, names, hosts.size() == 1 ? "is" : "are")));
        continue;
      }

      for (auto& [h, host] : hosts) {
        const std::string host_field = fmt::format("{}.hosts[{}]", field, h);
        if (tls::Status bad = loaded.key->check_covers(host)) {
          diags.push_back(make_diag("TLSHostMismatch", object, ingress.origin, host_field,
                                    fmt::format("Secret \"{}\": {}; {} is served with the "
                                                "default certificate",
                                                entry.secret_name, bad->message, host)));
          certs_.add_host(std::move(host));
          continue;
        }
        std::string secret = ingress.metadata.namespace_ + "/" + entry.secret_name;
        auto [it, inserted] =
            owners_.try_emplace(host, Owner{object, secret, loaded.key->chain_digest()});
        if (!inserted) {
          const Owner& owner = it->second;
          if (owner.digest != loaded.key->chain_digest()) {
            std::string who = owner.ingress == object
                                  ? std::string("an earlier tls entry of this Ingress")
                                  : fmt::format("{}, which is older and wins", owner.ingress);
            diags.push_back(make_diag(
                "TLSHostConflict", object, ingress.origin, host_field,
                fmt::format("host {} already has the certificate of Secret \"{}\" from {}; "
                            "Secret \"{}\" is not used for it",
                            host, owner.secret, who, entry.secret_name)));
          }
          continue;  // the same certificate again (e.g. the same Secret) is no conflict
        }
        if (loaded.context) {
          certs_.add(host, loaded.context);
        } else {
          certs_.add_host(std::move(host));
        }
      }
    }
  }

 private:
  // A Secret read once per compile, however many entries name it.
  struct Loaded {
    std::string problem;  // "" = usable (validity is checked per use: it is cheap)
    std::string reason = "TLSSecretInvalid";            // the diagnostic's reason for `problem`
    std::shared_ptr<const tls::ServerContext> context;  // with a default context
    std::optional<tls::CertifiedKey> own;               // without one
    const tls::CertifiedKey* key = nullptr;             // context's or own; null on problem
  };
  struct Owner {
    std::string ingress;  // "Ingress ns/name"
    std::string secret;   // "ns/name"
    std::string digest;   // CertifiedKey::chain_digest
  };

  const Loaded& load(const std::string& ns, const std::string& name) {
    const std::string id = ns + "/" + name;
    if (auto it = loaded_.find(id); it != loaded_.end()) {
      return it->second;
    }
    // Filled in place: `key` may point into the entry itself.
    Loaded& out = loaded_[id];
    auto it = state_.secrets.find(id);
    if (it == state_.secrets.end()) {
      // The decoder keeps only kubernetes.io/tls Secrets (others hold passwords and
      // tokens that have no business in our memory), so a Secret of another type lands
      // here too: say so, or the user stares at a Secret that plainly exists.
      out.problem = fmt::format("not found in namespace \"{}\" (only Secrets of type {} are read)",
                                ns, kTlsSecretType);
      out.reason = "TLSSecretNotFound";
    } else if (it->second.type != kTlsSecretType) {
      out.problem = fmt::format("is of type \"{}\", not {}", it->second.type, kTlsSecretType);
    } else {
      const auto& data = it->second.data;
      auto crt = data.find("tls.crt");
      auto key = data.find("tls.key");
      if (crt == data.end() || crt->second.empty()) {
        out.problem = "has no data tls.crt";
      } else if (key == data.end() || key->second.empty()) {
        out.problem = "has no data tls.key";
      } else if (options_.default_context) {
        auto context =
            certs_.context_from_pem(crt->second, key->second, options_.previous_certs.get());
        if (context) {
          out.context = std::move(context).value();
          out.key = &out.context->certificate();
        } else {
          out.problem = context.error().message;
        }
      } else {
        auto parsed = tls::CertifiedKey::from_pem(crt->second, key->second);
        if (parsed) {
          out.own.emplace(std::move(parsed).value());
          out.key = &*out.own;
        } else {
          out.problem = parsed.error().message;
        }
      }
    }
    return out;
  }

  const ClusterState& state_;
  const CompileOptions& options_;
  tls::CertStore& certs_;
  std::map<std::string, Loaded> loaded_;  // node-based: `key` pointers into it stay valid
  std::map<std::string, Owner> owners_;   // host → who gave it its certificate
};

// True when requests for `host` (a route's host) arrive over TLS with a certificate
// configured for them: the host is a TLS host, or a one-label wildcard TLS host covers it
// (SNI "a.example.com" selects "*.example.com"). The rules-without-host virtual host never
// is: it has no name a certificate could be for.
bool is_tls_host(const tls::CertStore& certs, const std::string& host) {
  if (host.empty()) {
    return false;
  }
  if (certs.hosts().contains(host)) {
    return true;
  }
  const size_t dot = host.find('.');
  return !host.starts_with("*.") && dot != std::string::npos &&
         certs.hosts().contains("*" + host.substr(dot));
}

// ---- annotations ----

// A size as nginx's client_max_body_size reads it (ngx_parse_size): decimal digits, then
// optionally one unit letter, k/K (KiB), m/M (MiB) or g/G (GiB). Nothing else: no sign, no
// space, no fraction, no "b". nullopt when malformed or when it does not fit 64 bits.
std::optional<uint64_t> parse_nginx_size(std::string_view value) {
  uint64_t scale = 1;
  if (!value.empty()) {
    switch (value.back()) {
      case 'k':
      case 'K':
        scale = uint64_t{1} << 10;
        break;
      case 'm':
      case 'M':
        scale = uint64_t{1} << 20;
        break;
      case 'g':
      case 'G':
        scale = uint64_t{1} << 30;
        break;
      default:
        break;
    }
    if (scale != 1) {
      value.remove_suffix(1);
    }
  }
  if (value.empty()) {
    return std::nullopt;
  }
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  uint64_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    const auto digit = static_cast<uint64_t>(c - '0');
    if (n > (kMax - digit) / 10) {
      return std::nullopt;
    }
    n = n * 10 + digit;
  }
  if (n > kMax / scale) {
    return std::nullopt;
  }
  return n * scale;
}

// The request body limit an Ingress sets for its paths and default backend, from the
// ingress-nginx annotation proxy-body-size: nullopt when absent or unreadable (the proxy's
// default applies; an unreadable value gets a warning and is ignored, as ingress-nginx
// ignores an annotation that fails its validation), 0 for "0" (no limit).
std::optional<uint64_t> body_limit_of(const Ingress& ingress, std::vector<Diagnostic>& diags) {
  const auto& annotations = ingress.metadata.annotations;
  const auto it = annotations.find(std::string(kProxyBodySizeAnnotation));
  if (it == annotations.end()) {
    return std::nullopt;
  }
  if (auto size = parse_nginx_size(it->second)) {
    return size;
  }
  diags.push_back(make_diag(
      "InvalidAnnotation", ingress_name(ingress), ingress.origin,
      fmt::format("metadata.annotations[{}]", kProxyBodySizeAnnotation),
      fmt::format("annotation {}: \"{}\" is not a size (bytes, or a number followed by k, m "
                  "or g, such as \"1024\", \"10k\", \"8m\", \"1g\"; \"0\" for no limit); "
                  "the annotation is ignored",
                  kProxyBodySizeAnnotation, it->second)));
  return std::nullopt;
}

// A boolean annotation as ingress-nginx reads it (Go's strconv.ParseBool): 1, t, T, TRUE,
// true, True / 0, f, F, FALSE, false, False. Absent: `fallback`. Anything else: a warning,
// and `fallback`, as ingress-nginx falls back to its default for an annotation it cannot
// parse.
bool bool_annotation(const Ingress& ingress, std::string_view name, bool fallback,
                     std::vector<Diagnostic>& diags) {
  const auto& annotations = ingress.metadata.annotations;
  const auto it = annotations.find(std::string(name));
  if (it == annotations.end()) {
    return fallback;
  }
  for (std::string_view yes : {"1", "t", "T", "TRUE", "true", "True"}) {
    if (it->second == yes) {
      return true;
    }
  }
  for (std::string_view no : {"0", "f", "F", "FALSE", "false", "False"}) {
    if (it->second == no) {
      return false;
    }
  }
  diags.push_back(make_diag("InvalidAnnotation", ingress_name(ingress), ingress.origin,
                            fmt::format("metadata.annotations[{}]", name),
                            fmt::format("annotation {}: \"{}\" is not a boolean (\"true\" or "
                                        "\"false\"); the default, {}, is used",
                                        name, it->second, fallback)));
  return fallback;
}

// The redirect settings an Ingress gives the routes it owns (ingress-nginx annotations,
// same names and defaults, so existing manifests behave the same).
struct RedirectSettings {
  bool ssl_redirect = true;         // TLS hosts: plain HTTP → 308 to https
  bool force_ssl_redirect = false;  // any host, TLS or not

  bool redirects(bool tls) const { return (tls && ssl_redirect) || force_ssl_redirect; }
};

RedirectSettings redirect_settings_of(const Ingress& ingress, std::vector<Diagnostic>& diags) {
  RedirectSettings settings;
  settings.ssl_redirect = bool_annotation(ingress, kSslRedirectAnnotation, true, diags);
  settings.force_ssl_redirect = bool_annotation(ingress, kForceSslRedirectAnnotation, false, diags);
  return settings;
}

bool looks_like_regex(std::string_view path) {
  return path.find_first_of("^$*+?()[]{}|\\") != std::string_view::npos;
}

struct Claimed {
  AgeKey age;
  const Ingress* ingress;
};

}  // namespace

CompileResult compile(const ClusterState& state, const CompileOptions& options) {
  CompileResult result;
  // Without a default context (tests, runs without TLS) the store only records hosts.
  auto certs = options.default_context ? std::make_shared<tls::CertStore>(options.default_context)
                                       : std::make_shared<tls::CertStore>();
  std::vector<Diagnostic>& diags = result.diagnostics;

  // Our IngressClass is the one named --ingress-class whose controller is ours; only its
  // default-class mark makes classless Ingresses ours (another class of our controller
  // marked default does not).
  bool our_class_is_default = false;
  if (auto it = state.ingress_classes.find(options.ingress_class);
      it != state.ingress_classes.end()) {
    our_class_is_default =
        it->second.controller == options.controller_name && it->second.is_default;
  }

  // Ours, oldest first: every "first one wins" below is then "the oldest wins".
  std::vector<Claimed> claimed;
  for (const auto& [key, ingress] : state.ingresses) {
    if (is_ours(ingress, state, options, our_class_is_default)) {
      claimed.push_back(Claimed{age_key(ingress), &ingress});
      result.claimed.push_back(key);
    }
  }
  std::sort(claimed.begin(), claimed.end(),
            [](const Claimed& a, const Claimed& b) { return a.age < b.age; });
  result.stats.ingresses = claimed.size();

  // Rejected Ingresses contribute nothing, not even TLS hosts.
  std::vector<const Ingress*> accepted;
  for (const Claimed& c : claimed) {
    const Ingress& ingress = *c.ingress;
    auto errors = validate(ingress);
    if (errors.empty()) {
      accepted.push_back(&ingress);
      continue;
    }
    for (auto& [field, message] : errors) {
      diags.push_back(make_diag("Rejected", ingress_name(ingress), ingress.origin, field,
                                message + "; the Ingress is rejected", Severity::kError, true));
    }
    ++result.stats.rejected;
  }

  // Certificates before routes: a route's TLS flag depends on every Ingress's spec.tls.
  TlsBuilder tls_builder(state, options, *certs);
  for (const Ingress* ingress : accepted) {
    tls_builder.add(*ingress, diags);
  }

  BackendResolver resolver(state);
  RouteTable::Builder builder;

  // (host, match, normalized path with its trailing '/') → who owns it.
  struct Owner {
    const Ingress* ingress;
    std::string field;
  };
  std::map<std::tuple<std::string, PathMatch, std::string>, Owner> owners;
  const Ingress* default_owner = nullptr;

  for (const Ingress* accepted_ingress : accepted) {
    const Ingress& ingress = *accepted_ingress;
    const std::string object = ingress_name(ingress);
    const std::string& ns = ingress.metadata.namespace_;

    // Settings the Ingress's annotations give every route it owns.
    const std::optional<uint64_t> body_limit = body_limit_of(ingress, diags);
    const RedirectSettings redirect = redirect_settings_of(ingress, diags);

    // One warning per (Ingress, backend), at its first reference.
    std::set<std::string> reported_backends;
    auto use_backend = [&](const IngressServiceBackend& ref,
                           const std::string& field) -> std::shared_ptr<const Backend> {
      const BackendResolver::Result& r = resolver.resolve(ns, ref);
      if (!r.warning.empty() && reported_backends.insert(r.backend->name).second) {
        diags.push_back(make_diag(r.reason, object, ingress.origin, field, r.warning));
      }
      return r.backend;
    };

    for (size_t ri = 0; ri < ingress.spec.rules.size(); ++ri) {
      const IngressRule& rule = ingress.spec.rules[ri];
      const std::string host = lowercase(rule.host);
      for (size_t pi = 0; pi < rule.paths.size(); ++pi) {
        const HttpIngressPath& path = rule.paths[pi];
        const std::string field = fmt::format("spec.rules[{}].http.paths[{}]", ri, pi);
        if (path.backend.resource) {
          const auto& res = *path.backend.resource;
          diags.push_back(make_diag(
              "ResourceBackendUnsupported", object, ingress.origin, field + ".backend.resource",
              fmt::format("resource backends ({}{}{} \"{}\") are not supported; the path is "
                          "dropped",
                          res.api_group, res.api_group.empty() ? "" : "/", res.kind, res.name)));
          continue;
        }
        const PathMatch match =
            path.path_type == PathType::kExact ? PathMatch::kExact : PathMatch::kPrefix;
        std::string normalized = normalize_rule_path(path.path);
        if (path.path_type == PathType::kImplementationSpecific && looks_like_regex(path.path)) {
          diags.push_back(make_diag(
              "PathRegexNotSupported", object, ingress.origin, field + ".path",
              fmt::format("\"{}\" looks like a regular expression, but ImplementationSpecific "
                          "paths are matched as literal Prefix paths",
                          path.path)));
        }

        auto [it, inserted] =
            owners.try_emplace(std::make_tuple(host, match, normalized), Owner{&ingress, field});
        if (!inserted) {
          const Owner& owner = it->second;
          std::string other = owner.ingress == &ingress
                                  ? fmt::format("{} of the same Ingress", owner.field)
                                  : fmt::format("{} ({}), which is older and wins",
                                                ingress_name(*owner.ingress), owner.field);
          diags.push_back(make_diag(
              "PathConflict", object, ingress.origin, field,
              fmt::format(
                  "path \"{}\" ({}{}) on {} is already defined by {}; this path is "
                  "ignored",
                  path.path.empty() ? "/" : path.path, path_type_name(path.path_type),
                  path.path_type == PathType::kImplementationSpecific ? ", matched as Prefix" : "",
                  host_label(host), other)));
          continue;
        }

        Route route;
        route.path = normalized;
        if (match == PathMatch::kPrefix) {
          while (route.path.size() > 1 && route.path.back() == '/') {
            route.path.pop_back();
          }
        }
        route.match = match;
        route.rule_path = path.path;
        route.path_type = path_type_name(path.path_type);
        route.backend = use_backend(*path.backend.service, field + ".backend.service");
        route.source = object;
        route.max_body_bytes = body_limit;
        // TLS is per host, across Ingresses (an nginx server block in ingress-nginx): a
        // host listed in any claimed Ingress's spec.tls is served over TLS for all its
        // routes; whether plain HTTP redirects is the owning Ingress's annotation.
        route.tls = is_tls_host(*certs, host);
        route.https_redirect = redirect.redirects(route.tls);
        builder.add_route(host, std::move(route));
      }
    }

    if (const auto& def = ingress.spec.default_backend) {
      const std::string field = "spec.defaultBackend";
      if (def->resource) {
        diags.push_back(make_diag("ResourceBackendUnsupported", object, ingress.origin,
                                  field + ".resource",
                                  "resource backends are not supported; the defaultBackend is "
                                  "ignored"));
      } else if (default_owner != nullptr) {
        diags.push_back(make_diag(
            "DefaultBackendConflict", object, ingress.origin, field,
            fmt::format("{} also sets a defaultBackend and is older, so it wins; this one is "
                        "ignored",
                        ingress_name(*default_owner))));
      } else {
        default_owner = &ingress;
        Route route;
        route.backend = use_backend(*def->service, field + ".service");
        route.source = object;
        route.max_body_bytes = body_limit;
        // Serves any host, so no certificate is its own; force-ssl-redirect still applies
        // (ingress-nginx gives the default backend its Ingress's annotations).
        route.https_redirect = redirect.redirects(false);
        builder.set_default_route(std::move(route));
      }
    }
  }

  for (Diagnostic& d : resolver.take_foreign_diags()) {
    diags.push_back(std::move(d));
  }

  result.routes = std::move(builder).build();
  result.certs = std::move(certs);
  result.stats.hosts = result.routes->virtual_hosts().size();
  result.stats.routes = result.routes->route_count();

  std::sort(diags.begin(), diags.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.object, a.field, a.message, a.where, a.severity, a.rejected) <
           std::tie(b.object, b.field, b.message, b.where, b.severity, b.rejected);
  });
  return result;
}

namespace {

std::string endpoints_text(const Backend& backend) {
  if (!backend.endpoints || backend.endpoints->endpoints.empty()) {
    return fmt::format("(none: {})", backend.problem.empty() ? "no endpoints" : backend.problem);
  }
  std::string out;
  for (const Endpoint& e : backend.endpoints->endpoints) {
    if (!out.empty()) {
      out += ',';
    }
    out += e.to_string();
  }
  if (!backend.endpoints->endpoints.front().ready) {
    out += " (serving, none ready)";
  }
  return out;
}

// Route settings beyond the backend, as a suffix of the last column ("" when none):
// " [tls, https redirect, max body: 1024 bytes]".
std::string settings_text(const Route& route) {
  std::vector<std::string> items;
  if (route.tls) {
    items.emplace_back("tls");
  }
  if (route.https_redirect) {
    items.emplace_back("https redirect");
  } else if (route.tls) {
    items.emplace_back("no https redirect");
  }
  if (route.max_body_bytes) {
    items.push_back(*route.max_body_bytes == 0
                        ? std::string("max body: none")
                        : fmt::format("max body: {} bytes", *route.max_body_bytes));
  }
  if (items.empty()) {
    return {};
  }
  return fmt::format(" [{}]", fmt::join(items, ", "));
}

}  // namespace

std::string format_route_table(const routing::RouteTable& table) {
  std::vector<std::array<std::string, 5>> rows;
  rows.push_back({"HOST", "PATH", "TYPE", "BACKEND", "ENDPOINTS"});
  for (const routing::VirtualHost& vhost : table.virtual_hosts()) {
    for (const Route& route : vhost.routes) {
      rows.push_back({vhost.host.empty() ? std::string("*") : vhost.host,
                      route.rule_path.empty() ? std::string("/") : route.rule_path, route.path_type,
                      route.backend->name, endpoints_text(*route.backend) + settings_text(route)});
    }
  }
  std::array<size_t, 4> width{};
  for (const auto& row : rows) {
    for (size_t i = 0; i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i < width.size(); ++i) {
      out += row[i];
      out.append(width[i] - row[i].size() + 2, ' ');
    }
    out += row[4];
    out += '\n';
  }
  if (const Route* def = table.default_route()) {
    out += fmt::format("default backend: {} {}{}\n", def->backend->name,
                       endpoints_text(*def->backend), settings_text(*def));
  } else {
    out += "default backend: none (404)\n";
  }
  return out;
}

}  // namespace lintel::ingress
