// The proxy on loopback: a real proxy::Server on 127.0.0.1:0 with a hand-built snapshot,
// in-test upstreams on 127.0.0.N, raw-socket clients.

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "proxy/log.h"
#include "proxy/server.h"
#include "test_support.h"

namespace lintel::proxy {
namespace {

using test::Client;
using test::Upstream;

std::shared_ptr<const routing::Backend> make_backend(
    const std::string& name, const std::vector<std::pair<std::string, uint16_t>>& endpoints) {
  auto backend = std::make_shared<routing::Backend>();
  backend->name = name;
  auto set = std::make_shared<routing::EndpointSet>();
  for (const auto& [address, port] : endpoints) {
    routing::Endpoint ep;
    ep.address = address;
    ep.port = port;
    set->endpoints.push_back(ep);
  }
  backend->endpoints = set;
  if (endpoints.empty()) backend->problem = "no ready endpoints";
  return backend;
}

routing::Route prefix(const std::string& path, std::shared_ptr<const routing::Backend> backend) {
  routing::Route r;
  r.path = path;
  r.match = routing::PathMatch::kPrefix;
  r.rule_path = path;
  r.path_type = "Prefix";
  r.backend = std::move(backend);
  r.source = "test";
  return r;
}

SnapshotPtr make_snapshot(routing::RouteTable::Builder builder) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->routes = std::move(builder).build();
  snapshot->certs = std::make_shared<tls::CertStore>();
  return snapshot;
}

// A port on `address` with nothing listening (bound, then closed).
uint16_t dead_port(const std::string& address) {
  Upstream probe(address, "probe");
  const uint16_t port = probe.port();
  probe.stop();
  return port;
}

uint16_t port_of(const Server& server) {
  const std::string a = server.http_address();
  return static_cast<uint16_t>(std::stoi(a.substr(a.rfind(':') + 1)));
}

std::string get(const std::string& path, const std::string& host = "app.example",
                const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "\r\n";
}

class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    live_ = std::make_unique<Upstream>("127.0.0.21", "live");
    second_ = std::make_unique<Upstream>("127.0.0.22", "second");
    const uint16_t dead = dead_port("127.0.0.23");
    routing::RouteTable::Builder b;
    b.add_route("app.example",
                prefix("/", make_backend("default/app:80", {{"127.0.0.21", live_->port()}})));
    b.add_route("two.example",
                prefix("/", make_backend("default/two:80", {{"127.0.0.21", live_->port()},
                                                            {"127.0.0.22", second_->port()}})));
    b.add_route("dead.example",
                prefix("/", make_backend("default/dead:80", {{"127.0.0.23", dead}})));
    b.add_route("mixed.example",
                prefix("/", make_backend("default/mixed:80",
                                         {{"127.0.0.23", dead}, {"127.0.0.21", live_->port()}})));
    b.add_route("noeps.example", prefix("/", make_backend("default/noeps:80", {})));
    ProxyOptions options;
    options.http_address = "127.0.0.1:0";
    options.workers = 2;
    options.access_log = false;
    options.response_timeout = std::chrono::milliseconds(1500);
    std::string error;
    server_ = Server::create(options, error);
    ASSERT_TRUE(server_) << error;
    server_->publish(make_snapshot(std::move(b)));
    server_->start();
    port_ = port_of(*server_);
  }
  void TearDown() override {
    if (server_) server_->stop();
  }

  std::unique_ptr<Upstream> live_, second_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
};

TEST_F(ProxyTest, BindsAllWorkersToOnePort) {
  EXPECT_EQ(server_->http_address().rfind("127.0.0.1:", 0), 0u);
  EXPECT_NE(port_, 0);
  std::string error;
  ProxyOptions taken;
  taken.http_address = server_->http_address();
  EXPECT_FALSE(Server::create(taken, error));
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
  ProxyOptions bad;
  bad.http_address = "nonsense";
  EXPECT_FALSE(Server::create(bad, error));
  ProxyOptions v6;
  v6.http_address = "[::1]:0";
  v6.workers = 2;
  auto server = Server::create(v6, error);
  if (server) {  // hosts without IPv6 loopback skip this part
    EXPECT_EQ(server->http_address().rfind("[::1]:", 0), 0u) << server->http_address();
  }
}

