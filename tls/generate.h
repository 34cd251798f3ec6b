#pragma once
// Certificate generation: the self-signed default certificate served when no Ingress
// certificate matches, and the local CA + leaf certificates of `lintel cert` (cert_tool.h).
//
// Thread: any (the control thread at start-up, or the CLI). Key generation takes a few
// milliseconds (RSA: up to a second): never on a worker.

#include <string>
#include <vector>

#include "tls/certificate.h"
#include "tls/result.h"

namespace lintel::tls {

enum class KeyType { kEcdsaP256, kEcdsaP384, kRsa2048, kEd25519 };

inline constexpr const char* kDefaultCertificateName = "Lintel default certificate";
// The default certificate's only SAN: a name under .invalid (RFC 6761) can never be a real
// host, so no client ever mistakes the placeholder for a valid certificate of its host.
inline constexpr const char* kDefaultCertificateSan = "lintel-default.invalid";
inline constexpr int kDefaultCertificateDays = 365;
inline constexpr int kCaDays = 3650;

Result<PkeyPtr> generate_key(KeyType type);

// A self-signed ECDSA P-256 certificate, subject CN "Lintel default certificate", valid
// from an hour before `now` (clock skew between client and server) for
// kDefaultCertificateDays. Log its CertifiedKey::fingerprint_sha256() once.
Result<CertifiedKey> generate_default_certificate(TimePoint now);

// `--default-cert FILE --default-key FILE` when both are given (both or neither: an error
// otherwise), else generate_default_certificate(now). A loaded certificate that is
// expired is an error too: better to refuse to start than to serve it for a year.
// `generated` (optional) tells which happened, for the log line.
Result<CertifiedKey> load_or_generate_default(const std::string& cert_file,
                                              const std::string& key_file, TimePoint now,
                                              bool* generated = nullptr);

// A local CA: ECDSA P-256, self-signed, basicConstraints critical CA:TRUE pathlen:0,
// keyUsage critical keyCertSign+cRLSign, valid `days` from an hour before `now`.
Result<CertifiedKey> create_ca(TimePoint now, int days = kCaDays);

// A server certificate for `hosts` (the SANs, in order; "*.example.com" allowed; CN = the
// first host), serverAuth EKU, digitalSignature (+keyEncipherment for RSA), signed by
// `ca` with SHA-256; the chain is the leaf alone (clients hold the CA). Hosts must be
// DNS names; the certificate may not outlive the CA.
Result<CertifiedKey> issue_certificate(const CertifiedKey& ca,
                                       const std::vector<std::string>& hosts, TimePoint now,
                                       int days = kDefaultCertificateDays,
                                       KeyType type = KeyType::kEcdsaP256);

// "foo.example.com" / "*.example.com" (lowercase, labels of [a-z0-9-], ≤253 chars); an IP
// address or anything else is an Error naming the problem.
Status check_dns_name(std::string_view host);

}  // namespace lintel::tls
