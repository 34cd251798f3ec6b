#include "ingress/kube_lease.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <random>

#include "ingress/kube_cache.h"  // string_at()
#include "ingress/kube_client.h"
#include "ingress/kube_time.h"

namespace lintel::ingress {

namespace asio = boost::asio;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

auto use_ec(boost::system::error_code& ec) {
  return asio::redirect_error(asio::use_awaitable, ec);
}

constexpr size_t kMaxLeaseBody = 1 << 20;

int int_at(const json& j, const char* a, const char* b) {
  auto x = j.find(a);
  if (x == j.end() || !x->is_object()) {
    return 0;
  }
  auto y = x->find(b);
  return y != x->end() && y->is_number_integer() ? y->get<int>() : 0;
}

LeaseRecord record_of(const json& lease) {
  LeaseRecord r;
  r.holder = string_at(lease, {"spec", "holderIdentity"});
  r.lease_duration_seconds = int_at(lease, "spec", "leaseDurationSeconds");
  r.acquire_time = string_at(lease, {"spec", "acquireTime"});
  r.renew_time = string_at(lease, {"spec", "renewTime"});
  r.transitions = int_at(lease, "spec", "leaseTransitions");
  return r;
}

void put_record(json& lease, const LeaseRecord& r) {
  json& spec = lease["spec"];
  if (!spec.is_object()) {
    spec = json::object();
  }
  spec["holderIdentity"] = r.holder;
  spec["leaseDurationSeconds"] = r.lease_duration_seconds;
  if (!r.acquire_time.empty()) {
    spec["acquireTime"] = r.acquire_time;
  }
  spec["renewTime"] = r.renew_time;
  spec["leaseTransitions"] = r.transitions;
}

struct State : std::enable_shared_from_this<State> {
  State(asio::io_context& io, LeaderElectionOptions o, std::shared_ptr<asio::ssl::context> context)
      : io(io),
        options(std::move(o)),
        tokens(std::make_shared<TokenSource>(options.config, milliseconds(60'000))),
        connection(io.get_executor(), std::move(context), options.config, tokens,
                   options.user_agent, options.request_timeout),
        timer(io),
        watchdog(io) {
    path = fmt::format("/apis/coordination.k8s.io/v1/namespaces/{}/leases", options.namespace_);
  }

  asio::io_context& io;
  LeaderElectionOptions options;
  std::shared_ptr<TokenSource> tokens;
  KubeConnection connection;
  asio::steady_timer timer;
  asio::steady_timer watchdog;  // leader: fires when renewal failed for renew_deadline
  std::string path;
  std::function<void(bool)> on_change;
  std::mt19937_64 random{std::random_device{}()};
  bool stopped = false;
  bool campaigning = true;   // false once release() began
  bool leading = false;
  bool running = false;      // the campaign coroutine has not returned yet
  std::function<void()> release_done;  // set by release() while the campaign still runs
  LeaseRecord observed;      // the record as last read or written
  Clock::time_point observed_at{};
  std::string last_failure;  // logged once per streak

  void set_leading(bool now_leading, const std::string& why) {
    if (leading == now_leading) {
      return;
    }
    leading = now_leading;
    if (leading) {
      spdlog::info("leader election: {} is now the leader (Lease {}/{}); writing Ingress status "
                   "and Events",
                   options.identity, options.namespace_, options.name);
    } else {
      spdlog::warn("leader election: {} is no longer the leader (Lease {}/{}): {}; status and "
                   "Event writes stopped, traffic is still served",
                   options.identity, options.namespace_, options.name, why);
    }
    if (on_change) {
      on_change(leading);
    }
  }

  void arm_watchdog() {
    watchdog.expires_after(options.renew_deadline);
    watchdog.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!ec && self && !self->stopped) {
        self->set_leading(false, "the lease was not renewed for " +
                                     fmt::format("{} ms", self->options.renew_deadline.count()) +
                                     " (" + self->last_failure + ")");
      }
    });
  }

