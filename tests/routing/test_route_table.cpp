#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "routing/route_table.h"

namespace lintel::routing {
namespace {

std::shared_ptr<const Backend> backend(const std::string& name) {
  auto b = std::make_shared<Backend>();
  b->name = name;
  b->endpoints = std::make_shared<EndpointSet>();
  return b;
}

// rule_path is the path as written; the matched path drops a Prefix's trailing '/'.
Route route(const std::string& rule_path, PathMatch match, const std::string& backend_name) {
  Route r;
  r.rule_path = rule_path;
  r.path = rule_path;
  if (match == PathMatch::kPrefix && r.path.size() > 1 && r.path.back() == '/') {
    r.path.pop_back();
  }
  r.match = match;
  r.path_type = match == PathMatch::kExact ? "Exact" : "Prefix";
  r.backend = backend(backend_name);
  r.source = "test";
  return r;
}

// The backend name the table answers, "" for none (404).
std::string answer(const RouteTable& table, std::string_view host, std::string_view path) {
  RouteTable::Match m = table.match(host, path);
  return m.backend ? m.backend->name : "";
}

TEST(NormalizeHost, LowercasesAndStripsPort) {
  EXPECT_EQ(normalize_host("Example.COM"), "example.com");
  EXPECT_EQ(normalize_host("example.com:8080"), "example.com");
  EXPECT_EQ(normalize_host("example.com:"), "example.com");
  EXPECT_EQ(normalize_host("example.com."), "example.com");
  EXPECT_EQ(normalize_host("example.com.:443"), "example.com");
  EXPECT_EQ(normalize_host("  example.com "), "example.com");
  EXPECT_EQ(normalize_host("127.0.0.1:8080"), "127.0.0.1");
  EXPECT_EQ(normalize_host("[FD00::1]:8443"), "[fd00::1]");
  EXPECT_EQ(normalize_host("[::1]"), "[::1]");
}

TEST(NormalizeHost, MalformedIsEmpty) {
  EXPECT_EQ(normalize_host(""), "");
  EXPECT_EQ(normalize_host(":80"), "");
  EXPECT_EQ(normalize_host("example.com:http"), "");
  EXPECT_EQ(normalize_host("example.com:123456"), "");
  EXPECT_EQ(normalize_host("fd00::1"), "");  // bare IPv6 is not a valid Host
  EXPECT_EQ(normalize_host("[fd00::1"), "");
  EXPECT_EQ(normalize_host("[fd00::1]x"), "");
  EXPECT_EQ(normalize_host("user@example.com"), "");
  EXPECT_EQ(normalize_host("exa mple.com"), "");
  EXPECT_EQ(normalize_host("*.example.com"), "");
  EXPECT_EQ(normalize_host(std::string(300, 'a')), "");
}

TEST(Endpoint, ToString) {
  EXPECT_EQ((Endpoint{"10.0.0.1", 80, false, true}).to_string(), "10.0.0.1:80");
  EXPECT_EQ((Endpoint{"fd00::1", 8080, true, true}).to_string(), "[fd00::1]:8080");
}

TEST(RouteTable, EmptyTableAnswersDefaultOrNothing) {
  RouteTable::Builder builder;
  auto table = std::move(builder).build();
  EXPECT_EQ(table->match("a.example", "/").backend, nullptr);
  EXPECT_EQ(table->route_count(), 0u);

  RouteTable::Builder with_default;
  with_default.set_default_backend(backend("default"));
  table = std::move(with_default).build();
  EXPECT_EQ(answer(*table, "a.example", "/x"), "default");
  ASSERT_EQ(table->backends().size(), 1u);
}

TEST(RouteTable, HostIsCaseInsensitiveAndPortIgnored) {
  RouteTable::Builder builder;
  builder.add_route("Foo.Example.com", route("/", PathMatch::kPrefix, "foo"));
  auto table = std::move(builder).build();
  EXPECT_EQ(table->virtual_hosts().at(0).host, "foo.example.com");
  EXPECT_EQ(answer(*table, "foo.example.com", "/"), "foo");
  EXPECT_EQ(answer(*table, "FOO.EXAMPLE.COM:8080", "/a"), "foo");
  EXPECT_EQ(answer(*table, "foo.example.com.", "/a"), "foo");
  EXPECT_EQ(answer(*table, "bar.example.com", "/"), "");
}

TEST(RouteTable, WildcardMatchesExactlyOneLabel) {
  RouteTable::Builder builder;
  builder.add_route("*.foo.com", route("/", PathMatch::kPrefix, "wild"));
  auto table = std::move(builder).build();
  EXPECT_EQ(answer(*table, "bar.foo.com", "/"), "wild");
  EXPECT_EQ(answer(*table, "BAR.foo.com:80", "/x"), "wild");
  EXPECT_EQ(answer(*table, "foobar.foo.com", "/"), "wild");
  EXPECT_EQ(answer(*table, "baz.bar.foo.com", "/"), "");
  EXPECT_EQ(answer(*table, "foo.com", "/"), "");
  EXPECT_EQ(answer(*table, ".foo.com", "/"), "");
  EXPECT_EQ(answer(*table, "xfoo.com", "/"), "");
}

TEST(RouteTable, ExactHostBeatsWildcardBeatsHostless) {
  RouteTable::Builder builder;
  builder.add_route("", route("/", PathMatch::kPrefix, "any"));
  builder.add_route("*.foo.com", route("/", PathMatch::kPrefix, "wild"));
  builder.add_route("bar.foo.com", route("/", PathMatch::kPrefix, "bar"));
  auto table = std::move(builder).build();
  EXPECT_EQ(answer(*table, "bar.foo.com", "/"), "bar");
  EXPECT_EQ(answer(*table, "baz.foo.com", "/"), "wild");
  EXPECT_EQ(answer(*table, "a.b.foo.com", "/"), "any");
  EXPECT_EQ(answer(*table, "foo.com", "/"), "any");
  EXPECT_EQ(answer(*table, "other.example", "/"), "any");
  // Display order: exact hosts, wildcards, then the host-less one.
  ASSERT_EQ(table->virtual_hosts().size(), 3u);
  EXPECT_EQ(table->virtual_hosts()[0].host, "bar.foo.com");
  EXPECT_EQ(table->virtual_hosts()[1].host, "*.foo.com");
  EXPECT_EQ(table->virtual_hosts()[2].host, "");
}

TEST(RouteTable, IpLiteralAndMalformedHostOnlyReachHostless) {
  RouteTable::Builder builder;
  builder.add_route("", route("/", PathMatch::kPrefix, "any"));
  builder.add_route("*.0.0.1", route("/", PathMatch::kPrefix, "wild"));
  builder.add_route("*.1", route("/", PathMatch::kPrefix, "wild1"));
  auto table = std::move(builder).build();
  EXPECT_EQ(answer(*table, "127.0.0.1:8080", "/"), "any");
  EXPECT_EQ(answer(*table, "[::1]:8080", "/"), "any");
  EXPECT_EQ(answer(*table, "", "/"), "any");
  EXPECT_EQ(answer(*table, "bad host", "/"), "any");

  RouteTable::Builder no_hostless;
  no_hostless.add_route("a.example", route("/", PathMatch::kPrefix, "a"));
  table = std::move(no_hostless).build();
  EXPECT_EQ(answer(*table, "127.0.0.1", "/"), "");
  EXPECT_EQ(table->match("127.0.0.1", "/").vhost, nullptr);
}

TEST(RouteTable, HostChosenBeforePath) {
  RouteTable::Builder builder;
  builder.add_route("foo.bar.com", route("/foo", PathMatch::kPrefix, "foo"));
  builder.add_route("*.bar.com", route("/", PathMatch::kPrefix, "wild"));
  builder.add_route("", route("/", PathMatch::kPrefix, "any"));
  builder.set_default_backend(backend("default"));
  auto table = std::move(builder).build();
  EXPECT_EQ(answer(*table, "foo.bar.com", "/foo/x"), "foo");
  // The host matched but no path of it: the default backend, not the wildcard or host-less.
  RouteTable::Match m = table->match("foo.bar.com", "/bar");
  ASSERT_NE(m.vhost, nullptr);
  EXPECT_EQ(m.vhost->host, "foo.bar.com");
  EXPECT_EQ(m.route, nullptr);
  ASSERT_NE(m.backend, nullptr);
  EXPECT_EQ(m.backend->name, "default");
  EXPECT_EQ(answer(*table, "other.example", "/bar"), "any");
}

TEST(RouteTable, RouteSettingsTravelWithRoutesAndTheDefaultRoute) {
  RouteTable::Builder builder;
  Route limited = route("/up", PathMatch::kPrefix, "up");
  limited.max_body_bytes = 1024;
  builder.add_route("a.example", std::move(limited));
  builder.add_route("a.example", route("/", PathMatch::kPrefix, "root"));
  Route fallback;
  fallback.backend = backend("default");
  fallback.source = "Ingress default/fallback";
  fallback.max_body_bytes = 0;
  builder.set_default_route(std::move(fallback));
  auto table = std::move(builder).build();
  RouteTable::Match m = table->match("a.example", "/up/file");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->max_body_bytes, 1024u);
  m = table->match("a.example", "/other");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->max_body_bytes, std::nullopt);
  m = table->match("b.example", "/");
  EXPECT_EQ(m.route, nullptr);
  ASSERT_NE(m.backend, nullptr);
  ASSERT_NE(table->default_route(), nullptr);
  EXPECT_EQ(table->default_route()->backend.get(), m.backend);
  EXPECT_EQ(table->default_route()->max_body_bytes, 0u);
  EXPECT_EQ(table->default_route()->source, "Ingress default/fallback");
  EXPECT_EQ(table->default_backend()->name, "default");

