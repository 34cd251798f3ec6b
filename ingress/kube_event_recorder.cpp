// EventRecorder (kube_events.h): the EventPlanner driven on the control thread, its writes
// sent one at a time over a KubeConnection of its own (a long informer watch never holds
// up an Event, and an Event write never holds up a list).
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <random>

#include "ingress/kube_client.h"
#include "ingress/kube_events.h"

namespace lintel::ingress {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// The API's limit on reportingInstance.
constexpr size_t kMaxInstance = 128;

std::string host_name() {
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof buffer - 1) != 0) {
    return "lintel";
  }
  return buffer;
}

WriteOutcome classify(const EventWrite& write, const KubeResponse& response) {
  if (!response.error.empty()) {
    return WriteOutcome::kRetryable;
  }
  const int status = response.status;
  if (status >= 200 && status < 300) {
    return WriteOutcome::kOk;
  }
  if (status == 409 && write.verb == EventWrite::Verb::kCreate) {
    return WriteOutcome::kAlreadyExists;
  }
  if (status == 404) {
    return WriteOutcome::kNotFound;
  }
  if (status == 429 || status >= 500) {
    return WriteOutcome::kRetryable;
  }
  return WriteOutcome::kFailed;
}

std::string seconds_text(milliseconds d) { return fmt::format("{:.1f}s", d.count() / 1000.0); }

