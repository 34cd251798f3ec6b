#pragma once
// The TLS policy, in one place, and the server SSL_CTX built from it: one context per
// certificate, all with identical policy, so that switching context on SNI changes the
// certificate and nothing else.
//
// Policy (Mozilla "intermediate" without DHE and without CBC):
//   - TLS 1.2 and 1.3 only; security level 2 (RSA ≥ 2048, no SHA-1 signatures), set here
//     rather than inherited from /etc/ssl/openssl.cnf, so the policy is the same anywhere;
//   - TLS 1.2: ECDHE key exchange with AEAD ciphers only (kTls12Ciphers); TLS 1.3: its
//     three standard suites; groups X25519, P-256, P-384;
//   - server cipher preference, with ChaCha20 moved first for clients that put it first
//     (phones without AES instructions);
//   - no compression (CRIME), no renegotiation of any kind (a DoS lever, and nothing in
//     HTTP/1.1 ingress needs it), no 0-RTT (replayable);
//   - session tickets on, keys from the process's TicketKeyRing; no server-side session
//     cache: the OpenSSL cache is per SSL_CTX under a lock shared by all workers and is
//     useless across replicas, while tickets need neither;
//   - one session id context ("lintel") on every context: OpenSSL refuses to resume a
//     session whose id context differs from the connection's, and SSL_set_SSL_CTX copies
//     the new context's value, so different values would break resumption after SNI;
//   - ALPN: kAlpnProtocols in server preference order; a client offering none of them
//     gets no ALPN answer (and speaks HTTP/1.1) rather than a fatal alert, as nginx does.
//
// Thread: create() on the control thread (compiler, start-up). A created ServerContext
// is immutable and shared by all workers: SSL_new(native()) and SSL_set_SSL_CTX(...,
// native()) are safe from any thread.

#include <openssl/ssl.h>

#include <array>
#include <memory>
#include <string_view>

#include "tls/certificate.h"
#include "tls/result.h"
#include "tls/session_tickets.h"

namespace lintel::tls {

// ALPN protocols offered, in preference order. HTTP/2 arrives in a later issue: put "h2"
// first here (and nowhere else) once the proxy can speak it.
inline constexpr std::array<std::string_view, 1> kAlpnProtocols = {"http/1.1"};

inline constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
inline constexpr const char* kTls13Ciphersuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
inline constexpr const char* kGroups = "X25519:P-256:P-384";
inline constexpr std::string_view kSessionIdContext = "lintel";

// What every context of the process shares. Build once at start-up (app/).
struct ContextOptions {
  std::shared_ptr<TicketKeyRing> tickets;  // required: one ring for the whole process
};

class ServerContext {
 public:
  // Policy + certificate chain + key + ticket keys + ALPN + the SNI callback (which
  // switches to the CertStore's choice; see cert_store.h). Fails with the reason
  // ("certificate key too small", ...) drained from OpenSSL.
  static Result<std::shared_ptr<const ServerContext>> create(CertifiedKey key,
                                                             const ContextOptions& options);

  // The SSL_CTX. Non-const because OpenSSL's API is; the context is not modified after
  // create(). Listeners: SSL_new(native()). Asio: asio::ssl::context takes ownership of a
  // native handle, so give it one reference: SSL_CTX_up_ref(native()) first.
  SSL_CTX* native() const { return ctx_.get(); }
  const CertifiedKey& certificate() const { return key_; }
  const ContextOptions& options() const { return options_; }

  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

 private:
  ServerContext(SslCtxPtr ctx, CertifiedKey key, ContextOptions options)
      : ctx_(std::move(ctx)), key_(std::move(key)), options_(std::move(options)) {}

  SslCtxPtr ctx_;
  CertifiedKey key_;
  ContextOptions options_;
};

// Applies the policy above (everything but certificate, tickets and SNI) to `ctx`.
// Exposed for tests and for a future upstream-TLS client context to share the version
// and cipher choices.
Status apply_server_policy(SSL_CTX* ctx);

// The protocol ALPN chose on `ssl` after the handshake ("http/1.1"), or "" when the
// client sent no ALPN (treat as HTTP/1.1). Any thread owning `ssl`.
std::string_view negotiated_alpn(const SSL* ssl);

}  // namespace lintel::tls
