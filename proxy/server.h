#pragma once
// The proxy: N workers, each one thread with its own io_context, its own listener
// socket (SO_REUSEPORT), its own upstream connection pool and balancer state. A snapshot
// is handed to every worker as one pointer; nothing on the request path takes a lock
// shared between workers.
//
// Beast and Asio stay out of this header (they are heavy to compile): it is included by
// app/ and admin/.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "proxy/snapshot.h"

namespace lintel::proxy {

struct ProxyOptions {
  std::string http_address = "0.0.0.0:8080";  // host:port; "[::]:8080" for IPv6
  int workers = 1;
  // Limits (DESIGN.md "Defaults").
  size_t max_request_target = 16 * 1024;               // longer request-target → 414
  size_t max_header_bytes = 64 * 1024;                 // whole header block → 431
  size_t max_header_fields = 100;                      // → 431
  std::chrono::milliseconds header_timeout{10'000};    // whole header block
  std::chrono::milliseconds idle_timeout{60'000};      // keep-alive idle
  std::chrono::milliseconds connect_timeout{5'000};    // upstream connect
  std::chrono::milliseconds response_timeout{60'000};  // upstream response (and idle body)
  int connect_retries = 2;                 // other endpoints tried after a failed connect
  size_t upstream_idle_per_endpoint = 64;  // pooled idle connections per endpoint per worker
  bool access_log = true;                  // one JSON line per request on stdout
  // Added by the proxy (defaults chosen to match the ones above):
  // request body: longest wait for the next bytes once the head was read (→ 408, close).
  std::chrono::milliseconds client_body_timeout{10'000};
  // each write to the client (a client that stops reading is dropped).
  std::chrono::milliseconds send_timeout{60'000};
  // a pooled upstream connection idle for longer is closed, not reused.
  std::chrono::milliseconds upstream_idle_timeout{30'000};
  // request body limit in bytes for every route; 0 = none (bodies are streamed). Over it:
  // 413 before forwarding for a Content-Length, connection closed for a chunked body.
  uint64_t max_body_bytes = 0;
  // HTTPS (issue 3). Empty https_address = no HTTPS listener. Certificates come from each
  // snapshot's CertStore (SNI), so a new snapshot changes them for new handshakes only.
  std::string https_address;
  std::chrono::milliseconds handshake_timeout{10'000};  // TLS handshake deadline
  // The public HTTPS port written into 308 redirects (443 behind the chart's Service).
  uint16_t https_redirect_port = 443;
  // Strict-Transport-Security on HTTPS responses of routes with Route::tls.
  bool hsts = true;
  std::string hsts_value = "max-age=31536000; includeSubDomains";
};

// TLS listener counters, summed over the workers when asked (each worker counts its own,
// without a lock). Failures are also logged at debug level, one line each.
struct TlsStats {
  uint64_t handshakes = 0;          // completed handshakes
  uint64_t handshake_failures = 0;  // protocol errors, client closed or reset mid-handshake
  uint64_t handshake_timeouts = 0;  // no complete handshake within handshake_timeout
  uint64_t plain_http = 0;          // an HTTP request sent to the HTTPS port (a failure too)
  uint64_t unknown_sni = 0;         // completed with an SNI the store does not know: default cert
  uint64_t no_certificate = 0;      // refused: the snapshot's CertStore has no default context
};

class Server {
 public:
  // Binds every worker's listener. Returns nullptr with `error` set when an address is
  // malformed or cannot be bound (e.g. "bind 0.0.0.0:8080: Address already in use").
  static std::unique_ptr<Server> create(const ProxyOptions& options, std::string& error);
  virtual ~Server() = default;

  // Starts the worker threads. Call once, after the first publish().
  virtual void start() = 0;
  // Any thread. Hands `snapshot` to every worker; requests in flight keep theirs.
  virtual void publish(SnapshotPtr snapshot) = 0;
  // Any thread, after start(); once (later calls do nothing). The graceful drain
  // (docs/architecture.md "Graceful drain"): every worker closes its listeners (HTTP and
  // HTTPS), closes its idle keep-alive connections, and from then on answers every
  // response it starts with "Connection: close" and closes the connection after it.
  // Requests in flight finish. `drained` is called once, on a worker thread, when no
  // downstream connection is left on any worker (each worker closes its upstream pool as
  // it gets there). stop() must still be called to join the threads.
  virtual void begin_drain(std::function<void()> drained) = 0;
  // Any thread. Downstream connections open now, summed over the workers (relaxed reads:
  // a live view, not a consistent cut).
  virtual size_t open_connections() const = 0;
  // Any thread. Stops accepting, closes connections, joins the worker threads.
  virtual void stop() = 0;
  // The bound HTTP address of worker listeners ("127.0.0.1:8080"), with the real port
  // when the option said port 0.
  virtual std::string http_address() const = 0;
  // The bound HTTPS address ("127.0.0.1:8443", real port when the option said port 0), ""
  // when there is no HTTPS listener.
  virtual std::string https_address() const = 0;
  // Any thread. Counters of the HTTPS listeners since start (relaxed reads: a live view,
  // not a consistent cut). All zero without an HTTPS listener.
  virtual TlsStats tls_stats() const = 0;
};

}  // namespace lintel::proxy
