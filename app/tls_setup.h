#pragma once
// The process-wide TLS pieces app/ owns: the session ticket key ring and the default
// certificate (made once at start-up and shared by every snapshot's CertStore), the
// periodic ticket key work on the control thread, and the certificate listing of
// `lintel check` and the control loop's change detection.
//
// Threads: make_tls_setup at start-up (blocking file I/O, key generation); TicketKeyTimer
// on the control thread; format_certificates on any thread.

#include <memory>
#include <string>
#include <vector>

#include "tls/cert_store.h"
#include "tls/certificate.h"
#include "tls/result.h"
#include "tls/server_context.h"
#include "tls/session_tickets.h"

namespace boost::asio {
class io_context;
}

namespace lintel::app {

struct TlsSetupOptions {
  std::string default_cert;  // --default-cert / --default-key: both or neither
  std::string default_key;
  std::vector<std::string> ticket_key_files;  // --session-ticket-key-file; empty: generated
};

struct TlsSetup {
  std::shared_ptr<tls::TicketKeyRing> tickets;
  std::shared_ptr<const tls::ServerContext> default_context;
  bool generated_default = false;  // no --default-cert: self-signed at start
};

// The ring (from the key files, else random keys) and the default certificate (from the
// files, else generated) in a ServerContext on that ring. Errors name the file and reason.
tls::Result<TlsSetup> make_tls_setup(const TlsSetupOptions& options, tls::TimePoint now);

// Every minute on the control thread: rotate_if_due() for generated keys; with key files,
// reload() when a file's modification time or size changed (the operator rotated them).
// A failed reload is logged and the old keys stay in force; the next tick tries again
// only if the files change once more, so a broken file is reported once.
class TicketKeyTimer {
 public:
  static std::unique_ptr<TicketKeyTimer> create(boost::asio::io_context& io,
                                                std::shared_ptr<tls::TicketKeyRing> ring,
                                                std::vector<std::string> key_files);
  virtual ~TicketKeyTimer() = default;
  virtual void start() = 0;
  virtual void stop() = 0;
};

// The certificate each TLS host is served with, one line per host, then (with
// `show_default`, when the store has one) the default certificate:
//   TLS HOST          CERTIFICATE
//   shop.example.com  subject "CN=shop.example.com", SANs [...], ECDSA P-256, expires ..., SHA-256
//   ... old.example.com   default certificate default certificate: subject "CN=Lintel default
//   certificate", ...
// Independent of the clock, so the control loop can compare it between compiles: a
// rotated Secret changes the fingerprint and is published.
std::string format_certificates(const tls::CertStore& certs, bool show_default = true);

}  // namespace lintel::app
