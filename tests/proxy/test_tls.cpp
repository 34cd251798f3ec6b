// HTTPS through a real proxy::Server on 127.0.0.1:0: certificates generated at test time
// (a local CA, leaves for an exact and a wildcard host, the default certificate), a
// blocking OpenSSL client (tls_client.h), an in-test upstream on 127.0.0.N. Also the
// plain-HTTP side of TLS routes: 308 redirects.

#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <functional>

#include "proxy/server.h"
#include "test_support.h"
#include "tls/cert_store.h"
#include "tls/generate.h"
#include "tls/server_context.h"
#include "tls/session_tickets.h"
#include "tls_client.h"

namespace lintel::proxy {
namespace {

using test::Client;
using test::TlsClient;
using test::TlsClientOptions;
using test::Upstream;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kHandshakeTimeout{400};
constexpr uint16_t kRedirectPort = 8443;

// Polls `condition` until it holds or 10 s pass (state changes on worker threads).
bool eventually(const std::function<bool()>& condition) {
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

tls::CertifiedKey must(tls::Result<tls::CertifiedKey> r) {
  if (!r) {
    ADD_FAILURE() << r.error().message;
    std::abort();
  }
  return std::move(r).value();
}

// Key generation is the slow part: once per test binary.
struct Pki {
  tls::CertifiedKey ca = must(tls::create_ca(tls::Clock::now() - std::chrono::hours(1)));
  std::shared_ptr<tls::TicketKeyRing> ring = tls::TicketKeyRing::generate(tls::Clock::now());
  std::shared_ptr<const tls::ServerContext> default_context =
      context(must(tls::generate_default_certificate(tls::Clock::now())));

  tls::CertifiedKey issue(const std::vector<std::string>& hosts) const {
    return must(tls::issue_certificate(ca, hosts, tls::Clock::now() - std::chrono::hours(1)));
  }
  std::shared_ptr<const tls::ServerContext> context(tls::CertifiedKey key) const {
    auto r = tls::ServerContext::create(std::move(key), tls::ContextOptions{ring});
    if (!r) {
      ADD_FAILURE() << r.error().message;
      std::abort();
    }
    return *r;
  }
  const std::string& default_fingerprint() const {
    return default_context->certificate().fingerprint_sha256();
  }
};

const Pki& pki() {
  static const Pki p;
  return p;
}

std::shared_ptr<const routing::Backend> backend(const std::string& name, const Upstream* up) {
  auto b = std::make_shared<routing::Backend>();
  b->name = name;
  auto set = std::make_shared<routing::EndpointSet>();
  if (up) set->endpoints.push_back({up->address(), up->port(), false, true});
  if (!up) b->problem = "no ready endpoints";
  b->endpoints = set;
  return b;
}

routing::Route route(std::shared_ptr<const routing::Backend> b, bool tls, bool redirect) {
  routing::Route r;
  r.path = "/";
  r.rule_path = "/";
  r.path_type = "Prefix";
  r.backend = std::move(b);
  r.source = "test";
  r.tls = tls;
  r.https_redirect = redirect;
  return r;
}

uint16_t port_of(const std::string& address) {
  return static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
}

std::string get(const std::string& target, const std::string& host, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "\r\n";
}

class TlsProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    upstream_ = std::make_unique<Upstream>("127.0.0.31", "up");
    exact_ = std::make_shared<tls::CertifiedKey>(pki().issue({"a.example.com"}));
    wildcard_ = std::make_shared<tls::CertifiedKey>(pki().issue({"*.w.example.com"}));
    server_ = start(options());
    ASSERT_TRUE(server_);
    https_port_ = port_of(server_->https_address());
    http_port_ = port_of(server_->http_address());
  }
  void TearDown() override {
    for (auto& s : servers_) s->stop();
  }

  ProxyOptions options() const {
    ProxyOptions o;
    o.http_address = "127.0.0.1:0";
    o.https_address = "127.0.0.1:0";
    o.workers = 2;
    o.access_log = false;
    o.handshake_timeout = kHandshakeTimeout;
    o.https_redirect_port = kRedirectPort;
    return o;
  }