// The response head is re-serialized from what the parser kept: status, reason phrase (the
// standard one when the upstream sent none, as Beast's header gave), every field in order
// with its case, and 1xx heads forwarded to an HTTP/1.1 client. Twice on one connection:
// the session reuses the storage of the previous head.
TEST_F(ProxyTest, ResponseHeadFieldsReasonAndInterimHeads) {
  Client c("127.0.0.1", port_);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.send(get("/early-hints")));
    test::Reader r(c.fd());
    auto hints = test::read_message(r, true);
    ASSERT_TRUE(hints);
    EXPECT_EQ(hints->start_line, "HTTP/1.1 103 Early Hints");
    EXPECT_EQ(hints->get("Link"), "</a.css>; rel=preload");
    auto m = test::read_message(r, true);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->start_line, "HTTP/1.1 200 OK");
    ASSERT_EQ(m->headers.size(), 4u);
    EXPECT_EQ(m->headers[0], (std::pair<std::string, std::string>("x-upstream", "live")));
    EXPECT_EQ(m->headers[1], (std::pair<std::string, std::string>("Set-Cookie", "a=1")));
    EXPECT_EQ(m->headers[2], (std::pair<std::string, std::string>("SET-COOKIE", "b=2")));
    EXPECT_EQ(m->headers[3].first, "Content-Length");
    EXPECT_EQ(m->body, "live /early-hints");
  }
}

// Chunk extensions are dropped when re-chunking; a long one is refused (400) before the
// chunk is forwarded, a short one passes.
TEST_F(ProxyTest, LongChunkExtensionRefused) {
  {
    Client c("127.0.0.1", port_);
    ASSERT_TRUE(
        c.send("POST /ext HTTP/1.1\r\nHost: app.example\r\n"
               "Transfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\n\r\n"));
    auto r = c.response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 200);
    EXPECT_EQ(r->body, "live /ext 3");
  }
  Client c("127.0.0.1", port_);
  ASSERT_TRUE(
      c.send("POST /ext HTTP/1.1\r\nHost: app.example\r\n"
             "Transfer-Encoding: chunked\r\n\r\n3;" +
             std::string(5000, 'x') + "\r\nabc\r\n0\r\n\r\n"));
  auto r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 400);
}

TEST_F(ProxyTest, KeepAliveReusesBothConnections) {
  Client c("127.0.0.1", port_);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send(get("/ka/" + std::to_string(i))));
    auto r = c.response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 200);
    EXPECT_EQ(r->body, "live /ka/" + std::to_string(i) + " 0");
    EXPECT_EQ(r->get("Connection"), "");
  }
  EXPECT_EQ(live_->connections(), 1u);  // the pooled upstream connection was reused
  const auto records = live_->records();
  ASSERT_EQ(records.size(), 3u);
  const auto& fwd = records[0].request;
  EXPECT_EQ(fwd.start_line, "GET /ka/0 HTTP/1.1");
  EXPECT_EQ(fwd.get("Host"), "app.example");
  EXPECT_EQ(fwd.get("X-Forwarded-For"), "127.0.0.1");
  EXPECT_EQ(fwd.get("X-Real-IP"), "127.0.0.1");
  EXPECT_EQ(fwd.get("X-Forwarded-Proto"), "http");
  EXPECT_EQ(fwd.get("X-Forwarded-Port"), std::to_string(port_));
  EXPECT_EQ(fwd.get("X-Request-ID").size(), 32u);
}

TEST_F(ProxyTest, PooledConnectionClosedByTheUpstreamIsRetriedOnANewOne) {
  // The pool hands out a connection parked a moment ago without checking it (kTrustedIdle):
  // the upstream closing it must cost a retry, never a 502.
  Client c("127.0.0.1", port_);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send(get("/r" + std::to_string(i) + "/last")));
    auto r = c.response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 200) << i;
    EXPECT_EQ(r->body, "live /r" + std::to_string(i) + "/last 0");
  }
  ASSERT_TRUE(c.send(get("/after")));
  auto r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 200);
  EXPECT_EQ(live_->connections(), 4u);
}

