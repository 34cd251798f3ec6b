#pragma once
// compile: a pure function from cluster state to a route table, a certificate store and
// diagnostics. No I/O, no clock. One bad object never stops the others from being served.
//
// Thread: any; reads `state` only.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "ingress/cluster_state.h"
#include "routing/diagnostic.h"
#include "routing/route_table.h"
#include "tls/cert_store.h"
#include "tls/server_context.h"

namespace lintel::ingress {

struct CompileOptions {
  // Our IngressClass name and controller (DESIGN.md "Classes").
  std::string ingress_class = "lintel";
  std::string controller_name = "lintel.dev/ingress-controller";
  // Ingresses with neither spec.ingressClassName nor the legacy annotation are ours when
  // this is true (files mode), or when our IngressClass is marked default.
  bool watch_ingress_without_class = true;
  // TLS inputs (the compiler stays pure: the time and the default certificate come in).
  // Certificates are checked for validity at `now`.
  std::chrono::system_clock::time_point now{};
  // Serves hosts without a usable certificate, and handshakes without/with unknown SNI.
  // Null (tests, lintel check without TLS): the store gets no contexts, only hosts.
  std::shared_ptr<const tls::ServerContext> default_context;
  // The live store, so unchanged Secrets reuse their parsed contexts (a parse costs ~1 ms).
  std::shared_ptr<const tls::CertStore> previous_certs;
};

struct CompileStats {
  size_t ingresses = 0;  // Ingresses claimed by this controller
  size_t hosts = 0;      // virtual hosts in the table
  size_t routes = 0;     // routes in the table
  size_t rejected = 0;   // objects rejected as a whole
};

struct CompileResult {
  std::shared_ptr<const routing::RouteTable> routes;  // never null
  std::shared_ptr<const tls::CertStore> certs;        // never null
  std::vector<routing::Diagnostic> diagnostics;       // sorted, deterministic
  // The ClusterState keys ("namespace/name") of the Ingresses this controller claims
  // (rejected ones included), sorted: whose status Lintel writes and whose diagnostics
  // become Events.
  std::vector<std::string> claimed;
  CompileStats stats;
};

CompileResult compile(const ClusterState& state, const CompileOptions& options);

// The routing table as text for `lintel check`: one line per route (host, path, type,
// backend, endpoints, then route settings such as the body limit when set), then the
// default backend. It shows everything a route carries: app/ compares this text to skip
// publishing a compile that changed nothing.
std::string format_route_table(const routing::RouteTable& table);

}  // namespace lintel::ingress