  RouteTable::Builder without;
  without.add_route("a.example", route("/", PathMatch::kPrefix, "root"));
  auto bare = std::move(without).build();
  EXPECT_EQ(bare->default_route(), nullptr);
  EXPECT_EQ(bare->default_backend(), nullptr);
}

TEST(RouteTable, PrefixIsElementWise) {
  RouteTable::Builder builder;
  builder.add_route("", route("/foo", PathMatch::kPrefix, "foo"));
  builder.add_route("", route("/aaa/bbb", PathMatch::kPrefix, "aaabbb"));
  auto table = std::move(builder).build();
  EXPECT_EQ(answer(*table, "h", "/foo"), "foo");
  EXPECT_EQ(answer(*table, "h", "/foo/"), "foo");
  EXPECT_EQ(answer(*table, "h", "/foo/bar"), "foo");
  EXPECT_EQ(answer(*table, "h", "/foo/bar/"), "foo");
  EXPECT_EQ(answer(*table, "h", "/foobar"), "");
  EXPECT_EQ(answer(*table, "h", "/fo"), "");
  EXPECT_EQ(answer(*table, "h", "/"), "");
  EXPECT_EQ(answer(*table, "h", "/aaa/bbb"), "aaabbb");
  EXPECT_EQ(answer(*table, "h", "/aaa/bbbxyz"), "");
  EXPECT_EQ(answer(*table, "h", "/aaa/bb"), "");
  EXPECT_EQ(answer(*table, "h", "/aaa"), "");
}