TEST_F(ProxyTest, PipelinedResponsesInOrder) {
  Client c("127.0.0.1", port_);
  ASSERT_TRUE(c.send(get("/delay?ms=200") + get("/p/2") + get("/p/3")));
  std::vector<std::string> bodies;
  for (int i = 0; i < 3; ++i) {
    auto r = c.response();
    ASSERT_TRUE(r);
    bodies.push_back(r->body);
  }
  EXPECT_EQ(bodies,
            (std::vector<std::string>{"live /delay?ms=200 0", "live /p/2 0", "live /p/3 0"}));
}

TEST_F(ProxyTest, ChunkedUploadIsRechunked) {
  Client c("127.0.0.1", port_);
  ASSERT_TRUE(
      c.send("POST /up?q=1 HTTP/1.1\r\nHost: app.example\r\nTransfer-Encoding: chunked\r\n"
             "\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"));
  auto r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "live /up?q=1 11");
  const auto rec = live_->records().at(0).request;
  EXPECT_TRUE(rec.chunked);
  EXPECT_EQ(rec.body, "hello world");
  EXPECT_EQ(rec.get("Content-Length"), "");
}

TEST_F(ProxyTest, ExpectContinueAnsweredByProxy) {
  Client c("127.0.0.1", port_);
  ASSERT_TRUE(
      c.send("POST /e HTTP/1.1\r\nHost: app.example\r\nContent-Length: 5\r\n"
             "Expect: 100-continue\r\n\r\n"));
  test::Reader interim(c.fd());
  auto line = interim.line();
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, "HTTP/1.1 100 Continue");
  ASSERT_TRUE(interim.line());  // the empty line ending the interim response
  ASSERT_TRUE(c.send("hello"));
  auto r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "live /e 5");
  EXPECT_EQ(live_->records().at(0).request.get("Expect"), "");
}

TEST_F(ProxyTest, ChunkedAndCloseDelimitedDownloads) {
  Client c("127.0.0.1", port_);
  ASSERT_TRUE(c.send(get("/download?bytes=300000&chunked=1")));
  auto r = c.response(false);
  ASSERT_TRUE(r && r->complete);
  EXPECT_TRUE(r->chunked);
  EXPECT_EQ(r->body_bytes, 300000u);
  // A body delimited by the upstream's close reaches an HTTP/1.1 client chunked, on a
  // connection that stays open.
  ASSERT_TRUE(c.send(get("/eof?bytes=70000")));
  r = c.response(false);
  ASSERT_TRUE(r && r->complete);
  EXPECT_TRUE(r->chunked);
  EXPECT_EQ(r->body_bytes, 70000u);
  ASSERT_TRUE(c.send(get("/after")));
  r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "live /after 0");
}

TEST_F(ProxyTest, Http10ClientGetsCloseDelimitedBody) {
  Client c("127.0.0.1", port_);
  ASSERT_TRUE(c.send("GET /download?bytes=5000&chunked=1 HTTP/1.0\r\nHost: app.example\r\n\r\n"));
  auto r = c.response(false);
  ASSERT_TRUE(r && r->complete);
  EXPECT_FALSE(r->chunked);
  EXPECT_EQ(r->body_bytes, 5000u);
  EXPECT_EQ(r->get("Connection"), "close");
}

TEST_F(ProxyTest, HeadResponseHasNoBody) {
  Client c("127.0.0.1", port_);
  ASSERT_TRUE(c.send("HEAD /download?bytes=5000 HTTP/1.1\r\nHost: app.example\r\n\r\n"));
  auto r = c.response(true, true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get("Content-Length"), "5000");
  ASSERT_TRUE(c.send(get("/after")));
  r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "live /after 0");
}

// An origin that wrongly sends the announced body after its response to HEAD. Those bytes
// can arrive at any moment, after any check the pool makes, and would be read as the start
// of the next response on that connection (a 502 for an innocent request, or, were they a
// well-formed response, the wrong answer relayed). So the connection is not reused.
TEST_F(ProxyTest, ConnectionAfterHeadResponseAnnouncingABodyIsNotReused) {
  Client c("127.0.0.1", port_);
  ASSERT_TRUE(c.send("HEAD /late-head-body?bytes=64 HTTP/1.1\r\nHost: app.example\r\n\r\n"));
  auto r = c.response(true, true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 200);
  EXPECT_EQ(r->get("Content-Length"), "64");
  ASSERT_TRUE(c.send(get("/after")));
  r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 200);
  EXPECT_EQ(r->body, "live /after 0");
  EXPECT_EQ(live_->connections(), 2u);
}

