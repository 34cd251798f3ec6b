#pragma once
// Leader election with a coordination.k8s.io/v1 Lease, the way client-go's leaderelection
// package does it, so that one replica (the leader) writes Ingress status and Events while
// every replica serves traffic.
//
//   candidate: every retry_period (jittered up to +20%), GET the Lease.
//     404            → create it with us as holder → leader.
//     held by other  → if its record has changed within lease_duration (by OUR clock: the
//                      time we last saw the record change, never the holder's renewTime,
//                      so clock skew between nodes cannot steal a lease) → stay candidate;
//                      else take it over with a PUT carrying the resourceVersion we read
//                      (a 409 means someone else was faster: stay candidate).
//   leader:    every retry_period, renew (GET, PUT renewTime). A renewal that has not
//              succeeded for renew_deadline since the last success → no longer leader
//              (writes stop at once), then candidate again.
//   release:   on a deliberate shutdown the leader PUTs an empty holderIdentity and
//              leaseDurationSeconds 1, so another replica takes over at its next try
//              instead of after lease_duration.
//
// Verbs used (and so granted by the chart's Role): get, create, update on leases.
//
// Thread: the control thread (the io_context passed to create). Beast stays out of here.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "ingress/kube_config.h"

namespace boost::asio {
class io_context;
}

namespace lintel::ingress {

struct LeaderElectionOptions {
  KubeConfig config;
  std::string namespace_;   // the Lease's namespace (the pod's)
  std::string name;         // --election-id
  std::string identity;     // this replica: pod name (or host name) + "_" + random
  std::chrono::milliseconds lease_duration{15'000};
  std::chrono::milliseconds renew_deadline{10'000};
  std::chrono::milliseconds retry_period{2'000};
  std::chrono::milliseconds request_timeout{5'000};
  std::string user_agent = "lintel";
};

// The Lease's spec as read, and the pure decision step (tested without a server).
struct LeaseRecord {
  std::string holder;              // spec.holderIdentity ("" = released)
  int lease_duration_seconds = 0;  // spec.leaseDurationSeconds
  std::string acquire_time;        // MicroTime text
  std::string renew_time;
  int transitions = 0;             // spec.leaseTransitions
  bool operator==(const LeaseRecord&) const = default;
};

// "" when 0 < retry_period < renew_deadline < lease_duration (client-go's rule), else what
// is wrong, with the three values.
std::string check_timing(const LeaderElectionOptions& options);

// What a candidate or leader does with the record it just read: take (or keep) the lease,
// or leave it to its holder. `observed_at` is when this replica last saw the record change.
enum class LeaseDecision { kTake, kLeave };
LeaseDecision decide(const LeaseRecord& record, const std::string& identity,
                     std::chrono::steady_clock::time_point observed_at,
                     std::chrono::steady_clock::time_point now,
                     std::chrono::milliseconds lease_duration);

// The record we write to take or renew the lease: acquire time and transitions move only
// when the holder changes.
LeaseRecord next_record(const LeaseRecord& current, const std::string& identity,
                        std::chrono::system_clock::time_point now,
                        std::chrono::milliseconds lease_duration);

class LeaderElector {
 public:
  static std::unique_ptr<LeaderElector> create(boost::asio::io_context& io,
                                               LeaderElectionOptions options, std::string& error);
  virtual ~LeaderElector() = default;

  // Starts campaigning. `on_change(true)` when this replica becomes leader, `(false)` when
  // it stops being leader (renewal failed for renew_deadline, or stop/release).
  virtual void start(std::function<void(bool leading)> on_change) = 0;
  virtual bool leading() const = 0;
  // Deliberate shutdown: stop campaigning; when leading, give the lease up (bounded by
  // request_timeout) and then call `done` (at once when not leading).
  virtual void release(std::function<void()> done) = 0;
  // Stops at once (no release): in-flight requests are cancelled.
  virtual void stop() = 0;
};

}  // namespace lintel::ingress