TEST(RouteTable, RootPrefixMatchesEverything) {
  RouteTable::Builder builder;
  builder.add_route("", route("/", PathMatch::kPrefix, "root"));
  auto table = std::move(builder).build();
  EXPECT_EQ(answer(*table, "h", "/"), "root");
  EXPECT_EQ(answer(*table, "h", "/aaa/bbb/ccc"), "root");
  EXPECT_EQ(answer(*table, "h", "/x.html"), "root");
  EXPECT_EQ(answer(*table, "h", "*"), "root");
}

TEST(RouteTable, PrefixTrailingSlashIgnored) {
  RouteTable::Builder builder;
  builder.add_route("", route("/foo/", PathMatch::kPrefix, "foo-slash"));
  auto table = std::move(builder).build();
  EXPECT_EQ(answer(*table, "h", "/foo"), "foo-slash");
  EXPECT_EQ(answer(*table, "h", "/foo/"), "foo-slash");
  EXPECT_EQ(answer(*table, "h", "/foo/x"), "foo-slash");
  EXPECT_EQ(answer(*table, "h", "/foox"), "");
  EXPECT_EQ(table->virtual_hosts()[0].routes[0].path, "/foo");
}

TEST(RouteTable, PrefixWithTrailingSlashOutranksWithout) {
  // API PathTypePrefix: "/foo and /foo/ both match /foo and /foo/; if both are present the
  // longest matching path (/foo/) is given priority".
  RouteTable::Builder builder;
  builder.add_route("", route("/foo", PathMatch::kPrefix, "foo"));
  builder.add_route("", route("/foo/", PathMatch::kPrefix, "foo-slash"));
  auto table = std::move(builder).build();
  EXPECT_EQ(answer(*table, "h", "/foo"), "foo-slash");
  EXPECT_EQ(answer(*table, "h", "/foo/"), "foo-slash");
  EXPECT_EQ(answer(*table, "h", "/foo/x"), "foo-slash");
  EXPECT_EQ(table->route_count(), 2u);  // both kept, for display
}