TEST_F(ProxyTest, OwnAnswersKeepTheConnection) {
  Client c("127.0.0.1", port_);
  for (const auto& [host, status] : std::vector<std::pair<std::string, int>>{
           {"unknown.example", 404}, {"noeps.example", 503}, {"dead.example", 502}}) {
    ASSERT_TRUE(c.send(get("/", host)));
    auto r = c.response();
    ASSERT_TRUE(r) << host;
    EXPECT_EQ(r->status(), status) << host;
    EXPECT_LT(r->body.size(), 100u);
  }
  ASSERT_TRUE(c.send(get("/after")));
  auto r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "live /after 0");
}

TEST_F(ProxyTest, UpstreamTimeoutIs504AndConnectionSurvives) {
  Client c("127.0.0.1", port_);
  ASSERT_TRUE(c.send(get("/delay?ms=3000")));
  auto r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 504);
  ASSERT_TRUE(c.send(get("/fast")));
  r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "live /fast 0");
}

TEST_F(ProxyTest, UpstreamClosingWithoutAnswerIs502) {
  Client c("127.0.0.1", port_);
  ASSERT_TRUE(c.send(get("/close")));
  auto r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 502);
  ASSERT_TRUE(c.send(get("/after")));
  r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "live /after 0");
}

TEST_F(ProxyTest, ConnectFailureTriesNextEndpointAndRoundRobinSpreads) {
  for (int i = 0; i < 4; ++i) {
    Client c("127.0.0.1", port_);
    ASSERT_TRUE(c.send(get("/", "mixed.example")));
    auto r = c.response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 200);
  }
  Client c("127.0.0.1", port_);
  std::set<std::string> names;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(c.send(get("/", "two.example")));
    auto r = c.response();
    ASSERT_TRUE(r);
    names.insert(r->get("X-Upstream"));
  }
  EXPECT_EQ(names, (std::set<std::string>{"live", "second"}));
}

TEST_F(ProxyTest, InvalidRequestGets400AndClose) {
  Client c("127.0.0.1", port_);
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: app.example\r\nContent-Length: x\r\n\r\n"));
  auto r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 400);
  EXPECT_EQ(r->get("Connection"), "close");
  EXPECT_TRUE(c.closed_by_peer());
  EXPECT_EQ(live_->records().size(), 0u);
}

long vm_hwm_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

TEST_F(ProxyTest, LargeBodiesStreamWithFlatMemory) {
  // LINTEL_PROXY_LARGE_BODY_MIB=1024 runs the 1 GiB version by hand.
  const char* env = std::getenv("LINTEL_PROXY_LARGE_BODY_MIB");
  const uint64_t kSize = (env ? std::stoull(env) : 64ull) * 1024 * 1024;
  constexpr long kMaxGrowthKib = 24 * 1024;
  Client c("127.0.0.1", port_);
  // Warm up, so that thread stacks and first allocations are counted before.
  ASSERT_TRUE(c.send(get("/download?bytes=1000000")));
  ASSERT_TRUE(c.response(false));
  const long before = vm_hwm_kib();
  ASSERT_TRUE(c.send("PUT /big HTTP/1.1\r\nHost: app.example\r\nContent-Length: " +
                     std::to_string(kSize) + "\r\n\r\n"));
  const std::string block(256 * 1024, 'u');
  for (uint64_t sent = 0; sent < kSize; sent += block.size()) ASSERT_TRUE(c.send(block));
  auto r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "live /big " + std::to_string(kSize));
  ASSERT_TRUE(c.send(get("/download?bytes=" + std::to_string(kSize))));
  r = c.response(false);
  ASSERT_TRUE(r && r->complete);
  EXPECT_EQ(r->body_bytes, kSize);
  const long after = vm_hwm_kib();
  EXPECT_LT(after - before, kMaxGrowthKib) << "VmHWM " << before << " → " << after << " KiB";
}

