// How compile() scales with the number of Ingresses, to size the incremental compile that
// DESIGN.md "Snapshots and threads" asks for (an EndpointSlice change should cost
// microseconds, not a recompile of 10,000 Ingresses).
//
// For each N it builds a synthetic ClusterState in memory: N Ingresses of 1-3 hosts with
// 2-5 paths per host, each Ingress with its own Service (named port "http") and an
// EndpointSlice of 3 ready endpoints; every tenth Ingress has TLS from one of 50 wildcard
// Secrets (one per namespace). Then it measures, median of kRuns:
//   - a cold compile (no previous certificate store: the first sync), and the peak RSS
//     growth of one such compile;
//   - what one EndpointSlice change costs today: a full compile of the same state with one
//     slice's endpoint changed, reusing the previous certificates as app/control.cpp does;
//   - two other costs app/ pays per change on top of it: copying the whole ClusterState
//     (the Kubernetes source rebuilds one from its caches on every load()) and
//     format_route_table (the fingerprint that decides whether to publish);
//   - RouteTable::match per request, to show it stays flat as the table grows.
// It prints a Markdown table. Timings are wall-clock; nothing is asserted.
//
//   cmake --build build --target compile_bench && build/compile_bench [N...]

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ingress/compiler.h"
#include "tls/generate.h"
#include "tls/session_tickets.h"

namespace {

using namespace lintel;
using ingress::ClusterState;
using ingress::CompileOptions;
using ingress::CompileResult;

constexpr int kRuns = 5;
constexpr int kNamespaces = 50;  // one TLS Secret per namespace
constexpr int kMatches = 1'000'000;
constexpr const char* kCreated = "2026-01-01T00:00:00Z";
const tls::TimePoint kNow = std::chrono::sys_days{std::chrono::year{2026} / 3 / 1};

const char* const kPaths[] = {"/", "/api", "/api/v1", "/static", "/login"};

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "compile_bench: %s\n", what.c_str());
  std::exit(1);
}

// ---- the synthetic cluster ----

std::string namespace_of(int i) { return "team" + std::to_string((i / 10) % kNamespaces); }
std::string tls_domain(const std::string& ns) { return ns + ".bench.example"; }
bool has_tls(int i) { return i % 10 == 0; }

// Ingress i's hosts: 1-3. A TLS Ingress's hosts sit under its namespace's wildcard.
std::vector<std::string> hosts_of(int i) {
  std::vector<std::string> hosts;
  for (int h = 0; h < 1 + i % 3; ++h) {
    std::string label = "ing" + std::to_string(i) + "-" + std::to_string(h);
    hosts.push_back(has_tls(i) ? label + "." + tls_domain(namespace_of(i))
                               : label + ".plain.example");
  }
  return hosts;
}

ingress::Ingress make_ingress(int i) {
  ingress::Ingress ing;
  ing.metadata.namespace_ = namespace_of(i);
  ing.metadata.name = "ing" + std::to_string(i);
  ing.metadata.creation_timestamp = kCreated;
  ing.spec.ingress_class_name = "lintel";
  std::vector<std::string> hosts = hosts_of(i);
  for (const std::string& host : hosts) {
    ingress::IngressRule rule;
    rule.host = host;
    for (int p = 0; p < 2 + i % 4; ++p) {
      ingress::HttpIngressPath path;
      path.path = kPaths[p];
      path.path_type = p == 4 ? ingress::PathType::kExact : ingress::PathType::kPrefix;
      path.backend.service =
          ingress::IngressServiceBackend{"svc" + std::to_string(i), {{}, "http"}};
      rule.paths.push_back(std::move(path));
    }
    ing.spec.rules.push_back(std::move(rule));
  }
  if (has_tls(i)) {
    ing.spec.tls.push_back(ingress::IngressTls{std::move(hosts), "wildcard-tls"});
  }
  return ing;
}

ingress::Service make_service(int i) {
  ingress::Service svc;
  svc.metadata.namespace_ = namespace_of(i);
  svc.metadata.name = "svc" + std::to_string(i);
  ingress::ServicePort port;
  port.name = "http";
  port.port = 80;
  port.target_port.number = 8080;
  svc.ports.push_back(std::move(port));
  return svc;
}

// 3 ready endpoints; `generation` changes the last address, as a Pod replacement would.
ingress::EndpointSlice make_slice(int i, int generation = 0) {
  ingress::EndpointSlice slice;
  slice.metadata.namespace_ = namespace_of(i);
  slice.metadata.name = "svc" + std::to_string(i) + "-x7k2p";
  slice.service_name = "svc" + std::to_string(i);
  slice.metadata.labels["kubernetes.io/service-name"] = slice.service_name;
  slice.address_type = "IPv4";
  ingress::EndpointPort port;
  port.name = "http";
  port.port = 8080;
  slice.ports.push_back(std::move(port));
  for (int e = 0; e < 3; ++e) {
    int host = e == 2 ? 3 + generation % 200 : 1 + e;
    ingress::SliceEndpoint endpoint;
    endpoint.addresses.push_back("10." + std::to_string(i / 256 % 256) + "." +
                                 std::to_string(i % 256) + "." + std::to_string(host));
    endpoint.conditions.ready = true;
    slice.endpoints.push_back(std::move(endpoint));
  }
  return slice;
}

// The 50 Secrets' PEM (chain, key): one CA, one ECDSA wildcard leaf per namespace.
using Pem = std::pair<std::string, std::string>;

