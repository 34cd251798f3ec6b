// Ticket key files (nginx format) and the rotation of generated keys.

#include <gtest/gtest.h>

#include <fstream>

#include "tls/session_tickets.h"
#include "tls_test_support.h"

namespace lintel::tls {
namespace {

using test::TempDir;

void write(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

TEST(TicketKeys, NginxLayout80And48Bytes) {
  std::string bytes(80, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i);
  auto ring = TicketKeyRing::from_bytes({bytes, bytes.substr(0, 48)});
  ASSERT_TRUE(ring) << ring.error().message;
  auto keys = (*ring)->keys();
  ASSERT_EQ(keys->size(), 2u);
  const TicketKey& k80 = (*keys)[0];
  EXPECT_EQ(k80.name[0], 0);
  EXPECT_EQ(k80.hmac[0], 16);  // name | HMAC | AES
  EXPECT_EQ(k80.aes[0], 48);
  EXPECT_EQ(k80.aes_len, 32u);
  const TicketKey& k48 = (*keys)[1];
  EXPECT_EQ(k48.aes[0], 16);  // name | AES | HMAC
  EXPECT_EQ(k48.hmac[0], 32);
  EXPECT_EQ(k48.aes_len, 16u);
}

TEST(TicketKeys, FilesAreReadAndCheckedAndNeverRotateByThemselves) {
  TempDir dir;
  const std::string current = dir / "current.key";
  const std::string previous = dir / "previous.key";
  ASSERT_EQ(test::run("openssl rand -out " + current + " 80").status, 0);
  write(previous, test::ticket_key_bytes(9));
  auto ring = TicketKeyRing::from_files({current, previous});
  ASSERT_TRUE(ring) << ring.error().message;
  EXPECT_TRUE((*ring)->from_key_files());
  auto before = (*ring)->keys();
  EXPECT_FALSE((*ring)->rotate_if_due(Clock::now() + std::chrono::hours(10)));
  EXPECT_EQ((*ring)->keys(), before);

  // The operator replaces the file; reload() picks it up.
  write(current, test::ticket_key_bytes(7));
  EXPECT_FALSE((*ring)->reload());
  EXPECT_NE((*ring)->keys(), before);
  EXPECT_EQ((*(*ring)->keys())[0].name[1], static_cast<unsigned char>(7 * 31 + 7));

  // A bad file on reload keeps the keys in force.
  write(current, "short");
  auto now_keys = (*ring)->keys();
  auto bad = (*ring)->reload();
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->message, "session ticket key " + current +
                              " has 5 bytes; 80 (or 48) expected, e.g. from `openssl rand 80`");
  EXPECT_EQ((*ring)->keys(), now_keys);

  write(current, std::string(81, 'x'));
  EXPECT_FALSE(TicketKeyRing::from_files({current}));
  auto missing = TicketKeyRing::from_files({dir / "nope"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "cannot read session ticket key file " + (dir / "nope") +
                                         ": No such file or directory");
}

TEST(TicketKeys, GeneratedRingRotatesHourlyAndKeepsThree) {
  const TimePoint t0 = test::fixed_now();
  auto ring = TicketKeyRing::generate(t0);
  ASSERT_EQ(ring->keys()->size(), 1u);
  const auto first_name = ring->keys()->front().name;
  EXPECT_FALSE(ring->rotate_if_due(t0 + std::chrono::minutes(30)));
  EXPECT_TRUE(ring->rotate_if_due(t0 + std::chrono::hours(1)));
  EXPECT_EQ(ring->keys()->size(), 2u);
  EXPECT_EQ((*ring->keys())[1].name, first_name);  // the old key now only decrypts
  EXPECT_NE(ring->keys()->front().name, first_name);
  EXPECT_TRUE(ring->rotate_if_due(t0 + std::chrono::hours(2)));
  EXPECT_TRUE(ring->rotate_if_due(t0 + std::chrono::hours(3)));
  EXPECT_EQ(ring->keys()->size(), kKeptKeys);
  for (const TicketKey& k : *ring->keys()) EXPECT_NE(k.name, first_name);
}

}  // namespace
}  // namespace lintel::tls
