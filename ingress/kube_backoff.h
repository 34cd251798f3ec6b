#pragma once
// Backoff: the delays between retries of a failing list or watch, as client-go's reflector
// does them (wait.NewExponentialBackoffManager: 800 ms doubling to 30 s, jitter, back to
// the start after 2 minutes without failures).
//
// Jitter spreads the retries of many controllers (and of our five informers) so they do
// not hit a recovering API server in lockstep; each delay is drawn uniformly from
// [d, d * (1 + jitter)) with d the exponential step, capped at `cap`.
//
// Thread: one owner; no I/O. Time is passed in, so tests need no clock.

#include <chrono>
#include <cstdint>
#include <random>

namespace lintel::ingress {

struct BackoffPolicy {
  std::chrono::milliseconds base{800};
  std::chrono::milliseconds cap{30'000};
  double jitter = 0.2;  // fraction added at most
  std::chrono::milliseconds reset_after{120'000};
};

class Backoff {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Backoff(BackoffPolicy policy = {}, uint64_t seed = std::random_device{}())
      : policy_(policy), random_(seed) {}

  // The delay before the next attempt, after a failure at `now`. The first failure after
  // `reset_after` of health (or ever) waits `base`.
  std::chrono::milliseconds next(Clock::time_point now) {
    if (failures_ > 0 && now - last_failure_ >= policy_.reset_after) {
      failures_ = 0;
    }
    last_failure_ = now;
    std::chrono::milliseconds step = policy_.base;
    for (int i = 0; i < failures_ && step < policy_.cap; ++i) {
      step *= 2;
    }
    if (step > policy_.cap) {
      step = policy_.cap;
    }
    ++failures_;
    std::uniform_real_distribution<double> spread(0.0, policy_.jitter);
    auto delay = std::chrono::milliseconds(
        static_cast<int64_t>(static_cast<double>(step.count()) * (1.0 + spread(random_))));
    return delay > policy_.cap ? policy_.cap : delay;
  }

  // Forget past failures now (e.g. after a list succeeded and a watch has run healthy for
  // `reset_after`); callers usually rely on the time-based reset in next().
  void reset() { failures_ = 0; }
  int failures() const { return failures_; }
  const BackoffPolicy& policy() const { return policy_; }

 private:
  BackoffPolicy policy_;
  std::mt19937_64 random_;
  int failures_ = 0;
  Clock::time_point last_failure_{};
};

}  // namespace lintel::ingress
