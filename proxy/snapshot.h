#pragma once
// The unit of configuration a worker sees: routes, certificates and diagnostics under
// one generation number, published as one pointer. A request pins one snapshot for its
// whole life (retries included); a new snapshot never changes a request in flight.
//
// Thread: built on the control thread; immutable; shared by all workers and admin.

#include <cstdint>
#include <memory>
#include <vector>

#include "routing/diagnostic.h"
#include "routing/route_table.h"
#include "tls/cert_store.h"

namespace lintel::proxy {

struct Snapshot {
  uint64_t generation = 0;
  std::shared_ptr<const routing::RouteTable> routes;  // never null
  std::shared_ptr<const tls::CertStore> certs;        // never null
  std::vector<routing::Diagnostic> diagnostics;
};

using SnapshotPtr = std::shared_ptr<const Snapshot>;

}  // namespace lintel::proxy
