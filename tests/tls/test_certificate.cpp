// PEM loading, key matching, validity dates and SAN coverage.

#include <gtest/gtest.h>

#include "tls/certificate.h"
#include "tls_test_support.h"

namespace lintel::tls {
namespace {

using test::fixed_now;
using test::issue;
using test::run;
using test::TempDir;

TEST(SanCovers, Table) {
  struct Row {
    const char* san;
    const char* host;
    bool covered;
  };
  const Row rows[] = {
      {"a.example.com", "a.example.com", true},
      {"A.Example.COM", "a.example.com", true},  // case-insensitive
      {"a.example.com", "A.EXAMPLE.com", true},
      {"a.example.com", "b.example.com", false},
      {"a.example.com", "example.com", false},
      {"*.example.com", "a.example.com", true},  // one label
      {"*.example.com", "A.example.com", true},
      {"*.example.com", "b.a.example.com", false},  // not two labels
      {"*.example.com", "example.com", false},      // not zero labels
      {"*.example.com", ".example.com", false},     // empty label
      {"*.example.com", "a.example.org", false},
      {"*.example.com", "*.example.com", true},   // wildcard host: same wildcard SAN only
      {"a.example.com", "*.example.com", false},  // a name does not cover a wildcard host
      {"*.a.example.com", "*.example.com", false},
      {"*.com", "example.com", false},              // too broad: clients refuse it too
      {"a*.example.com", "ab.example.com", false},  // partial-label wildcards are not ours
      {"*.*.example.com", "a.b.example.com", false},
      {"", "a.example.com", false},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(san_covers(row.san, row.host), row.covered) << row.san << " vs " << row.host;
  }
}

TEST(CertifiedKey, LoadsChainAndKeyAndExposesMetadata) {
  CertifiedKey issued = issue({"a.example.com", "*.b.example.com"});
  // Leaf then CA, as a Secret with a chain would hold it.
  const std::string chain = issued.chain_pem() + test::test_ca().chain_pem();
  auto loaded = CertifiedKey::from_pem(chain, issued.key_pem());
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->chain().size(), 2u);
  EXPECT_EQ(loaded->dns_names(), (std::vector<std::string>{"a.example.com", "*.b.example.com"}));
  EXPECT_EQ(loaded->fingerprint_sha256(), issued.fingerprint_sha256());
  EXPECT_EQ(loaded->fingerprint_sha256().size(), 32u * 3 - 1);  // "AB:CD:..."
  EXPECT_EQ(loaded->key_type(), "ECDSA P-256");
  EXPECT_EQ(loaded->subject(), "CN=a.example.com");
  EXPECT_NE(loaded->chain_digest(), issued.chain_digest());  // the CA is part of this chain
  EXPECT_NE(loaded->describe().find("a.example.com"), std::string::npos);
}

TEST(CertifiedKey, KeyTypes) {
  for (auto [type, name] :
       {std::pair{KeyType::kEcdsaP256, "ECDSA P-256"},
        std::pair{KeyType::kEcdsaP384, "ECDSA P-384"}, std::pair{KeyType::kRsa2048, "RSA 2048"},
        std::pair{KeyType::kEd25519, "Ed25519"}}) {
    CertifiedKey issued = issue({"k.example.com"}, type);
    auto loaded = CertifiedKey::from_pem(issued.chain_pem(), issued.key_pem());
    ASSERT_TRUE(loaded) << name << ": " << loaded.error().message;
    EXPECT_EQ(loaded->key_type(), name);
  }
}

TEST(CertifiedKey, BadInputsAreErrorValues) {
  CertifiedKey issued = issue({"a.example.com"});
  CertifiedKey other = issue({"a.example.com"});
  struct Row {
    const char* what;
    std::string cert;
    std::string key;
    std::string message;  // expected prefix
  };
  const std::string cut_cert = issued.chain_pem().substr(0, 120) + "\n-----END CERTIFICATE-----\n";
  const Row rows[] = {
      {"empty certificate", "", issued.key_pem(), "tls.crt contains no PEM certificate"},
      {"not PEM", "hello", issued.key_pem(), "tls.crt contains no PEM certificate"},
      {"truncated", cut_cert, issued.key_pem(), "tls.crt: certificate 1 does not parse"},
      {"key in place of cert", issued.key_pem(), issued.key_pem(),
       "tls.crt contains no PEM certificate"},
      {"empty key", issued.chain_pem(), "", "tls.key contains no PEM private key"},
      {"mismatched key", issued.chain_pem(), other.key_pem(),
       "tls.key does not match the certificate"},
  };
  for (const Row& row : rows) {
    auto loaded = CertifiedKey::from_pem(row.cert, row.key);
    ASSERT_FALSE(loaded) << row.what;
    EXPECT_EQ(loaded.error().message.rfind(row.message, 0), 0u)
        << row.what << ": " << loaded.error().message;
  }
  // The error queue is never left behind for the next caller.
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(CertifiedKey, Validity) {
  const TimePoint t2020 = Clock::from_time_t(1577836800);  // 2020-01-01T00:00:00Z
  auto ca = create_ca(t2020);
  ASSERT_TRUE(ca);
  auto leaf = issue_certificate(*ca, {"a.example.com"}, t2020, 1);
  ASSERT_TRUE(leaf) << leaf.error().message;
  EXPECT_EQ(leaf->check_validity(t2020), std::nullopt);
  auto expired = leaf->check_validity(fixed_now());
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->message, "certificate expired on 2020-01-02T00:00:00Z");
  auto early = leaf->check_validity(t2020 - std::chrono::days(1));
  ASSERT_TRUE(early);
  // Issued with an hour of backdating for clock skew.
  EXPECT_EQ(early->message, "certificate is not valid before 2019-12-31T23:00:00Z");
  EXPECT_EQ(format_time(leaf->not_after()), "2020-01-02T00:00:00Z");
}

TEST(CertifiedKey, CoverageMessages) {
  CertifiedKey key = issue({"a.example.com", "*.b.example.com"});
  EXPECT_EQ(key.check_covers("a.example.com"), std::nullopt);
  EXPECT_EQ(key.check_covers("x.b.example.com"), std::nullopt);
  EXPECT_EQ(key.check_covers("*.b.example.com"), std::nullopt);
  auto bad = key.check_covers("foo.example.com");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->message,
            "certificate does not cover host foo.example.com (SANs: a.example.com, "
            "*.b.example.com)");
}