TEST_F(ProxyTest, PublishSwapsRoutesWithoutDroppingConnections) {
  Client c("127.0.0.1", port_);
  ASSERT_TRUE(c.send(get("/", "new.example")));
  auto r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 404);
  routing::RouteTable::Builder b;
  b.add_route("new.example",
              prefix("/", make_backend("default/new:80", {{"127.0.0.22", second_->port()}})));
  server_->publish(make_snapshot(std::move(b)));
  // Poll with a deadline: the swap is posted to each worker.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int status = 0;
  while (status != 200 && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(c.send(get("/", "new.example")));
    r = c.response();
    ASSERT_TRUE(r);
    status = r->status();
  }
  EXPECT_EQ(status, 200);
  EXPECT_EQ(r->get("X-Upstream"), "second");
}

// ---------------------------------------------------------------- log volume

TEST(LogThrottle, CountsRefusedAndCapsWarningsPerInterval) {
  LogThrottle throttle(2);
  EXPECT_EQ(throttle.summary(), "");
  throttle.count_refused();
  EXPECT_TRUE(throttle.allow_warning());
  EXPECT_TRUE(throttle.allow_warning());
  EXPECT_FALSE(throttle.allow_warning());
  EXPECT_FALSE(throttle.allow_warning());
  EXPECT_EQ(throttle.summary(),
            "1 request refused as invalid, over a limit or too slow (logged at debug level; "
            "each is in the access log); 2 upstream failure warnings suppressed (over 2 per "
            "interval)");
  // A new interval: the budget is back, the counts start again.
  EXPECT_TRUE(throttle.allow_warning());
  EXPECT_EQ(throttle.summary(), "");
  for (int i = 0; i < 3; ++i) throttle.count_refused();
  EXPECT_EQ(throttle.summary(),
            "3 requests refused as invalid, over a limit or too slow (logged at debug level; "
            "each is in the access log)");
}

// ---------------------------------------------------------------- body limits

// Per-route body limits (the proxy-body-size annotation, carried on routing::Route), with
// ProxyOptions::max_body_bytes as the fallback for routes that set none.
class BodyLimitTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kRouteLimit = 1024;
  static constexpr uint64_t kGlobalLimit = 4096;
  static constexpr uint64_t kDefaultRouteLimit = 100;

  void SetUp() override {
    live_ = std::make_unique<Upstream>("127.0.0.41", "live");
    const auto backend = make_backend("default/app:80", {{"127.0.0.41", live_->port()}});
    routing::RouteTable::Builder b;
    auto limited = prefix("/", backend);
    limited.max_body_bytes = kRouteLimit;
    b.add_route("limit.example", limited);
    auto unlimited = prefix("/free", backend);
    unlimited.max_body_bytes = 0;  // "0": no limit, even over the global one
    b.add_route("limit.example", unlimited);
    b.add_route("plain.example", prefix("/", backend));  // none set: the global limit
    routing::Route fallback;
    fallback.backend = backend;
    fallback.max_body_bytes = kDefaultRouteLimit;
    b.set_default_route(fallback);
    ProxyOptions options;
    options.http_address = "127.0.0.1:0";
    options.access_log = false;
    options.max_body_bytes = kGlobalLimit;
    std::string error;
    server_ = Server::create(options, error);
    ASSERT_TRUE(server_) << error;
    server_->publish(make_snapshot(std::move(b)));
    server_->start();
    port_ = port_of(*server_);
  }
  void TearDown() override {
    if (server_) server_->stop();
  }

  static std::string post(const std::string& path, const std::string& host, uint64_t length) {
    return "POST " + path + " HTTP/1.1\r\nHost: " + host +
           "\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n" +
           std::string(static_cast<size_t>(length), 'b');
  }
  static std::string chunk(size_t n) {
    char size_line[32];
    std::snprintf(size_line, sizeof size_line, "%zx\r\n", n);
    return size_line + std::string(n, 'c') + "\r\n";
  }
  static constexpr const char* kChunkedHead =
      "POST /up HTTP/1.1\r\nHost: limit.example\r\nTransfer-Encoding: chunked\r\n\r\n";

  // The answer is 413 with Connection: close, then the connection is closed.
  static void expect_413_and_close(Client& c) {
    auto r = c.response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 413);
    EXPECT_EQ(r->get("Connection"), "close");
    EXPECT_TRUE(c.closed_by_peer());
  }

  std::unique_ptr<Upstream> live_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
};

