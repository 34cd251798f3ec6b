#pragma once
// Helpers for the tls tests: fixed instants, a CA shared by the tests of one binary, an
// in-memory TLS handshake over a BIO pair (no sockets, no Asio), temporary folders and a
// shell runner for the real `openssl` CLI.

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tls/cert_store.h"
#include "tls/certificate.h"
#include "tls/generate.h"
#include "tls/openssl_util.h"
#include "tls/server_context.h"
#include "tls/session_tickets.h"

// GCC 12 warns about every member a designated initializer leaves to its default member
// initializer, which is the point of designated initializers in these tables.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace lintel::tls::test {

// 2026-01-01T00:00:00Z: a fixed "now" for tests that need no real clock.
inline TimePoint fixed_now() { return Clock::from_time_t(1767225600); }

// A CA created once per test binary (key generation is the slow part of these tests).
inline const CertifiedKey& test_ca() {
  static const CertifiedKey ca = [] {
    auto r = create_ca(Clock::now() - std::chrono::days(1));
    if (!r) {
      ADD_FAILURE() << r.error().message;
      std::abort();
    }
    return std::move(r).value();
  }();
  return ca;
}

inline CertifiedKey issue(const std::vector<std::string>& hosts,
                          KeyType type = KeyType::kEcdsaP256) {
  auto r = issue_certificate(test_ca(), hosts, Clock::now(), 30, type);
  if (!r) {
    ADD_FAILURE() << r.error().message;
    std::abort();
  }
  return std::move(r).value();
}

inline std::shared_ptr<const ServerContext> context_for(CertifiedKey key,
                                                        std::shared_ptr<TicketKeyRing> ring) {
  auto r = ServerContext::create(std::move(key), ContextOptions{std::move(ring)});
  if (!r) {
    ADD_FAILURE() << r.error().message;
    std::abort();
  }
  return *r;
}

// A fresh 80-byte ticket key in the nginx layout (deterministic per seed).
inline std::string ticket_key_bytes(unsigned char seed) {
  std::string key(80, '\0');
  for (size_t i = 0; i < key.size(); ++i) {
    key[i] = static_cast<char>(seed * 31 + i * 7);
  }
  return key;
}

inline std::shared_ptr<TicketKeyRing> ring_from(const std::string& bytes) {
  auto r = TicketKeyRing::from_bytes({bytes});
  if (!r) {
    ADD_FAILURE() << r.error().message;
    std::abort();
  }
  return *r;
}

struct ClientOptions {
  int min_version = TLS1_2_VERSION;
  int max_version = TLS1_3_VERSION;
  const char* ciphers = nullptr;  // TLS 1.2 list; null: OpenSSL's default
  std::vector<std::string> alpn;  // offered, in order
  bool legacy = false;            // security level 0, to be able to offer TLS 1.0/1.1
  X509* verify_ca = nullptr;      // when set: full verification, including the host name
};

inline SslCtxPtr client_context(const ClientOptions& o = {}) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (o.legacy) {
    SSL_CTX_set_security_level(ctx.get(), 0);
  }
  SSL_CTX_set_min_proto_version(ctx.get(), o.min_version);
  SSL_CTX_set_max_proto_version(ctx.get(), o.max_version);
  if (o.ciphers != nullptr) {
    SSL_CTX_set_cipher_list(ctx.get(), o.ciphers);
  }
  if (!o.alpn.empty()) {
    std::string wire;
    for (const std::string& p : o.alpn) {
      wire += static_cast<char>(p.size());
      wire += p;
    }
    SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned int>(wire.size()));
  }
  if (o.verify_ca != nullptr) {
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), o.verify_ca);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  }
  // The client caches nothing itself: the tests pass sessions explicitly.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  return ctx;
}

struct Handshake {
  bool ok = false;
  std::string error;             // OpenSSL's reasons when !ok
  std::string peer_fingerprint;  // SHA-256 of the served leaf
  int peer_chain_length = 0;
  std::string alpn;
  std::string version;
  std::string cipher;
  bool reused = false;
  SniMatch match = SniMatch::kNone;
  SessionPtr session;  // the client's session after reading tickets
};

