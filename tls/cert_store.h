#pragma once
// SNI certificate store: host name → ServerContext (an SSL_CTX per certificate), with a
// default. Built by the compiler from kubernetes.io/tls Secrets; travels in the snapshot
// beside the route table as std::shared_ptr<const CertStore>.
//
// Selection (select(), run inside the handshake): exact host (case-insensitive, a
// trailing dot ignored), then a wildcard host "*.example.com" for exactly one more label
// ("a.example.com", not "b.a.example.com", not "example.com"), then the default. No SNI →
// the default. SNI chooses the certificate; the Host header chooses the route.
//
// Threads:
//   - building (constructor, context_from_pem, make_context, add, add_host): the control
//     thread (compile()), before the store is published; never after.
//   - everything const (select, hosts, certificates, ...): any worker, concurrently, no lock:
//     the maps are not modified once published. select() does not allocate.
//
// Wiring for the HTTPS listener (proxy/), per connection on its worker:
//   1. pin the snapshot (std::shared_ptr<const Snapshot>) for the connection's whole life;
//   2. SSL* ssl = SSL_new(snapshot->certs->default_context()->native()) — or use a listener
//      context created from the same default ServerContext (the default certificate is
//      process-wide, so every snapshot's default context is the same object);
//   3. keep a HandshakeState in the connection object, state.store = snapshot->certs.get(),
//      and attach_handshake_state(ssl, &state) before the handshake starts;
//   4. handshake. The servername callback (installed on every ServerContext) calls
//      select_context(): it reads the state, select()s, and SSL_set_SSL_CTX()s the SSL.
//      Afterwards state.match says how the certificate was chosen (for metrics/debug logs:
//      SNI present and match == kDefault is "unknown SNI").
// The CertStore (and the HandshakeState) must outlive the handshake: the pinned snapshot
// guarantees the first, the connection object the second. After the handshake the SSL
// holds its own reference to the selected SSL_CTX, so a connection keeps working on the
// context it started with even after the store is replaced and freed.

#include <openssl/ssl.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tls/certificate.h"
#include "tls/result.h"
#include "tls/server_context.h"

namespace lintel::tls {

enum class SniMatch : uint8_t {
  kNone,      // the callback has not run (or found no store)
  kExact,     // SNI equals a host of the store
  kWildcard,  // SNI matched "*.parent"
  kDefault,   // no SNI, or an SNI the store does not know
};
const char* to_string(SniMatch match);

struct Selection {
  const ServerContext* context = nullptr;  // null only when the store has no default
  SniMatch match = SniMatch::kNone;
};

class CertStore;

// Per-connection handshake data, owned by the connection (no allocation).
struct HandshakeState {
  const CertStore* store = nullptr;  // the pinned snapshot's store (input)
  Selection selection;               // what select_context() chose (output)
};

class CertStore {
 public:
  // A store without a default certificate: it only records hosts (add_host), for runs
  // without an HTTPS listener and for tests of other modules. select() returns no context.
  CertStore() = default;
  // The usual store: `default_context` serves no-SNI and unknown-SNI handshakes, and its
  // ContextOptions (the ticket ring) are used for every context this store makes.
  explicit CertStore(std::shared_ptr<const ServerContext> default_context);

  // --- building (control thread, before publishing) ---

  // A context for `key`: reused when `previous` (the live store, so a recompile does not
  // rebuild thousands of SSL_CTXs) or this store already has one for the same chain
  // (CertifiedKey::chain_digest), else created with the default context's options.
  // Requires a default context.
  Result<std::shared_ptr<const ServerContext>> make_context(CertifiedKey key,
                                                            const CertStore* previous = nullptr);
  // The compiler's entry point for a Secret: like make_context(CertifiedKey::from_pem(...)),
  // but when `previous` or this store already made a context from byte-identical PEM, that
  // context is reused without parsing anything. Parsing is the expensive part: OpenSSL 3.0
  // takes ~0.75 ms per certificate + key (0.23 ms X509, 0.5 ms key decoder; measured on
  // the dev VM), so 10,000 Secrets would cost 7.5 s per recompile; an SSL_CTX adds ~0.1 ms.
  // The checks are then run on context->certificate() (check_validity, check_covers).
  // Parse errors are not cached: a broken Secret is parsed (and reported) each compile.
  Result<std::shared_ptr<const ServerContext>> context_from_pem(
      std::string_view cert_pem, std::string_view key_pem, const CertStore* previous = nullptr);
  // Serves `host` (lowercased; "*.example.com" for a wildcard) with `context`. Returns
  // false, and changes nothing, when the host already has a certificate: the first one
  // added wins, so the caller adds in its precedence order and reports the loser.
  bool add(std::string_view host, std::shared_ptr<const ServerContext> context);
  // Convenience: make_context, then add each host. Error when the context cannot be made
  // or when some hosts already had a certificate (those keep theirs; the others are added).
  Status add(const std::vector<std::string>& hosts, CertifiedKey key,
             const CertStore* previous = nullptr);
  // Records a host that has TLS configured without a certificate of its own (it is served
  // with the default certificate): it is listed in hosts() (HTTPS redirects, /routes)
  // but select() does not know it.
  void add_host(std::string host);

  // --- reading (any thread) ---

  Selection select(std::string_view sni) const noexcept;
  const std::shared_ptr<const ServerContext>& default_context() const { return default_; }
  // Every host with TLS configured, lowercase: those added with a certificate and those
  // recorded by add_host.
  const std::set<std::string>& hosts() const { return hosts_; }
  // Hosts with a certificate of their own, sorted (for /routes and `lintel check`).
  const std::map<std::string, std::shared_ptr<const ServerContext>>& certificates() const {
    return by_host_;
  }
  // Same hosts, same certificates (by chain digest), same default: a recompile that
  // produced an equivalent store need not be published.
  bool equivalent(const CertStore& other) const;

 private:
  // ASCII case-insensitive hashing/equality with heterogeneous lookup, so select() can
  // look up the SNI as sent, without lowercasing it into a new string.
  struct CaseInsensitiveHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept;
  };
  struct CaseInsensitiveEqual {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const noexcept;
  };
  using Map = std::unordered_map<std::string, std::shared_ptr<const ServerContext>,
                                 CaseInsensitiveHash, CaseInsensitiveEqual>;

  bool same_options(const ServerContext& context) const;

  std::shared_ptr<const ServerContext> default_;
  Map exact_;     // "a.example.com"
  Map wildcard_;  // "example.com" for the host "*.example.com"
  std::map<std::string, std::shared_ptr<const ServerContext>> by_host_;
  std::unordered_map<std::string, std::shared_ptr<const ServerContext>> by_digest_;
  std::unordered_map<std::string, std::shared_ptr<const ServerContext>> by_pem_;  // input digest
  std::set<std::string> hosts_;
};

// --- OpenSSL glue (worker threads) ---

// Stores `state` in the SSL's ex_data for select_context(). Before the handshake.
Status attach_handshake_state(SSL* ssl, HandshakeState* state);
HandshakeState* handshake_state(const SSL* ssl);

// The body of the servername callback every ServerContext installs: reads the SNI and the
// attached HandshakeState, selects, and SSL_set_SSL_CTX()s when the choice differs from
// the SSL's current context. Returns SSL_TLSEXT_ERR_OK, or SSL_TLSEXT_ERR_ALERT_FATAL
// with *alert = internal_error when no HandshakeState/store is attached (a wiring bug:
// failing loudly beats silently serving the default certificate). Exposed for a caller
// that installs its own servername or client_hello callback.
int select_context(SSL* ssl, int* alert);

}  // namespace lintel::tls
