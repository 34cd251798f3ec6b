// CertStore selection and building, without a handshake.

#include <gtest/gtest.h>

#include "tls/cert_store.h"
#include "tls_test_support.h"

namespace lintel::tls {
namespace {

using test::context_for;
using test::issue;

class CertStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ring_ = TicketKeyRing::generate(Clock::now());
    auto def = generate_default_certificate(Clock::now());
    ASSERT_TRUE(def) << def.error().message;
    store_ = std::make_unique<CertStore>(context_for(std::move(def).value(), ring_));
    exact_ = store_->make_context(issue({"a.example.com"})).value();
    wildcard_ = store_->make_context(issue({"*.example.com"})).value();
    ASSERT_TRUE(store_->add("A.Example.com", exact_));
    ASSERT_TRUE(store_->add("*.example.com", wildcard_));
  }

  std::shared_ptr<TicketKeyRing> ring_;
  std::unique_ptr<CertStore> store_;
  std::shared_ptr<const ServerContext> exact_;
  std::shared_ptr<const ServerContext> wildcard_;
};

TEST_F(CertStoreTest, Selection) {
  struct Row {
    const char* sni;
    SniMatch match;
  };
  const Row rows[] = {
      {"a.example.com", SniMatch::kExact},
      {"A.EXAMPLE.COM", SniMatch::kExact},     // case-insensitive
      {"a.example.com.", SniMatch::kExact},    // trailing dot
      {"b.example.com", SniMatch::kWildcard},  // exact beats wildcard; wildcard for others
      {"B.Example.Com", SniMatch::kWildcard},
      {"x.a.example.com", SniMatch::kDefault},  // two labels: not the wildcard
      {"example.com", SniMatch::kDefault},      // zero labels: not the wildcard
      {".example.com", SniMatch::kDefault},     // empty label
      {"other.org", SniMatch::kDefault},
      {"", SniMatch::kDefault},  // no SNI
  };
  for (const Row& row : rows) {
    Selection s = store_->select(row.sni);
    EXPECT_EQ(s.match, row.match) << row.sni;
    const ServerContext* expected = row.match == SniMatch::kExact ? exact_.get()
                                    : row.match == SniMatch::kWildcard
                                        ? wildcard_.get()
                                        : store_->default_context().get();
    EXPECT_EQ(s.context, expected) << row.sni;
  }
  EXPECT_EQ(store_->select(std::string(300, 'a')).match, SniMatch::kDefault);
}

TEST_F(CertStoreTest, FirstCertificateForAHostWins) {
  auto other = store_->make_context(issue({"a.example.com"})).value();
  EXPECT_FALSE(store_->add("a.example.com", other));
  EXPECT_EQ(store_->select("a.example.com").context, exact_.get());
  Status taken =
      store_->add({"a.example.com", "c.example.com"}, issue({"a.example.com", "c.example.com"}));
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->message, "hosts already served with another certificate: a.example.com");
  EXPECT_EQ(store_->select("c.example.com").match, SniMatch::kExact);
}

TEST_F(CertStoreTest, HostsIncludeRecordedOnes) {
  store_->add_host("Plain.Example.org");
  EXPECT_EQ(store_->hosts(),
            (std::set<std::string>{"*.example.com", "a.example.com", "plain.example.org"}));
  EXPECT_EQ(store_->certificates().size(), 2u);
  // add_host does not give the host a certificate of its own.
  EXPECT_EQ(store_->select("plain.example.org").match, SniMatch::kDefault);
}

TEST_F(CertStoreTest, ContextsAreReusedByChainDigest) {
  CertifiedKey key = issue({"r.example.com"});
  const std::string pem = key.chain_pem();
  const std::string key_pem = key.key_pem();
  auto first = store_->make_context(std::move(key)).value();
  // The same Secret twice in one compile: one SSL_CTX.
  auto again = store_->make_context(CertifiedKey::from_pem(pem, key_pem).value()).value();
  EXPECT_EQ(first.get(), again.get());
  // A recompile reuses the live store's contexts.
  CertStore next(store_->default_context());
  auto reused = next.make_context(CertifiedKey::from_pem(pem, key_pem).value(), store_.get());
  EXPECT_EQ(reused.value().get(), first.get());
  // Not with another ticket ring (the ring is part of the context).
  auto other_default = context_for(generate_default_certificate(Clock::now()).value(),
                                   TicketKeyRing::generate(Clock::now()));
  CertStore foreign(other_default);
  auto rebuilt = foreign.make_context(CertifiedKey::from_pem(pem, key_pem).value(), store_.get());
  EXPECT_NE(rebuilt.value().get(), first.get());
}

TEST_F(CertStoreTest, ContextFromPemSkipsParsingUnchangedSecrets) {
  CertifiedKey key = issue({"p.example.com"});
  const std::string pem = key.chain_pem();
  const std::string key_pem = key.key_pem();
  auto first = store_->context_from_pem(pem, key_pem);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ((*first)->certificate().check_covers("p.example.com"), std::nullopt);
  EXPECT_EQ(store_->context_from_pem(pem, key_pem).value().get(), first->get());
  CertStore next(store_->default_context());
  EXPECT_EQ(next.context_from_pem(pem, key_pem, store_.get()).value().get(), first->get());
  // Same certificate, re-encoded input (a trailing newline): parsed again, and then the
  // chain digest still finds the same context.
  EXPECT_EQ(next.context_from_pem(pem + "\n", key_pem, store_.get()).value().get(), first->get());
  // Errors are values, reported on every compile.
  auto bad = next.context_from_pem(pem, issue({"p.example.com"}).key_pem(), store_.get());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "tls.key does not match the certificate");
}

TEST_F(CertStoreTest, Equivalence) {
  CertStore same(store_->default_context());
  same.add("*.example.com", wildcard_);
  EXPECT_FALSE(same.equivalent(*store_));
  same.add("a.example.com", exact_);
  EXPECT_TRUE(same.equivalent(*store_));
  CertStore rotated(store_->default_context());
  rotated.add("*.example.com", wildcard_);
  rotated.add("a.example.com", rotated.make_context(issue({"a.example.com"})).value());
  EXPECT_FALSE(rotated.equivalent(*store_));  // same hosts, new certificate: publish
}

TEST(CertStore, WithoutDefaultOnlyRecordsHosts) {
  CertStore store;
  store.add_host("a.example.com");
  EXPECT_EQ(store.hosts().size(), 1u);
  EXPECT_EQ(store.select("a.example.com").context, nullptr);
  auto made = store.make_context(issue({"a.example.com"}));
  ASSERT_FALSE(made);
  EXPECT_EQ(made.error().message, "the certificate store has no default certificate");
}

}  // namespace
}  // namespace lintel::tls