  void failed(const std::string& what) {
    if (what != last_failure) {
      // Contention (another replica holds the lease) is normal for followers: debug.
      spdlog::log(leading ? spdlog::level::warn : spdlog::level::debug,
                  "leader election: {}; trying again in {} ms", what,
                  options.retry_period.count());
    }
    last_failure = what;
  }

  // One GET, then create or update. True when we hold the lease afterwards.
  asio::awaitable<bool> try_acquire_or_renew() {
    std::string body;
    const auto collect = keep_body(body, kMaxLeaseBody);
    const std::string target = path + "/" + options.name;
    KubeResponse got = co_await connection.get(target, options.request_timeout, collect);
    if (stopped) {
      co_return false;
    }
    const auto now_wall = std::chrono::system_clock::now();
    if (got.status == 404) {
      LeaseRecord record = next_record(LeaseRecord{}, options.identity, now_wall,
                                       options.lease_duration);
      json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                    {"kind", "Lease"},
                    {"metadata", {{"name", options.name}, {"namespace", options.namespace_}}}};
      put_record(lease, record);
      body.clear();
      KubeResponse created = co_await connection.request(
          "POST", path, "application/json", lease.dump(), options.request_timeout, collect);
      if (created.status == 201 || created.status == 200) {
        observed = record;
        observed_at = Clock::now();
        co_return true;
      }
      failed("creating Lease " + options.namespace_ + "/" + options.name + ": " +
             describe_answer(created));
      co_return false;
    }
    if (got.status != 200) {
      failed("reading Lease " + options.namespace_ + "/" + options.name + ": " +
             describe_answer(got));
      co_return false;
    }
    json lease = json::parse(body, nullptr, false);
    if (!lease.is_object()) {
      failed("Lease " + options.namespace_ + "/" + options.name + " is not a JSON object");
      co_return false;
    }
    const LeaseRecord record = record_of(lease);
    if (!(record == observed)) {
      observed = record;
      observed_at = Clock::now();
    }
    if (decide(record, options.identity, observed_at, Clock::now(), options.lease_duration) ==
        LeaseDecision::kLeave) {
      failed("Lease " + options.namespace_ + "/" + options.name + " is held by " + record.holder);
      co_return false;
    }
    const LeaseRecord next = next_record(record, options.identity, now_wall, options.lease_duration);
    put_record(lease, next);
    body.clear();
    KubeResponse put = co_await connection.request("PUT", target, "application/json",
                                                   lease.dump(), options.request_timeout, collect);
    if (put.status == 200) {
      observed = next;
      observed_at = Clock::now();
      co_return true;
    }
    failed((record.holder == options.identity ? "renewing" : "taking") + std::string(" Lease ") +
           options.namespace_ + "/" + options.name + ": " + describe_answer(put));
    co_return false;
  }

  static asio::awaitable<void> campaign(std::shared_ptr<State> self) {
    self->running = true;
    while (!self->stopped && self->campaigning) {
      bool held = false;
      try {
        held = co_await self->try_acquire_or_renew();
      } catch (const std::exception& e) {
        self->failed(std::string("unexpected error: ") + e.what());
      }
      if (self->stopped || !self->campaigning) {
        break;
      }
      if (held) {
        if (!self->last_failure.empty() && self->leading) {
          spdlog::info("leader election: Lease {}/{} renewed again", self->options.namespace_,
                       self->options.name);
        }
        self->last_failure.clear();
        self->arm_watchdog();
        self->set_leading(true, "");
      }
      milliseconds wait = self->options.retry_period;
      if (!self->leading) {
        // client-go's JitterFactor 1.2: candidates do not all ask at the same instant.
        std::uniform_int_distribution<int64_t> jitter(0, wait.count() / 5);
        wait += milliseconds(jitter(self->random));
      }
      self->timer.expires_after(wait);
      boost::system::error_code ec;
      co_await self->timer.async_wait(use_ec(ec));
    }
    self->running = false;
    if (self->release_done && !self->stopped) {
      asio::co_spawn(self->io, give_up(self, std::move(self->release_done)), asio::detached);
    }
  }