// Inputs made by the real openssl CLI in the forms users have on disk: traditional RSA
// keys, EC keys preceded by an "EC PARAMETERS" block, certificates without SAN (CN only),
// encrypted and too-small keys.
TEST(CertifiedKey, FilesFromOpensslCli) {
  TempDir dir;
  const std::string d = dir.path.string();
  auto sh = [&](const std::string& cmd) {
    auto r = run("cd " + d + " && " + cmd);
    ASSERT_EQ(r.status, 0) << cmd << "\n" << r.output;
  };
  sh("openssl genrsa -traditional -out rsa.key 2048");
  sh("openssl req -x509 -key rsa.key -out rsa.crt -days 2 -subj /CN=rsa.example.com "
     "-addext subjectAltName=DNS:rsa.example.com");
  sh("openssl ecparam -name prime256v1 -genkey -out ec.key");
  sh("openssl req -x509 -key ec.key -out ec.crt -days 2 -subj /CN=ec.example.com "
     "-addext subjectAltName=DNS:ec.example.com");
  sh("openssl req -x509 -key ec.key -out cn-only.crt -days 2 -subj /CN=cn.example.com");
  sh("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes256 -pass pass:x "
     "-out enc.key");
  sh("openssl genrsa -out small.key 1024");
  sh("openssl ecparam -name secp256k1 -genkey -out k1.key");

  EXPECT_EQ(test::read_text(d + "/rsa.key").rfind("-----BEGIN RSA PRIVATE KEY-----", 0), 0u);
  auto rsa = CertifiedKey::from_files(d + "/rsa.crt", d + "/rsa.key");
  ASSERT_TRUE(rsa) << rsa.error().message;
  EXPECT_EQ(rsa->key_type(), "RSA 2048");
  EXPECT_EQ(rsa->check_validity(Clock::now()), std::nullopt);

  auto ec = CertifiedKey::from_files(d + "/ec.crt", d + "/ec.key");
  ASSERT_TRUE(ec) << ec.error().message;
  EXPECT_TRUE(ec->covers("ec.example.com"));

  // The same fingerprint `openssl x509 -fingerprint -sha256` prints.
  auto fp = run("openssl x509 -in " + d + "/ec.crt -noout -fingerprint -sha256");
  EXPECT_NE(fp.output.find(ec->fingerprint_sha256()), std::string::npos) << fp.output;

  // SAN only: the Common Name is never used for host names.
  auto cn = CertifiedKey::from_files(d + "/cn-only.crt", d + "/ec.key");
  ASSERT_TRUE(cn) << cn.error().message;
  EXPECT_FALSE(cn->covers("cn.example.com"));
  EXPECT_NE(cn->check_covers("cn.example.com")->message.find("no DNS subjectAltName"),
            std::string::npos);

  auto enc = CertifiedKey::from_files(d + "/ec.crt", d + "/enc.key");
  ASSERT_FALSE(enc);
  EXPECT_EQ(enc.error().message, d + "/enc.key is encrypted; an unencrypted key is required");

  auto small = CertifiedKey::from_pem(rsa->chain_pem(), test::read_text(d + "/small.key"));
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error().message,
            "tls.key is a 1024-bit RSA key; at least 2048 bits are required");

  auto k1 = CertifiedKey::from_pem(ec->chain_pem(), test::read_text(d + "/k1.key"));
  ASSERT_FALSE(k1);
  EXPECT_EQ(k1.error().message,
            "tls.key is an ECDSA key on curve secp256k1; P-256, P-384 or P-521 expected");

  auto missing = CertifiedKey::from_files(d + "/nope.crt", d + "/ec.key");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "cannot read " + d + "/nope.crt: No such file or directory");
}

}  // namespace
}  // namespace lintel::tls