  // The snapshot the compiler would build: routes and the certificate store.
  SnapshotPtr snapshot(const tls::CertifiedKey& exact_cert,
                       std::shared_ptr<const tls::ServerContext> default_context) const {
    auto store = std::make_shared<tls::CertStore>(std::move(default_context));
    EXPECT_TRUE(store->add("a.example.com", pki().context(copy(exact_cert))));
    EXPECT_TRUE(store->add("*.w.example.com", pki().context(copy(*wildcard_))));
    store->add_host("optout.example.com");
    routing::RouteTable::Builder b;
    const auto up = backend("default/up:80", upstream_.get());
    b.add_route("a.example.com", route(up, true, true));
    b.add_route("*.w.example.com", route(up, true, true));
    b.add_route("optout.example.com", route(up, true, false));
    b.add_route("forced.example.com", route(up, false, true));
    b.add_route("plain.example.com", route(up, false, false));
    b.add_route("empty.example.com", route(backend("default/empty:80", nullptr), true, true));
    auto s = std::make_shared<Snapshot>();
    s->generation = ++generation_;
    s->routes = std::move(b).build();
    s->certs = std::move(store);
    return s;
  }
  static tls::CertifiedKey copy(const tls::CertifiedKey& key) {
    return must(tls::CertifiedKey::from_pem(key.chain_pem(), key.key_pem()));
  }

  Server* start(const ProxyOptions& o) {
    std::string error;
    auto server = Server::create(o, error);
    EXPECT_TRUE(server) << error;
    if (!server) return nullptr;
    server->publish(snapshot(*exact_, pki().default_context));
    server->start();
    servers_.push_back(std::move(server));
    return servers_.back().get();
  }

  TlsClientOptions verified(const char* sni) const { return {.sni = sni, .ca = pki().ca.leaf()}; }