  static asio::awaitable<void> give_up(std::shared_ptr<State> self, std::function<void()> done) {
    // Runs after the campaign returned, so the connection has one user at a time.
    if (self->leading) {
      const std::string target = self->path + "/" + self->options.name;
      std::string body;
      const auto collect = keep_body(body, kMaxLeaseBody);
      KubeResponse got =
          co_await self->connection.get(target, self->options.request_timeout, collect);
      json lease = got.status == 200 ? json::parse(body, nullptr, false) : json();
      if (lease.is_object() && record_of(lease).holder == self->options.identity) {
        LeaseRecord released = record_of(lease);
        released.holder.clear();
        released.lease_duration_seconds = 1;
        released.renew_time = micro_time(std::chrono::system_clock::now());
        put_record(lease, released);
        body.clear();
        KubeResponse put = co_await self->connection.request(
            "PUT", target, "application/json", lease.dump(), self->options.request_timeout,
            collect);
        if (put.status == 200) {
          spdlog::info("leader election: released Lease {}/{}", self->options.namespace_,
                       self->options.name);
        } else {
          spdlog::warn("leader election: could not release Lease {}/{}: {}; another replica "
                       "takes over when it expires",
                       self->options.namespace_, self->options.name, describe_answer(put));
        }
      }
      self->watchdog.cancel();
      self->set_leading(false, "shutting down");
    }
    self->stopped = true;
    done();
  }
};

class LeaderElectorImpl final : public LeaderElector {
 public:
  explicit LeaderElectorImpl(std::shared_ptr<State> state) : state_(std::move(state)) {}
  ~LeaderElectorImpl() override { stop(); }

  void start(std::function<void(bool)> on_change) override {
    state_->on_change = std::move(on_change);
    spdlog::info("leader election: {} campaigning for Lease {}/{} (lease {} ms, renew deadline "
                 "{} ms, retry {} ms)",
                 state_->options.identity, state_->options.namespace_, state_->options.name,
                 state_->options.lease_duration.count(), state_->options.renew_deadline.count(),
                 state_->options.retry_period.count());
    asio::co_spawn(state_->io, State::campaign(state_), asio::detached);
  }

  bool leading() const override { return state_->leading; }

  void release(std::function<void()> done) override {
    if (state_->stopped) {
      done();
      return;
    }
    auto state = state_;
    state->campaigning = false;
    state->timer.cancel();
    if (!state->leading) {
      // A follower has nothing to give up.
      stop();
      done();
      return;
    }
    // The campaign stops after its current step (a request is bounded by request_timeout);
    // the lease is given up then.
    if (state->running) {
      state->release_done = std::move(done);
    } else {
      asio::co_spawn(state->io, State::give_up(state, std::move(done)), asio::detached);
    }
  }

  void stop() override {
    if (state_->stopped && !state_->running) {
      return;
    }
    state_->stopped = true;
    state_->on_change = nullptr;
    state_->connection.cancel();
    state_->timer.cancel();
    state_->watchdog.cancel();
  }

 private:
  std::shared_ptr<State> state_;
};

}  // namespace

std::unique_ptr<LeaderElector> LeaderElector::create(asio::io_context& io,
                                                     LeaderElectionOptions options,
                                                     std::string& error) {
  auto context = make_client_context(options.config, error);
  if (!context) {
    return nullptr;
  }
  if (error = check_timing(options); !error.empty()) {
    return nullptr;
  }
  return std::make_unique<LeaderElectorImpl>(
      std::make_shared<State>(io, std::move(options), std::move(context)));
}

}  // namespace lintel::ingress
