#pragma once
// What a replica does for the cluster besides serving traffic, with the API source only:
// leader election (ingress/kube_lease.h), and, while leader, Ingress status
// (ingress/kube_status.h) and Events (ingress/kube_events.h). Every replica computes the
// same status and Events from its own informers; only the leader writes them, so a new
// leader picks up at once.
//
// Wiring: after every compile (Control::on_compiled) the claimed Ingresses go to the status
// writer and the causes to the event recorder; a status-only change (KubeSource::on_status:
// an Ingress's status, or the publish Service's) goes to the status writer only.
//
// Shutdown (a shutdown task of app/drain.h, run at the first signal): with
// --update-status-on-shutdown the leader clears its Ingresses' addresses, then gives the
// Lease up so another replica takes over at its next try (2 s) rather than after the lease
// (15 s). Both are bounded by the API request timeout.
//
// Thread: the control thread.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "app/control.h"
#include "ingress/compiler.h"
#include "ingress/kube_lease.h"
#include "ingress/model.h"

namespace boost::asio {
class io_context;
}

namespace lintel::app {

struct ClusterDutiesOptions {
  ingress::LeaderElectionOptions election;  // election.config is the API connection
  // --publish-status-address (static) or --publish-service (followed through the source);
  // neither: no status is written.
  std::optional<ingress::LoadBalancerStatus> publish_addresses;
  bool publish_service = false;
  bool update_status_on_shutdown = false;
  // For event_causes(): which Ingresses are ours.
  ingress::CompileOptions compile;
  std::string user_agent = "lintel";
};

class ClusterDuties {
 public:
  // `control` must use the API source and outlive this object.
  static std::unique_ptr<ClusterDuties> create(boost::asio::io_context& io,
                                               ClusterDutiesOptions options, Control& control,
                                               std::string& error);
  virtual ~ClusterDuties() = default;

  // Starts campaigning for the Lease. Call before control.start().
  virtual void start() = 0;
  // The deliberate-shutdown steps above, then `done`.
  virtual void shutdown(std::function<void()> done) = 0;
  // Stops everything at once.
  virtual void stop() = 0;
};

}  // namespace lintel::app