  std::unique_ptr<Upstream> upstream_;
  std::shared_ptr<tls::CertifiedKey> exact_, wildcard_;
  std::vector<std::unique_ptr<Server>> servers_;
  Server* server_ = nullptr;
  uint16_t https_port_ = 0, http_port_ = 0;
  mutable uint64_t generation_ = 0;
};

TEST_F(TlsProxyTest, HttpsRequestReachesTheUpstreamOverKeepAlive) {
  TlsClient c(https_port_, verified("a.example.com"));
  ASSERT_TRUE(c.connected()) << c.error();
  EXPECT_EQ(c.alpn(), "http/1.1");
  EXPECT_EQ(std::string(SSL_get_version(c.ssl())), "TLSv1.3");
  for (int i = 0; i < 3; ++i) {
    const std::string path = "/k/" + std::to_string(i);
    ASSERT_TRUE(c.send(
        get(path + "?q=1", "a.example.com", "X-Forwarded-Proto: http\r\nX-Forwarded-Port: 1\r\n")));
    auto r = c.response();
    ASSERT_TRUE(r && r->complete);
    EXPECT_EQ(r->status(), 200);
    EXPECT_EQ(r->body, "up " + path + "?q=1 0");
  }
  EXPECT_EQ(upstream_->connections(), 1u);  // one pooled upstream connection, reused
  const auto records = upstream_->records();
  ASSERT_EQ(records.size(), 3u);
  for (const auto& rec : records) {
    EXPECT_EQ(rec.request.all("X-Forwarded-Proto"), std::vector<std::string>{"https"});
    EXPECT_EQ(rec.request.all("X-Forwarded-Port"),
              std::vector<std::string>{std::to_string(https_port_)});
    EXPECT_EQ(rec.request.get("X-Forwarded-Host"), "a.example.com");
  }
  // A response with Connection: close ends with close_notify, not a bare TCP close.
  ASSERT_TRUE(c.send(get("/last", "a.example.com", "Connection: close\r\n")));
  auto r = c.response();
  ASSERT_TRUE(r && r->complete);
  EXPECT_EQ(r->get("Connection"), "close");
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_TRUE(c.got_close_notify());
  EXPECT_TRUE(eventually([&] { return server_->tls_stats().handshakes == 1; }));
}

TEST_F(TlsProxyTest, CertificateChosenBySni) {
  struct Row {
    const char* sni;
    std::string fingerprint;
    bool verify;
  };
  const Row rows[] = {
      {"a.example.com", exact_->fingerprint_sha256(), true},
      {"A.EXAMPLE.COM", exact_->fingerprint_sha256(), true},
      {"x.w.example.com", wildcard_->fingerprint_sha256(), true},
      {"y.x.w.example.com", pki().default_fingerprint(), false},  // one label only
      {"unknown.example.org", pki().default_fingerprint(), false},
      {"optout.example.com", pki().default_fingerprint(), false},  // TLS, no own certificate
      {nullptr, pki().default_fingerprint(), false},               // no SNI
  };
  for (const Row& row : rows) {
    const std::string name = row.sni ? row.sni : "(no SNI)";
    TlsClient c(https_port_, row.verify ? verified(row.sni) : TlsClientOptions{.sni = row.sni});
    ASSERT_TRUE(c.connected()) << name << ": " << c.error();
    EXPECT_EQ(c.peer_fingerprint(), row.fingerprint) << name;
    // Whatever the certificate, the Host header routes.
    ASSERT_TRUE(c.send(get("/sni", "a.example.com")));
    auto r = c.response();
    ASSERT_TRUE(r) << name;
    EXPECT_EQ(r->status(), 200) << name;
  }
  // Served the default certificate although an SNI was sent: counted, not refused.
  EXPECT_TRUE(eventually([&] {
    const TlsStats s = server_->tls_stats();
    return s.handshakes == 7 && s.unknown_sni == 3;
  })) << server_->tls_stats().unknown_sni;
  EXPECT_EQ(server_->tls_stats().handshake_failures, 0u);
}

TEST_F(TlsProxyTest, OldProtocolVersionsAreRefused) {
  for (const int version : {TLS1_VERSION, TLS1_1_VERSION}) {
    TlsClient c(
        https_port_,
        {.sni = "a.example.com", .min_version = version, .max_version = version, .legacy = true});
    EXPECT_FALSE(c.connected()) << version;
  }
  // The server saw both and refused them (rather than the client never trying).
  EXPECT_TRUE(eventually([&] { return server_->tls_stats().handshake_failures == 2; }))
      << server_->tls_stats().handshake_failures;
  TlsClient tls12(https_port_,
                  {.sni = "a.example.com", .ca = pki().ca.leaf(), .max_version = TLS1_2_VERSION});
  ASSERT_TRUE(tls12.connected()) << tls12.error();
  EXPECT_EQ(std::string(SSL_get_version(tls12.ssl())), "TLSv1.2");
}

TEST_F(TlsProxyTest, NewCertificateForNewHandshakesOldConnectionKeepsWorking) {
  TlsClient old(https_port_, verified("a.example.com"));
  ASSERT_TRUE(old.connected()) << old.error();
  EXPECT_EQ(old.peer_fingerprint(), exact_->fingerprint_sha256());

  // Publish a store with a new certificate for a.example.com.
  const tls::CertifiedKey renewed = pki().issue({"a.example.com"});
  {
    auto next = snapshot(renewed, pki().default_context);
    server_->publish(std::move(next));
  }
  std::string seen;
  ASSERT_TRUE(eventually([&] {
    TlsClient fresh(https_port_, verified("a.example.com"));
    seen = fresh.peer_fingerprint();
    return seen == renewed.fingerprint_sha256();
  })) << seen;

  ASSERT_TRUE(old.send(get("/still", "a.example.com")));
  auto r = old.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 200);
  EXPECT_EQ(r->body, "up /still 0");
  EXPECT_EQ(old.peer_fingerprint(), exact_->fingerprint_sha256());
}

TEST_F(TlsProxyTest, ReplacedStoreIsFreedWhileItsConnectionLivesOn) {
  // A store only this test and the server hold, so its lifetime can be watched.
  std::weak_ptr<const tls::CertStore> watched;
  {
    auto first = snapshot(*exact_, pki().default_context);
    watched = first->certs;
    server_->publish(std::move(first));
  }
  ASSERT_TRUE(eventually([&] {
    TlsClient probe(https_port_, verified("a.example.com"));
    return probe.connected();
  }));
  // Connections made after the publish on every worker use `watched`: make a few.
  std::vector<std::unique_ptr<TlsClient>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<TlsClient>(https_port_, verified("a.example.com")));
    ASSERT_TRUE(clients.back()->connected());
  }
  server_->publish(snapshot(*exact_, pki().default_context));
  EXPECT_TRUE(eventually([&] { return watched.expired(); }))
      << "an established TLS connection keeps the snapshot of its handshake alive";
  for (auto& c : clients) {
    ASSERT_TRUE(c->send(get("/after", "a.example.com")));
    auto r = c->response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 200);
  }
}