TEST(RouteTable, ExactIsWholePathCaseSensitive) {
  RouteTable::Builder builder;
  builder.add_route("", route("/Foo", PathMatch::kExact, "foo"));
  builder.add_route("", route("/bar/", PathMatch::kExact, "bar-slash"));
  auto table = std::move(builder).build();
  EXPECT_EQ(answer(*table, "h", "/Foo"), "foo");
  EXPECT_EQ(answer(*table, "h", "/foo"), "");
  EXPECT_EQ(answer(*table, "h", "/Foo/"), "");
  EXPECT_EQ(answer(*table, "h", "/Foo/x"), "");
  EXPECT_EQ(answer(*table, "h", "/bar/"), "bar-slash");
  EXPECT_EQ(answer(*table, "h", "/bar"), "");
}

TEST(RouteTable, ExactBeatsPrefixAtEqualLength) {
  RouteTable::Builder builder;
  builder.add_route("", route("/foo", PathMatch::kPrefix, "prefix"));
  builder.add_route("", route("/foo", PathMatch::kExact, "exact"));
  builder.add_route("", route("/", PathMatch::kPrefix, "root"));
  builder.add_route("", route("/", PathMatch::kExact, "root-exact"));
  auto table = std::move(builder).build();
  EXPECT_EQ(answer(*table, "h", "/foo"), "exact");
  EXPECT_EQ(answer(*table, "h", "/foo/"), "prefix");
  EXPECT_EQ(answer(*table, "h", "/foo/a"), "prefix");
  EXPECT_EQ(answer(*table, "h", "/"), "root-exact");
  EXPECT_EQ(answer(*table, "h", "/x"), "root");
  const auto& routes = table->virtual_hosts()[0].routes;
  ASSERT_EQ(routes.size(), 4u);
  EXPECT_EQ(routes[0].match, PathMatch::kExact);
  EXPECT_EQ(routes[0].path, "/foo");
  EXPECT_EQ(routes[1].match, PathMatch::kPrefix);
  EXPECT_EQ(routes[2].match, PathMatch::kExact);
  EXPECT_EQ(routes[3].path, "/");
}

