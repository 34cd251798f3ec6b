#include "tls/server_context.h"

#include <openssl/err.h>

#include "tls/cert_store.h"

namespace lintel::tls {
namespace {

// Server preference: the first of kAlpnProtocols that the client offers. Written out
// rather than SSL_select_next_proto, whose argument order has tripped up many servers
// (and which had an out-of-bounds read on empty lists before OpenSSL 3.0.15).
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
  for (std::string_view ours : kAlpnProtocols) {
    unsigned int i = 0;
    while (i < inlen) {
      const unsigned int len = in[i];
      if (i + 1 + len > inlen) {
        return SSL_TLSEXT_ERR_NOACK;  // malformed list: OpenSSL checks this, but be safe
      }
      std::string_view theirs(reinterpret_cast<const char*>(in + i + 1), len);
      if (theirs == ours) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

int servername_callback(SSL* ssl, int* alert, void*) { return select_context(ssl, alert); }

}  // namespace

Status apply_server_policy(SSL_CTX* ctx) {
  ERR_clear_error();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
    return openssl_error("cannot restrict TLS versions to 1.2-1.3");
  }
  SSL_CTX_set_security_level(ctx, 2);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    return openssl_error("cannot set the TLS 1.2 ciphers");
  }
  if (SSL_CTX_set_ciphersuites(ctx, kTls13Ciphersuites) != 1) {
    return openssl_error("cannot set the TLS 1.3 cipher suites");
  }
  if (SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
    return openssl_error("cannot set the key exchange groups");
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA);
  SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_timeout(ctx, static_cast<long>(kSessionLifetime.count()));
  SSL_CTX_set_max_early_data(ctx, 0);
  // Idle keep-alive connections give their 2 × 16 KiB record buffers back (nginx does the
  // same); a proxy holds many more idle connections than busy ones.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_set_session_id_context(
          ctx, reinterpret_cast<const unsigned char*>(kSessionIdContext.data()),
          static_cast<unsigned int>(kSessionIdContext.size())) != 1) {
    return openssl_error("cannot set the session id context");
  }
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  return std::nullopt;
}

Result<std::shared_ptr<const ServerContext>> ServerContext::create(CertifiedKey key,
                                                                   const ContextOptions& options) {
  if (!options.tickets) {
    return Error{"no session ticket keys (ContextOptions::tickets is null)"};
  }
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    return openssl_error("cannot create an SSL_CTX");
  }
  if (Status bad = apply_server_policy(ctx.get())) {
    return *bad;
  }
  STACK_OF(X509)* chain = sk_X509_new_null();
  for (size_t i = 1; i < key.chain().size(); ++i) {
    sk_X509_push(chain, key.chain()[i].get());  // not owned: use_cert_and_key takes refs
  }
  const int used = SSL_CTX_use_cert_and_key(ctx.get(), key.leaf(), key.key(), chain, 1);
  sk_X509_free(chain);
  if (used != 1) {
    return openssl_error("the certificate cannot be used for TLS (" + key.describe() + ")");
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    return openssl_error("the key does not match the certificate");
  }
  if (Status bad = TicketKeyRing::install(ctx.get(), options.tickets)) {
    return *bad;
  }
  SSL_CTX_set_tlsext_servername_callback(ctx.get(), servername_callback);
  return std::shared_ptr<const ServerContext>(
      new ServerContext(std::move(ctx), std::move(key), options));
}

std::string_view negotiated_alpn(const SSL* ssl) {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl, &data, &len);
  return data ? std::string_view(reinterpret_cast<const char*>(data), len) : std::string_view();
}

}  // namespace lintel::tls
