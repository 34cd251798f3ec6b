#include "tls/cert_store.h"

#include <openssl/evp.h>

#include <algorithm>

namespace lintel::tls {
namespace {

constexpr unsigned char ascii_lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c - 'A' + 'a') : c;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return static_cast<char>(ascii_lower(static_cast<unsigned char>(c)));
  });
  return out;
}

int state_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// A DNS name is at most 253 characters; anything longer cannot be one of our hosts.
constexpr size_t kMaxHostLength = 253;

}  // namespace

const char* to_string(SniMatch match) {
  switch (match) {
    case SniMatch::kNone:
      return "none";
    case SniMatch::kExact:
      return "exact";
    case SniMatch::kWildcard:
      return "wildcard";
    case SniMatch::kDefault:
      return "default";
  }
  return "?";
}

size_t CertStore::CaseInsensitiveHash::operator()(std::string_view s) const noexcept {
  // FNV-1a over lowercased bytes: host names are short, and this needs no copy.
  uint64_t h = 1469598103934665603ull;
  for (char c : s) {
    h ^= ascii_lower(static_cast<unsigned char>(c));
    h *= 1099511628211ull;
  }
  return static_cast<size_t>(h);
}

bool CertStore::CaseInsensitiveEqual::operator()(std::string_view a,
                                                 std::string_view b) const noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(static_cast<unsigned char>(a[i])) !=
        ascii_lower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

CertStore::CertStore(std::shared_ptr<const ServerContext> default_context)
    : default_(std::move(default_context)) {
  if (default_) {
    by_digest_.emplace(default_->certificate().chain_digest(), default_);
  }
}

bool CertStore::same_options(const ServerContext& context) const {
  // A context holds its ticket ring: reuse it only where it was made with ours.
  return default_ && context.options().tickets == default_->options().tickets;
}

Result<std::shared_ptr<const ServerContext>> CertStore::context_from_pem(
    std::string_view cert_pem, std::string_view key_pem, const CertStore* previous) {
  if (!default_) {
    return Error{"the certificate store has no default certificate"};
  }
  // SHA-256 over both inputs, length-prefixed so that moving bytes from one to the other
  // cannot produce the same digest.
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  const uint64_t cert_len = cert_pem.size();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool hashed = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
                      EVP_DigestUpdate(ctx, &cert_len, sizeof cert_len) == 1 &&
                      EVP_DigestUpdate(ctx, cert_pem.data(), cert_pem.size()) == 1 &&
                      EVP_DigestUpdate(ctx, key_pem.data(), key_pem.size()) == 1 &&
                      EVP_DigestFinal_ex(ctx, md, &md_len) == 1;
  EVP_MD_CTX_free(ctx);
  const std::string input(reinterpret_cast<const char*>(md), hashed ? md_len : 0);
  if (hashed) {
    if (auto it = by_pem_.find(input); it != by_pem_.end()) {
      return it->second;
    }
    if (previous != nullptr) {
      if (auto it = previous->by_pem_.find(input);
          it != previous->by_pem_.end() && same_options(*it->second)) {
        by_pem_.emplace(input, it->second);
        by_digest_.emplace(it->second->certificate().chain_digest(), it->second);
        return it->second;
      }
    }
  }
  auto key = CertifiedKey::from_pem(cert_pem, key_pem);
  if (!key) {
    return key.error();
  }
  auto context = make_context(std::move(key).value(), previous);
  if (context && hashed) {
    by_pem_.emplace(input, *context);
  }
  return context;
}

Result<std::shared_ptr<const ServerContext>> CertStore::make_context(CertifiedKey key,
                                                                     const CertStore* previous) {
  if (!default_) {
    return Error{"the certificate store has no default certificate"};
  }
  const std::string digest = key.chain_digest();  // a copy: `key` is moved below
  if (auto it = by_digest_.find(digest); it != by_digest_.end()) {
    return it->second;
  }
  if (previous != nullptr) {
    auto it = previous->by_digest_.find(digest);
    // Same chain, and built with the same ticket ring (a context holds its ring).
    if (it != previous->by_digest_.end() && same_options(*it->second)) {
      by_digest_.emplace(digest, it->second);
      return it->second;
    }
  }
  auto context = ServerContext::create(std::move(key), default_->options());
  if (!context) {
    return context.error();
  }
  by_digest_.emplace(digest, *context);
  return context;
}

