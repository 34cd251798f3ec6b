#include "tls/session_tickets.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace lintel::tls {
namespace {

using RingRef = std::shared_ptr<TicketKeyRing>;

void free_ring_ref(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<RingRef*>(ptr);
}

int ring_index() {
  // Thread-safe one-time initialization (C++ magic static).
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, free_ring_ref);
  return index;
}

Result<TicketKey> parse_key(std::string_view bytes, std::string_view name) {
  TicketKey key;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() == 80) {
    std::memcpy(key.name.data(), p, 16);
    std::memcpy(key.hmac.data(), p + 16, 32);
    std::memcpy(key.aes.data(), p + 48, 32);
    key.aes_len = 32;
    key.hmac_len = 32;
  } else if (bytes.size() == 48) {
    std::memcpy(key.name.data(), p, 16);
    std::memcpy(key.aes.data(), p + 16, 16);
    std::memcpy(key.hmac.data(), p + 32, 16);
    key.aes_len = 16;
    key.hmac_len = 16;
  } else {
    return Error{"session ticket key " + std::string(name) + " has " +
                 std::to_string(bytes.size()) +
                 " bytes; 80 (or 48) expected, e.g. from `openssl rand 80`"};
  }
  return key;
}

Result<std::string> read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error{"cannot read session ticket key file " + path + ": " + std::strerror(errno)};
  }
  std::string data(81, '\0');  // one byte more than allowed, to notice longer files
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<size_t>(in.gcount()));
  return data;
}

}  // namespace

TicketKey::~TicketKey() {
  OPENSSL_cleanse(aes.data(), aes.size());
  OPENSSL_cleanse(hmac.data(), hmac.size());
}

TicketKeyRing::~TicketKeyRing() {
  EVP_CIPHER_free(aes256_);
  EVP_CIPHER_free(aes128_);
}

std::shared_ptr<TicketKeyRing> TicketKeyRing::generate(TimePoint now) {
  std::shared_ptr<TicketKeyRing> ring(new TicketKeyRing());
  ring->aes256_ = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  ring->aes128_ = EVP_CIPHER_fetch(nullptr, "AES-128-CBC", nullptr);
  // Start "due": the first rotate_if_due(now) call is what generates the first key; doing
  // it here keeps one code path.
  ring->keys_.store(std::make_shared<const KeySet>());
  ring->rotate_if_due(now);
  return ring;
}

Result<std::shared_ptr<TicketKeyRing>> TicketKeyRing::from_bytes(
    const std::vector<std::string>& keys, const std::vector<std::string>& names) {
  if (keys.empty()) {
    return Error{"no session ticket key given"};
  }
  auto set = std::make_shared<KeySet>();
  for (size_t i = 0; i < keys.size(); ++i) {
    std::string label = std::to_string(i + 1);
    if (i < names.size()) {
      label = names[i];
    }
    auto key = parse_key(keys[i], label);
    if (!key) {
      return key.error();
    }
    set->push_back(*key);
  }
  std::shared_ptr<TicketKeyRing> ring(new TicketKeyRing());
  ring->aes256_ = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  ring->aes128_ = EVP_CIPHER_fetch(nullptr, "AES-128-CBC", nullptr);
  ring->keys_.store(std::move(set));
  return ring;
}

Result<std::shared_ptr<TicketKeyRing>> TicketKeyRing::from_files(std::vector<std::string> paths) {
  std::vector<std::string> keys;
  for (const std::string& path : paths) {
    auto data = read_small_file(path);
    if (!data) {
      return data.error();
    }
    keys.push_back(std::move(data).value());
  }
  auto ring = from_bytes(keys, paths);
  for (std::string& k : keys) {
    OPENSSL_cleanse(k.data(), k.size());
  }
  if (ring) {
    (*ring)->paths_ = std::move(paths);
  }
  return ring;
}

bool TicketKeyRing::rotate_if_due(TimePoint now) {
  if (from_key_files()) {
    return false;
  }
  std::shared_ptr<const KeySet> current = keys();
  if (!current->empty() && now - current->front().created < kRotationInterval) {
    return false;
  }
  TicketKey key;
  if (RAND_bytes(key.name.data(), static_cast<int>(key.name.size())) != 1 ||
      RAND_bytes(key.aes.data(), static_cast<int>(key.aes.size())) != 1 ||
      RAND_bytes(key.hmac.data(), static_cast<int>(key.hmac.size())) != 1) {
    ERR_clear_error();
    return false;  // keep the old keys: a stale key is better than no resumption at all
  }
  key.created = now;
  auto next = std::make_shared<KeySet>();
  next->push_back(key);
  for (const TicketKey& old : *current) {
    if (next->size() == kKeptKeys) {
      break;
    }
    next->push_back(old);
  }
  keys_.store(std::move(next), std::memory_order_release);
  return true;
}

Status TicketKeyRing::reload() {
  if (!from_key_files()) {
    return std::nullopt;
  }
  auto fresh = from_files(paths_);
  if (!fresh) {
    return fresh.error();
  }
  keys_.store((*fresh)->keys(), std::memory_order_release);
  return std::nullopt;
}

Status TicketKeyRing::install(SSL_CTX* ctx, std::shared_ptr<TicketKeyRing> ring) {
  auto* ref = new RingRef(std::move(ring));
  if (SSL_CTX_set_ex_data(ctx, ring_index(), ref) != 1) {
    delete ref;
    return openssl_error("cannot attach the session ticket keys to the SSL_CTX");
  }
  if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, &TicketKeyRing::ticket_callback) != 1) {
    return openssl_error("cannot install the session ticket callback");
  }
  return std::nullopt;
}

// OpenSSL contract (SSL_CTX_set_tlsext_ticket_key_evp_cb(3)): enc=1: fill key_name and iv,
// init cipher and mac, return 1 (0: issue no ticket, <0: error). enc=0: find the key by
// name; 0: unknown key (full handshake), 1: accepted, 2: accepted but issue a new ticket.
int TicketKeyRing::ticket_callback(SSL* ssl, unsigned char* key_name, unsigned char* iv,
                                   EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc) {
  auto* ref = static_cast<RingRef*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ring_index()));
  if (ref == nullptr || !*ref) {
    return 0;  // no ring: no ticket issued, none accepted
  }
  const TicketKeyRing& ring = **ref;
  std::shared_ptr<const KeySet> set = ring.keys();
  const TicketKey* key = nullptr;
  int found = 1;
  if (enc) {
    if (set->empty()) {
      return 0;
    }
    key = &set->front();
    std::memcpy(key_name, key->name.data(), key->name.size());
    if (RAND_bytes(iv, 16) != 1) {
      return -1;
    }
  } else {
    for (size_t i = 0; i < set->size(); ++i) {
      if (std::memcmp(key_name, (*set)[i].name.data(), 16) == 0) {
        key = &(*set)[i];
        found = (i == 0) ? 1 : 2;
        break;
      }
    }
    if (key == nullptr) {
      return 0;  // unknown or retired key: a full handshake, then a fresh ticket
    }
  }
  const EVP_CIPHER* aes = key->aes_len == 32 ? ring.aes256_ : ring.aes128_;
  const int init = enc ? EVP_EncryptInit_ex(cipher, aes, nullptr, key->aes.data(), iv)
                       : EVP_DecryptInit_ex(cipher, aes, nullptr, key->aes.data(), iv);
  if (init != 1) {
    return -1;
  }
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(
          OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key->hmac.data()), key->hmac_len),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  if (EVP_MAC_CTX_set_params(mac, params) != 1) {
    return -1;
  }
  return found;
}

}  // namespace lintel::tls
