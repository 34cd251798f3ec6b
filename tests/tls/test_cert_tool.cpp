// `lintel cert` output, checked by the real openssl CLI: the chain verifies for the hosts,
// the extensions are what browsers and curl require, and a second run reuses the CA.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tls/cert_tool.h"
#include "tls_test_support.h"

namespace lintel::tls {
namespace {

using test::read_text;
using test::run;
using test::TempDir;

std::string base64_decode(const std::string& text) {
  std::string out(text.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return {};
  // EVP_DecodeBlock counts padding bytes as output: drop them.
  size_t pad = 0;
  while (pad < 2 && !text.empty() && text[text.size() - 1 - pad] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string yaml_value(const std::string& yaml, const std::string& key) {
  const size_t at = yaml.find(key + ": ");
  if (at == std::string::npos) return {};
  const size_t start = at + key.size() + 2;
  return yaml.substr(start, yaml.find('\n', start) - start);
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  stat(path.c_str(), &st);
  return st.st_mode & 0777;
}

TEST(CertTool, WritesAVerifiableBundleAndReusesTheCa) {
  TempDir dir;
  const std::string out = (dir.path / "certs").string();
  auto first = write_cert_bundle(
      {.hosts = {"Demo.Example.com", "*.apps.example.com"}, .out_dir = out}, Clock::now());
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_FALSE(first->ca_reused);
  EXPECT_EQ(first->secret_name, "demo-example-com-tls");
  EXPECT_EQ(first->cert_path, out + "/demo-example-com-tls.crt");
  EXPECT_EQ(mode_of(first->key_path), 0600u);
  EXPECT_EQ(mode_of(first->ca_key_path), 0600u);
  EXPECT_EQ(mode_of(first->secret_path), 0600u);

  // The chain verifies for each SAN, as a TLS server certificate.
  for (const char* host : {"demo.example.com", "x.apps.example.com"}) {
    auto v = run("openssl verify -CAfile " + first->ca_cert_path +
                 " -purpose sslserver -verify_hostname " + host + " " + first->cert_path);
    EXPECT_EQ(v.status, 0) << host << ": " << v.output;
    EXPECT_NE(v.output.find(": OK"), std::string::npos) << v.output;
  }
  auto wrong = run("openssl verify -CAfile " + first->ca_cert_path +
                   " -verify_hostname y.x.apps.example.com " + first->cert_path);
  EXPECT_NE(wrong.status, 0) << "one-label wildcard only: " << wrong.output;

  auto ca_text = run("openssl x509 -noout -text -in " + first->ca_cert_path);
  EXPECT_NE(ca_text.output.find("CA:TRUE, pathlen:0"), std::string::npos) << ca_text.output;
  EXPECT_NE(ca_text.output.find("Certificate Sign, CRL Sign"), std::string::npos);
  EXPECT_NE(ca_text.output.find("ASN1 OID: prime256v1"), std::string::npos);
  auto leaf_text = run("openssl x509 -noout -text -in " + first->cert_path);
  EXPECT_NE(leaf_text.output.find("DNS:demo.example.com, DNS:*.apps.example.com"),
            std::string::npos)
      << leaf_text.output;
  EXPECT_NE(leaf_text.output.find("TLS Web Server Authentication"), std::string::npos);
  EXPECT_NE(leaf_text.output.find("CA:FALSE"), std::string::npos);
  EXPECT_NE(leaf_text.output.find("Authority Key Identifier"), std::string::npos);
  // The key file is the leaf's key.
  auto pub_cert = run("openssl x509 -noout -pubkey -in " + first->cert_path);
  auto pub_key = run("openssl pkey -pubout -in " + first->key_path);
  EXPECT_EQ(pub_cert.output, pub_key.output);

  // The Secret manifest carries the same certificate and key.
  const std::string yaml = read_text(first->secret_path);
  EXPECT_NE(yaml.find("type: kubernetes.io/tls\n"), std::string::npos);
  EXPECT_NE(yaml.find("  name: demo-example-com-tls\n  namespace: default\n"), std::string::npos)
      << yaml;
  EXPECT_EQ(base64_decode(yaml_value(yaml, "tls.crt")), read_text(first->cert_path));
  EXPECT_EQ(base64_decode(yaml_value(yaml, "tls.key")), read_text(first->key_path));
  auto from_secret = CertifiedKey::from_pem(base64_decode(yaml_value(yaml, "tls.crt")),
                                            base64_decode(yaml_value(yaml, "tls.key")));
  ASSERT_TRUE(from_secret) << from_secret.error().message;
  EXPECT_EQ(from_secret->fingerprint_sha256(), first->fingerprint_sha256);
  EXPECT_EQ(from_secret->check_covers("demo.example.com"), std::nullopt);

  // A second host, same folder: the CA is reused, both leaves verify against one ca.crt.
  const std::string ca_before = read_text(first->ca_cert_path);
  auto second = write_cert_bundle({.hosts = {"api.example.com"},
                                   .out_dir = out,
                                   .secret_name = "api",
                                   .secret_namespace = "shop",
                                   .days = 10},
                                  Clock::now());
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_TRUE(second->ca_reused);
  EXPECT_EQ(read_text(second->ca_cert_path), ca_before);
  EXPECT_NE(read_text(second->secret_path).find("  name: api\n  namespace: shop\n"),
            std::string::npos);
  for (const auto& [host, leaf] : {std::pair{"api.example.com", second->cert_path},
                                   std::pair{"demo.example.com", first->cert_path}}) {
    auto v = run("openssl verify -CAfile " + second->ca_cert_path + " -verify_hostname " + host +
                 " " + leaf);
    EXPECT_EQ(v.status, 0) << v.output;
  }
  auto dates = run("openssl x509 -noout -enddate -in " + second->cert_path);
  EXPECT_NE(dates.output.find("notAfter="), std::string::npos);
  EXPECT_LT(second->not_after, Clock::now() + std::chrono::days(11));
}

TEST(CertTool, RefusesBadInput) {
  TempDir dir;
  struct Row {
    CertBundleRequest request;
    std::string message;
  };
  const std::string out = dir.path.string();
  const Row rows[] = {
      {{.hosts = {}, .out_dir = out}, "at least one --host is required"},
      {{.hosts = {"a.example.com"}}, "--out DIR is required"},
      {{.hosts = {"a_b.example.com"}, .out_dir = out},
       "\"a_b.example.com\" must be lowercase letters, digits, '-' and '.' (a leading \"*.\" "
       "allowed)"},
      {{.hosts = {"127.0.0.1"}, .out_dir = out},
       "\"127.0.0.1\" looks like an IP address; only DNS names are supported"},
      {{.hosts = {"*.com"}, .out_dir = out},
       "\"*.com\" is too broad a wildcard (at least two labels must follow \"*.\")"},
      {{.hosts = {"a.example.com"}, .out_dir = out, .secret_name = "Bad_Name"},
       "Secret name \"Bad_Name\" must be lowercase letters, digits, '-' and '.', start and end "
       "with a letter or digit, at most 253 characters"},
      {{.hosts = {"a.example.com"}, .out_dir = out, .secret_namespace = "a.b"},
       "namespace \"a.b\" must be lowercase letters, digits and '-', start and end with a letter "
       "or digit, at most 63 characters"},
      {{.hosts = {"a.example.com"}, .out_dir = out, .days = 4000},
       "a certificate valid for 4000 days would outlive its CA"},
  };
  for (const Row& row : rows) {
    auto r = write_cert_bundle(row.request, Clock::now());
    ASSERT_FALSE(r) << row.message;
    EXPECT_EQ(r.error().message.rfind(row.message, 0), 0u) << r.error().message;
  }
  // Half a CA is never silently replaced.
  ASSERT_TRUE(write_cert_bundle({.hosts = {"a.example.com"}, .out_dir = out}, Clock::now()));
  ASSERT_TRUE(std::filesystem::remove(dir / "ca.crt"));
  auto half = write_cert_bundle({.hosts = {"a.example.com"}, .out_dir = out}, Clock::now());
  ASSERT_FALSE(half);
  EXPECT_EQ(half.error().message, (dir / "ca.crt") + " is missing but " + (dir / "ca.key") +
                                      " exists; restore it, or remove both to create a new CA");
}

TEST(CertTool, SecretNames) {
  EXPECT_EQ(secret_name_for("a.example.com"), "a-example-com-tls");
  EXPECT_EQ(secret_name_for("*.example.com"), "wildcard-example-com-tls");
}

TEST(DefaultCertificate, GeneratedOrLoaded) {
  const TimePoint now = Clock::now();
  bool generated = false;
  auto def = load_or_generate_default("", "", now, &generated);
  ASSERT_TRUE(def) << def.error().message;
  EXPECT_TRUE(generated);
  EXPECT_EQ(def->subject(), "CN=Lintel default certificate");
  EXPECT_EQ(def->key_type(), "ECDSA P-256");
  EXPECT_EQ(def->dns_names(), std::vector<std::string>{kDefaultCertificateSan});
  EXPECT_EQ(def->check_validity(now + std::chrono::days(364)), std::nullopt);
  EXPECT_TRUE(def->check_validity(now + std::chrono::days(366)));

  TempDir dir;
  auto bundle = write_cert_bundle({.hosts = {"d.example.com"}, .out_dir = dir.path.string()}, now);
  ASSERT_TRUE(bundle);
  auto loaded = load_or_generate_default(bundle->cert_path, bundle->key_path, now, &generated);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_FALSE(generated);
  EXPECT_EQ(loaded->fingerprint_sha256(), bundle->fingerprint_sha256);
  auto half = load_or_generate_default(bundle->cert_path, "", now);
  ASSERT_FALSE(half);
  EXPECT_EQ(half.error().message,
            "--default-cert and --default-key go together; give both or neither");
  auto expired =
      load_or_generate_default(bundle->cert_path, bundle->key_path, now + std::chrono::days(400));
  ASSERT_FALSE(expired);
  EXPECT_NE(expired.error().message.find("certificate expired on"), std::string::npos);
}

}  // namespace
}  // namespace lintel::tls
