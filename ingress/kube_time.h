#pragma once
// Times as the Kubernetes API writes them.

#include <chrono>
#include <string>

namespace lintel::ingress {

// "2006-01-02T15:04:05.000000Z": metav1.MicroTime, the format of an Event's eventTime and a
// Lease's acquireTime/renewTime (UTC, microseconds).
std::string micro_time(std::chrono::system_clock::time_point t);

}  // namespace lintel::ingress