TEST_F(BodyLimitTest, ContentLengthOverTheRouteLimitIs413BeforeForwarding) {
  Client c("127.0.0.1", port_);
  ASSERT_TRUE(c.send(post("/up", "limit.example", kRouteLimit + 1)));
  expect_413_and_close(c);
  EXPECT_EQ(live_->connections(), 0u);  // no upstream was even connected to
}

TEST_F(BodyLimitTest, BodiesUpToTheLimitPass) {
  Client c("127.0.0.1", port_);
  ASSERT_TRUE(c.send(post("/up", "limit.example", kRouteLimit)));
  auto r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "live /up " + std::to_string(kRouteLimit));
  // Chunked, in two chunks summing to the limit, on the same connection.
  ASSERT_TRUE(
      c.send(std::string(kChunkedHead) + chunk(kRouteLimit - 24) + chunk(24) + "0\r\n\r\n"));
  r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "live /up " + std::to_string(kRouteLimit));
  EXPECT_EQ(live_->records().at(1).request.body_bytes, kRouteLimit);
}

TEST_F(BodyLimitTest, ChunkOverTheLimitInTheFirstBytesIs413WithoutForwarding) {
  Client c("127.0.0.1", port_);
  ASSERT_TRUE(c.send(std::string(kChunkedHead) + "401\r\n"));
  expect_413_and_close(c);
  EXPECT_EQ(live_->connections(), 0u);
}

TEST_F(BodyLimitTest, ChunkedBodyGoingOverTheLimitWhileStreamedIsCut) {
  Client c("127.0.0.1", port_);
  ASSERT_TRUE(c.send(std::string(kChunkedHead) + chunk(1000)));
  // The request is on its way upstream (its first chunk under the limit) before the chunk
  // that goes over arrives.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (live_->connections() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // poll interval, not a wait
  }
  ASSERT_EQ(live_->connections(), 1u);
  ASSERT_TRUE(c.send(chunk(100)));
  expect_413_and_close(c);
  EXPECT_EQ(live_->complete_count(), 0u);  // the upstream never saw a whole request
}

TEST_F(BodyLimitTest, ZeroLiftsTheGlobalLimitAndRoutesWithoutOneUseIt) {
  Client c("127.0.0.1", port_);
  ASSERT_TRUE(c.send(post("/free", "limit.example", kGlobalLimit * 2)));
  auto r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "live /free " + std::to_string(kGlobalLimit * 2));
  ASSERT_TRUE(c.send(post("/", "plain.example", kGlobalLimit)));
  r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 200);
  ASSERT_TRUE(c.send(post("/", "plain.example", kGlobalLimit + 1)));
  expect_413_and_close(c);
}

TEST_F(BodyLimitTest, DefaultRouteHasItsOwnLimit) {
  Client c("127.0.0.1", port_);
  ASSERT_TRUE(c.send(post("/", "unknown.example", kDefaultRouteLimit)));
  auto r = c.response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 200);
  ASSERT_TRUE(c.send(post("/", "unknown.example", kDefaultRouteLimit + 1)));
  expect_413_and_close(c);
}

// ---------------------------------------------------------------- hostile vectors

class HostileVectorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"public", "admin", "internal"}) {
      const std::string address = "127.0.0." + std::to_string(31 + upstreams_.size());
      upstreams_[name] = std::make_unique<Upstream>(address, name);
    }
    auto backend = [&](const std::string& name) {
      return make_backend("default/" + name + ":80",
                          {{upstreams_[name]->address(), upstreams_[name]->port()}});
    };
    routing::RouteTable::Builder b;
    b.add_route("example.com", prefix("/admin", backend("admin")));
    b.add_route("example.com", prefix("/", backend("public")));
    b.add_route("internal.example", prefix("/", backend("internal")));
    ProxyOptions options;
    options.http_address = "127.0.0.1:0";
    options.access_log = false;
    options.header_timeout = std::chrono::milliseconds(1000);
    options.client_body_timeout = std::chrono::milliseconds(1000);
    options.max_body_bytes = 1024 * 1024;  // the body-limit vectors assume one
    std::string error;
    server_ = Server::create(options, error);
    ASSERT_TRUE(server_) << error;
    server_->publish(make_snapshot(std::move(b)));
    server_->start();
  }
  void TearDown() override {
    if (server_) server_->stop();
  }

  size_t forwarded_count() {
    size_t n = 0;
    for (auto& [name, u] : upstreams_) n += u->complete_count();
    return n;
  }

  std::map<std::string, std::unique_ptr<Upstream>> upstreams_;
  std::unique_ptr<Server> server_;
};

