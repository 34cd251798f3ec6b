#include "ingress/kube_status.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "ingress/decode.h"
#include "ingress/kube_client.h"

namespace lintel::ingress {

namespace asio = boost::asio;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

json status_json(const LoadBalancerStatus& status) {
  json list = json::array();
  for (const LoadBalancerIngress& entry : status) {
    list.push_back(entry.ip.empty() ? json{{"hostname", entry.hostname}} : json{{"ip", entry.ip}});
  }
  return list;
}

std::string describe_status(const LoadBalancerStatus& status) {
  std::vector<std::string> items;
  for (const LoadBalancerIngress& entry : status) {
    items.push_back(entry.ip.empty() ? entry.hostname : entry.ip);
  }
  return items.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(items, ","));
}

std::string ingress_path(const std::string& key) {
  const size_t slash = key.find('/');
  return fmt::format("/apis/networking.k8s.io/v1/namespaces/{}/ingresses/{}",
                     key.substr(0, slash), key.substr(slash + 1));
}

auto use_ec(boost::system::error_code& ec) {
  return asio::redirect_error(asio::use_awaitable, ec);
}

constexpr size_t kMaxIngressBody = 4 << 20;
constexpr int kConflictRetries = 3;

}  // namespace

namespace {

struct State : std::enable_shared_from_this<State> {
  State(asio::io_context& io, StatusWriterOptions o, std::shared_ptr<asio::ssl::context> context)
      : io(io),
        options(std::move(o)),
        tokens(std::make_shared<TokenSource>(options.config, milliseconds(60'000))),
        connection(io.get_executor(), std::move(context), options.config, tokens,
                   options.user_agent, options.request_timeout),
        wake(io),
        backoff(options.backoff) {}

  asio::io_context& io;
  StatusWriterOptions options;
  std::shared_ptr<TokenSource> tokens;
  KubeConnection connection;
  asio::steady_timer wake;  // the sync loop sleeps on it; cancel() wakes it
  Backoff backoff;

  std::optional<LoadBalancerStatus> desired;
  std::map<std::string, LoadBalancerStatus> current;
  std::map<std::string, LoadBalancerStatus> written;  // our writes the watch has not shown yet
  bool leader = false;
  bool stopped = false;
  bool clearing = false;
  bool running = false;
  bool dirty = true;  // something changed since the loop last looked
  std::function<void()> clear_done;
  std::string last_failure;

  void poke() {
    dirty = true;
    if (running) {
      wake.cancel();
    }
  }

  asio::awaitable<KubeResponse> read(const std::string& key, std::string& body) {
    body.clear();
    co_return co_await connection.get(ingress_path(key), options.request_timeout,
                                      keep_body(body, kMaxIngressBody));
  }

  // GET + PUT …/status with 409 retries. True when written (or when there is nothing to
  // write any more: the Ingress is gone, or already shows `want`).
  asio::awaitable<bool> write(const std::string& key, const LoadBalancerStatus& want) {
    std::string body;
    auto discard = [](std::string_view) { return true; };
    for (int attempt = 0; attempt <= kConflictRetries; ++attempt) {
      KubeResponse got = co_await read(key, body);
      if (got.status == 404) {
        co_return true;
      }
      if (got.status != 200) {
        last_failure = fmt::format("reading Ingress {}: {}", key, describe_answer(got));
        co_return false;
      }
      json ingress = json::parse(body, nullptr, false);
      if (!ingress.is_object()) {
        last_failure = fmt::format("reading Ingress {}: the answer is not a JSON object", key);
        co_return false;
      }
      if (decode_load_balancer_status(ingress) == want) {
        co_return true;
      }
      ingress["status"]["loadBalancer"]["ingress"] = status_json(want);
      KubeResponse put =
          co_await connection.request("PUT", ingress_path(key) + "/status", "application/json",
                                      ingress.dump(), options.request_timeout, discard);
      if (put.status == 200) {
        spdlog::info("status: Ingress {} now shows {}", key, describe_status(want));
        co_return true;
      }
      if (put.status == 404) {
        co_return true;
      }
      if (put.status != 409) {
        last_failure = fmt::format("writing the status of Ingress {}: {}", key, describe_answer(put));
        co_return false;
      }
      spdlog::debug("status: Ingress {} changed while its status was written (409); reading it "
                    "again",
                    key);
    }
    last_failure = fmt::format("writing the status of Ingress {}: still conflicting after {} "
                               "tries",
                               key, kConflictRetries + 1);
    co_return false;
  }

  static asio::awaitable<void> sync_loop(std::shared_ptr<State> self) {
    self->running = true;
    while (!self->stopped && !self->clearing) {
      self->dirty = false;
      bool failed = false;
      if (self->leader && self->desired) {
        const LoadBalancerStatus want = *self->desired;
        for (const std::string& key : status_to_write(self->current, want, self->written)) {
          if (self->stopped || self->clearing || !self->leader || self->desired != want) {
            break;
          }
          bool ok = false;
          try {
            ok = co_await self->write(key, want);
          } catch (const std::exception& e) {
            self->last_failure = std::string("unexpected error: ") + e.what();
          }
          if (ok) {
            self->written[key] = want;
          } else {
            failed = true;
            break;
          }
        }
      }
      if (self->stopped || self->clearing) {
        break;
      }
      boost::system::error_code ec;
      if (failed) {
        const milliseconds delay = self->backoff.next(Clock::now());
        spdlog::warn("status: {}; trying again in {} ms", self->last_failure, delay.count());
        self->wake.expires_after(delay);
        co_await self->wake.async_wait(use_ec(ec));
        continue;
      }
      if (self->dirty) {
        continue;  // changed while writing
      }
      // Nothing to do until poked (set_* or stop).
      self->wake.expires_at(Clock::time_point::max());
      co_await self->wake.async_wait(use_ec(ec));
    }
    self->running = false;
    if (self->clearing && !self->stopped && self->clear_done) {
      asio::co_spawn(self->io, clear_all(self), asio::detached);
    }
  }

  static asio::awaitable<void> clear_all(std::shared_ptr<State> self) {
    auto discard = [](std::string_view) { return true; };
    size_t cleared = 0;
    // A copy: every patch comes back as an event that replaces `current` meanwhile.
    std::vector<std::string> keys;
    for (const auto& [key, status] : self->current) {
      if (!status.empty()) {
        keys.push_back(key);
      }
    }
    for (const std::string& key : keys) {
      if (self->stopped) {
        break;
      }
      // Merge patch: null removes the list (RFC 7386).
      const json patch = {{"status", {{"loadBalancer", {{"ingress", nullptr}}}}}};
      KubeResponse r = co_await self->connection.request(
          "PATCH", ingress_path(key) + "/status", "application/merge-patch+json", patch.dump(),
          self->options.request_timeout, discard);
      if (r.status == 200) {
        ++cleared;
      } else if (r.status != 404) {
        spdlog::warn("status: clearing the status of Ingress {} on shutdown failed: {}", key,
                     describe_answer(r));
      }
    }
    spdlog::info("status: cleared the addresses of {} Ingresses on shutdown", cleared);
    auto done = std::move(self->clear_done);
    self->stopped = true;
    if (done) {
      done();
    }
  }
};

class StatusWriterImpl final : public StatusWriter {
 public:
  explicit StatusWriterImpl(std::shared_ptr<State> state) : state_(std::move(state)) {
    asio::co_spawn(state_->io, State::sync_loop(state_), asio::detached);
  }
  ~StatusWriterImpl() override { stop(); }

  void set_desired(std::optional<LoadBalancerStatus> desired) override {
    if (desired != state_->desired) {
      if (desired) {
        spdlog::info("status: the address of Lintel's Ingresses is {}", describe_status(*desired));
      }
      state_->desired = std::move(desired);
      state_->poke();
    }
  }

  void set_ingresses(std::map<std::string, LoadBalancerStatus> current) override {
    // A write is acknowledged (or overtaken by someone else's) once the watch shows any
    // new status for that Ingress.
    for (auto it = state_->written.begin(); it != state_->written.end();) {
      auto now = current.find(it->first);
      auto before = state_->current.find(it->first);
      const bool gone = now == current.end();
      const bool moved = !gone && (before == state_->current.end() || before->second != now->second);
      it = gone || moved ? state_->written.erase(it) : std::next(it);
    }
    if (current != state_->current) {
      state_->current = std::move(current);
      state_->poke();
    }
  }

  void set_leader(bool leader) override {
    if (leader != state_->leader) {
      state_->leader = leader;
      state_->written.clear();
      state_->poke();
    }
  }

  void clear(std::function<void()> done) override {
    if (state_->stopped || state_->clearing || !state_->leader) {
      done();
      return;
    }
    state_->clearing = true;
    state_->clear_done = std::move(done);
    if (state_->running) {
      state_->wake.cancel();  // the loop ends after its current write, then clears
    } else {
      asio::co_spawn(state_->io, State::clear_all(state_), asio::detached);
    }
  }

  void stop() override {
    if (state_->stopped) {
      return;
    }
    state_->stopped = true;
    state_->clear_done = nullptr;
    state_->connection.cancel();
    state_->wake.cancel();
  }


 private:
  std::shared_ptr<State> state_;
};

}  // namespace

std::unique_ptr<StatusWriter> StatusWriter::create(asio::io_context& io,
                                                   StatusWriterOptions options,
                                                   std::string& error) {
  auto context = make_client_context(options.config, error);
  if (!context) {
    return nullptr;
  }
  return std::make_unique<StatusWriterImpl>(
      std::make_shared<State>(io, std::move(options), std::move(context)));
}

}  // namespace lintel::ingress
