#include <cctype>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/request_head.h"

namespace lintel::proxy {
namespace {

// Outcome of scanning and validating a head: 0 = accepted, else the status.
int outcome(const std::string& raw, HeadLimits limits = {}) {
  RequestHeadScanner scanner(limits);
  // Feed byte by byte: the scanner must give the same answer however the bytes arrive.
  RequestHeadScanner::State state = RequestHeadScanner::State::kNeedMore;
  for (size_t i = 1; i <= raw.size() && state == RequestHeadScanner::State::kNeedMore; ++i) {
    state = scanner.scan(std::string_view(raw).substr(0, i));
  }
  if (state == RequestHeadScanner::State::kError) return error_info(scanner.error()).status;
  if (state == RequestHeadScanner::State::kNeedMore) return -1;
  const Validation v = validate_request(scanner.head(raw), limits);
  return v.error ? error_info(*v.error).status : 0;
}

struct Case {
  const char* name;
  std::string raw;
  int status;  // 0 accepted, -1 incomplete
};

// gtest prints parameters in test listings; show the case name, not its bytes.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class RequestHeadTest : public ::testing::TestWithParam<Case> {};

TEST_P(RequestHeadTest, Validates) {
  EXPECT_EQ(outcome(GetParam().raw), GetParam().status) << GetParam().name;
}

const std::string kHost = "Host: example.com\r\n";

INSTANTIATE_TEST_SUITE_P(
    Table, RequestHeadTest,
    ::testing::Values(
        Case{"plain", "GET / HTTP/1.1\r\n" + kHost + "\r\n", 0},
        Case{"leading empty line", "\r\nGET / HTTP/1.1\r\n" + kHost + "\r\n", 0},
        Case{"incomplete", "GET / HTTP/1.1\r\n" + kHost, -1},
        Case{"cl+te",
             "POST / HTTP/1.1\r\n" + kHost +
                 "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
             400},
        Case{"two cl",
             "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 3\r\nContent-Length: 3\r\n\r\n", 400},
        Case{"cl list", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 3, 3\r\n\r\n", 400},
        Case{"cl sign", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: +3\r\n\r\n", 400},
        Case{"cl overflow",
             "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 18446744073709551616\r\n\r\n", 400},
        Case{"cl empty", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: \r\n\r\n", 400},
        Case{"te gzip", "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: gzip\r\n\r\n", 501},
        Case{"te gzip, chunked",
             "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: gzip, chunked\r\n\r\n", 501},
        Case{"te quoted", "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: \"chunked\"\r\n\r\n",
             400},
        Case{"te twice",
             "POST / HTTP/1.1\r\n" + kHost +
                 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
             400},
        Case{"te mixed case", "POST / HTTP/1.1\r\n" + kHost + "tRaNsFeR-eNcOdInG: CHUNKED\r\n\r\n",
             0},
        Case{"te on 1.0", "POST / HTTP/1.0\r\n" + kHost + "Transfer-Encoding: chunked\r\n\r\n",
             400},
        Case{"obs-fold", "GET / HTTP/1.1\r\n" + kHost + "X-A: a\r\n b\r\n\r\n", 400},
        Case{"bare lf", "GET / HTTP/1.1\nHost: example.com\n\n", 400},
        Case{"bare cr", "GET / HTTP/1.1\r\n" + kHost + "X-A: a\rX-B: b\r\n\r\n", 400},
        Case{"space before colon", "GET / HTTP/1.1\r\n" + kHost + "X-A : a\r\n\r\n", 400},
        Case{"nul in value", "GET / HTTP/1.1\r\n" + kHost + std::string("X-A: a\0b\r\n\r\n", 12),
             400},
        Case{"underscore name", "GET / HTTP/1.1\r\n" + kHost + "X_A: a\r\n\r\n", 400},
        Case{"obs-text value", "GET / HTTP/1.1\r\n" + kHost + "X-A: J\xc3\xbcrgen\r\n\r\n", 0},
        Case{"no host", "GET / HTTP/1.1\r\n\r\n", 400},
        Case{"no host 1.0", "GET / HTTP/1.0\r\n\r\n", 0},
        Case{"two hosts", "GET / HTTP/1.1\r\n" + kHost + kHost + "\r\n", 400},
        Case{"userinfo host", "GET / HTTP/1.1\r\nHost: a@example.com\r\n\r\n", 400},
        Case{"version 2", "GET / HTTP/2.0\r\n" + kHost + "\r\n", 505},
        Case{"version garbage", "GET / HTTP/1.1x\r\n" + kHost + "\r\n", 400},
        Case{"http/0.9", "GET /\r\n\r\n", 400},
        Case{"double space", "GET  / HTTP/1.1\r\n" + kHost + "\r\n", 400},
        Case{"trace", "TRACE / HTTP/1.1\r\n" + kHost + "\r\n", 405},
        Case{"authority-form", "GET example.com:80 HTTP/1.1\r\n" + kHost + "\r\n", 400},
        Case{"asterisk-form", "OPTIONS * HTTP/1.1\r\n" + kHost + "\r\n", 400},
        Case{"absolute-form same host", "GET http://example.com/a HTTP/1.1\r\n" + kHost + "\r\n",
             0},
        Case{"absolute-form other host",
             "GET http://internal.example/ HTTP/1.1\r\n" + kHost + "\r\n", 400},
        Case{"ctl in target", "GET /a\x01 HTTP/1.1\r\n" + kHost + "\r\n", 400},
        Case{"backslash", "GET /a\\b HTTP/1.1\r\n" + kHost + "\r\n", 400},
        Case{"method delimiters", "G\"T / HTTP/1.1\r\n" + kHost + "\r\n", 400},
        Case{"above root", "GET /../admin HTTP/1.1\r\n" + kHost + "\r\n", 400},
        Case{"tls hello", std::string("\x16\x03\x01\x00\xc8\x01", 6), 400},
        Case{"long target", "GET /" + std::string(16 * 1024, 'a') + " HTTP/1.1\r\n\r\n", 414}),
    [](const ::testing::TestParamInfo<Case>& info) {
      // Readable test names: "underscore name" → "underscore_name".
      std::string name = info.param.name;
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) {
          c = '_';
        }
      }
      return name + "_" + std::to_string(info.index);
    });

TEST(RequestHead, FieldLimits) {
  std::string many = "GET / HTTP/1.1\r\n" + kHost;
  for (int i = 0; i < 100; ++i) many += "X-F" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(outcome(many + "\r\n"), 431);
  std::string big = "GET / HTTP/1.1\r\n" + kHost + "X-Big: " + std::string(70 * 1024, 'a');
  EXPECT_EQ(outcome(big), 431);  // refused before the line even ends
}

TEST(RequestHead, BodyLimitOnDeclaredLength) {
  HeadLimits limits;
  limits.max_body_bytes = 1024;
  EXPECT_EQ(outcome("POST / HTTP/1.1\r\n" + kHost + "Content-Length: 1025\r\n\r\n", limits), 413);
  EXPECT_EQ(outcome("POST / HTTP/1.1\r\n" + kHost + "Content-Length: 1024\r\n\r\n", limits), 0);
}

TEST(RequestHead, KeepAliveAndExpect) {
  HeadLimits limits;
  const std::string raw =
      "POST / HTTP/1.0\r\nConnection: keep-alive\r\nExpect: 100-continue\r\n\r\n";
  RequestHeadScanner scanner(limits);
  ASSERT_EQ(scanner.scan(raw), RequestHeadScanner::State::kComplete);
  const Validation v = validate_request(scanner.head(raw), limits);
  ASSERT_FALSE(v.error);
  EXPECT_TRUE(v.request.keep_alive);
  EXPECT_TRUE(v.request.expect_continue);
  EXPECT_EQ(v.request.version, 10);
}

// A session reuses one scanner and one RequestHead for all its requests: after reset() the
// scanner must answer exactly as a new one, whatever the previous request left behind
// (an error, a longer head, leading empty lines).
TEST(RequestHead, ReusedScannerAnswersLikeANewOne) {
  HeadLimits limits;
  limits.max_header_fields = 3;
  const std::vector<std::string> raws = {
      "\r\nGET /a HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-B: 2\r\n\r\n",
      "GET /b HTTP/1.1\r\nHost: b\r\nX-A: 1\r\nX-B: 2\r\nX-C: 3\r\n\r\n",  // 431
      "GET /c?q HTTP/1.0\r\n\r\n",
      "GET  /d HTTP/1.1\r\nHost: d\r\n\r\n",  // 400
      "POST /e HTTP/1.1\r\nHost: e\r\nContent-Length: 3\r\n\r\n",
  };
  RequestHeadScanner reused(limits);
  RequestHead head;
  for (int round = 0; round < 2; ++round) {
    for (const std::string& raw : raws) {
      RequestHeadScanner fresh(limits);
      reused.reset();
      const auto state = reused.scan(raw);
      ASSERT_EQ(state, fresh.scan(raw)) << raw;
      EXPECT_EQ(reused.started(), fresh.started()) << raw;
      if (state == RequestHeadScanner::State::kError) {
        EXPECT_EQ(reused.error(), fresh.error()) << raw;
        continue;
      }
      ASSERT_EQ(state, RequestHeadScanner::State::kComplete) << raw;
      reused.head(raw, head);
      const RequestHead expected = fresh.head(raw);
      EXPECT_EQ(head.method, expected.method);
      EXPECT_EQ(head.target, expected.target);
      EXPECT_EQ(head.version, expected.version);
      EXPECT_EQ(head.skipped, expected.skipped);
      EXPECT_EQ(head.head_bytes, expected.head_bytes);
      ASSERT_EQ(head.fields.size(), expected.fields.size()) << raw;
      for (size_t i = 0; i < head.fields.size(); ++i) {
        EXPECT_EQ(head.fields[i].name, expected.fields[i].name);
        EXPECT_EQ(head.fields[i].value, expected.fields[i].value);
      }
    }
  }
}

}  // namespace
}  // namespace lintel::proxy
