#include "tls/generate.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <algorithm>
#include <ctime>

namespace lintel::tls {
namespace {

constexpr std::chrono::hours kBackdate{1};

Result<Asn1IntegerPtr> random_serial() {
  // 16 random bytes with the top bit clear: positive, unique in practice (RFC 5280 allows
  // 20 octets; CA/B Forum asks for at least 64 bits of entropy).
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return openssl_error("cannot draw a random serial number");
  }
  bytes[0] &= 0x7f;
  bytes[0] |= 0x01;  // never a leading zero octet
  BignumPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  Asn1IntegerPtr serial(bn ? BN_to_ASN1_INTEGER(bn.get(), nullptr) : nullptr);
  if (!serial) {
    return openssl_error("cannot encode the serial number");
  }
  return serial;
}

Status add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtensionPtr ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return openssl_error(std::string("cannot add extension ") + OBJ_nid2sn(nid) + "=" + value);
  }
  return std::nullopt;
}

struct CertSpec {
  EVP_PKEY* subject_key;
  std::string common_name;
  X509* issuer = nullptr;          // null: self-signed
  EVP_PKEY* issuer_key = nullptr;  // null: self-signed with subject_key
  TimePoint not_before;
  TimePoint not_after;
  std::vector<std::pair<int, std::string>> extensions;  // in order
};

Result<X509Ptr> build(const CertSpec& spec) {
  ERR_clear_error();
  X509Ptr cert(X509_new());
  auto serial = random_serial();
  if (!cert || !serial) {
    return serial ? openssl_error("cannot allocate a certificate") : serial.error();
  }
  X509_set_version(cert.get(), X509_VERSION_3);
  X509_set_serialNumber(cert.get(), serial->get());
  NamePtr name(X509_NAME_new());
  if (!spec.common_name.empty()) {
    X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
                               -1, 0);
  }
  X509_set_subject_name(cert.get(), name.get());
  X509_set_issuer_name(cert.get(), spec.issuer ? X509_get_subject_name(spec.issuer) : name.get());
  if (!ASN1_TIME_set(X509_getm_notBefore(cert.get()), Clock::to_time_t(spec.not_before)) ||
      !ASN1_TIME_set(X509_getm_notAfter(cert.get()), Clock::to_time_t(spec.not_after))) {
    return openssl_error("cannot set the validity dates");
  }
  X509_set_pubkey(cert.get(), spec.subject_key);
  X509* issuer = spec.issuer ? spec.issuer : cert.get();
  for (const auto& [nid, value] : spec.extensions) {
    if (Status bad = add_extension(cert.get(), issuer, nid, value)) {
      return *bad;
    }
  }
  EVP_PKEY* signer = spec.issuer_key ? spec.issuer_key : spec.subject_key;
  // Ed25519 signs the message itself: no separate digest.
  const EVP_MD* md = EVP_PKEY_get_base_id(signer) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  if (X509_sign(cert.get(), signer, md) <= 0) {
    return openssl_error("cannot sign the certificate");
  }
  return cert;
}

}  // namespace

Result<PkeyPtr> generate_key(KeyType type) {
  ERR_clear_error();
  EVP_PKEY* key = nullptr;
  switch (type) {
    case KeyType::kEcdsaP256:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyType::kEcdsaP384:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
      break;
    case KeyType::kRsa2048:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
      break;
    case KeyType::kEd25519:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
  }
  if (key == nullptr) {
    return openssl_error("cannot generate a key");
  }
  return PkeyPtr(key);
}

Status check_dns_name(std::string_view host) {
  const std::string h(host);
  auto bad = [&](const std::string& why) { return Error{"\"" + h + "\" " + why}; };
  if (host.empty() || host.size() > 253) {
    return bad("is not a DNS name (1 to 253 characters)");
  }
  std::string_view rest = host;
  if (rest.starts_with("*.")) {
    rest.remove_prefix(2);
    if (rest.find('.') == std::string_view::npos) {
      return bad("is too broad a wildcard (at least two labels must follow \"*.\")");
    }
  }
  std::string_view last_label;
  while (true) {
    const size_t dot = rest.find('.');
    std::string_view label = rest.substr(0, dot);
    if (label.empty() || label.size() > 63) {
      return bad("has an empty or over-long label");
    }
    if (label.front() == '-' || label.back() == '-') {
      return bad("has a label starting or ending with '-'");
    }
    for (char c : label) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
        return bad("must be lowercase letters, digits, '-' and '.' (a leading \"*.\" allowed)");
      }
    }
    last_label = label;
    if (dot == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(dot + 1);
  }
  if (std::all_of(last_label.begin(), last_label.end(),
                  [](char c) { return c >= '0' && c <= '9'; })) {
    return bad("looks like an IP address; only DNS names are supported");
  }
  return std::nullopt;
}

