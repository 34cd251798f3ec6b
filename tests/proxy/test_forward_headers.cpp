#include <gtest/gtest.h>

#include "proxy/access_log.h"
#include "proxy/errors.h"
#include "proxy/forward_headers.h"
#include "proxy/request_head.h"
#include "proxy/request_id.h"

namespace lintel::proxy {
namespace {

// Scans and validates `raw` (a complete head), then builds the upstream head.
std::string forward(const std::string& raw, std::string_view client = "192.0.2.7",
                    std::string_view id = "id-1") {
  HeadLimits limits;
  RequestHeadScanner scanner(limits);
  EXPECT_EQ(scanner.scan(raw), RequestHeadScanner::State::kComplete) << raw;
  const RequestHead head = scanner.head(raw);
  const Validation v = validate_request(head, limits);
  EXPECT_FALSE(v.error) << v.detail;
  ForwardContext ctx;
  ctx.client_address = client;
  ctx.listener_port = 8080;
  ctx.request_id = id;
  return upstream_request_head(v.request, head.fields, ctx);
}

TEST(UpstreamRequestHead, RewritesForwardingAndHopByHopFields) {
  const std::string out = forward(
      "GET /a/../b?x=1 HTTP/1.1\r\n"
      "Host: Example.com:8080\r\n"
      "Connection: keep-alive, X-Secret\r\n"
      "X-Secret: s\r\n"
      "Keep-Alive: timeout=5\r\n"
      "Proxy-Connection: keep-alive\r\n"
      "TE: trailers\r\n"
      "Upgrade: websocket\r\n"
      "X-Forwarded-For: 10.0.0.1\r\n"
      "X-Forwarded-Proto: https\r\n"
      "X-Real-IP: 10.0.0.1\r\n"
      "X-Forwarded-Host: evil\r\n"
      "Accept: a\r\n"
      "Accept: b\r\n"
      "\r\n");
  EXPECT_EQ(out,
            "GET /b?x=1 HTTP/1.1\r\n"
            "Host: Example.com:8080\r\n"
            "Accept: a\r\n"
            "Accept: b\r\n"
            "X-Forwarded-For: 10.0.0.1, 192.0.2.7\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: Example.com:8080\r\n"
            "X-Forwarded-Port: 8080\r\n"
            "X-Real-IP: 192.0.2.7\r\n"
            "X-Request-ID: id-1\r\n"
            "\r\n");
}

TEST(UpstreamRequestHead, ChunkedIsReframedAndExpectAnswered) {
  const std::string out = forward(
      "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
      "Expect: 100-continue\r\n\r\n");
  EXPECT_NE(out.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_EQ(out.find("Expect"), std::string::npos);
}

TEST(UpstreamRequestHead, ContentLengthKept) {
  const std::string out = forward("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 0005\r\n\r\n");
  EXPECT_NE(out.find("Content-Length: 5\r\n"), std::string::npos);
}

TEST(UpstreamRequestHead, Http10WithoutHostGetsOne) {
  const std::string out = forward("GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(out.rfind("GET / HTTP/1.1\r\nHost: \r\n", 0), 0u) << out;
}

TEST(UpstreamRequestHead, AbsoluteFormBecomesOriginForm) {
  const std::string out =
      forward("GET http://example.com/x?y HTTP/1.1\r\nHost: example.com\r\n\r\n");
  EXPECT_EQ(out.rfind("GET /x?y HTTP/1.1\r\n", 0), 0u) << out;
}

TEST(DownstreamResponseHead, DropsHopByHopAndSetsFraming) {
  const std::vector<HeaderField> fields = {
      {"Content-Type", "text/plain"},   {"Connection", "X-Hop"},     {"X-Hop", "1"},
      {"Transfer-Encoding", "chunked"}, {"Keep-Alive", "timeout=5"}, {"Set-Cookie", "a=1"}};
  EXPECT_EQ(downstream_response_head(200, "OK", fields, ResponseFraming::kChunked, 0, false, 11),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\n"
            "Transfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(downstream_response_head(200, "OK", {{"Content-Length", "9"}}, ResponseFraming::kClose,
                                     0, true, 10),
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(downstream_response_head(200, "OK", {{"Content-Length", "9"}}, ResponseFraming::kNone,
                                     0, false, 10),
            "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: keep-alive\r\n\r\n");
}

TEST(DownstreamResponseHead, HstsAddedUnlessTheUpstreamSentIt) {
  const std::string hsts = "max-age=31536000; includeSubDomains";
  EXPECT_EQ(downstream_response_head(200, "OK", {{"A", "1"}}, ResponseFraming::kContentLength, 2,
                                     false, 11, hsts),
            "HTTP/1.1 200 OK\r\nA: 1\r\nStrict-Transport-Security: " + hsts +
                "\r\nContent-Length: 2\r\n\r\n");
  // The upstream's own policy is kept, and never doubled.
  EXPECT_EQ(downstream_response_head(200, "OK", {{"strict-transport-security", "max-age=0"}},
                                     ResponseFraming::kNone, 0, false, 11, hsts),
            "HTTP/1.1 200 OK\r\nstrict-transport-security: max-age=0\r\n\r\n");
  EXPECT_EQ(downstream_response_head(204, "No Content", {}, ResponseFraming::kNone, 0, false, 11),
            "HTTP/1.1 204 No Content\r\n\r\n");
}

// The session builds both heads into strings it keeps across requests: the result must
// not depend on what the string held before.
TEST(ForwardHeaders, HeadsIntoAReusedStringEqualTheReturnedOnes) {
  HeadLimits limits;
  const std::string raw =
      "POST /p?q=1 HTTP/1.1\r\nHost: h\r\nConnection: x-drop\r\nX-Drop: 1\r\n"
      "X-Forwarded-For: 10.0.0.1\r\nContent-Length: 5\r\n\r\n";
  RequestHeadScanner scanner(limits);
  ASSERT_EQ(scanner.scan(raw), RequestHeadScanner::State::kComplete);
  const RequestHead head = scanner.head(raw);
  const Validation v = validate_request(head, limits);
  ASSERT_FALSE(v.error) << v.detail;
  ForwardContext ctx;
  ctx.client_address = "192.0.2.7";
  ctx.listener_port = 65535;
  ctx.request_id = "id-1";
  std::string out(4096, 'x');  // stale, longer content
  upstream_request_head(v.request, head.fields, ctx, out);
  EXPECT_EQ(out, upstream_request_head(v.request, head.fields, ctx));
  EXPECT_NE(out.find("X-Forwarded-Port: 65535\r\n"), std::string::npos) << out;

  const std::vector<HeaderField> fields = {{"Content-Type", "text/plain"}, {"Content-Length", "2"}};
  out.assign(4096, 'y');
  downstream_response_head(200, "OK", fields, ResponseFraming::kContentLength, 2, false, 10,
                           "max-age=1", out);
  EXPECT_EQ(out, downstream_response_head(200, "OK", fields, ResponseFraming::kContentLength, 2,
                                          false, 10, "max-age=1"));
}

TEST(RequestId, IntoAReusedStringLikeNext) {
  RequestIdGenerator a(42);
  RequestIdGenerator b(42);
  std::string out(100, 'z');
  for (int i = 0; i < 3; ++i) {
    a.next(out);
    EXPECT_EQ(out, b.next());
    EXPECT_EQ(out.size(), 32u);
  }
}

TEST(Redirect, LocationAndResponse) {
  EXPECT_EQ(https_location("a.example.com", 443, "/p", true, "x=1&y=%20z"),
            "https://a.example.com/p?x=1&y=%20z");
  EXPECT_EQ(https_location("a.example.com", 8443, "/", false, ""), "https://a.example.com:8443/");
  EXPECT_EQ(https_location("[::1]", 8443, "/p", true, ""), "https://[::1]:8443/p?");
  EXPECT_EQ(redirect_response("https://h/", false, "id"),
            "HTTP/1.1 308 Permanent Redirect\r\nLocation: https://h/\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 21\r\n"
            "X-Request-ID: id\r\n\r\nredirecting to https\n");
  const std::string closing = redirect_response("https://h/", true, "");
  EXPECT_NE(closing.find("\r\nConnection: close\r\n\r\n"), std::string::npos) << closing;
  EXPECT_EQ(closing.find("X-Request-ID"), std::string::npos);
}

TEST(ErrorResponse, ExtraFieldsBeforeConnection) {
  EXPECT_EQ(error_response(ErrorKind::kNoEndpoints, true, "", "Strict-Transport-Security: x\r\n"),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 23\r\nStrict-Transport-Security: x\r\nConnection: close\r\n\r\n"
            "no endpoints available\n");
}

TEST(ErrorResponse, ShortTextBodyAndClose) {
  const std::string r = error_response(ErrorKind::kBadRequest, true, "abc");
  EXPECT_EQ(r,
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 12\r\nX-Request-ID: abc\r\nConnection: close\r\n\r\nbad request\n");
  EXPECT_EQ(error_info(ErrorKind::kUpstreamTimeout).status, 504);
  EXPECT_EQ(error_info(ErrorKind::kNoEndpoints).status, 503);
  EXPECT_EQ(error_info(ErrorKind::kNoRoute).status, 404);
}

TEST(RequestId, ThirtyTwoHexCharacters) {
  RequestIdGenerator ids(42);
  const std::string a = ids.next();
  const std::string b = ids.next();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(AccessLog, FormatsOneJsonLine) {
  AccessRecord r;
  r.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1714564800123));
  r.client = "127.0.0.1";
  r.method = "GET";
  r.host = "a\"b";
  r.path = "/x";
  r.status = 200;
  r.bytes_in = 10;
  r.bytes_out = 20;
  r.upstream = "10.0.0.1:80";
  r.duration_ms = 1.5;
  r.request_id = "id\x01\xff";
  EXPECT_EQ(format_access_record(r),
            "{\"time\":\"2024-05-01T12:00:00.123Z\",\"client\":\"127.0.0.1\",\"scheme\":\"http\","
            "\"method\":\"GET\","
            "\"host\":\"a\\\"b\",\"path\":\"/x\",\"status\":200,\"bytes_in\":10,"
            "\"bytes_out\":20,\"upstream\":\"10.0.0.1:80\",\"duration_ms\":1.500,"
            "\"request_id\":\"id\\u0001\\u00ff\"}");
}

}  // namespace
}  // namespace lintel::proxy
