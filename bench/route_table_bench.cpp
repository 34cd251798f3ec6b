// RouteTable::match on a large table: 1000 exact hosts × 10 paths, plus 100 wildcard hosts
// and a host-less catch-all. Measures the per-request cost of host + path selection, which
// runs on every request on every worker.
//
//   cmake --build build --target route_table_bench && build/route_table_bench

#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "routing/route_table.h"

namespace {

using lintel::routing::Backend;
using lintel::routing::EndpointSet;
using lintel::routing::PathMatch;
using lintel::routing::Route;
using lintel::routing::RouteTable;

constexpr int kHosts = 1000;
constexpr int kPathsPerHost = 10;

const char* const kPaths[kPathsPerHost] = {"/",          "/api",    "/api/v1", "/api/v2",
                                           "/static",    "/login",  "/logout", "/assets/img",
                                           "/admin/ops", "/healthz"};

std::shared_ptr<const RouteTable> make_table() {
  RouteTable::Builder builder;
  for (int h = 0; h < kHosts; ++h) {
    std::string host = "host" + std::to_string(h) + ".example.com";
    for (int p = 0; p < kPathsPerHost; ++p) {
      auto backend = std::make_shared<Backend>();
      backend->name = "ns/svc" + std::to_string(h) + "-" + std::to_string(p) + ":80";
      backend->endpoints = std::make_shared<EndpointSet>();
      Route route;
      route.path = kPaths[p];
      route.rule_path = kPaths[p];
      // Every third path Exact, the rest Prefix.
      route.match = p % 3 == 2 ? PathMatch::kExact : PathMatch::kPrefix;
      route.path_type = route.match == PathMatch::kExact ? "Exact" : "Prefix";
      route.backend = std::move(backend);
      builder.add_route(host, std::move(route));
    }
  }
  for (int w = 0; w < 100; ++w) {
    auto backend = std::make_shared<Backend>();
    backend->name = "ns/wild" + std::to_string(w) + ":80";
    backend->endpoints = std::make_shared<EndpointSet>();
    Route route;
    route.path = "/";
    route.rule_path = "/";
    route.backend = std::move(backend);
    builder.add_route("*.zone" + std::to_string(w) + ".example.org", std::move(route));
  }
  auto any = std::make_shared<Backend>();
  any->name = "ns/any:80";
  any->endpoints = std::make_shared<EndpointSet>();
  Route catch_all;
  catch_all.path = "/";
  catch_all.rule_path = "/";
  catch_all.backend = any;
  builder.add_route("", std::move(catch_all));
  return std::move(builder).build();
}

struct Request {
  std::string host;
  std::string path;
};

void run(benchmark::State& state, const std::vector<Request>& requests) {
  static const auto table = make_table();
  size_t i = 0;
  for (auto _ : state) {
    const Request& r = requests[i++ % requests.size()];
    benchmark::DoNotOptimize(table->match(r.host, r.path));
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ExactHostDeepPath(benchmark::State& state) {
  std::vector<Request> requests;
  for (int h = 0; h < kHosts; h += 7) {
    requests.push_back({"Host" + std::to_string(h) + ".example.com:8080",
                        "/api/v1/users/12345/orders/67890/items"});
  }
  run(state, requests);
}
BENCHMARK(BM_ExactHostDeepPath);

void BM_ExactHostExactPath(benchmark::State& state) {
  std::vector<Request> requests;
  for (int h = 0; h < kHosts; h += 7) {
    requests.push_back({"host" + std::to_string(h) + ".example.com", "/login"});
  }
  run(state, requests);
}
BENCHMARK(BM_ExactHostExactPath);

void BM_WildcardHost(benchmark::State& state) {
  std::vector<Request> requests;
  for (int w = 0; w < 100; ++w) {
    requests.push_back({"shop.zone" + std::to_string(w) + ".example.org", "/cart/checkout"});
  }
  run(state, requests);
}
BENCHMARK(BM_WildcardHost);

void BM_UnknownHostToCatchAll(benchmark::State& state) {
  std::vector<Request> requests;
  for (int u = 0; u < 100; ++u) {
    requests.push_back({"unknown" + std::to_string(u) + ".example.net", "/a/b/c"});
  }
  run(state, requests);
}
BENCHMARK(BM_UnknownHostToCatchAll);

void BM_Build(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(make_table());
  }
}
BENCHMARK(BM_Build)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
