#pragma once
// The route table: hosts → paths → backends → endpoints. Immutable once built; shared
// by every worker through the snapshot. Knows nothing about Kubernetes: the compiler in
// ingress/ translates Ingress semantics into these types.
//
// Matching (DESIGN.md "Ingress semantics"):
//   host: lowercased, port stripped; exact host, else "*.suffix" wildcard (exactly one
//   more leading label), else the host-less virtual host. Host is chosen first: when a
//   host matched but none of its paths did, the answer is the table's default backend
//   (never another host's rules).
//   path: the normalized request path (no query). Exact = whole path, case sensitive.
//   Prefix = element-wise on '/', the rule's trailing '/' ignored. Longest rule path
//   wins; at equal length Exact beats Prefix.
//
// Thread: built on the control thread; match() is const and called from any worker.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lintel::routing {

// One Pod address. `address` is an IP literal (IPv4 dotted or IPv6 without brackets).
struct Endpoint {
  std::string address;
  uint16_t port = 0;
  bool ipv6 = false;
  // true = ready; false = only serving (used because no endpoint of the set is ready)
  bool ready = true;

  std::string to_string() const;  // "10.0.0.1:80", "[fd00::1]:80"
  bool operator==(const Endpoint&) const = default;
};

// The endpoints that take traffic for one backend, in a stable order (sorted), so that
// round-robin is fair and an unchanged set compares equal.
struct EndpointSet {
  std::vector<Endpoint> endpoints;
  bool operator==(const EndpointSet&) const = default;
};

// Where a matched request goes: a Service port in a namespace.
struct Backend {
  // "namespace/service:port" with port as written in the Ingress (number or name).
  // Unique within a snapshot; also the key of per-worker balancer state.
  std::string name;
  std::string service_namespace;
  std::string service_name;
  std::string port;  // as written
  // Why there are no endpoints, for /routes and the 503 log line ("" when there are some):
  // e.g. "service not found", "service has no port named \"web\"", "no ready endpoints".
  std::string problem;
  // Never null; empty means the proxy answers 503.
  std::shared_ptr<const EndpointSet> endpoints;
};

enum class PathMatch { kExact, kPrefix };

struct Route {
  // The path matched against: for Prefix without its trailing '/' (except "/" itself).
  std::string path;
  PathMatch match = PathMatch::kPrefix;
  // As written in the Ingress, for display: path and "Exact" / "Prefix" /
  // "ImplementationSpecific".
  std::string rule_path;
  std::string path_type;
  std::shared_ptr<const Backend> backend;  // never null
  std::string source;                      // "Ingress default/web"
  // Request body limit in bytes for requests routed here. nullopt: the route sets none and
  // the proxy's global default applies; 0: explicitly no limit; else the limit.
  std::optional<uint64_t> max_body_bytes;
  // The route's host is a TLS host: listed (or covered by a wildcard) in the spec.tls of
  // any served Ingress — TLS is per host, as in ingress-nginx. It is served with the
  // Secret's certificate, or the default one if that Secret is unusable. HTTPS responses
  // for such routes carry Strict-Transport-Security (unless switched off globally).
  bool tls = false;
  // A plain-HTTP request routed here is answered with 308 to https:// (ingress-nginx
  // ssl-redirect / force-ssl-redirect, resolved by the compiler).
  bool https_redirect = false;
};

struct VirtualHost {
  // "" = rules without a host, "*.example.com" = wildcard, else an exact lowercase name.
  std::string host;
  std::vector<Route> routes;  // sorted: longest path first, Exact before Prefix
};

class RouteTable {
 public:
  struct Match {
    const VirtualHost* vhost = nullptr;  // the host that matched, or nullptr
    const Route* route = nullptr;        // the path that matched, or nullptr
    // route->backend, else the default backend, else nullptr (= 404)
    const Backend* backend = nullptr;
  };

  // host: the Host header as received (any case, may end in ":port", may be an IP literal
  // or "[v6]:port"). path: the normalized request path, without the query.
  Match match(std::string_view host, std::string_view path) const;

  const std::vector<VirtualHost>& virtual_hosts() const { return hosts_; }
  const std::shared_ptr<const Backend>& default_backend() const { return default_backend_; }
  // The default backend with the settings of whatever configured it (its body limit,
  // source); nullptr when there is no default backend. path and match are unused. It
  // applies to requests whose Match has a backend but no route.
  const Route* default_route() const { return default_route_ ? &*default_route_ : nullptr; }
  // Every distinct backend referenced by the table (routes and default), by name.
  const std::vector<std::shared_ptr<const Backend>>& backends() const { return backends_; }
  size_t route_count() const;

  // Builds a table. Duplicate (host, path, match) routes are the caller's problem: the
  // compiler resolves conflicts before adding; the builder keeps the first one added.
  class Builder {
   public:
    // host as in VirtualHost::host (the builder lowercases it).
    void add_route(std::string host, Route route);
    // Same as set_default_route() with a Route that only has `backend`.
    void set_default_backend(std::shared_ptr<const Backend> backend);
    // route.backend must not be null; path and match are ignored.
    void set_default_route(Route route);
    std::shared_ptr<const RouteTable> build() &&;

   private:
    std::vector<std::pair<std::string, Route>> routes_;
    std::optional<Route> default_route_;
  };

 private:
  struct HostIndex;  // lookup structures, defined in route_table.cpp
  std::vector<VirtualHost> hosts_;
  std::shared_ptr<const Backend> default_backend_;  // default_route_->backend, or null
  std::optional<Route> default_route_;
  std::vector<std::shared_ptr<const Backend>> backends_;
  std::shared_ptr<const HostIndex> index_;
};

// Lowercases and strips the port of a Host header value; "" if it is malformed.
std::string normalize_host(std::string_view host_header);

}  // namespace lintel::routing
