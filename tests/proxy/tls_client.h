#pragma once
// A blocking TLS client for the proxy tests: OpenSSL directly over a POSIX socket (no
// Asio, no code under test), with the receive/send timeouts of test_support.h bounding
// every wait. Verifies the server's certificate against a CA and the SNI name, as curl
// --cacert does, when a CA is given.

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <csignal>
#include <string>

#include "test_support.h"
#include "tls/openssl_util.h"

namespace lintel::proxy::test {

struct TlsClientOptions {
  const char* sni = nullptr;  // also the name verified when `ca` is set
  X509* ca = nullptr;         // verify the chain and the name against it; null: no check
  int min_version = TLS1_2_VERSION;
  int max_version = 0;  // 0: the highest available
  bool legacy = false;  // allow TLS 1.0/1.1 on the client side (security level 0)
};

class TlsClient {
 public:
  TlsClient(uint16_t port, const TlsClientOptions& options, int timeout_ms = kIoTimeoutMs)
      : tcp_("127.0.0.1", port, timeout_ms),
        reader_([this](char* buf, size_t size) { return read_some(buf, size); }) {
    // OpenSSL writes with write(), not send(MSG_NOSIGNAL): a server that closes first must
    // not kill the test binary with SIGPIPE.
    static const bool sigpipe_ignored = (std::signal(SIGPIPE, SIG_IGN), true);
    (void)sigpipe_ignored;
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (options.legacy) {
      // Debian's openssl.cnf raises the client's floor to TLS 1.2: lower it so that the
      // old versions are really offered and it is the server that refuses them.
      SSL_CTX_set_security_level(ctx_.get(), 0);
      SSL_CTX_set_cipher_list(ctx_.get(), "DEFAULT:@SECLEVEL=0");
    }
    SSL_CTX_set_min_proto_version(ctx_.get(), options.min_version);
    if (options.max_version) SSL_CTX_set_max_proto_version(ctx_.get(), options.max_version);
    if (options.ca) {
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_.get()), options.ca);
      SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
    }
    static const unsigned char kAlpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx_.get(), kAlpn, sizeof kAlpn - 1);
    ssl_.reset(SSL_new(ctx_.get()));
    SSL_set_fd(ssl_.get(), tcp_.fd());
    if (options.sni) {
      SSL_set_tlsext_host_name(ssl_.get(), options.sni);
      if (options.ca) SSL_set1_host(ssl_.get(), options.sni);
    }
    if (!tcp_.connected()) {
      error_ = "connect failed";
      return;
    }
    ERR_clear_error();
    const int r = SSL_connect(ssl_.get());
    if (r == 1) {
      connected_ = true;
    } else {
      const unsigned long e = ERR_get_error();
      char buf[256];
      ERR_error_string_n(e, buf, sizeof buf);
      error_ = "SSL_connect: " + std::to_string(SSL_get_error(ssl_.get(), r)) + " " + buf;
      ERR_clear_error();
    }
  }
  ~TlsClient() {
    // No close_notify: the server must take a bare TCP close as the end of the stream.
  }

  bool connected() const { return connected_; }
  const std::string& error() const { return error_; }
  int fd() const { return tcp_.fd(); }
  SSL* ssl() const { return ssl_.get(); }

  std::string alpn() const {
    const unsigned char* data = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl_.get(), &data, &len);
    return std::string(reinterpret_cast<const char*>(data), len);
  }
  // SHA-256 of the served leaf, in CertifiedKey::fingerprint_sha256()'s format.
  std::string peer_fingerprint() const {
    X509* peer = SSL_get0_peer_certificate(ssl_.get());
    if (!peer) return "";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    X509_digest(peer, EVP_sha256(), md, &len);
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
      if (i) out.push_back(':');
      out.push_back(kHex[md[i] >> 4]);
      out.push_back(kHex[md[i] & 0xf]);
    }
    return out;
  }

  bool send(std::string_view data) {
    while (!data.empty()) {
      const int n = SSL_write(ssl_.get(), data.data(), static_cast<int>(data.size()));
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  std::optional<Message> response(bool head_request = false) {
    for (int i = 0; i < 8; ++i) {
      auto m = read_message(reader_, true, true, head_request);
      if (!m || m->status() >= 200) return m;
    }
    return std::nullopt;
  }
  // True when the server ended the stream within the timeout with nothing more to read.
  bool closed_by_peer() {
    if (!reader_.buffered().empty()) return false;
    return !reader_.fill() && (reader_.eof() || clean_close_ || errno == ECONNRESET);
  }
  // The server ended the TLS stream with close_notify (not a bare TCP close).
  bool got_close_notify() const { return clean_close_; }

 private:
  ssize_t read_some(char* buf, size_t size) {
    errno = 0;
    const int n = SSL_read(ssl_.get(), buf, static_cast<int>(size));
    if (n > 0) return n;
    const int err = SSL_get_error(ssl_.get(), n);
    ERR_clear_error();
    if (err == SSL_ERROR_ZERO_RETURN) {
      clean_close_ = true;
      return 0;
    }
    // A bare TCP close reads as SSL_ERROR_SYSCALL (or SSL_ERROR_SSL, "unexpected eof")
    // with errno 0: report it as EOF too.
    if ((err == SSL_ERROR_SYSCALL || err == SSL_ERROR_SSL) && errno == 0) return 0;
    return -1;
  }

  Client tcp_;
  tls::SslCtxPtr ctx_;
  tls::SslPtr ssl_;
  Reader reader_;
  bool connected_ = false;
  bool clean_close_ = false;
  std::string error_;
};

}  // namespace lintel::proxy::test
