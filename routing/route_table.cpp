#include "routing/route_table.h"

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <set>
#include <tuple>
#include <utility>

namespace lintel::routing {

// Lookup structures.
//
// Choice: hash maps probed at '/' boundaries rather than a trie. A request does one hash
// lookup for the host (two with a wildcard, three with the host-less fallback), one for an
// Exact path and at most one per '/' of the path for Prefix rules, longest first, so the
// first Prefix hit is the answer. Keys are std::string; probes are std::string_view
// slices of the request (heterogeneous lookup), so matching allocates nothing. A per-host
// bitmap of the lengths that Prefix keys actually have skips most probes: with 10 paths a
// host, a 6-segment request path typically costs 1-2 hash lookups. A trie would do the
// same work with a pointer chase per byte and poorer locality; the hash maps are also
// trivial to build for 10,000 Ingresses. bench/route_table_bench.cpp measures it.
//
// Values are indexes, not pointers, so a copied RouteTable stays valid.
namespace {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

constexpr uint32_t kNone = UINT32_MAX;
// Host names are at most 253 characters (RFC 1035); a longer Host matches no rule host.
constexpr size_t kMaxHost = 255;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Characters of a DNS name as it can appear in a Host header (letters, digits, '-', '.',
// '_'): anything else (a '*', '@', '/', spaces) cannot name a virtual host.
bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' || c == '.' ||
         c == '_';
}

// The Host header reduced to what is compared, written into `out`: lowercase, no port, no
// trailing dot. Returns false when it is malformed; sets `ip_literal` for "[v6]" and
// dotted-decimal IPv4, which can never equal a rule host (Ingress hosts are DNS names).
bool reduce_host(std::string_view in, std::array<char, kMaxHost + 2>& out, size_t& out_len,
                 bool& ip_literal) {
  ip_literal = false;
  out_len = 0;
  while (!in.empty() && (in.front() == ' ' || in.front() == '\t')) {
    in.remove_prefix(1);
  }
  while (!in.empty() && (in.back() == ' ' || in.back() == '\t')) {
    in.remove_suffix(1);
  }
  if (in.empty()) {
    return false;
  }
  std::string_view name;
  std::string_view rest;
  if (in.front() == '[') {
    size_t close = in.find(']');
    if (close == std::string_view::npos || close == 1) {
      return false;
    }
    for (char c : in.substr(1, close - 1)) {
      bool hex = is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
      if (!hex && c != ':' && c != '.') {
        return false;  // zone ids ("%25eth0") and IPvFuture are not accepted in Host
      }
    }
    name = in.substr(0, close + 1);
    rest = in.substr(close + 1);
    ip_literal = true;
  } else {
    size_t colon = in.find(':');
    name = in.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{} : in.substr(colon);
  }
  if (!rest.empty()) {
    if (rest.front() != ':') {
      return false;
    }
    rest.remove_prefix(1);
    // An empty port ("host:") is allowed by RFC 3986; more than 5 digits is not a port.
    if (rest.size() > 5 || !std::all_of(rest.begin(), rest.end(), is_digit)) {
      return false;
    }
  }
  if (!ip_literal) {
    if (!name.empty() && name.back() == '.') {
      name.remove_suffix(1);  // "example.com." is the same name, fully qualified
    }
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_host_char)) {
      return false;
    }
    // Dotted decimal: a DNS name's last label is never all digits (RFC 1123 2.1 / 3696).
    size_t last_dot = name.rfind('.');
    std::string_view last = last_dot == std::string_view::npos ? name : name.substr(last_dot + 1);
    ip_literal = !last.empty() && std::all_of(last.begin(), last.end(), is_digit);
  }
  if (name.size() > kMaxHost) {
    return false;
  }
  std::transform(name.begin(), name.end(), out.begin(), lower);
  out_len = name.size();
  return true;
}

std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), lower);
  return s;
}

// Rank among routes of one host: longer first; at equal length Exact first.
// The length is the rule path's own length, trailing '/' included: the API says of Prefix
// "/foo" and "/foo/" that "the longest matching path (/foo/) is given priority", although
// both match the same requests. An Exact "/foo" therefore loses to Prefix "/foo/" for the
// request "/foo" (longer rule), but beats Prefix "/foo" (equal length).
size_t priority_length(const Route& route) {
  if (route.match == PathMatch::kPrefix && route.path != "/" && !route.rule_path.empty() &&
      route.rule_path.back() == '/') {
    return route.path.size() + 1;
  }
  return route.path.size();
}

bool route_before(const Route& a, const Route& b) {
  size_t la = priority_length(a);
  size_t lb = priority_length(b);
  if (la != lb) {
    return la > lb;
  }
  if (a.match != b.match) {
    return a.match == PathMatch::kExact;
  }
  return a.path < b.path;
}