TEST_F(TlsProxyTest, PlainHttpOnTheTlsPortIsClosed) {
  Client c("127.0.0.1", https_port_);
  ASSERT_TRUE(c.send(get("/", "a.example.com")));
  test::Reader reader(c.fd());
  std::string got;
  uint64_t count = 0;
  reader.rest(&got, &count);
  EXPECT_TRUE(reader.eof() || errno == ECONNRESET) << "not closed";
  EXPECT_NE(got.rfind("HTTP/", 0), 0u) << got;
  EXPECT_TRUE(eventually([&] { return server_->tls_stats().plain_http == 1; }));
  EXPECT_TRUE(upstream_->records().empty());
  // Everything else keeps working.
  TlsClient ok(https_port_, verified("a.example.com"));
  EXPECT_TRUE(ok.connected()) << ok.error();
}

TEST_F(TlsProxyTest, HandshakeDeadline) {
  // A silent client and one that stops in the middle of its ClientHello are closed once
  // handshake_timeout has passed; the client's own timeout (10 s) bounds the wait.
  Client silent("127.0.0.1", https_port_);
  Client stalled("127.0.0.1", https_port_);
  ASSERT_TRUE(stalled.send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)));
  const auto start = Clock::now();
  EXPECT_TRUE(silent.closed_by_peer());
  EXPECT_TRUE(stalled.closed_by_peer());
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(8));
  EXPECT_TRUE(eventually([&] { return server_->tls_stats().handshake_timeouts == 2; }));

  // The deadline covers the handshake only: an established connection idle for several
  // handshake timeouts is still served. (A first exchange reads the TLS 1.3 session
  // tickets sent after the handshake, so that poll() below sees only a close.)
  TlsClient c(https_port_, verified("a.example.com"));
  ASSERT_TRUE(c.connected()) << c.error();
  ASSERT_TRUE(c.send(get("/first", "a.example.com")));
  ASSERT_TRUE(c.response());
  pollfd p{c.fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, static_cast<int>(kHandshakeTimeout.count() * 3)), 0)
      << "closed or written to while idle";
  ASSERT_TRUE(c.send(get("/idle", "a.example.com")));
  auto r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 200);
}

TEST_F(TlsProxyTest, PlainHttpForTlsRoutesIsRedirected) {
  Client c("127.0.0.1", http_port_);
  ASSERT_TRUE(c.send(get("/a/../b//c?x=1&y=%20z", "A.Example.COM:" + std::to_string(http_port_))));
  auto r = c.response();
  ASSERT_TRUE(r && r->complete);
  EXPECT_EQ(r->status(), 308);
  EXPECT_EQ(r->get("Location"), "https://a.example.com:8443/b/c?x=1&y=%20z");
  EXPECT_EQ(r->get("Strict-Transport-Security"), "") << "no HSTS over plain HTTP";
  EXPECT_FALSE(r->body.empty());
  EXPECT_EQ(r->get("Connection"), "");  // kept: the request had no body

  // Same connection: wildcard host, empty query kept as "?", force-ssl-redirect without TLS.
  ASSERT_TRUE(c.send(get("/p?", "b.w.example.com")));
  r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get("Location"), "https://b.w.example.com:8443/p?");
  ASSERT_TRUE(c.send(get("/f", "forced.example.com")));
  r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 308);
  EXPECT_EQ(r->get("Location"), "https://forced.example.com:8443/f");

  // A request with a body: redirected too (308 keeps the method), then closed.
  ASSERT_TRUE(
      c.send("POST /form HTTP/1.1\r\nHost: a.example.com\r\nContent-Length: 5\r\n\r\nhello"));
  r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 308);
  EXPECT_EQ(r->get("Location"), "https://a.example.com:8443/form");
  EXPECT_EQ(r->get("Connection"), "close");
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_TRUE(upstream_->records().empty()) << "a redirect must not reach the upstream";

  // No redirect: ssl-redirect switched off, and hosts without TLS.
  for (const char* host : {"optout.example.com", "plain.example.com"}) {
    Client p("127.0.0.1", http_port_);
    ASSERT_TRUE(p.send(get("/x?y=1", host)));
    auto pr = p.response();
    ASSERT_TRUE(pr) << host;
    EXPECT_EQ(pr->status(), 200) << host;
    EXPECT_EQ(pr->get("Strict-Transport-Security"), "") << host;
  }
  const auto records = upstream_->records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].request.get("X-Forwarded-Proto"), "http");
  EXPECT_EQ(records[0].request.get("X-Forwarded-Port"), std::to_string(http_port_));
}