inline std::string fingerprint_of(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert, EVP_sha256(), md, &len);
  std::string out;
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned i = 0; i < len; ++i) {
    if (i) out += ':';
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xf];
  }
  return out;
}

// One full client/server handshake in memory: the server SSL is created from the store's
// default context and switched by the SNI callback, exactly as a listener will do it.
inline Handshake handshake(SSL_CTX* client_ctx, const CertStore& store, const char* sni,
                           SSL_SESSION* resume = nullptr) {
  Handshake out;
  ERR_clear_error();
  SslPtr server(SSL_new(store.default_context()->native()));
  HandshakeState state{.store = &store};
  EXPECT_FALSE(attach_handshake_state(server.get(), &state).has_value());
  SslPtr client(SSL_new(client_ctx));
  if (sni != nullptr) {
    SSL_set_tlsext_host_name(client.get(), sni);
    if (SSL_CTX_get_verify_mode(client_ctx) & SSL_VERIFY_PEER) {
      SSL_set1_host(client.get(), sni);
    }
  }
  if (resume != nullptr) {
    SSL_set_session(client.get(), resume);
  }
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  BIO_new_bio_pair(&client_bio, 0, &server_bio, 0);
  SSL_set_bio(client.get(), client_bio, client_bio);
  SSL_set_bio(server.get(), server_bio, server_bio);
  SSL_set_connect_state(client.get());
  SSL_set_accept_state(server.get());

  auto failed = [](SSL* ssl, int rc) {
    const int err = SSL_get_error(ssl, rc);
    return rc != 1 && err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE;
  };
  bool client_done = false;
  bool server_done = false;
  for (int round = 0; round < 50 && !(client_done && server_done); ++round) {
    if (!client_done) {
      const int rc = SSL_do_handshake(client.get());
      if (failed(client.get(), rc)) {
        out.error = "client: " + drain_openssl_errors();
        break;
      }
      client_done = rc == 1;
    }
    if (!server_done) {
      const int rs = SSL_do_handshake(server.get());
      if (failed(server.get(), rs)) {
        out.error = "server: " + drain_openssl_errors();
        break;
      }
      server_done = rs == 1;
    }
  }
  out.match = state.selection.match;
  if (!(client_done && server_done)) {
    if (out.error.empty()) out.error = "handshake did not finish";
    return out;
  }
  out.ok = true;
  // Application data both ways: the client reads TLS 1.3 NewSessionTicket messages, which
  // the server sends after its handshake, on its first read.
  SSL_write(server.get(), "x", 1);
  char buf[16];
  for (int i = 0; i < 10; ++i) {
    if (SSL_read(client.get(), buf, sizeof buf) > 0) break;
  }
  if (X509* peer = SSL_get0_peer_certificate(client.get())) {
    out.peer_fingerprint = fingerprint_of(peer);
  }
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(client.get())) {
    out.peer_chain_length = sk_X509_num(chain);
  }
  out.alpn = std::string(negotiated_alpn(server.get()));
  out.version = SSL_get_version(client.get());
  out.cipher = SSL_get_cipher_name(client.get());
  out.reused = SSL_session_reused(client.get()) == 1;
  EXPECT_EQ(out.reused, SSL_session_reused(server.get()) == 1);
  out.session.reset(SSL_get1_session(client.get()));
  // An orderly close: OpenSSL marks the session of an SSL freed without close_notify as
  // not resumable (ssl_clear_bad_session), as a real client would treat a torn connection.
  SSL_shutdown(client.get());
  SSL_shutdown(server.get());
  return out;
}

// A temporary folder removed at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "lintel-tls-XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

struct Command {
  int status = -1;
  std::string output;  // stdout and stderr
};

inline Command run(const std::string& command) {
  Command out;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.output.append(buf.data(), n);
  const int status = pclose(pipe);
  out.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

inline std::string read_text(const std::string& path) {
  FILE* f = fopen(path.c_str(), "rb");
  if (f == nullptr) return {};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  fclose(f);
  return out;
}

}  // namespace lintel::tls::test
