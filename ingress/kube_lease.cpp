#include "ingress/kube_lease.h"

#include <fmt/format.h>

#include <algorithm>

#include "ingress/kube_time.h"

namespace lintel::ingress {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string check_timing(const LeaderElectionOptions& o) {
  if (o.retry_period.count() > 0 && o.retry_period < o.renew_deadline &&
      o.renew_deadline < o.lease_duration) {
    return {};
  }
  return fmt::format(
      "leader election needs 0 < retry period ({} ms) < renew deadline ({} ms) < lease "
      "duration ({} ms)",
      o.retry_period.count(), o.renew_deadline.count(), o.lease_duration.count());
}

LeaseDecision decide(const LeaseRecord& record, const std::string& identity,
                     Clock::time_point observed_at, Clock::time_point now,
                     milliseconds lease_duration) {
  if (record.holder.empty() || record.holder == identity) {
    return LeaseDecision::kTake;
  }
  // The holder's own word on how long its lease lasts, as client-go reads it; ours when
  // the record has none.
  const milliseconds duration = record.lease_duration_seconds > 0
                                    ? milliseconds(record.lease_duration_seconds * 1000LL)
                                    : lease_duration;
  return now < observed_at + duration ? LeaseDecision::kLeave : LeaseDecision::kTake;
}

LeaseRecord next_record(const LeaseRecord& current, const std::string& identity,
                        std::chrono::system_clock::time_point now, milliseconds lease_duration) {
  LeaseRecord next = current;
  const std::string stamp = micro_time(now);
  if (current.holder != identity) {
    next.holder = identity;
    next.acquire_time = stamp;
    // A lease taken from someone counts as a transition; one taken fresh or after a
    // release counts too, as in client-go (the holder changed).
    next.transitions = current.holder.empty() && current.acquire_time.empty()
                           ? current.transitions
                           : current.transitions + 1;
  }
  next.renew_time = stamp;
  next.lease_duration_seconds =
      static_cast<int>(std::max<int64_t>(1, (lease_duration.count() + 999) / 1000));
  return next;
}

}  // namespace lintel::ingress
