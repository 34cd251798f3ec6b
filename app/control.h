#pragma once
// The control loop: source → ClusterState → compile → Snapshot → publish. The source is
// the manifest folder (inotify) or the Kubernetes API (informers, ingress/kube_source.h);
// both feed the same compile and publish path with the same coalescing.
//
// Coalescing: the first change after a quiet spell is compiled at once; changes that
// arrive within `coalesce_window` of a compile are folded into one more compile at the
// end of the window. A compile whose output equals the live snapshot's (routes, TLS hosts
// and their certificates by fingerprint, diagnostics) is not published.
//
// TLS: each compile gets the wall-clock time (certificate validity) and the live
// snapshot's CertStore (unchanged Secrets keep their SSL_CTX). Time alone can change the
// output, so the clock is also a reason to recompile: every minute when a live
// certificate has expired, and every hour in any case (a certificate that was not yet
// valid becomes usable).
// The last good snapshot stays live whatever the new input is: bad objects are rejected
// one by one by the compiler, and unparseable files keep their last good content.
//
// API source: nothing is compiled or published before every kind's first full list, so
// /readyz stays 503 (no snapshot) until the routes of the whole cluster are live, never
// "ready with zero routes" after a cold start.
//
// Thread: everything here runs on the control thread (the io_context passed to create).

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "ingress/compiler.h"
#include "ingress/kube_source.h"
#include "ingress/manifest_source.h"
#include "proxy/snapshot.h"

namespace boost::asio {
class io_context;
}

namespace lintel::app {

struct ControlOptions {
  // Exactly one source: a manifests folder, or (when `kube` is set) the API server.
  std::string manifests;
  std::optional<ingress::KubeSourceOptions> kube;
  ingress::CompileOptions compile;
  std::chrono::milliseconds coalesce_window{100};
  // Recompile this often even without a change (certificate validity is time-dependent).
  std::chrono::milliseconds clock_recompile{std::chrono::hours(1)};
};

class Control {
 public:
  static std::unique_ptr<Control> create(boost::asio::io_context& io, const ControlOptions& options,
                                         std::string& error);
  virtual ~Control() = default;

  // Called with every new snapshot (on the control thread).
  virtual void on_snapshot(std::function<void(const proxy::SnapshotPtr&)> callback) = 0;
  // Called after every compile, published or not (a compile whose routes did not change
  // may still claim other Ingresses), on the control thread. `diagnostics` are the
  // source's (rejected objects) and the compiler's.
  struct Compiled {
    const ingress::ClusterState& state;
    const ingress::CompileResult& result;
    const std::vector<routing::Diagnostic>& diagnostics;
  };
  virtual void on_compiled(std::function<void(const Compiled&)> callback) = 0;
  // The API source, for status (nullptr with a manifests folder). Owned by the Control.
  virtual ingress::KubeSource* kube_source() = 0;
  // Folder: loads and compiles the first snapshot synchronously (publishing it), then
  // starts watching the folder. API: starts the informers; the first snapshot is compiled
  // and published once every kind has been listed.
  virtual void start() = 0;
  virtual void stop() = 0;
  // "generation 1: 3 files, 12 objects, 2 ingresses, 2 hosts, 5 routes, 1 TLS hosts (1 with
  // their own certificate), 0 diagnostics, compiled in 0.41 ms"
  // ("" before the first compile.)
  virtual std::string summary() const = 0;
  // "manifests examples" or "kubeconfig ... , server https://..., all namespaces".
  virtual std::string source() const = 0;
};

}  // namespace lintel::app