// Exact hosts, then wildcards, then the host-less virtual host; by name within each.
int host_rank(const std::string& host) {
  if (host.empty()) {
    return 2;
  }
  return host.starts_with("*.") ? 1 : 0;
}

}  // namespace

struct RouteTable::HostIndex {
  struct Paths {
    StringMap<uint32_t> exact;   // path → route index
    StringMap<uint32_t> prefix;  // path without trailing '/' ("/" for the root) → route index
    // prefix_lengths[n] is true when some prefix key has length n; keys longer than the
    // bitmap are always probed.
    std::vector<bool> prefix_lengths;
    size_t max_prefix = 0;
  };
  StringMap<uint32_t> exact_hosts;     // "foo.example.com" → vhost index
  StringMap<uint32_t> wildcard_hosts;  // ".example.com" (from "*.example.com") → vhost index
  uint32_t hostless = kNone;
  std::vector<Paths> paths;  // parallel to hosts_
};

std::string Endpoint::to_string() const {
  std::string out;
  out.reserve(address.size() + 8);
  if (ipv6) {
    out += '[';
    out += address;
    out += ']';
  } else {
    out += address;
  }
  out += ':';
  out += std::to_string(port);
  return out;
}

std::string normalize_host(std::string_view host_header) {
  std::array<char, kMaxHost + 2> buf;
  size_t len = 0;
  bool ip_literal = false;
  if (!reduce_host(host_header, buf, len, ip_literal)) {
    return {};
  }
  return std::string(buf.data(), len);
}

size_t RouteTable::route_count() const {
  size_t n = 0;
  for (const VirtualHost& vhost : hosts_) {
    n += vhost.routes.size();
  }
  return n;
}

RouteTable::Match RouteTable::match(std::string_view host, std::string_view path) const {
  Match result;
  result.backend = default_backend_.get();
  if (!index_) {
    return result;
  }
  const HostIndex& index = *index_;

  // 1. The virtual host. An unparseable Host or an IP literal can only reach the host-less
  // rules (the proxy rejects a malformed Host with 400 before routing anyway).
  uint32_t vhost = kNone;
  std::array<char, kMaxHost + 2> buf;
  size_t len = 0;
  bool ip_literal = false;
  if (reduce_host(host, buf, len, ip_literal) && !ip_literal) {
    std::string_view name(buf.data(), len);
    if (auto it = index.exact_hosts.find(name); it != index.exact_hosts.end()) {
      vhost = it->second;
    } else if (size_t dot = name.find('.'); dot != std::string_view::npos && dot > 0) {
      // "*.example.com" is stored as ".example.com": the first label is the one extra
      // label the wildcard allows, so "b.a.example.com" probes ".a.example.com" only.
      if (auto wit = index.wildcard_hosts.find(name.substr(dot));
          wit != index.wildcard_hosts.end()) {
        vhost = wit->second;
      }
    }
  }
  if (vhost == kNone) {
    vhost = index.hostless;
  }
  if (vhost == kNone) {
    return result;
  }
  result.vhost = &hosts_[vhost];
  const HostIndex::Paths& paths = index.paths[vhost];
  const std::vector<Route>& routes = hosts_[vhost].routes;

  // 2. The path. Exact: one lookup of the whole path.
  const Route* exact = nullptr;
  if (!paths.exact.empty()) {
    if (auto it = paths.exact.find(path); it != paths.exact.end()) {
      exact = &routes[it->second];
    }
  }

  // Prefix: probe the whole path, then the path cut before each '/', longest first. The
  // first hit is the longest matching rule: two different keys differ in length by at
  // least 2 ("/a" vs "/a/b"), more than the 1 a rule's trailing '/' adds to its rank.
  const Route* prefix = nullptr;
  auto probe = [&](std::string_view key) {
    if (key.size() <= paths.max_prefix &&
        (key.size() >= paths.prefix_lengths.size() || paths.prefix_lengths[key.size()])) {
      if (auto it = paths.prefix.find(key); it != paths.prefix.end()) {
        prefix = &routes[it->second];
        return true;
      }
    }
    return false;
  };
  if (!paths.prefix.empty() && !path.empty() && path.front() == '/') {
    bool found = false;
    if (path.back() != '/') {
      found = probe(path);
    }
    for (size_t i = path.size() - 1; !found && i > 0; --i) {
      if (path[i] == '/') {
        found = probe(path.substr(0, i));
      }
    }
    if (!found) {
      probe("/");
    }
  } else if (!paths.prefix.empty()) {
    // Not an origin-form path ("*" of OPTIONS, or empty): only the root Prefix rule, which
    // matches every request, applies.
    probe("/");
  }

  const Route* chosen = exact;
  if (prefix != nullptr && (exact == nullptr || route_before(*prefix, *exact))) {
    chosen = prefix;
  }
  if (chosen != nullptr) {
    result.route = chosen;
    result.backend = chosen->backend.get();
  }
  return result;
}