TEST_F(TlsProxyTest, RedirectToPort443HasNoPort) {
  ProxyOptions o = options();
  o.https_redirect_port = 443;
  Server* other = start(o);
  ASSERT_TRUE(other);
  Client c("127.0.0.1", port_of(other->http_address()));
  ASSERT_TRUE(c.send(get("/a?b=c", "a.example.com:80")));
  auto r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 308);
  EXPECT_EQ(r->get("Location"), "https://a.example.com/a?b=c");
}

TEST_F(TlsProxyTest, HstsOnHttpsResponsesOfTlsRoutes) {
  const std::string hsts = ProxyOptions{}.hsts_value;
  struct Row {
    const char* host;
    const char* target;
    int status;
    bool hsts;
  };
  const Row rows[] = {
      {"a.example.com", "/h", 200, true},
      {"x.w.example.com", "/h", 200, true},
      {"optout.example.com", "/h", 200, true},  // TLS without redirect: HSTS still
      {"plain.example.com", "/h", 200, false},
      {"forced.example.com", "/h", 200, false},   // redirected over HTTP, but no TLS entry
      {"empty.example.com", "/h", 503, true},     // our own answer for a TLS route
      {"nowhere.example.com", "/h", 404, false},  // no route
  };
  TlsClient c(https_port_, {.sni = "a.example.com"});
  ASSERT_TRUE(c.connected()) << c.error();
  for (const Row& row : rows) {
    ASSERT_TRUE(c.send(get(row.target, row.host)));
    auto r = c.response();
    ASSERT_TRUE(r) << row.host;
    EXPECT_EQ(r->status(), row.status) << row.host;
    EXPECT_EQ(r->all("Strict-Transport-Security"),
              row.hsts ? std::vector<std::string>{hsts} : std::vector<std::string>{})
        << row.host;
  }

  ProxyOptions o = options();
  o.hsts = false;
  Server* off = start(o);
  ASSERT_TRUE(off);
  TlsClient d(port_of(off->https_address()), verified("a.example.com"));
  ASSERT_TRUE(d.connected()) << d.error();
  ASSERT_TRUE(d.send(get("/h", "a.example.com")));
  auto r = d.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 200);
  EXPECT_EQ(r->get("Strict-Transport-Security"), "");
}

TEST_F(TlsProxyTest, StoreWithoutDefaultCertificateRefusesHttps) {
  auto s = std::make_shared<Snapshot>();
  s->routes = routing::RouteTable::Builder().build();
  s->certs = std::make_shared<tls::CertStore>();  // no default context
  server_->publish(s);
  EXPECT_TRUE(eventually([&] {
    TlsClient c(https_port_, {.sni = "a.example.com"});
    return !c.connected() && server_->tls_stats().no_certificate > 0;
  }));
  // Plain HTTP is unaffected.
  Client p("127.0.0.1", http_port_);
  ASSERT_TRUE(p.send(get("/", "a.example.com")));
  auto r = p.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 404);
}

TEST(TlsServerCreate, HttpsAddressIsBoundOrRefused) {
  std::string error;
  ProxyOptions o;
  o.http_address = "127.0.0.1:0";
  o.workers = 2;
  o.access_log = false;
  auto without = Server::create(o, error);
  ASSERT_TRUE(without) << error;
  EXPECT_EQ(without->https_address(), "");

  o.https_address = "127.0.0.1:0";
  auto with = Server::create(o, error);
  ASSERT_TRUE(with) << error;
  EXPECT_EQ(with->https_address().rfind("127.0.0.1:", 0), 0u);
  EXPECT_NE(with->https_address(), with->http_address());

  ProxyOptions taken = o;
  taken.https_address = with->https_address();
  EXPECT_FALSE(Server::create(taken, error));
  EXPECT_NE(error.find("in use"), std::string::npos) << error;

  ProxyOptions same = o;
  same.http_address = "127.0.0.1:18444";
  same.https_address = "0.0.0.0:18444";
  EXPECT_FALSE(Server::create(same, error));
  EXPECT_NE(error.find("overlaps"), std::string::npos) << error;

  ProxyOptions bad = o;
  bad.https_address = "nonsense";
  EXPECT_FALSE(Server::create(bad, error));
}

}  // namespace
}  // namespace lintel::proxy