TEST(RouteTable, LongerPrefixWithSlashBeatsShorterExact) {
  // Exact /foo vs Prefix /foo/ for "/foo": the longer rule wins (the vectors' preferred
  // reading of "longest matching path").
  RouteTable::Builder builder;
  builder.add_route("", route("/foo", PathMatch::kExact, "exact"));
  builder.add_route("", route("/foo/", PathMatch::kPrefix, "prefix-slash"));
  auto table = std::move(builder).build();
  EXPECT_EQ(answer(*table, "h", "/foo"), "prefix-slash");
  EXPECT_EQ(answer(*table, "h", "/foo/a"), "prefix-slash");
}

TEST(RouteTable, LongestPathWins) {
  RouteTable::Builder builder;
  builder.add_route("", route("/", PathMatch::kPrefix, "root"));
  builder.add_route("", route("/aaa", PathMatch::kPrefix, "aaa"));
  builder.add_route("", route("/aaa/bbb", PathMatch::kPrefix, "aaabbb"));
  builder.add_route("", route("/aaa/bbb/ccc/ddd", PathMatch::kExact, "exact-deep"));
  auto table = std::move(builder).build();
  EXPECT_EQ(answer(*table, "h", "/aaa/bbb"), "aaabbb");
  EXPECT_EQ(answer(*table, "h", "/aaa/bbb/ccc"), "aaabbb");
  EXPECT_EQ(answer(*table, "h", "/aaa/bbb/ccc/ddd"), "exact-deep");
  EXPECT_EQ(answer(*table, "h", "/aaa/ccc"), "aaa");
  EXPECT_EQ(answer(*table, "h", "/ccc"), "root");
  EXPECT_EQ(answer(*table, "h", "/aaab"), "root");
}

TEST(RouteTable, FirstDuplicateKeptAndBackendsListed) {
  RouteTable::Builder builder;
  auto shared = backend("ns/svc:80");
  Route a = route("/a", PathMatch::kPrefix, "first");
  Route b = route("/a", PathMatch::kPrefix, "second");
  Route c = route("/c", PathMatch::kPrefix, "");
  c.backend = shared;
  Route d = route("/d", PathMatch::kExact, "");
  d.backend = shared;
  builder.add_route("h.example", a);
  builder.add_route("h.example", b);
  builder.add_route("h.example", c);
  builder.add_route("h.example", d);
  builder.set_default_backend(backend("default"));
  auto table = std::move(builder).build();
  EXPECT_EQ(answer(*table, "h.example", "/a"), "first");
  EXPECT_EQ(table->route_count(), 3u);
  ASSERT_EQ(table->backends().size(), 3u);
  EXPECT_EQ(table->backends()[0]->name, "default");
  EXPECT_EQ(table->backends()[1]->name, "first");
  EXPECT_EQ(table->backends()[2]->name, "ns/svc:80");
}

TEST(RouteTable, VeryLongPrefixKeysAreStillFound) {
  std::string deep = "/" + std::string(1500, 'a');
  RouteTable::Builder builder;
  builder.add_route("", route(deep, PathMatch::kPrefix, "deep"));
  builder.add_route("", route("/b", PathMatch::kPrefix, "b"));
  auto table = std::move(builder).build();
  EXPECT_EQ(answer(*table, "h", deep + "/x"), "deep");
  EXPECT_EQ(answer(*table, "h", deep), "deep");
  EXPECT_EQ(answer(*table, "h", "/b/" + std::string(2000, 'c')), "b");
  EXPECT_EQ(answer(*table, "h", deep + "a"), "");
}

TEST(RouteTable, CopiedTableStillMatches) {
  RouteTable::Builder builder;
  builder.add_route("a.example", route("/x", PathMatch::kPrefix, "x"));
  auto table = std::move(builder).build();
  RouteTable copy = *table;
  table.reset();
  RouteTable::Match m = copy.match("a.example", "/x/y");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->backend->name, "x");
  EXPECT_EQ(m.vhost, &copy.virtual_hosts()[0]);
}

}  // namespace
}  // namespace lintel::routing
