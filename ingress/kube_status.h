#pragma once
// Ingress status: writes status.loadBalancer.ingress of every Ingress Lintel claims, so
// `kubectl get ingress` shows the address users reach them at.
//
// What is written: the --publish-status-address list (IPs and/or host names), or a copy of
// the --publish-service Service's status.loadBalancer.ingress (followed as it changes),
// sorted, ports dropped.
// When: only by the leader (ingress/kube_lease.h), only for claimed Ingresses (never
// another class's), and only when the Ingress's current status differs.
// How: like client-go's UpdateStatus (what ingress-nginx does): GET the Ingress, replace
// status.loadBalancer.ingress, PUT it to the /status subresource with the resourceVersion
// just read; a 409 Conflict (someone wrote in between) re-reads and retries, at most 3
// times; 404 means the Ingress is gone (nothing to do). Other failures are retried with
// backoff. On a deliberate shutdown with --update-status-on-shutdown, clear() removes the
// addresses with one merge patch per Ingress (no read: the clock is running).
// Verbs used (granted by the chart): get on ingresses; update and patch on
// ingresses/status.
//
// A write comes back as a MODIFIED event; the source does not recompile for a status-only
// change (kube_source.h), and the new status reaches set_ingresses() from there.
//
// Thread: the control thread (the io_context passed to create).

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ingress/kube_backoff.h"
#include "ingress/kube_config.h"
#include "ingress/model.h"

namespace boost::asio {
class io_context;
}

namespace lintel::ingress {

struct StatusWriterOptions {
  KubeConfig config;
  std::chrono::milliseconds request_timeout{10'000};
  BackoffPolicy backoff;
  std::string user_agent = "lintel";
};

// --publish-status-address "203.0.113.10,lb.example.com" → sorted entries. Fails with a
// message naming the bad item (not an IP address and not a DNS-1123 host name).
std::optional<LoadBalancerStatus> parse_status_addresses(const std::string& text,
                                                         std::string& error);

// The Ingresses whose status must be written: claimed keys whose current status differs
// from `desired`, skipping those with a write of exactly `desired` still unacknowledged.
std::vector<std::string> status_to_write(const std::map<std::string, LoadBalancerStatus>& current,
                                         const LoadBalancerStatus& desired,
                                         const std::map<std::string, LoadBalancerStatus>& written);

class StatusWriter {
 public:
  static std::unique_ptr<StatusWriter> create(boost::asio::io_context& io,
                                              StatusWriterOptions options, std::string& error);
  virtual ~StatusWriter() = default;

  // What every claimed Ingress should show; nullopt while unknown (the publish Service was
  // not seen yet, or does not exist): then nothing is written.
  virtual void set_desired(std::optional<LoadBalancerStatus> desired) = 0;
  // The claimed Ingresses ("namespace/name") with their status as last seen.
  virtual void set_ingresses(std::map<std::string, LoadBalancerStatus> current) = 0;
  // Writes happen only while leader.
  virtual void set_leader(bool leader) = 0;
  // Deliberate shutdown: no more syncing; when leader, clear every claimed Ingress's
  // addresses, then call `done` (at once when not leader or nothing to clear).
  virtual void clear(std::function<void()> done) = 0;
  virtual void stop() = 0;
};

}  // namespace lintel::ingress
