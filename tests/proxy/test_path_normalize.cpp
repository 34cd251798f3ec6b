#include <gtest/gtest.h>

#include "proxy/path_normalize.h"

namespace lintel::proxy {
namespace {

struct Case {
  const char* raw;
  const char* path;  // expected, or nullptr
  PathError error;
};

class PathNormalizeTest : public ::testing::TestWithParam<Case> {};

TEST_P(PathNormalizeTest, Normalizes) {
  const Case& c = GetParam();
  const NormalizedPath got = normalize_path(c.raw);
  EXPECT_EQ(got.error, c.error) << c.raw;
  if (c.path) EXPECT_EQ(got.path, c.path) << c.raw;
}

INSTANTIATE_TEST_SUITE_P(
    Vectors, PathNormalizeTest,
    ::testing::Values(
        Case{"/", "/", PathError::kNone}, Case{"/admin", "/admin", PathError::kNone},
        Case{"/public/../admin", "/admin", PathError::kNone},
        Case{"//admin", "/admin", PathError::kNone}, Case{"/a//b///c", "/a/b/c", PathError::kNone},
        Case{"/./admin", "/admin", PathError::kNone}, Case{"/%61dmin", "/admin", PathError::kNone},
        Case{"/%41", "/A", PathError::kNone}, Case{"/%7e", "/~", PathError::kNone},
        Case{"/%7E", "/~", PathError::kNone}, Case{"/%2e%2e/x", nullptr, PathError::kAboveRoot},
        Case{"/a/%2E%2E/b", "/b", PathError::kNone}, Case{"/a%2Fb", "/a%2Fb", PathError::kNone},
        Case{"/a%2fb", "/a%2Fb", PathError::kNone}, Case{"/a%5cb", "/a%5Cb", PathError::kNone},
        Case{"/files/a%20b/caf%C3%A9", "/files/a%20b/caf%C3%A9", PathError::kNone},
        Case{"/public%2F..%2Fadmin", nullptr, PathError::kEncodedSlashTraversal},
        Case{"/x/..%2Fadmin", nullptr, PathError::kEncodedSlashTraversal},
        Case{"/public%2F%2E%2E%2Fadmin", nullptr, PathError::kEncodedSlashTraversal},
        Case{"/a/b/..", "/a/", PathError::kNone}, Case{"/a/b/.", "/a/b/", PathError::kNone},
        Case{"/a/", "/a/", PathError::kNone}, Case{"/..", nullptr, PathError::kAboveRoot},
        Case{"/../../admin", nullptr, PathError::kAboveRoot},
        Case{"/a/../../b", nullptr, PathError::kAboveRoot},
        Case{"/a/b/../../c", "/c", PathError::kNone},
        Case{"/public\\..\\admin", nullptr, PathError::kInvalidCharacter},
        Case{"/a b", nullptr, PathError::kInvalidCharacter},
        Case{"/a%zz", nullptr, PathError::kMalformedEscape},
        Case{"/a%2", nullptr, PathError::kMalformedEscape},
        Case{"/a%", nullptr, PathError::kMalformedEscape},
        Case{"/..a/b..", "/..a/b..", PathError::kNone},
        Case{"admin", nullptr, PathError::kInvalidCharacter}));

TEST(ValidQuery, RefusesControlAndSpace) {
  EXPECT_TRUE(valid_query("a=1&b=%20/?"));
  EXPECT_FALSE(valid_query("a=1 2"));
  EXPECT_FALSE(valid_query("a=\x01"));
  EXPECT_FALSE(valid_query("a#frag"));
}

}  // namespace
}  // namespace lintel::proxy
