#pragma once
// The admin listener: GET /healthz (200 while the process runs), GET /readyz (200 once a
// snapshot is live and the process is not draining, else 503), GET /routes (JSON of the
// live snapshot: generation, hosts, paths, backends, endpoints, diagnostics).
//
// Thread: runs on the control thread's io_context; publish() and set_ready() are called
// on that thread too. Beast stays out of this header.

#include <memory>
#include <string>

#include "proxy/snapshot.h"

namespace boost::asio {
class io_context;
}

namespace lintel::admin {

class AdminServer {
 public:
  // Binds `address` (host:port). Returns nullptr with `error` set on failure.
  static std::unique_ptr<AdminServer> create(boost::asio::io_context& io,
                                             const std::string& address, std::string& error);
  virtual ~AdminServer() = default;

  virtual void start() = 0;
  virtual void stop() = 0;
  virtual void publish(proxy::SnapshotPtr snapshot) = 0;
  virtual void set_ready(bool ready) = 0;
  virtual std::string address() const = 0;  // bound address, real port
};

// The body of GET /routes for a snapshot (pure; unit-tested).
std::string routes_json(const proxy::Snapshot& snapshot);

}  // namespace lintel::admin