Result<CertifiedKey> generate_default_certificate(TimePoint now) {
  auto key = generate_key(KeyType::kEcdsaP256);
  if (!key) {
    return key.error();
  }
  CertSpec spec{.subject_key = key->get(),
                .common_name = kDefaultCertificateName,
                .not_before = now - kBackdate,
                .not_after = now + std::chrono::days(kDefaultCertificateDays),
                .extensions = {
                    {NID_basic_constraints, "critical,CA:FALSE"},
                    {NID_key_usage, "critical,digitalSignature"},
                    {NID_ext_key_usage, "serverAuth"},
                    {NID_subject_key_identifier, "hash"},
                    {NID_subject_alt_name, std::string("DNS:") + kDefaultCertificateSan},
                }};
  auto cert = build(spec);
  if (!cert) {
    return cert.error();
  }
  std::vector<X509Ptr> chain;
  chain.push_back(std::move(cert).value());
  return CertifiedKey::from_objects(std::move(chain), std::move(key).value());
}

Result<CertifiedKey> load_or_generate_default(const std::string& cert_file,
                                              const std::string& key_file, TimePoint now,
                                              bool* generated) {
  if (generated != nullptr) {
    *generated = cert_file.empty() && key_file.empty();
  }
  if (cert_file.empty() && key_file.empty()) {
    return generate_default_certificate(now);
  }
  if (cert_file.empty() || key_file.empty()) {
    return Error{"--default-cert and --default-key go together; give both or neither"};
  }
  auto loaded = CertifiedKey::from_files(cert_file, key_file);
  if (!loaded) {
    return loaded.error();
  }
  if (Status bad = loaded->check_validity(now)) {
    return Error{cert_file + ": " + bad->message};
  }
  return loaded;
}

Result<CertifiedKey> create_ca(TimePoint now, int days) {
  if (days < 1) {
    return Error{"a CA must be valid for at least one day"};
  }
  auto key = generate_key(KeyType::kEcdsaP256);
  if (!key) {
    return key.error();
  }
  // The date in the name tells apart CAs created on different days in a trust store
  // (and in `openssl x509 -subject`), since each `--out DIR` makes its own.
  const std::string created = format_time(now).substr(0, 10);
  CertSpec spec{.subject_key = key->get(),
                .common_name = "Lintel local CA " + created,
                .not_before = now - kBackdate,
                .not_after = now + std::chrono::days(days),
                .extensions = {
                    {NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                    {NID_key_usage, "critical,keyCertSign,cRLSign"},
                    {NID_subject_key_identifier, "hash"},
                }};
  auto cert = build(spec);
  if (!cert) {
    return cert.error();
  }
  std::vector<X509Ptr> chain;
  chain.push_back(std::move(cert).value());
  return CertifiedKey::from_objects(std::move(chain), std::move(key).value());
}

Result<CertifiedKey> issue_certificate(const CertifiedKey& ca,
                                       const std::vector<std::string>& hosts, TimePoint now,
                                       int days, KeyType type) {
  if (hosts.empty()) {
    return Error{"at least one host is required"};
  }
  if (days < 1) {
    return Error{"a certificate must be valid for at least one day"};
  }
  std::string sans;
  for (const std::string& host : hosts) {
    if (Status bad = check_dns_name(host)) {
      return *bad;
    }
    sans += (sans.empty() ? "DNS:" : ",DNS:") + host;
  }
  if (X509_check_ca(ca.leaf()) < 1) {
    return Error{"the issuing certificate is not a CA"};
  }
  const TimePoint not_after = now + std::chrono::days(days);
  if (not_after > ca.not_after()) {
    return Error{"a certificate valid for " + std::to_string(days) +
                 " days would outlive its CA, which expires on " + format_time(ca.not_after())};
  }
  auto key = generate_key(type);
  if (!key) {
    return key.error();
  }
  // RSA key exchange is not in our TLS 1.2 policy, but other servers may use the same
  // certificate, and clients check keyEncipherment for RSA certificates there.
  const std::string usage = type == KeyType::kRsa2048 ? "critical,digitalSignature,keyEncipherment"
                                                      : "critical,digitalSignature";
  CertSpec spec{.subject_key = key->get(),
                .common_name = hosts.front().size() <= 64 ? hosts.front() : std::string(),
                .issuer = ca.leaf(),
                .issuer_key = ca.key(),
                .not_before = now - kBackdate,
                .not_after = not_after,
                .extensions = {
                    {NID_basic_constraints, "critical,CA:FALSE"},
                    {NID_key_usage, usage},
                    {NID_ext_key_usage, "serverAuth"},
                    {NID_subject_key_identifier, "hash"},
                    {NID_authority_key_identifier, "keyid:always"},
                    {NID_subject_alt_name, sans},
                }};
  auto cert = build(spec);
  if (!cert) {
    return cert.error();
  }
  std::vector<X509Ptr> chain;
  chain.push_back(std::move(cert).value());
  return CertifiedKey::from_objects(std::move(chain), std::move(key).value());
}

}  // namespace lintel::tls