std::vector<Pem> make_certificates() {
  auto ca = tls::create_ca(kNow - std::chrono::days(365));
  if (!ca.ok()) {
    fail("CA: " + ca.error().message);
  }
  std::vector<Pem> pems;
  for (int n = 0; n < kNamespaces; ++n) {
    std::string ns = "team" + std::to_string(n);
    auto leaf = tls::issue_certificate(*ca, {"*." + tls_domain(ns)}, kNow - std::chrono::days(1));
    if (!leaf.ok()) {
      fail("leaf: " + leaf.error().message);
    }
    pems.emplace_back(leaf->chain_pem(), leaf->key_pem());
  }
  return pems;
}

ClusterState make_state(int n, const std::vector<Pem>& pems) {
  ClusterState state;
  ingress::IngressClass lintel_class;
  lintel_class.metadata.name = "lintel";
  lintel_class.controller = CompileOptions{}.controller_name;
  state.put(std::move(lintel_class));
  for (int ns = 0; ns < kNamespaces; ++ns) {
    ingress::Secret secret;
    secret.metadata.namespace_ = "team" + std::to_string(ns);
    secret.metadata.name = "wildcard-tls";
    secret.type = "kubernetes.io/tls";
    secret.data = {{"tls.crt", pems[ns].first}, {"tls.key", pems[ns].second}};
    state.put(std::move(secret));
  }
  for (int i = 0; i < n; ++i) {
    state.put(make_ingress(i));
    state.put(make_service(i));
    state.put(make_slice(i));
  }
  return state;
}

// What `lintel serve` passes: a default certificate on a process-wide ticket ring.
CompileOptions make_options() {
  auto cert = tls::generate_default_certificate(kNow - std::chrono::days(1));
  if (!cert.ok()) {
    fail("default certificate: " + cert.error().message);
  }
  auto context = tls::ServerContext::create(
      std::move(cert).value(), tls::ContextOptions{tls::TicketKeyRing::generate(kNow)});
  if (!context.ok()) {
    fail("default context: " + context.error().message);
  }
  CompileOptions options;
  options.now = kNow;
  options.default_context = std::move(context).value();
  return options;
}

// ---- measuring ----

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// Median wall time of kRuns calls of `run`, in ms.
double median_ms(const std::function<void(int run)>& run) {
  std::vector<double> times;
  for (int r = 0; r < kRuns; ++r) {
    auto start = std::chrono::steady_clock::now();
    run(r);
    times.push_back(ms_since(start));
  }
  std::nth_element(times.begin(), times.begin() + kRuns / 2, times.end());
  return times[kRuns / 2];
}

// A field of /proc/self/status in KiB ("VmRSS", "VmHWM").
long status_kib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      return std::atol(line.c_str() + field.size() + 1);
    }
  }
  return -1;
}

// Resets VmHWM to the current RSS (Linux >= 4.0), so the next read is this phase's peak.
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

void print_row(int n, const std::vector<Pem>& pems, const CompileOptions& options) {
  ClusterState state = make_state(n, pems);

  // Peak RSS growth of one cold compile: from the RSS with the state built to the peak while
  // compiling (the result included, since it stays alive until this point).
  long rss_before = status_kib("VmRSS");
  reset_peak_rss();
  CompileResult first = ingress::compile(state, options);
  double rss_growth_mib = (status_kib("VmHWM") - rss_before) / 1024.0;
  if (!first.diagnostics.empty()) {
    fail("N=" + std::to_string(n) +
         ": unexpected diagnostic: " + first.diagnostics.front().to_string());
  }

  double cold_ms = median_ms([&](int) { ingress::compile(state, options); });

  CompileOptions warm = options;
  warm.previous_certs = first.certs;
  ingress::EndpointSlice& changed = state.endpoint_slices.begin()->second;
  int changed_index = std::atoi(changed.service_name.c_str() + 3);  // "svc<i>"
  double slice_ms = median_ms([&](int run) {
    changed = make_slice(changed_index, run + 1);
    ingress::compile(state, warm);
  });

  double copy_ms = median_ms([&](int) { [[maybe_unused]] ClusterState copy = state; });
  double text_ms = median_ms([&](int) { ingress::format_route_table(*first.routes); });

  // Match: a request to every 7th Ingress's first host, on a deep path (a Prefix match).
  std::vector<std::string> hosts;
  for (int i = 0; i < n; i += 7) {
    hosts.push_back(hosts_of(i).front());
  }
  uintptr_t sink = 0;
  auto start = std::chrono::steady_clock::now();
  for (int m = 0; m < kMatches; ++m) {
    auto match = first.routes->match(hosts[m % hosts.size()], "/api/v1/users/12345");
    sink += reinterpret_cast<uintptr_t>(match.backend);
  }
  double match_ns = ms_since(start) * 1e6 / kMatches;
  if (sink == 0) {
    fail("no request matched");
  }

  std::printf("| %d | %zu | %zu | %zu | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f |\n", n,
              state.size(), first.stats.routes, first.certs->certificates().size(), cold_ms,
              rss_growth_mib, slice_ms, copy_ms, text_ms, match_ns);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int a = 1; a < argc; ++a) {
    sizes.push_back(std::atoi(argv[a]));
  }
  if (sizes.empty()) {
    sizes = {100, 1'000, 5'000, 10'000};
  }
  const std::vector<Pem> pems = make_certificates();
  const CompileOptions options = make_options();

  std::printf(
      "| Ingresses | objects | routes | TLS hosts | compile, cold (ms) | peak RSS growth (MiB) "
      "| 1 slice changed: compile (ms) | + state copy (ms) | + route text (ms) "
      "| match (ns) |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::fflush(stdout);
  // One child process per N, so that memory the allocator kept from a smaller N does not
  // hide the next one's RSS growth. Single-threaded up to here, so fork is safe.
  for (int n : sizes) {
    pid_t child = fork();
    if (child < 0) {
      fail("fork failed");
    }
    if (child == 0) {
      print_row(n, pems, options);
      std::_Exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return 1;
    }
  }
  return 0;
}
