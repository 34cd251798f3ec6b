#pragma once
// Session ticket keys: one ring per process, shared by every SSL_CTX of every certificate
// of every snapshot, so that
//   - a ticket issued on a connection whose context was switched by SNI still decrypts
//     (OpenSSL runs the ticket callback of the context the SSL was created from, while the
//     certificate comes from the switched one; both carry this ring);
//   - a ticket survives a snapshot swap (a Secret changed: new contexts, same ring);
//   - with key files, a ticket survives a hop to another replica behind an L4 balancer.
//
// The current key encrypts; it and the previous keys decrypt. A ticket decrypted with a
// previous key is accepted and the client gets a fresh ticket under the current key.
//
// Two sources:
//   - generated: random keys, a new one every kRotationInterval when the owner calls
//     rotate_if_due(now); kKeptKeys keys are kept, so a ticket stays decryptable for at
//     least (kKeptKeys - 1) × kRotationInterval = 2 h, longer than kSessionLifetime.
//   - files (`--session-ticket-key-file`, repeatable): the nginx format. The first file
//     encrypts, the others only decrypt. They never rotate by themselves: the operator
//     rotates the files (the same on every replica) and the owner calls reload().
//
// nginx format (ngx_ssl_session_ticket_keys in src/event/ngx_event_openssl.c), a file of
// exactly 80 or 48 random bytes (`openssl rand 80 > ticket.key`):
//   80 bytes: [0,16) key name | [16,48) HMAC-SHA256 secret | [48,80) AES-256-CBC key
//   48 bytes: [0,16) key name | [16,32) AES-128-CBC key    | [32,48) HMAC-SHA256 secret
// (note the order of the AES and HMAC parts differs between the two sizes). The ticket is
// key name ‖ IV ‖ AES-CBC(session) ‖ HMAC, as RFC 5077 §4 recommends and OpenSSL builds
// it, so the same file gives tickets that nginx and Lintel replicas can read alike.
//
// Threads:
//   - generate/from_files/from_bytes: the control thread at start-up;
//   - rotate_if_due, reload: the control thread (a periodic timer — tls/ owns no thread);
//   - the ticket callback (inside SSL_do_handshake): any worker. It reads the key set
//     through an atomic shared_ptr (a few instructions, no lock shared with rotation that
//     could block a worker for longer), so rotation never blocks a handshake.

#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tls/certificate.h"
#include "tls/result.h"

namespace lintel::tls {

inline constexpr std::chrono::hours kRotationInterval{1};
inline constexpr size_t kKeptKeys = 3;  // current + 2 previous
// How long a ticket (and a TLS 1.2 session) may be resumed; below the decrypt window of
// generated keys so a ticket never outlives its key by accident.
inline constexpr std::chrono::seconds kSessionLifetime{3600};

struct TicketKey {
  std::array<unsigned char, 16> name{};
  std::array<unsigned char, 32> aes{};   // first aes_len bytes used
  std::array<unsigned char, 32> hmac{};  // first hmac_len bytes used
  size_t aes_len = 32;                   // 32: AES-256-CBC (80-byte files); 16: AES-128-CBC
  size_t hmac_len = 32;
  TimePoint created{};

  ~TicketKey();  // wipes the secrets
  TicketKey() = default;
  TicketKey(const TicketKey&) = default;
  TicketKey& operator=(const TicketKey&) = default;
};

class TicketKeyRing {
 public:
  using KeySet = std::vector<TicketKey>;  // [0] encrypts

  // Random keys, rotated by rotate_if_due().
  static std::shared_ptr<TicketKeyRing> generate(TimePoint now);
  // nginx key files; the first encrypts. Reads files: start-up / control thread only.
  static Result<std::shared_ptr<TicketKeyRing>> from_files(std::vector<std::string> paths);
  // The same from bytes (each 80 or 48 bytes); `names` label them in messages.
  static Result<std::shared_ptr<TicketKeyRing>> from_bytes(
      const std::vector<std::string>& keys, const std::vector<std::string>& names = {});

  // Generated rings: when the current key is kRotationInterval old, a new random key takes
  // over encryption and the oldest beyond kKeptKeys is dropped. Returns true when it
  // rotated. File rings: never rotates. Control thread.
  bool rotate_if_due(TimePoint now);
  // File rings: re-reads the files (after the operator replaced them). On error the old
  // keys stay in force. Generated rings: no-op. Control thread.
  Status reload();
  bool from_key_files() const { return !paths_.empty(); }

  // The current key set (never empty). Any thread.
  std::shared_ptr<const KeySet> keys() const { return keys_.load(std::memory_order_acquire); }

  // Installs the ticket callback on `ctx` and makes `ctx` hold a reference to `ring`
  // (SSL_CTX ex_data, released when the ctx is freed), so the ring lives as long as any
  // connection created from the ctx. Called by ServerContext::create for every context.
  static Status install(SSL_CTX* ctx, std::shared_ptr<TicketKeyRing> ring);

  TicketKeyRing(const TicketKeyRing&) = delete;
  TicketKeyRing& operator=(const TicketKeyRing&) = delete;
  ~TicketKeyRing();

 private:
  TicketKeyRing() = default;
  static int ticket_callback(SSL* ssl, unsigned char* key_name, unsigned char* iv,
                             EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc);

  std::atomic<std::shared_ptr<const KeySet>> keys_;
  std::vector<std::string> paths_;  // empty: generated keys
  EVP_CIPHER* aes256_ = nullptr;    // fetched once: an implicit fetch per handshake is slow
  EVP_CIPHER* aes128_ = nullptr;
};

}  // namespace lintel::tls
