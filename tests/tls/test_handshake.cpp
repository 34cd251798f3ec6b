// Real TLS handshakes in memory (two SSL objects over a BIO pair): certificate selection
// by SNI, the version and cipher policy, ALPN, and session resumption with tickets.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tls/cert_store.h"
#include "tls/server_context.h"
#include "tls_test_support.h"

namespace lintel::tls {
namespace {

using test::client_context;
using test::ClientOptions;
using test::context_for;
using test::handshake;
using test::issue;
using test::ring_from;
using test::ticket_key_bytes;

// Certificates are made once: key generation dominates these tests' run time.
struct Certificates {
  std::string exact_pem, exact_key;
  std::string wildcard_pem, wildcard_key;
  std::string default_pem, default_key;
  std::string rsa_pem, rsa_key;
  std::string exact_fp, wildcard_fp, default_fp, rsa_fp;
};

const Certificates& certs() {
  static const Certificates c = [] {
    Certificates c;
    CertifiedKey exact = issue({"a.example.com"});
    CertifiedKey wildcard = issue({"*.example.com"});
    CertifiedKey def = generate_default_certificate(Clock::now()).value();
    CertifiedKey rsa = issue({"rsa.example.com"}, KeyType::kRsa2048);
    c.exact_pem = exact.chain_pem() + test::test_ca().chain_pem();  // with a chain
    c.exact_key = exact.key_pem();
    c.wildcard_pem = wildcard.chain_pem();
    c.wildcard_key = wildcard.key_pem();
    c.default_pem = def.chain_pem();
    c.default_key = def.key_pem();
    c.rsa_pem = rsa.chain_pem();
    c.rsa_key = rsa.key_pem();
    c.exact_fp = exact.fingerprint_sha256();
    c.wildcard_fp = wildcard.fingerprint_sha256();
    c.default_fp = def.fingerprint_sha256();
    c.rsa_fp = rsa.fingerprint_sha256();
    return c;
  }();
  return c;
}

CertifiedKey load(const std::string& pem, const std::string& key) {
  return CertifiedKey::from_pem(pem, key).value();
}

// A store as the compiler will build it; each call builds new SSL_CTXs, as a separate
// process (replica) would.
std::unique_ptr<CertStore> build_store(std::shared_ptr<TicketKeyRing> ring,
                                       bool rsa_default = false) {
  const Certificates& c = certs();
  auto store = std::make_unique<CertStore>(
      rsa_default ? context_for(load(c.rsa_pem, c.rsa_key), ring)
                  : context_for(load(c.default_pem, c.default_key), ring));
  EXPECT_FALSE(store->add({"a.example.com"}, load(c.exact_pem, c.exact_key)));
  EXPECT_FALSE(store->add({"*.example.com"}, load(c.wildcard_pem, c.wildcard_key)));
  return store;
}

class HandshakeTest : public ::testing::Test {
 protected:
  std::shared_ptr<TicketKeyRing> ring_ = TicketKeyRing::generate(Clock::now());
  std::unique_ptr<CertStore> store_ = build_store(ring_);
};

TEST_F(HandshakeTest, ServedCertificateFollowsSni) {
  const Certificates& c = certs();
  SslCtxPtr client = client_context();
  struct Row {
    const char* sni;
    const std::string& fingerprint;
    SniMatch match;
    int chain;
  };
  const Row rows[] = {
      {"a.example.com", c.exact_fp, SniMatch::kExact, 2},  // the chain is sent
      {"A.Example.Com", c.exact_fp, SniMatch::kExact, 2},
      {"b.example.com", c.wildcard_fp, SniMatch::kWildcard, 1},
      {"x.a.example.com", c.default_fp, SniMatch::kDefault, 1},
      {"other.org", c.default_fp, SniMatch::kDefault, 1},
      {nullptr, c.default_fp, SniMatch::kDefault, 1},  // no SNI
  };
  for (const Row& row : rows) {
    auto h = handshake(client.get(), *store_, row.sni);
    ASSERT_TRUE(h.ok) << (row.sni ? row.sni : "(no SNI)") << ": " << h.error;
    EXPECT_EQ(h.peer_fingerprint, row.fingerprint) << (row.sni ? row.sni : "(no SNI)");
    EXPECT_EQ(h.match, row.match);
    EXPECT_EQ(h.peer_chain_length, row.chain);
    EXPECT_EQ(h.version, "TLSv1.3");
  }
}

TEST_F(HandshakeTest, ClientVerifiesHostNameAgainstTheCa) {
  // What curl --cacert does: full chain and host name verification by OpenSSL itself.
  SslCtxPtr client = client_context({.verify_ca = test::test_ca().leaf()});
  for (const char* sni : {"a.example.com", "b.example.com"}) {
    auto h = handshake(client.get(), *store_, sni);
    EXPECT_TRUE(h.ok) << sni << ": " << h.error;
  }
  // The default certificate is self-signed: a verifying client refuses it.
  auto h = handshake(client.get(), *store_, "other.org");
  EXPECT_FALSE(h.ok);
}

TEST_F(HandshakeTest, OldProtocolVersionsAreRefused) {
  for (int version : {TLS1_VERSION, TLS1_1_VERSION}) {
    SslCtxPtr client = client_context({.min_version = version,
                                       .max_version = version,
                                       .ciphers = "DEFAULT:@SECLEVEL=0",
                                       .legacy = true});
    auto h = handshake(client.get(), *store_, "a.example.com");
    EXPECT_FALSE(h.ok) << version;
    EXPECT_NE(h.error.find("unsupported protocol"), std::string::npos) << h.error;
  }
  SslCtxPtr tls12 = client_context({.max_version = TLS1_2_VERSION});
  auto h = handshake(tls12.get(), *store_, "a.example.com");
  ASSERT_TRUE(h.ok) << h.error;
  EXPECT_EQ(h.version, "TLSv1.2");
}

TEST_F(HandshakeTest, Tls12OnlyEcdheWithAead) {
  // An RSA certificate, so that RSA and DHE key exchange would be possible at all.
  auto rsa_store = build_store(ring_, /*rsa_default=*/true);
  struct Row {
    const char* ciphers;
    bool accepted;
  };
  const Row rows[] = {
      {"AES128-GCM-SHA256", false},  // RSA key exchange: no forward secrecy
      {"AES256-SHA", false},
      {"DHE-RSA-AES128-GCM-SHA256", false},  // finite-field DHE
      {"ECDHE-RSA-AES128-SHA", false},       // CBC
      {"ECDHE-RSA-AES256-SHA384", false},
      {"ECDHE-RSA-AES128-GCM-SHA256", true},
      {"ECDHE-RSA-AES256-GCM-SHA384", true},
      {"ECDHE-RSA-CHACHA20-POLY1305", true},
  };
  for (const Row& row : rows) {
    SslCtxPtr client = client_context({.max_version = TLS1_2_VERSION, .ciphers = row.ciphers});
    auto h = handshake(client.get(), *rsa_store, nullptr);  // the (RSA) default
    EXPECT_EQ(h.ok, row.accepted) << row.ciphers << ": " << h.error;
    if (row.accepted) {
      EXPECT_EQ(h.cipher, row.ciphers);
    } else {
      EXPECT_NE(h.error.find("no shared cipher"), std::string::npos) << row.ciphers << h.error;
    }
  }
  // Server preference: the client lists AES-256 first, the server picks AES-128.
  SslCtxPtr client =
      client_context({.max_version = TLS1_2_VERSION,
                      .ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256"});
  auto h = handshake(client.get(), *store_, "a.example.com");
  ASSERT_TRUE(h.ok) << h.error;
  EXPECT_EQ(h.cipher, "ECDHE-ECDSA-AES128-GCM-SHA256");
}

TEST_F(HandshakeTest, Alpn) {
  struct Row {
    std::vector<std::string> offered;
    const char* chosen;
  };
  const Row rows[] = {
      {{"h2", "http/1.1"}, "http/1.1"},
      {{"http/1.1"}, "http/1.1"},
      {{"h2"}, ""},  // no overlap: no ALPN answer, the handshake still succeeds
      {{}, ""},
  };
  for (const Row& row : rows) {
    SslCtxPtr client = client_context({.alpn = row.offered});
    auto h = handshake(client.get(), *store_, "a.example.com");
    ASSERT_TRUE(h.ok) << h.error;
    EXPECT_EQ(h.alpn, row.chosen);
  }
}

TEST_F(HandshakeTest, RenegotiationIsRefused) {
  SslCtxPtr client_ctx = client_context({.max_version = TLS1_2_VERSION});
  SslPtr server(SSL_new(store_->default_context()->native()));
  HandshakeState state{.store = store_.get()};
  ASSERT_FALSE(attach_handshake_state(server.get(), &state));
  SslPtr client(SSL_new(client_ctx.get()));
  BIO* cb = nullptr;
  BIO* sb = nullptr;
  BIO_new_bio_pair(&cb, 0, &sb, 0);
  SSL_set_bio(client.get(), cb, cb);
  SSL_set_bio(server.get(), sb, sb);
  SSL_set_connect_state(client.get());
  SSL_set_accept_state(server.get());
  for (int i = 0; i < 10; ++i) {
    SSL_do_handshake(client.get());
    SSL_do_handshake(server.get());
  }
  ASSERT_TRUE(SSL_is_init_finished(client.get()) && SSL_is_init_finished(server.get()));
  ASSERT_EQ(SSL_renegotiate(client.get()), 1);
  char buf[16];
  for (int i = 0; i < 10; ++i) {
    SSL_do_handshake(client.get());
    SSL_read(server.get(), buf, sizeof buf);
  }
  ERR_clear_error();
  EXPECT_EQ(SSL_total_renegotiations(server.get()), 0);
  EXPECT_EQ(SSL_renegotiate_pending(client.get()), 1);  // never completed
}

TEST_F(HandshakeTest, MissingHandshakeStateFailsLoudly) {
  SslCtxPtr client_ctx = client_context();
  SslPtr server(SSL_new(store_->default_context()->native()));  // no attach
  SslPtr client(SSL_new(client_ctx.get()));
  SSL_set_tlsext_host_name(client.get(), "a.example.com");
  BIO* cb = nullptr;
  BIO* sb = nullptr;
  BIO_new_bio_pair(&cb, 0, &sb, 0);
  SSL_set_bio(client.get(), cb, cb);
  SSL_set_bio(server.get(), sb, sb);
  SSL_set_connect_state(client.get());
  SSL_set_accept_state(server.get());
  SSL_do_handshake(client.get());
  EXPECT_LE(SSL_do_handshake(server.get()), 0);
  EXPECT_FALSE(SSL_is_init_finished(server.get()));
  ERR_clear_error();
}

// --- session resumption ---

struct ResumptionCase {
  const char* name;
  int max_version;
};

class ResumptionTest : public ::testing::TestWithParam<ResumptionCase> {};

TEST_P(ResumptionTest, SharedKeyFileAcrossSeparatelyBuiltStores) {
  const std::string key = ticket_key_bytes(1);
  // Two "replicas": every SSL_CTX and every ring object is separate; only the key bytes
  // (the --session-ticket-key-file content) are shared.
  auto replica1 = build_store(ring_from(key));
  auto replica2 = build_store(ring_from(key));
  auto stranger = build_store(ring_from(ticket_key_bytes(2)));
  SslCtxPtr client = client_context({.max_version = GetParam().max_version});

  auto first = handshake(client.get(), *replica1, "a.example.com");
  ASSERT_TRUE(first.ok) << first.error;
  ASSERT_FALSE(first.reused);
  ASSERT_TRUE(first.session && SSL_SESSION_is_resumable(first.session.get()));
  // The ticket was issued after the SNI switch to a.example.com's context.
  EXPECT_EQ(first.match, SniMatch::kExact);

  auto same = handshake(client.get(), *replica1, "a.example.com", first.session.get());
  ASSERT_TRUE(same.ok) << same.error;
  EXPECT_TRUE(same.reused) << "same process";
  EXPECT_EQ(same.peer_fingerprint, certs().exact_fp);

  auto other = handshake(client.get(), *replica2, "a.example.com", first.session.get());
  ASSERT_TRUE(other.ok) << other.error;
  EXPECT_TRUE(other.reused) << "other replica, same key file";
  EXPECT_EQ(other.match, SniMatch::kExact);

  auto wildcard = handshake(client.get(), *replica2, "b.example.com");
  ASSERT_TRUE(wildcard.ok);
  auto wildcard_again = handshake(client.get(), *replica1, "b.example.com", wildcard.session.get());
  EXPECT_TRUE(wildcard_again.reused) << "wildcard context, other replica";

  auto refused = handshake(client.get(), *stranger, "a.example.com", first.session.get());
  ASSERT_TRUE(refused.ok) << refused.error;
  EXPECT_FALSE(refused.reused) << "another key: a full handshake, not a failure";
}

TEST_P(ResumptionTest, GeneratedKeysRotateAndOldTicketsStillDecryptForAWhile) {
  const TimePoint t0 = Clock::now();
  auto ring = TicketKeyRing::generate(t0);
  auto store = build_store(ring);
  SslCtxPtr client = client_context({.max_version = GetParam().max_version});
  auto first = handshake(client.get(), *store, "a.example.com");
  ASSERT_TRUE(first.ok) << first.error;

  EXPECT_FALSE(ring->rotate_if_due(t0 + std::chrono::minutes(59)));
  ASSERT_TRUE(ring->rotate_if_due(t0 + std::chrono::minutes(60)));
  // A new snapshot (new contexts) after rotation still resumes the old ticket.
  auto rebuilt = build_store(ring);
  auto after_one = handshake(client.get(), *rebuilt, "a.example.com", first.session.get());
  ASSERT_TRUE(after_one.ok) << after_one.error;
  EXPECT_TRUE(after_one.reused);

  ASSERT_TRUE(ring->rotate_if_due(t0 + std::chrono::minutes(120)));
  ASSERT_TRUE(ring->rotate_if_due(t0 + std::chrono::minutes(180)));
  EXPECT_EQ(ring->keys()->size(), kKeptKeys);
  auto retired = handshake(client.get(), *store, "a.example.com", first.session.get());
  ASSERT_TRUE(retired.ok) << retired.error;
  EXPECT_FALSE(retired.reused) << "the key that sealed it has been dropped";
}

// Workers handshake (select + ticket callback) while the control thread rotates the keys:
// no lock is shared, and nothing may race (run under -fsanitize=thread to check).
TEST(ConcurrentHandshakes, WhileKeysRotate) {
  const TimePoint t0 = Clock::now();
  auto ring = TicketKeyRing::generate(t0);
  auto store = build_store(ring);
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([&] {
      SslCtxPtr client = client_context();
      SessionPtr session;
      for (int i = 0; i < 40; ++i) {
        auto h = handshake(client.get(), *store, i % 2 ? "a.example.com" : "b.example.com",
                           session.get());
        if (!h.ok) ++failures;
        session = std::move(h.session);
      }
    });
  }
  for (int hour = 1; hour <= 20; ++hour) {
    ring->rotate_if_due(t0 + std::chrono::hours(hour));
  }
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(failures.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Versions, ResumptionTest,
                         ::testing::Values(ResumptionCase{"TLS13", TLS1_3_VERSION},
                                           ResumptionCase{"TLS12", TLS1_2_VERSION}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace lintel::tls
