#pragma once
// The Kubernetes API source: one informer per kind (IngressClass, Ingress, Service,
// EndpointSlice, TLS Secret), each doing what client-go's reflector does:
//
//   LIST in pages (limit, continue; a continue token that expired with 410 restarts the
//   list) → cache replaced (vanished objects deleted) → WATCH from the list's
//   resourceVersion (bookmarks on, timeoutSeconds random in [watch_timeout_min, max]) →
//   events folded into the cache → when the stream ends, WATCH again from the last
//   resourceVersion seen (bookmarks included) → on 410 Gone (HTTP status or ERROR event)
//   or "too large resource version": relist.
//   Failures (transport, 429, 5xx, a malformed stream) back off (kube_backoff.h); a 401
//   re-reads the token file and retries at once, then backs off if it persists.
//
// The caches are only ever replaced by a successful list, so the last good state (and the
// routes compiled from it) stays in force while the API server is away.
//
// Log lines: one per list/relist and per abnormal reconnect, with kind and reason; one per
// failed attempt with the next delay. Routine re-watches (the server ending a watch at
// timeoutSeconds) are at debug level.
//
// Thread: everything runs on the io_context passed to create (the control thread); the
// change callback is called there. Beast stays out of this header.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ingress/kube_backoff.h"
#include "ingress/kube_cache.h"
#include "ingress/kube_config.h"
#include "ingress/manifest_source.h"

namespace boost::asio {
class io_context;
}

namespace lintel::ingress {

struct KubeSourceOptions {
  KubeConfig config;
  // Namespaced kinds are listed and watched in this namespace only ("" = all).
  std::string watch_namespace;
  BackoffPolicy backoff;
  // Deadline of each request that is not a watch (connect, TLS handshake, one LIST page).
  std::chrono::milliseconds request_timeout{30'000};
  int page_size = 500;
  std::chrono::seconds watch_timeout_min{300};
  std::chrono::seconds watch_timeout_max{600};
  // How often a token file is re-read (client-go: every minute), besides after a 401.
  std::chrono::milliseconds token_reread{60'000};
  std::string user_agent = "lintel";
  // "namespace/name" of the Service whose status.loadBalancer Lintel publishes on its
  // Ingresses (--publish-service), or "". When --watch-namespace leaves that namespace out,
  // one more Service informer follows that namespace, for status only.
  std::string publish_service;
};

class KubeSource {
 public:
  // Fails (nullptr, `error` set) when the TLS client context cannot be built from the
  // configuration (a CA or client certificate OpenSSL refuses).
  static std::unique_ptr<KubeSource> create(boost::asio::io_context& io, KubeSourceOptions options,
                                            std::string& error);
  virtual ~KubeSource() = default;

  // Starts every informer. `on_change` is called (on the control thread) after the cache
  // changed, and once more when the last kind finished its first list.
  virtual void start(std::function<void()> on_change) = 0;
  // Cancels every request; the informers stop. The cache keeps its content.
  virtual void stop() = 0;
  // True once every kind has completed one full list.
  virtual bool synced() const = 0;
  // The cached objects and the diagnostics of rejected ones (`files` is 0).
  virtual ManifestLoad load() const = 0;
  // "kubeconfig DIR/kubeconfig (context standin), server https://127.0.0.1:6443"
  virtual std::string describe() const = 0;

  // Status is not part of what the compiler sees (a status write does not call on_change,
  // so Lintel's own writes coming back as MODIFIED cause no recompile); it is kept here
  // for the status writer.
  // status.loadBalancer.ingress of the cached Ingress `key` ("namespace/name"), as last
  // seen (empty when it has none or is not cached).
  virtual LoadBalancerStatus ingress_status(const std::string& key) const = 0;
  // Of the publish Service: nullopt until its namespace was listed, or while it does not
  // exist.
  virtual std::optional<LoadBalancerStatus> publish_service_status() const = 0;
  // Called (control thread) after an Ingress's or the publish Service's status changed.
  // Set before start().
  virtual void on_status(std::function<void()> callback) = 0;
  // Ingresses whose newest version the decoder rejected and that have no good version:
  // not in load().state, but they still deserve a Warning Event when they are ours.
  virtual std::vector<RejectedIngress> rejected_ingresses() const = 0;
};

}  // namespace lintel::ingress