std::string to_latin1(const std::string& utf8) {
  // The vectors' raw strings are JSON strings of code points 0-255, one per byte.
  std::string out;
  for (size_t i = 0; i < utf8.size(); ++i) {
    const auto c = static_cast<unsigned char>(utf8[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      const auto c2 = static_cast<unsigned char>(utf8[++i]);
      out.push_back(static_cast<char>(((c & 0x1f) << 6) | (c2 & 0x3f)));
    }
  }
  return out;
}

TEST_F(HostileVectorsTest, PublicVectors) {
  std::ifstream file(std::string(LINTEL_SHARED_DIR) + "/vectors/hostile-public.json");
  ASSERT_TRUE(file) << "missing " << LINTEL_SHARED_DIR << "/vectors/hostile-public.json";
  const auto vectors = nlohmann::json::parse(file);
  ASSERT_GT(vectors.size(), 50u);
  const uint16_t port = port_of(*server_);
  for (const auto& vector : vectors) {
    const std::string name = vector["name"];
    SCOPED_TRACE(name);
    const auto& expect = vector["expect"];
    const size_t wanted = expect.contains("responses") ? expect["responses"].size() : 1;
    const size_t before = forwarded_count();
    std::vector<int> statuses;
    bool closed = false;
    {
      Client c("127.0.0.1", port, 5000);
      ASSERT_TRUE(c.connected());
      c.send(to_latin1(vector["raw"]));
      for (size_t i = 0; i < wanted; ++i) {
        auto r = c.response();
        if (!r) break;
        statuses.push_back(r->status());
      }
      const bool want_close = expect.value("close", false) ||
                              (expect.contains("alt") && expect["alt"].value("close", false));
      if (want_close) closed = c.closed_by_peer();
    }
    const bool forwarded = forwarded_count() > before;

    // Accepted outcomes: the preferred one and the alternative.
    std::vector<nlohmann::json> accepted = {expect};
    if (expect.contains("alt")) {
      auto alt = expect["alt"];
      if (!alt.contains("status")) alt["status"] = expect["status"];
      accepted.push_back(alt);
    }
    std::string problems;
    bool ok = false;
    for (const auto& e : accepted) {
      std::string why;
      if (e.contains("responses")) {
        std::vector<int> want = e["responses"];
        std::vector<int> got = statuses;
        got.resize(want.size(), 0);
        if (got != want) why += "responses differ; ";
      } else {
        std::vector<int> allowed;
        if (e["status"].is_array()) {
          allowed = e["status"].get<std::vector<int>>();
        } else {
          allowed = {e["status"].get<int>()};
        }
        const int first = statuses.empty() ? 0 : statuses[0];
        if (std::find(allowed.begin(), allowed.end(), first) == allowed.end()) {
          why += "status " + std::to_string(first) + "; ";
        }
      }
      if (e.value("forwarded", false) != forwarded) {
        why += std::string("forwarded=") + (forwarded ? "true" : "false") + "; ";
      }
      if (e.value("close", false) && !closed) why += "not closed; ";
      if (why.empty()) {
        ok = true;
        break;
      }
      problems += "[" + why + "] ";
    }
    EXPECT_TRUE(ok) << name << ": " << problems;
    if (ok && forwarded && expect.contains("forwarded_path")) {
      bool found = false;
      for (auto& [n, u] : upstreams_) {
        for (const auto& rec : u->records()) {
          if (rec.request.start_line ==
              "GET " + expect["forwarded_path"].get<std::string>() + " HTTP/1.1") {
            found = true;
          }
        }
      }
      EXPECT_TRUE(found) << name << ": forwarded path";
    }
  }
}

}  // namespace
}  // namespace lintel::proxy
