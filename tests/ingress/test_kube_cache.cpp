// The informer logic that needs no network: collection paths and queries, the per-kind
// cache (upserts, deletes, rejected updates keeping the last good version, relists that
// synthesize deletes), and the backoff sequence.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "ingress/kube_backoff.h"
#include "ingress/kube_cache.h"

namespace lintel::ingress {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

json service(const std::string& name, int port, const std::string& rv = "1",
             const std::string& ns = "default") {
  // As list items come: no kind, no apiVersion (the list's kind says what they are).
  return json{{"metadata", {{"name", name}, {"namespace", ns}, {"resourceVersion", rv}}},
              {"spec", {{"ports", json::array({{{"name", "http"}, {"port", port}}})}}}};
}

ClusterState state_of(const KindCache& cache, std::vector<routing::Diagnostic>* diags = nullptr) {
  ClusterState state;
  std::vector<routing::Diagnostic> ignored;
  cache.fill(state, diags ? *diags : ignored);
  return state;
}

TEST(KubePaths, CollectionsAndQueries) {
  EXPECT_EQ(collection_path(KubeKind::kIngress, ""), "/apis/networking.k8s.io/v1/ingresses");
  EXPECT_EQ(collection_path(KubeKind::kIngress, "shop"),
            "/apis/networking.k8s.io/v1/namespaces/shop/ingresses");
  // Cluster-scoped: the namespace never applies.
  EXPECT_EQ(collection_path(KubeKind::kIngressClass, "shop"),
            "/apis/networking.k8s.io/v1/ingressclasses");
  EXPECT_EQ(collection_path(KubeKind::kService, ""), "/api/v1/services");
  EXPECT_EQ(collection_path(KubeKind::kEndpointSlice, "a"),
            "/apis/discovery.k8s.io/v1/namespaces/a/endpointslices");
  EXPECT_EQ(collection_path(KubeKind::kSecret, ""), "/api/v1/secrets");

  EXPECT_EQ(list_query(KubeKind::kService, 500, ""), "limit=500");
  EXPECT_EQ(list_query(KubeKind::kSecret, 500, "a+b/c="),
            "limit=500&fieldSelector=type%3Dkubernetes.io%2Ftls&continue=a%2Bb%2Fc%3D");
  EXPECT_EQ(watch_query(KubeKind::kService, "123", 321),
            "watch=1&allowWatchBookmarks=true&resourceVersion=123&timeoutSeconds=321");
  EXPECT_EQ(watch_query(KubeKind::kSecret, "9", 300),
            "watch=1&allowWatchBookmarks=true&resourceVersion=9&timeoutSeconds=300"
            "&fieldSelector=type%3Dkubernetes.io%2Ftls");
}

TEST(KindCache, AddModifyDelete) {
  KindCache cache(KubeKind::kService);
  EXPECT_TRUE(cache.apply(WatchEventType::kAdded, service("web", 80)));
  EXPECT_EQ(state_of(cache).services.at("default/web").ports.at(0).port, 80);
  // Only the resourceVersion moved (e.g. a status write): nothing Lintel reads changed.
  EXPECT_FALSE(cache.apply(WatchEventType::kModified, service("web", 80, "2")));
  EXPECT_TRUE(cache.apply(WatchEventType::kModified, service("web", 81, "3")));
  EXPECT_EQ(state_of(cache).services.at("default/web").ports.at(0).port, 81);
  EXPECT_TRUE(cache.apply(WatchEventType::kDeleted, service("web", 81, "4")));
  EXPECT_TRUE(state_of(cache).services.empty());
  EXPECT_FALSE(cache.apply(WatchEventType::kDeleted, service("web", 81, "4")));
  EXPECT_FALSE(cache.apply(WatchEventType::kBookmark, service("web", 81, "5")));
}

TEST(KindCache, RejectedUpdateKeepsTheLastGoodVersion) {
  KindCache cache(KubeKind::kService);
  ASSERT_TRUE(cache.apply(WatchEventType::kAdded, service("web", 80)));
  json bad = service("web", 80, "2");
  bad["spec"]["ports"][0]["port"] = "eighty";
  EXPECT_TRUE(cache.apply(WatchEventType::kModified, bad));
  std::vector<routing::Diagnostic> diags;
  ClusterState state = state_of(cache, &diags);
  ASSERT_EQ(state.services.count("default/web"), 1u);
  EXPECT_EQ(state.services.at("default/web").ports.at(0).port, 80);  // still served
  ASSERT_FALSE(diags.empty());
  EXPECT_TRUE(diags[0].rejected);
  EXPECT_NE(diags[0].message.find("last good version"), std::string::npos) << diags[0].to_string();
  EXPECT_NE(diags[0].object.find("Service default/web"), std::string::npos);

  // The next good version clears the diagnostic.
  EXPECT_TRUE(cache.apply(WatchEventType::kModified, service("web", 82, "3")));
  diags.clear();
  EXPECT_EQ(state_of(cache, &diags).services.at("default/web").ports.at(0).port, 82);
  EXPECT_TRUE(diags.empty());

  // A bad object never seen good: a diagnostic, nothing served.
  json new_bad = service("api", 80);
  new_bad["spec"]["ports"][0]["port"] = "x";
  EXPECT_TRUE(cache.apply(WatchEventType::kAdded, new_bad));
  diags.clear();
  state = state_of(cache, &diags);
  EXPECT_EQ(state.services.count("default/api"), 0u);
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_NE(diags[0].message.find("not served"), std::string::npos);
  // Deleting it removes the diagnostic.
  EXPECT_TRUE(cache.apply(WatchEventType::kDeleted, new_bad));
  diags.clear();
  state_of(cache, &diags);
  EXPECT_TRUE(diags.empty());
}

TEST(KindCache, RelistSynthesizesDeletes) {
  KindCache cache(KubeKind::kService);
  cache.apply(WatchEventType::kAdded, service("a", 80));
  cache.apply(WatchEventType::kAdded, service("b", 80));
  cache.apply(WatchEventType::kAdded, service("c", 80, "1", "other"));
  // While we were not watching: b deleted, c changed, d created.
  ReplaceResult result =
      cache.replace({service("a", 80), service("c", 90, "7", "other"), service("d", 80)});
  EXPECT_TRUE(result.changed);
  EXPECT_EQ(result.deleted, std::vector<std::string>{"default/b"});
  EXPECT_EQ(result.added, 1u);
  ClusterState state = state_of(cache);
  EXPECT_EQ(state.services.size(), 3u);
  EXPECT_EQ(state.services.count("default/b"), 0u);
  EXPECT_EQ(state.services.at("other/c").ports.at(0).port, 90);
  // The same list again changes nothing.
  result = cache.replace({service("a", 80), service("c", 90, "8", "other"), service("d", 80)});
  EXPECT_FALSE(result.changed);
  EXPECT_TRUE(result.deleted.empty());
  // An empty list empties the cache.
  result = cache.replace({});
  EXPECT_EQ(result.deleted.size(), 3u);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(KindCache, ClusterScopedAndSkippedKinds) {
  KindCache classes(KubeKind::kIngressClass);
  json klass = {{"metadata",
                 {{"name", "lintel"},
                  {"annotations", {{"ingressclass.kubernetes.io/is-default-class", "true"}}}}},
                {"spec", {{"controller", "lintel.dev/ingress-controller"}}}};
  EXPECT_TRUE(classes.apply(WatchEventType::kAdded, klass));
  ClusterState state = state_of(classes);
  ASSERT_EQ(state.ingress_classes.count("lintel"), 1u);
  EXPECT_TRUE(state.ingress_classes.at("lintel").is_default);

  // A Secret that is not kubernetes.io/tls is not held (the field selector should have
  // kept it out; if it slips through, it is ignored).
  KindCache secrets(KubeKind::kSecret);
  json opaque = {{"metadata", {{"name", "s"}, {"namespace", "default"}}}, {"type", "Opaque"}};
  EXPECT_FALSE(secrets.apply(WatchEventType::kAdded, opaque));
  EXPECT_EQ(secrets.size(), 0u);
}

TEST(WatchEvents, Types) {
  EXPECT_EQ(parse_event_type("ADDED"), WatchEventType::kAdded);
  EXPECT_EQ(parse_event_type("MODIFIED"), WatchEventType::kModified);
  EXPECT_EQ(parse_event_type("DELETED"), WatchEventType::kDeleted);
  EXPECT_EQ(parse_event_type("BOOKMARK"), WatchEventType::kBookmark);
  EXPECT_EQ(parse_event_type("ERROR"), WatchEventType::kError);
  EXPECT_EQ(parse_event_type("added"), WatchEventType::kUnknown);
}

TEST(Backoff, DoublesWithJitterUpToTheCapAndResetsAfterHealth) {
  BackoffPolicy policy;  // 800 ms doubling to 30 s, +20% jitter, reset after 2 minutes
  Backoff backoff(policy, 42);
  auto now = Backoff::Clock::time_point{} + std::chrono::hours(1);
  const int64_t steps[] = {800, 1600, 3200, 6400, 12800, 25600, 30000, 30000};
  for (int64_t step : steps) {
    milliseconds d = backoff.next(now);
    EXPECT_GE(d.count(), step);
    EXPECT_LE(d.count(), std::min<int64_t>(30000, step * 12 / 10)) << step;
    now += d;
  }
  // Two healthy minutes since the last failure: back to the start.
  now += std::chrono::minutes(2);
  milliseconds d = backoff.next(now);
  EXPECT_GE(d.count(), 800);
  EXPECT_LE(d.count(), 960);
  EXPECT_EQ(backoff.failures(), 1);
}

TEST(Backoff, JitterSpreadsAndPolicyIsInjectable) {
  BackoffPolicy policy{milliseconds(10), milliseconds(40), 0.5, milliseconds(1000)};
  auto now = Backoff::Clock::time_point{} + std::chrono::hours(1);
  std::set<int64_t> firsts;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Backoff backoff(policy, seed);
    firsts.insert(backoff.next(now).count());
  }
  EXPECT_GT(firsts.size(), 1u);  // not every replica retries at the same instant
  Backoff backoff(policy, 1);
  EXPECT_LE(backoff.next(now).count(), 15);
  EXPECT_LE(backoff.next(now).count(), 30);
  EXPECT_LE(backoff.next(now).count(), 40);
  EXPECT_EQ(backoff.next(now).count(), 40);
}

}  // namespace
}  // namespace lintel::ingress
