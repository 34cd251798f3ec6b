#include "tls/certificate.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace lintel::tls {
namespace {

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

std::string hex_colon(const unsigned char* data, size_t len) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(len * 3);
  for (size_t i = 0; i < len; ++i) {
    if (i != 0) {
      out += ':';
    }
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 0xf];
  }
  return out;
}

TimePoint asn1_to_time(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return TimePoint{};
  }
  return Clock::from_time_t(timegm(&tm));
}

// Never prompt on a terminal for a passphrase: a key in a Secret or a file given by flag
// is used unattended, so an encrypted one is an error, not a question.
int refuse_passphrase(char*, int, int, void*) { return -1; }

Result<std::vector<X509Ptr>> parse_chain(std::string_view pem, std::string_view name) {
  ERR_clear_error();
  BioPtr bio = memory_bio(pem);
  std::vector<X509Ptr> chain;
  for (;;) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, refuse_passphrase, nullptr));
    if (cert) {
      chain.push_back(std::move(cert));
      continue;
    }
    const unsigned long err = ERR_peek_last_error();
    if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
      ERR_clear_error();  // the normal end of the input
      break;
    }
    return openssl_error(std::string(name) + ": certificate " + std::to_string(chain.size() + 1) +
                         " does not parse");
  }
  if (chain.empty()) {
    return Error{std::string(name) + " contains no PEM certificate"};
  }
  return chain;
}

Result<PkeyPtr> parse_key(std::string_view pem, std::string_view name) {
  ERR_clear_error();
  if (pem.find("-----BEGIN ") == std::string_view::npos) {
    return Error{std::string(name) + " contains no PEM private key"};
  }
  BioPtr bio = memory_bio(pem);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, nullptr));
  if (key) {
    return key;
  }
  if (pem.find("ENCRYPTED") != std::string_view::npos) {
    ERR_clear_error();
    return Error{std::string(name) + " is encrypted; an unencrypted key is required"};
  }
  const unsigned long err = ERR_peek_last_error();
  if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
    ERR_clear_error();
    return Error{std::string(name) + " contains no PEM private key"};
  }
  return openssl_error(std::string(name) + ": private key does not parse");
}

// "ECDSA P-256", "RSA 2048", "Ed25519"; or an Error for key types TLS servers do not use.
Result<std::string> describe_key(EVP_PKEY* key, std::string_view name) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA: {
      const int bits = EVP_PKEY_get_bits(key);
      if (bits < 2048) {
        return Error{std::string(name) + " is a " + std::to_string(bits) +
                     "-bit RSA key; at least 2048 bits are required"};
      }
      return "RSA " + std::to_string(bits);
    }
    case EVP_PKEY_EC: {
      char group[64] = {};
      size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                         &len) != 1) {
        return openssl_error(std::string(name) + ": cannot read the ECDSA curve");
      }
      // Only the NIST curves TLS clients offer for ECDSA signatures are useful.
      const char* nist = EC_curve_nid2nist(OBJ_sn2nid(group));
      if (nist == nullptr || std::strcmp(nist, "P-224") == 0 || std::strcmp(nist, "P-192") == 0) {
        return Error{std::string(name) + " is an ECDSA key on curve " + group +
                     "; P-256, P-384 or P-521 expected"};
      }
      return std::string("ECDSA ") + nist;
    }
    case EVP_PKEY_ED25519:
      return std::string("Ed25519");
    default: {
      // OBJ_nid2sn() is NULL for a type without a NID (a key of a provider-only algorithm:
      // EVP_PKEY_get_base_id() is then -1), and a std::string cannot be built from NULL.
      const char* type = OBJ_nid2sn(EVP_PKEY_get_base_id(key));
      return Error{std::string(name) + " is a " + (type != nullptr ? type : "unknown type of") +
                   " key; RSA, ECDSA or Ed25519 expected"};
    }
  }
}

std::vector<std::string> dns_names_of(X509* cert) {
  std::vector<std::string> names;
  GeneralNamesPtr sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!sans) {
    return names;
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
    if (gn->type != GEN_DNS) {
      continue;  // IP and other names never match an Ingress host
    }
    const ASN1_IA5STRING* s = gn->d.dNSName;
    std::string name(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
    if (name.find('\0') != std::string::npos) {
      continue;  // an embedded NUL is a classic spoofing trick: never a match
    }
    std::transform(name.begin(), name.end(), name.begin(), ascii_lower);
    names.push_back(std::move(name));
  }
  return names;
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error{"cannot read " + path + ": " + std::strerror(errno)};
  }
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) {
    return Error{"cannot read " + path + ": " + std::strerror(errno)};
  }
  return out.str();
}

}  // namespace