class EventRecorderImpl final : public EventRecorder,
                                public std::enable_shared_from_this<EventRecorderImpl> {
 public:
  EventRecorderImpl(asio::io_context& io, EventRecorderOptions options,
                    std::shared_ptr<asio::ssl::context> context)
      : options_(std::move(options)),
        planner_(identity(options_), options_.policy, std::random_device{}()),
        connection_(io.get_executor(), std::move(context), options_.config,
                    std::make_shared<TokenSource>(options_.config, options_.token_reread),
                    options_.user_agent, options_.request_timeout),
        timer_(io) {}

  void start() { asio::co_spawn(timer_.get_executor(), run(shared_from_this()), asio::detached); }

  void observe(EventCauses current) override {
    if (stopped_) {
      return;
    }
    const size_t dropped =
        planner_.observe(std::move(current), Clock::now(), std::chrono::system_clock::now());
    if (dropped > 0) {
      spdlog::warn(
          "events: {} Kubernetes Events not queued ({} already waiting, the limit); they are "
          "sent if their cause is seen again",
          dropped, planner_.queued());
    }
    wake();
  }

  void set_leader(bool leader) override {
    if (stopped_ || leader == planner_.leader()) {
      return;
    }
    planner_.set_leader(leader, Clock::now(), std::chrono::system_clock::now());
    spdlog::info("events: {}", leader ? fmt::format("leader: writing Kubernetes Events ({} "
                                                    "current problems to send)",
                                                    planner_.queued())
                                      : std::string("not leader: no Kubernetes Events written"));
    wake();
  }

  void stop() override {
    if (stopped_) {
      return;
    }
    stopped_ = true;
    timer_.cancel();
    connection_.cancel();
  }

 private:
  static EventPlanner::Identity identity(const EventRecorderOptions& options) {
    EventPlanner::Identity id;
    id.reporting_controller = options.reporting_controller;
    id.reporting_instance =
        options.reporting_instance.empty() ? host_name() : options.reporting_instance;
    if (id.reporting_instance.size() > kMaxInstance) {
      id.reporting_instance.resize(kMaxInstance);
    }
    return id;
  }

  // The loop waits on the timer until the planner's next due time; observe() and
  // set_leader() cancel the wait so new work is looked at at once.
  void wake() {
    if (waiting_) {
      timer_.cancel();
    }
  }

  static asio::awaitable<void> run(std::shared_ptr<EventRecorderImpl> self) {
    while (!self->stopped_) {
      try {
        co_await self->step();
      } catch (const std::exception& e) {
        // Not expected (the connection returns outcomes); never let it end the loop.
        spdlog::error("events: unexpected error: {}; going on", e.what());
      }
    }
  }

  asio::awaitable<void> step() {
    std::optional<EventWrite> write = planner_.next(Clock::now());
    if (!write) {
      std::optional<Clock::time_point> due = planner_.next_due();
      timer_.expires_at(due ? *due : Clock::time_point::max());
      waiting_ = true;
      boost::system::error_code ec;
      co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      waiting_ = false;
      co_return;
    }
    KubeResponse response = co_await connection_.request(
        write->method, write->target, write->content_type, write->body, options_.request_timeout,
        [](std::string_view) { return true; });
    if (stopped_) {
      co_return;
    }
    const WriteOutcome outcome = classify(*write, response);
    const WriteFollowUp follow = planner_.finished(*write, outcome, Clock::now(),
                                                   std::chrono::seconds(response.retry_after));
    log(*write, response, outcome, follow);
  }

  void log(const EventWrite& write, const KubeResponse& response, WriteOutcome outcome,
           const WriteFollowUp& follow) {
    const std::string what = fmt::format("{} Event {} ({}) on Ingress {}", write.type, write.name,
                                         write.reason, write.ingress);
    const bool create = write.verb == EventWrite::Verb::kCreate;
    const char* verb = create ? "create" : "patch";
    if (outcome == WriteOutcome::kOk) {
      spdlog::debug("events: {} {}{}", create ? "created" : "patched", what,
                    write.count > 1 ? fmt::format(", seen {} times", write.count) : "");
      return;
    }
    const std::string answer = describe_answer(response);
    switch (follow.next) {
      case WriteFollowUp::Next::kPatch:
        spdlog::debug("events: {} already exists; patching its series", what);
        return;
      case WriteFollowUp::Next::kCreate:
        spdlog::debug("events: {} is gone (expired); creating it again", what);
        return;
      case WriteFollowUp::Next::kRetry:
        spdlog::warn("events: {} {} failed: {}; retrying in {} (attempt {})", verb, what, answer,
                     seconds_text(follow.delay), follow.attempt);
        return;
      case WriteFollowUp::Next::kDropped:
        spdlog::warn(
            "events: {} {} failed: {}; dropped after {} attempt{} (sent again if the "
            "cause is seen again)",
            verb, what, answer, follow.attempt, follow.attempt == 1 ? "" : "s");
        return;
      case WriteFollowUp::Next::kForgotten:
        spdlog::debug("events: {} {} answered {}; the Ingress or the lead is gone, nothing more",
                      verb, what, answer);
        return;
      case WriteFollowUp::Next::kNothing:
        spdlog::warn("events: {} {}: {}", verb, what, answer);
        return;
    }
  }

  EventRecorderOptions options_;
  EventPlanner planner_;
  KubeConnection connection_;
  asio::steady_timer timer_;
  bool waiting_ = false;
  bool stopped_ = false;
};

// The recorder the caller holds: stops the shared implementation (which the running
// coroutine keeps alive until it has returned) when dropped.
class EventRecorderHandle final : public EventRecorder {
 public:
  explicit EventRecorderHandle(std::shared_ptr<EventRecorderImpl> impl) : impl_(std::move(impl)) {}
  ~EventRecorderHandle() override { impl_->stop(); }
  void observe(EventCauses current) override { impl_->observe(std::move(current)); }
  void set_leader(bool leader) override { impl_->set_leader(leader); }
  void stop() override { impl_->stop(); }

 private:
  std::shared_ptr<EventRecorderImpl> impl_;
};

}  // namespace

std::unique_ptr<EventRecorder> EventRecorder::create(asio::io_context& io,
                                                     EventRecorderOptions options,
                                                     std::string& error) {
  auto context = make_client_context(options.config, error);
  if (!context) {
    return nullptr;
  }
  auto impl = std::make_shared<EventRecorderImpl>(io, std::move(options), std::move(context));
  impl->start();
  return std::make_unique<EventRecorderHandle>(std::move(impl));
}

}  // namespace lintel::ingress