bool CertStore::add(std::string_view host_in, std::shared_ptr<const ServerContext> context) {
  std::string host = lowercase(host_in);
  if (!context || host.empty() || by_host_.count(host) != 0) {
    return false;
  }
  if (host.starts_with("*.")) {
    wildcard_.emplace(host.substr(2), context);
  } else {
    exact_.emplace(host, context);
  }
  by_digest_.emplace(context->certificate().chain_digest(), context);
  hosts_.insert(host);
  by_host_.emplace(std::move(host), std::move(context));
  return true;
}

Status CertStore::add(const std::vector<std::string>& hosts, CertifiedKey key,
                      const CertStore* previous) {
  auto context = make_context(std::move(key), previous);
  if (!context) {
    return context.error();
  }
  std::string taken;
  for (const std::string& host : hosts) {
    if (!add(host, *context)) {
      taken += (taken.empty() ? "" : ", ") + host;
    }
  }
  if (!taken.empty()) {
    return Error{"hosts already served with another certificate: " + taken};
  }
  return std::nullopt;
}

void CertStore::add_host(std::string host) {
  std::transform(host.begin(), host.end(), host.begin(), [](char c) {
    return static_cast<char>(ascii_lower(static_cast<unsigned char>(c)));
  });
  hosts_.insert(std::move(host));
}

Selection CertStore::select(std::string_view sni) const noexcept {
  if (!sni.empty() && sni.back() == '.') {
    sni.remove_suffix(1);  // "example.com." names the same host
  }
  if (sni.empty() || sni.size() > kMaxHostLength) {
    return {default_.get(), SniMatch::kDefault};
  }
  if (auto it = exact_.find(sni); it != exact_.end()) {
    return {it->second.get(), SniMatch::kExact};
  }
  if (const size_t dot = sni.find('.'); dot != 0 && dot != std::string_view::npos) {
    if (auto it = wildcard_.find(sni.substr(dot + 1)); it != wildcard_.end()) {
      return {it->second.get(), SniMatch::kWildcard};
    }
  }
  return {default_.get(), SniMatch::kDefault};
}

bool CertStore::equivalent(const CertStore& other) const {
  auto digest = [](const std::shared_ptr<const ServerContext>& c) {
    return c ? c->certificate().chain_digest() : std::string();
  };
  if (hosts_ != other.hosts_ || by_host_.size() != other.by_host_.size() ||
      digest(default_) != digest(other.default_)) {
    return false;
  }
  return std::equal(by_host_.begin(), by_host_.end(), other.by_host_.begin(),
                    [&](const auto& a, const auto& b) {
                      return a.first == b.first && digest(a.second) == digest(b.second);
                    });
}

Status attach_handshake_state(SSL* ssl, HandshakeState* state) {
  if (SSL_set_ex_data(ssl, state_index(), state) != 1) {
    return openssl_error("cannot attach the handshake state to the SSL");
  }
  return std::nullopt;
}

HandshakeState* handshake_state(const SSL* ssl) {
  return static_cast<HandshakeState*>(SSL_get_ex_data(ssl, state_index()));
}

int select_context(SSL* ssl, int* alert) {
  HandshakeState* state = handshake_state(ssl);
  if (state == nullptr || state->store == nullptr) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  state->selection = state->store->select(name ? std::string_view(name) : std::string_view());
  const ServerContext* chosen = state->selection.context;
  if (chosen == nullptr) {
    *alert = SSL_AD_INTERNAL_ERROR;  // a store without a default cannot serve TLS
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  if (chosen->native() != SSL_get_SSL_CTX(ssl) &&
      SSL_set_SSL_CTX(ssl, chosen->native()) == nullptr) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace lintel::tls