void RouteTable::Builder::add_route(std::string host, Route route) {
  routes_.emplace_back(lowercase(std::move(host)), std::move(route));
}

void RouteTable::Builder::set_default_backend(std::shared_ptr<const Backend> backend) {
  default_backend_ = std::move(backend);
}

std::shared_ptr<const RouteTable> RouteTable::Builder::build() && {
  auto table = std::make_shared<RouteTable>();
  table->default_backend_ = std::move(default_backend_);

  // Group by host, keeping the first route of each (host, path, match, rank).
  std::map<std::string, std::vector<Route>> by_host;
  std::set<std::tuple<std::string, std::string, PathMatch, size_t>> seen;
  for (auto& [host, route] : routes_) {
    if (!route.backend) {
      continue;  // the header promises a non-null backend; a null one would be a caller bug
    }
    if (route.path.empty()) {
      route.path.push_back('/');  // not `= "/"`: GCC 12 warns -Wrestrict on it (a false alarm)
    }
    // Prefix keys carry no trailing '/' (the header's contract); tolerate one anyway.
    while (route.match == PathMatch::kPrefix && route.path.size() > 1 && route.path.back() == '/') {
      route.path.pop_back();
    }
    if (!seen.emplace(host, route.path, route.match, priority_length(route)).second) {
      continue;
    }
    by_host[host].push_back(std::move(route));
  }
  routes_.clear();

  for (auto& [host, routes] : by_host) {
    std::stable_sort(routes.begin(), routes.end(), route_before);
    table->hosts_.push_back(VirtualHost{host, std::move(routes)});
  }
  std::stable_sort(table->hosts_.begin(), table->hosts_.end(),
                   [](const VirtualHost& a, const VirtualHost& b) {
                     int ra = host_rank(a.host);
                     int rb = host_rank(b.host);
                     return ra != rb ? ra < rb : a.host < b.host;
                   });

  auto index = std::make_shared<HostIndex>();
  index->paths.resize(table->hosts_.size());
  for (uint32_t h = 0; h < table->hosts_.size(); ++h) {
    const VirtualHost& vhost = table->hosts_[h];
    if (vhost.host.empty()) {
      index->hostless = h;
    } else if (vhost.host.starts_with("*.")) {
      index->wildcard_hosts.emplace(vhost.host.substr(1), h);
    } else {
      index->exact_hosts.emplace(vhost.host, h);
    }
    HostIndex::Paths& paths = index->paths[h];
    constexpr size_t kBitmapLimit = 1024;
    for (uint32_t r = 0; r < vhost.routes.size(); ++r) {
      const Route& route = vhost.routes[r];
      // Routes are sorted best first, so emplace (which keeps the first) keeps the best of
      // "/foo" and "/foo/" under their shared key "/foo".
      if (route.match == PathMatch::kExact) {
        paths.exact.emplace(route.path, r);
        continue;
      }
      paths.prefix.emplace(route.path, r);
      paths.max_prefix = std::max(paths.max_prefix, route.path.size());
      if (route.path.size() < kBitmapLimit) {
        if (paths.prefix_lengths.size() <= route.path.size()) {
          paths.prefix_lengths.resize(route.path.size() + 1, false);
        }
        paths.prefix_lengths[route.path.size()] = true;
      }
    }
    // Lengths above the bitmap but within max_prefix are probed unconditionally, which the
    // probe expresses as "size >= bitmap size"; make the bitmap end right after the largest
    // short key so that holds only for lengths beyond kBitmapLimit keys.
    if (paths.max_prefix >= kBitmapLimit) {
      paths.prefix_lengths.resize(kBitmapLimit, false);
    }
  }
  table->index_ = std::move(index);

  // Every distinct backend, by name.
  std::map<std::string, std::shared_ptr<const Backend>> backends;
  for (const VirtualHost& vhost : table->hosts_) {
    for (const Route& route : vhost.routes) {
      backends.emplace(route.backend->name, route.backend);
    }
  }
  if (table->default_backend_) {
    backends.emplace(table->default_backend_->name, table->default_backend_);
  }
  for (auto& [name, backend] : backends) {
    table->backends_.push_back(std::move(backend));
  }
  return table;
}

}  // namespace lintel::routing
