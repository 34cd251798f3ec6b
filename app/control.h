#pragma once
// The control loop: manifest folder → ClusterState → compile → Snapshot → publish.
//
// Coalescing: the first change after a quiet spell is compiled at once; changes that
// arrive within `coalesce_window` of a compile are folded into one more compile at the
// end of the window. A compile whose output equals the live snapshot's is not published.
// The last good snapshot stays live whatever the new input is: bad objects are rejected
// one by one by the compiler, and unparseable files keep their last good content.
//
// Thread: everything here runs on the control thread (the io_context passed to create).

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "ingress/compiler.h"
#include "ingress/manifest_source.h"
#include "proxy/snapshot.h"

namespace boost::asio {
class io_context;
}

namespace lintel::app {

struct ControlOptions {
  std::string manifests;
  ingress::CompileOptions compile;
  std::chrono::milliseconds coalesce_window{100};
};

class Control {
 public:
  static std::unique_ptr<Control> create(boost::asio::io_context& io, const ControlOptions& options,
                                         std::string& error);
  virtual ~Control() = default;

  // Called with every new snapshot (on the control thread).
  virtual void on_snapshot(std::function<void(const proxy::SnapshotPtr&)> callback) = 0;
  // Loads and compiles the first snapshot synchronously (publishing it), then starts
  // watching the folder.
  virtual void start() = 0;
  virtual void stop() = 0;
  // "generation 1: 12 objects, 2 ingresses, 2 hosts, 5 routes, 0 diagnostics"
  virtual std::string summary() const = 0;
};

}  // namespace lintel::app