std::string format_time(TimePoint t) {
  const std::time_t tt = Clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool san_covers(std::string_view san, std::string_view host) {
  if (iequals(san, host)) {
    return true;  // includes "*.example.com" covering the wildcard host "*.example.com"
  }
  if (host.starts_with("*.") || !san.starts_with("*.")) {
    return false;
  }
  const std::string_view san_parent = san.substr(2);
  if (san_parent.find('.') == std::string_view::npos || san_parent.find('*') != san.npos) {
    return false;  // "*.com", "*.*.example.com": clients refuse these, so do we
  }
  const size_t dot = host.find('.');
  if (dot == 0 || dot == std::string_view::npos) {
    return false;
  }
  return iequals(host.substr(dot + 1), san_parent);
}

Result<CertifiedKey> CertifiedKey::from_pem(std::string_view cert_pem, std::string_view key_pem,
                                            std::string_view cert_name, std::string_view key_name) {
  auto chain = parse_chain(cert_pem, cert_name);
  if (!chain) {
    return chain.error();
  }
  auto key = parse_key(key_pem, key_name);
  if (!key) {
    return key.error();
  }
  auto type = describe_key(key->get(), key_name);
  if (!type) {
    return type.error();
  }
  // Checked before from_objects so the message can name the inputs.
  if (X509_check_private_key(chain->front().get(), key->get()) != 1) {
    ERR_clear_error();
    return Error{std::string(key_name) + " does not match the certificate"};
  }
  return from_objects(std::move(chain).value(), std::move(key).value());
}

Result<CertifiedKey> CertifiedKey::from_files(const std::string& cert_path,
                                              const std::string& key_path) {
  auto cert = read_file(cert_path);
  if (!cert) {
    return cert.error();
  }
  auto key = read_file(key_path);
  if (!key) {
    return key.error();
  }
  return from_pem(*cert, *key, cert_path, key_path);
}

Result<CertifiedKey> CertifiedKey::from_objects(std::vector<X509Ptr> chain, PkeyPtr key) {
  if (chain.empty() || !chain.front() || !key) {
    return Error{"no certificate or no key"};
  }
  auto type = describe_key(key.get(), "the key");
  if (!type) {
    return type.error();
  }
  if (X509_check_private_key(chain.front().get(), key.get()) != 1) {
    ERR_clear_error();
    return Error{"the key does not match the certificate"};
  }
  CertifiedKey out;
  X509* leaf = chain.front().get();
  out.key_type_ = std::move(type).value();
  out.dns_names_ = dns_names_of(leaf);
  out.not_before_ = asn1_to_time(X509_get0_notBefore(leaf));
  out.not_after_ = asn1_to_time(X509_get0_notAfter(leaf));

  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  X509_digest(leaf, EVP_sha256(), md, &md_len);
  out.fingerprint_ = hex_colon(md, md_len);

  std::string digests;
  for (const X509Ptr& cert : chain) {
    X509_digest(cert.get(), EVP_sha256(), md, &md_len);
    digests.append(reinterpret_cast<const char*>(md), md_len);
  }
  EVP_Digest(digests.data(), digests.size(), md, &md_len, EVP_sha256(), nullptr);
  out.chain_digest_.assign(reinterpret_cast<const char*>(md), md_len);

  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(leaf), 0, XN_FLAG_RFC2253);
  out.subject_ = bio_to_string(bio.get());

  out.chain_ = std::move(chain);
  out.key_ = std::move(key);
  return out;
}

Status CertifiedKey::check_validity(TimePoint now) const {
  if (now > not_after_) {
    return Error{"certificate expired on " + format_time(not_after_)};
  }
  if (now < not_before_) {
    return Error{"certificate is not valid before " + format_time(not_before_)};
  }
  return std::nullopt;
}

bool CertifiedKey::covers(std::string_view host) const {
  return std::any_of(dns_names_.begin(), dns_names_.end(),
                     [&](const std::string& san) { return san_covers(san, host); });
}

Status CertifiedKey::check_covers(std::string_view host) const {
  if (covers(host)) {
    return std::nullopt;
  }
  std::string message = "certificate does not cover host " + std::string(host);
  if (dns_names_.empty()) {
    return Error{message +
                 " (it has no DNS subjectAltName; the Common Name is not used for host names)"};
  }
  message += " (SANs: ";
  for (size_t i = 0; i < dns_names_.size(); ++i) {
    message += (i == 0 ? "" : ", ") + dns_names_[i];
  }
  return Error{message + ")"};
}

std::string CertifiedKey::describe() const {
  std::string sans;
  for (const std::string& name : dns_names_) {
    sans += (sans.empty() ? "" : ",") + name;
  }
  return "subject \"" + subject_ + "\", SANs [" + sans + "], " + key_type_ + ", expires " +
         format_time(not_after_) + ", SHA-256 " + fingerprint_;
}

std::string CertifiedKey::chain_pem() const {
  std::string out;
  for (const X509Ptr& cert : chain_) {
    out += to_pem(cert.get());
  }
  return out;
}

std::string CertifiedKey::key_pem() const { return to_pem(key_.get()); }

}  // namespace lintel::tls
