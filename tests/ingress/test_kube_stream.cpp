// The watch stream splitter: events are cut out of the byte stream whatever the read
// boundaries are (a TCP segment or HTTP chunk may end anywhere, even inside an escape or a
// multi-byte character).

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ingress/kube_stream.h"

namespace lintel::ingress {
namespace {

// What a real API server writes: json.Encoder output, one event per line, with strings
// that contain braces, quotes, escaped backslashes and UTF-8.
const std::string kStream =
    R"({"type":"ADDED","object":{"kind":"Service","metadata":{"name":"web","namespace":"default","resourceVersion":"11","annotations":{"note":"{not a brace} \"quoted\" \\ back\\\\slash \\\" é ☃ \u00e9"}},"spec":{"ports":[{"port":80}]}}})"
    "\n"
    R"({"type":"BOOKMARK","object":{"kind":"Service","metadata":{"resourceVersion":"12"}}})"
    "\n"
    // Go's encoder writes no spaces, but JSON allows them; and two events may share a line.
    R"(  { "type" : "MODIFIED", "object" : { "metadata" : { "name" : "a]b}c", "resourceVersion":"13" }, "x":[[],{},"]"] } })"
    R"({"type":"DELETED","object":{"metadata":{"name":"web","resourceVersion":"14"}}})"
    "\r\n\t"
    R"j({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","code":410,"message":"too old resource version: 1 (14)"}})j"
    "\n";

std::vector<std::string> split_whole(const std::string& stream) {
  JsonStreamSplitter splitter;
  std::vector<std::string> out;
  EXPECT_TRUE(splitter.feed(stream, out)) << splitter.error();
  EXPECT_TRUE(splitter.idle());
  return out;
}

TEST(JsonStreamSplitter, WholeStreamGivesEveryEvent) {
  std::vector<std::string> docs = split_whole(kStream);
  ASSERT_EQ(docs.size(), 5u);
  std::vector<std::string> types;
  for (const std::string& doc : docs) {
    nlohmann::json event = nlohmann::json::parse(doc);  // each is complete, valid JSON
    types.push_back(event["type"].get<std::string>());
  }
  EXPECT_EQ(types, (std::vector<std::string>{"ADDED", "BOOKMARK", "MODIFIED", "DELETED", "ERROR"}));
  EXPECT_EQ(nlohmann::json::parse(docs[0])["object"]["metadata"]["annotations"]["note"],
            "{not a brace} \"quoted\" \\ back\\\\slash \\\" é ☃ é");
  EXPECT_EQ(nlohmann::json::parse(docs[2])["object"]["metadata"]["name"], "a]b}c");
}

TEST(JsonStreamSplitter, EverySingleSplitPointGivesTheSameEvents) {
  const std::vector<std::string> expected = split_whole(kStream);
  for (size_t cut = 0; cut <= kStream.size(); ++cut) {
    JsonStreamSplitter splitter;
    std::vector<std::string> got;
    ASSERT_TRUE(splitter.feed(std::string_view(kStream).substr(0, cut), got)) << cut;
    ASSERT_TRUE(splitter.feed(std::string_view(kStream).substr(cut), got)) << cut;
    ASSERT_EQ(got, expected) << "split at byte " << cut;
    EXPECT_TRUE(splitter.idle());
  }
}

TEST(JsonStreamSplitter, ByteByByteGivesTheSameEvents) {
  const std::vector<std::string> expected = split_whole(kStream);
  JsonStreamSplitter splitter;
  std::vector<std::string> got;
  for (char c : kStream) {
    ASSERT_TRUE(splitter.feed(std::string_view(&c, 1), got));
  }
  EXPECT_EQ(got, expected);
}

TEST(JsonStreamSplitter, EveryPairOfSplitPointsGivesTheSameEvents) {
  // Three pieces: covers an event that starts in one read and ends two reads later.
  const std::string stream = kStream.substr(0, kStream.find('\n') + 1) +
                             R"({"type":"DELETED","object":{"metadata":{"name":"x\"}"}}})";
  const std::vector<std::string> expected = split_whole(stream);
  ASSERT_EQ(expected.size(), 2u);
  for (size_t a = 0; a <= stream.size(); ++a) {
    for (size_t b = a; b <= stream.size(); b += 7) {
      JsonStreamSplitter splitter;
      std::vector<std::string> got;
      std::string_view s(stream);
      ASSERT_TRUE(splitter.feed(s.substr(0, a), got));
      ASSERT_TRUE(splitter.feed(s.substr(a, b - a), got));
      ASSERT_TRUE(splitter.feed(s.substr(b), got));
      ASSERT_EQ(got, expected) << a << "," << b;
    }
  }
}

TEST(JsonStreamSplitter, PartialEventIsKeptUntilItCompletes) {
  JsonStreamSplitter splitter;
  std::vector<std::string> got;
  ASSERT_TRUE(splitter.feed(R"({"type":"ADDED","object":{"a":"}")", got));
  EXPECT_TRUE(got.empty());
  EXPECT_FALSE(splitter.idle());
  ASSERT_TRUE(splitter.feed("}}\n", got));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], R"({"type":"ADDED","object":{"a":"}"}})");
  EXPECT_TRUE(splitter.idle());
}

TEST(JsonStreamSplitter, GarbageBetweenEventsIsAnError) {
  JsonStreamSplitter splitter;
  std::vector<std::string> got;
  EXPECT_FALSE(splitter.feed("{\"a\":1}\nnot json", got));
  EXPECT_EQ(got.size(), 1u);  // what came before the fault is still delivered
  EXPECT_TRUE(splitter.failed());
  EXPECT_NE(splitter.error().find("expected '{'"), std::string::npos);
  EXPECT_FALSE(splitter.feed("{}", got));  // stays failed
}

TEST(JsonStreamSplitter, OversizedEventIsAnError) {
  JsonStreamSplitter splitter(64);
  std::vector<std::string> got;
  std::string big = "{\"a\":\"" + std::string(100, 'x') + "\"}";
  EXPECT_FALSE(splitter.feed(big.substr(0, 30), got) && splitter.feed(big.substr(30), got));
  EXPECT_TRUE(got.empty());
  EXPECT_NE(splitter.error().find("larger than 64"), std::string::npos);
  // Also when it arrives in many small pieces (the limit holds across feeds).
  JsonStreamSplitter pieces(64);
  bool ok = true;
  for (char c : big) {
    ok = ok && pieces.feed(std::string_view(&c, 1), got);
  }
  EXPECT_FALSE(ok);
}

TEST(JsonStreamSplitter, DeepNestingIsAnError) {
  JsonStreamSplitter splitter;
  std::vector<std::string> got;
  EXPECT_FALSE(splitter.feed("{\"a\":" + std::string(1000, '['), got));
}

}  // namespace
}  // namespace lintel::ingress
