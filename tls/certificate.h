#pragma once
// A certificate chain with its private key, loaded from PEM (a kubernetes.io/tls Secret's
// tls.crt / tls.key, or files given on the command line), and the checks the compiler runs
// on it before a host may use it.
//
// Host names follow the modern rule (RFC 6125 §6.4.4, CA/Browser Forum, Chrome since 58,
// Go since 1.15): only subjectAltName DNS entries name hosts; the subject Common Name is
// never used, even when there is no SAN extension. A certificate without DNS SANs covers
// no host.
//
// Time is always an argument: compile() is a pure function and has no clock.
//
// Thread: load on any thread (the control thread in practice); a loaded CertifiedKey is
// immutable and may be read from any thread.

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "tls/openssl_util.h"
#include "tls/result.h"

namespace lintel::tls {

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

// "2026-01-02T00:00:00Z".
std::string format_time(TimePoint t);

// True when the SAN DNS entry `san` covers the Ingress host `host` (both compared
// case-insensitively):
//   - equal names;
//   - SAN "*.example.com" covers "a.example.com" (exactly one more leading, non-empty
//     label; not "b.a.example.com", not "example.com"); the wildcard must be the whole
//     left-most label and be followed by at least two labels ("*.com" covers nothing);
//   - a wildcard host "*.example.com" is covered only by the same wildcard SAN, because
//     a certificate for "a.example.com" would not be accepted for "b.example.com".
bool san_covers(std::string_view san, std::string_view host);

class CertifiedKey {
 public:
  // Parses a PEM chain (leaf first, then intermediates; other PEM blocks are skipped) and
  // a PEM private key (PKCS#8, or the traditional "RSA/EC PRIVATE KEY" forms; RSA, ECDSA
  // P-256/P-384/P-521, Ed25519). Checks that the key matches the leaf and that an RSA key
  // has at least 2048 bits (what OpenSSL security level 2 requires, so the context would
  // refuse it later anyway). `cert_name` / `key_name` name the inputs in messages
  // ("tls.crt", or a file path). Encrypted keys are refused (no passphrase prompt).
  static Result<CertifiedKey> from_pem(std::string_view cert_pem, std::string_view key_pem,
                                       std::string_view cert_name = "tls.crt",
                                       std::string_view key_name = "tls.key");
  // Reads both files (blocking I/O: call at start-up, not from a worker) then from_pem.
  static Result<CertifiedKey> from_files(const std::string& cert_path, const std::string& key_path);
  // Takes ownership of objects built in-process (certificate generation). Computes the
  // same metadata as from_pem; checks the key matches.
  static Result<CertifiedKey> from_objects(std::vector<X509Ptr> chain, PkeyPtr key);

  CertifiedKey(CertifiedKey&&) = default;
  CertifiedKey& operator=(CertifiedKey&&) = default;

  // --- checks (nullopt = fine) ---
  // "certificate expired on 2026-01-02T00:00:00Z" / "certificate is not valid before ...".
  Status check_validity(TimePoint now) const;
  // "certificate does not cover host foo.example.com (SANs: a.example.com, *.b.example.com)".
  Status check_covers(std::string_view host) const;
  bool covers(std::string_view host) const;

  // --- metadata of the leaf ---
  const std::vector<std::string>& dns_names() const { return dns_names_; }  // SANs, lowercase
  TimePoint not_before() const { return not_before_; }
  TimePoint not_after() const { return not_after_; }
  // SHA-256 of the leaf's DER, "AB:CD:..." (the form `openssl x509 -fingerprint -sha256`
  // prints, so an operator can compare).
  const std::string& fingerprint_sha256() const { return fingerprint_; }
  const std::string& subject() const { return subject_; }    // "CN=..., O=..." (RFC 2253)
  const std::string& key_type() const { return key_type_; }  // "ECDSA P-256", "RSA 2048"
  // SHA-256 over the whole chain's DER: equal digests mean the same certificates (and,
  // because the key matches the leaf, the same key). CertStore reuses contexts by it.
  const std::string& chain_digest() const { return chain_digest_; }
  // One line for the log: subject, SANs, notAfter, fingerprint.
  std::string describe() const;

  // --- the OpenSSL objects (owned by this object) ---
  X509* leaf() const { return chain_.front().get(); }
  const std::vector<X509Ptr>& chain() const { return chain_; }  // leaf first
  EVP_PKEY* key() const { return key_.get(); }
  std::string chain_pem() const;  // leaf first
  std::string key_pem() const;    // PKCS#8

 private:
  CertifiedKey() = default;

  std::vector<X509Ptr> chain_;
  PkeyPtr key_;
  std::vector<std::string> dns_names_;
  TimePoint not_before_{};
  TimePoint not_after_{};
  std::string fingerprint_;
  std::string subject_;
  std::string key_type_;
  std::string chain_digest_;
};

}  // namespace lintel::tls
