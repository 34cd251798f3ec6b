#pragma once
// `lintel cert`: a local CA and a server certificate for a few hosts, written to a folder,
// plus a ready-to-apply kubernetes.io/tls Secret manifest. The CLI in app/ parses the
// flags and calls write_cert_bundle(); this file does the work.
//
// Files in `out_dir` (created if missing; keys are written 0600):
//   ca.crt, ca.key          the CA. Reused when both exist, so several certificates (for
//                           different hosts, run after run) chain to one CA and the user
//                           trusts it once (`curl --cacert DIR/ca.crt`). One without the
//                           other is an error (we never silently replace a CA).
//   <secret>.crt, .key      the leaf certificate (alone: the CA is not part of the chain a
//                           server sends; clients hold it) and its key.
//   <secret>.yaml           the Secret: data tls.crt / tls.key, base64.
//
// The Secret manifest is the one piece of Kubernetes vocabulary in tls/: plain text, kept
// here so `lintel cert` is one call; it could move to app/ without touching anything else.
//
// Thread: the CLI's (blocking file I/O).

#include <string>
#include <string_view>
#include <vector>

#include "tls/certificate.h"
#include "tls/generate.h"
#include "tls/result.h"

namespace lintel::tls {

struct CertBundleRequest {
  std::vector<std::string> hosts;  // SANs; "*.example.com" allowed; lowercased
  std::string out_dir;
  std::string secret_name;  // empty: from the first host, "a.example.com" → "a-example-com-tls"
  std::string secret_namespace = "default";
  int days = kDefaultCertificateDays;  // the leaf; a new CA gets kCaDays
};

struct CertBundle {
  bool ca_reused = false;
  std::string ca_cert_path;
  std::string ca_key_path;
  std::string cert_path;
  std::string key_path;
  std::string secret_path;
  std::string secret_name;
  std::string fingerprint_sha256;  // of the leaf
  TimePoint not_after{};
};

Result<CertBundle> write_cert_bundle(const CertBundleRequest& request, TimePoint now);

// The Secret manifest (YAML) for a certificate chain and key in PEM.
std::string render_tls_secret(std::string_view name, std::string_view name_space,
                              std::string_view cert_pem, std::string_view key_pem);

// "a.example.com" → "a-example-com-tls", "*.example.com" → "wildcard-example-com-tls".
std::string secret_name_for(std::string_view host);

// Kubernetes object-name rules, checked so the manifest is accepted by the API server.
Status check_secret_name(std::string_view name);     // DNS-1123 subdomain
Status check_namespace_name(std::string_view name);  // DNS-1123 label

}  // namespace lintel::tls
