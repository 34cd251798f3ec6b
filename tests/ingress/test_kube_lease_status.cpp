// The pure parts of leader election (ingress/kube_lease.h) and Ingress status
// (ingress/kube_status.h); the I/O halves are proven end to end in
// tests/integration/test_cluster.py against the stand-in API server.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ingress/decode.h"
#include "ingress/kube_lease.h"
#include "ingress/kube_status.h"

namespace lintel::ingress {
namespace {

using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;

const milliseconds kLease{15'000};

TEST(LeaseDecision, FreeReleasedOrOwnLeaseIsTaken) {
  const auto now = Steady::now();
  EXPECT_EQ(decide(LeaseRecord{}, "me", now, now, kLease), LeaseDecision::kTake);
  LeaseRecord released;
  released.lease_duration_seconds = 1;
  released.renew_time = "2026-11-26T17:00:00.000000Z";
  EXPECT_EQ(decide(released, "me", now, now, kLease), LeaseDecision::kTake);
  LeaseRecord mine;
  mine.holder = "me";
  mine.lease_duration_seconds = 15;
  EXPECT_EQ(decide(mine, "me", now, now, kLease), LeaseDecision::kTake);
}

TEST(LeaseDecision, OthersLeaseIsLeftUntilItExpiresByOurClock) {
  const auto observed = Steady::now();
  LeaseRecord other;
  other.holder = "them";
  other.lease_duration_seconds = 15;
  EXPECT_EQ(decide(other, "me", observed, observed + milliseconds(14'999), kLease),
            LeaseDecision::kLeave);
  EXPECT_EQ(decide(other, "me", observed, observed + milliseconds(15'000), kLease),
            LeaseDecision::kTake);
  // The holder's leaseDurationSeconds counts, not ours.
  other.lease_duration_seconds = 30;
  EXPECT_EQ(decide(other, "me", observed, observed + milliseconds(20'000), kLease),
            LeaseDecision::kLeave);
  // Without one, ours does.
  other.lease_duration_seconds = 0;
  EXPECT_EQ(decide(other, "me", observed, observed + milliseconds(16'000), kLease),
            LeaseDecision::kTake);
}

TEST(LeaseRecordNext, TakingOverMovesAcquireTimeAndTransitions) {
  const auto wall = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
  LeaseRecord other;
  other.holder = "them";
  other.acquire_time = "2026-01-01T00:00:00.000000Z";
  other.renew_time = "2026-01-01T00:00:10.000000Z";
  other.transitions = 4;
  other.lease_duration_seconds = 15;
  LeaseRecord taken = next_record(other, "me", wall, kLease);
  EXPECT_EQ(taken.holder, "me");
  EXPECT_EQ(taken.transitions, 5);
  EXPECT_EQ(taken.acquire_time, "2027-01-15T08:00:00.000000Z");
  EXPECT_EQ(taken.renew_time, taken.acquire_time);
  EXPECT_EQ(taken.lease_duration_seconds, 15);

  // Renewing our own: only renewTime moves.
  LeaseRecord renewed = next_record(taken, "me", wall + std::chrono::seconds(2), kLease);
  EXPECT_EQ(renewed.transitions, 5);
  EXPECT_EQ(renewed.acquire_time, taken.acquire_time);
  EXPECT_EQ(renewed.renew_time, "2027-01-15T08:00:02.000000Z");

  // A brand-new Lease is not a transition.
  EXPECT_EQ(next_record(LeaseRecord{}, "me", wall, kLease).transitions, 0);
  // Sub-second durations round up to whole seconds, at least one.
  EXPECT_EQ(next_record(LeaseRecord{}, "me", wall, milliseconds(2'500)).lease_duration_seconds, 3);
}

TEST(LeaseTiming, RetryBelowRenewBelowLease) {
  LeaderElectionOptions o;  // the defaults: 2 s < 10 s < 15 s
  EXPECT_EQ(check_timing(o), "");
  o.retry_period = milliseconds(10'000);
  EXPECT_NE(check_timing(o).find("retry period (10000 ms)"), std::string::npos);
  o = LeaderElectionOptions{};
  o.renew_deadline = o.lease_duration;
  EXPECT_FALSE(check_timing(o).empty());
  o = LeaderElectionOptions{};
  o.retry_period = milliseconds(0);
  EXPECT_FALSE(check_timing(o).empty());
}

TEST(StatusAddresses, ParsesIpsAndHostNamesSortedAndDeduplicated) {
  std::string error;
  auto parsed = parse_status_addresses("lb.example.com, 203.0.113.10,2001:db8::1,203.0.113.10",
                                       error);
  ASSERT_TRUE(parsed) << error;
  ASSERT_EQ(parsed->size(), 3u);
  EXPECT_EQ((*parsed)[0].hostname, "lb.example.com");
  EXPECT_EQ((*parsed)[1].ip, "2001:db8::1");
  EXPECT_EQ((*parsed)[2].ip, "203.0.113.10");
}

TEST(StatusAddresses, RejectsWhatTheApiWouldRefuse) {
  for (const char* bad : {"", "203.0.113.10,", "LB.Example.com", "lb_example.com", "1.2.3.4:80",
                          "http://lb.example.com"}) {
    std::string error;
    EXPECT_FALSE(parse_status_addresses(bad, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(StatusToWrite, OnlyIngressesThatDifferAndAreNotAwaitingTheirWrite) {
  const LoadBalancerStatus want = {LoadBalancerIngress{"203.0.113.10", "", 0}};
  const LoadBalancerStatus old = {LoadBalancerIngress{"198.51.100.1", "", 0}};
  const LoadBalancerStatus with_ports = {LoadBalancerIngress{"203.0.113.10", "", 1}};
  std::map<std::string, LoadBalancerStatus> current = {
      {"default/fresh", {}}, {"default/done", want}, {"default/old", old},
      {"default/ports", with_ports}, {"default/pending", {}}};
  std::map<std::string, LoadBalancerStatus> written = {{"default/pending", want},
                                                       {"default/old", old}};
  EXPECT_EQ(status_to_write(current, want, written),
            (std::vector<std::string>{"default/fresh", "default/old", "default/ports"}));
  // Clearing: only those that have an address.
  EXPECT_EQ(status_to_write(current, {}, {}),
            (std::vector<std::string>{"default/done", "default/old", "default/ports"}));
}

TEST(LoadBalancerStatusDecode, LenientSortedUnique) {
  const auto object = nlohmann::json::parse(R"({
    "status": {"loadBalancer": {"ingress": [
      {"ip": "203.0.113.10"}, {"hostname": "lb.example.com", "ports": [{"port": 80}]},
      "junk", {}, {"ip": "203.0.113.10"}, {"ip": 7}
    ]}}})");
  LoadBalancerStatus status = decode_load_balancer_status(object);
  ASSERT_EQ(status.size(), 2u);
  EXPECT_EQ(status[0].hostname, "lb.example.com");
  EXPECT_EQ(status[0].ports, 1u);
  EXPECT_EQ(status[1].ip, "203.0.113.10");
  EXPECT_TRUE(decode_load_balancer_status(nlohmann::json::parse(R"({"status": []})")).empty());
  EXPECT_TRUE(decode_load_balancer_status(nlohmann::json::parse("[]")).empty());
}

}  // namespace
}  // namespace lintel::ingress
