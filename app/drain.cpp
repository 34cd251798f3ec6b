#include "app/drain.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "admin/admin_server.h"
#include "proxy/server.h"

namespace lintel::app {

namespace {

namespace asio = boost::asio;
using error_code = boost::system::error_code;
using Clock = std::chrono::steady_clock;
using Task = std::function<void(std::function<void()> done)>;

std::string signal_name(int signal) {
  switch (signal) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    default:
      return "signal " + std::to_string(signal);
  }
}

// "5s", "500ms": the form the flags take.
// "1 connection", "3 connections".
std::string connections_text(size_t n) {
  return fmt::format("{} connection{}", n, n == 1 ? "" : "s");
}

std::string format_duration(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? fmt::format("{}s", d.count() / 1000)
                               : fmt::format("{}ms", d.count());
}

class DrainImpl final : public Drain {
 public:
  DrainImpl(asio::io_context& io, const DrainOptions& options, proxy::Server& server,
            admin::AdminServer& admin, std::function<void()> stop)
      : io_(io),
        options_(options),
        server_(server),
        admin_(admin),
        stop_(std::move(stop)),
        signals_(io, SIGINT, SIGTERM),
        delay_timer_(io),
        deadline_timer_(io) {}

  void start() override { wait_for_signal(); }

  void add_shutdown_task(Task task) override {
    if (finished_) return;
    if (draining_) {
      run_task(task);
    } else {
      tasks_.push_back(std::move(task));
    }
  }

  int exit_code() const override { return exit_code_; }

 private:
  void wait_for_signal() {
    signals_.async_wait([this](const error_code& ec, int signal) {
      if (ec || finished_) return;
      if (!draining_) {
        first_signal(signal);
        wait_for_signal();
        return;
      }
      spdlog::warn("received {} again; exiting now, closing {} still open",
                   signal_name(signal), connections_text(server_.open_connections()));
      exit_code_ = kDrainExitInterrupted;
      finish();
    });
  }

  void first_signal(int signal) {
    draining_ = true;
    started_ = Clock::now();
    spdlog::info("received {}; draining: not ready now, {}, exiting by {} at the latest",
                 signal_name(signal),
                 options_.delay.count() > 0
                     ? fmt::format("accepting for {} more", format_duration(options_.delay))
                     : std::string("no longer accepting"),
                 format_duration(options_.timeout));
    admin_.set_ready(false);
    deadline_timer_.expires_after(options_.timeout);
    deadline_timer_.async_wait([this](const error_code& ec) {
      if (!ec) deadline_passed();
    });
    for (const Task& task : std::exchange(tasks_, {})) run_task(task);
    if (options_.delay.count() == 0) {
      stop_accepting();
      return;
    }
    delay_timer_.expires_after(options_.delay);
    delay_timer_.async_wait([this](const error_code& ec) {
      if (!ec) stop_accepting();
    });
  }

  void run_task(const Task& task) {
    ++pending_tasks_;
    // done() may come from any thread, more than once: the first call is posted here.
    auto called = std::make_shared<std::atomic<bool>>(false);
    auto done = [this, called, executor = io_.get_executor()] {
      if (called->exchange(true)) return;
      asio::post(executor, [this] {
        --pending_tasks_;
        maybe_finish();
      });
    };
    try {
      task(done);
    } catch (const std::exception& e) {
      spdlog::error("shutdown task failed: {}; not waiting for it", e.what());
      done();
    }
  }

  void stop_accepting() {
    if (finished_) return;
    spdlog::info("shutdown delay over: stopped accepting; {} open, closing when idle",
                 connections_text(server_.open_connections()));
    server_.begin_drain([this, executor = io_.get_executor()] {
      // A worker thread: the rest happens on the control thread.
      asio::post(executor, [this] {
        proxy_drained_ = true;
        maybe_finish();
      });
    });
  }

  void maybe_finish() {
    if (finished_ || !proxy_drained_) return;
    if (pending_tasks_ > 0) {
      if (!logged_waiting_) {
        logged_waiting_ = true;
        spdlog::info("every connection closed; waiting for {} shutdown tasks", pending_tasks_);
      }
      return;
    }
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_);
    spdlog::info("drained: every connection closed, {} ms after the signal", elapsed.count());
    finish();
  }

  void deadline_passed() {
    if (finished_) return;
    const size_t open = server_.open_connections();
    spdlog::warn("shutdown timeout of {} passed: closing {} still open{}",
                 format_duration(options_.timeout), connections_text(open),
                 pending_tasks_ > 0
                     ? fmt::format(", {} shutdown tasks not finished", pending_tasks_)
                     : std::string());
    finish();
  }

  void finish() {
    finished_ = true;
    delay_timer_.cancel();
    deadline_timer_.cancel();
    // The signals stay caught (a third one must not kill the process mid-cleanup); no
    // handler waits for them any more.
    signals_.cancel();
    stop_();
  }

  asio::io_context& io_;
  DrainOptions options_;
  proxy::Server& server_;
  admin::AdminServer& admin_;
  std::function<void()> stop_;
  asio::signal_set signals_;
  asio::steady_timer delay_timer_;
  asio::steady_timer deadline_timer_;
  std::vector<Task> tasks_;  // added before the first signal
  size_t pending_tasks_ = 0;
  bool draining_ = false;
  bool proxy_drained_ = false;
  bool finished_ = false;
  bool logged_waiting_ = false;
  Clock::time_point started_;
  int exit_code_ = kDrainExitOk;
};

}  // namespace

std::unique_ptr<Drain> Drain::create(asio::io_context& io, const DrainOptions& options,
                                     proxy::Server& server, admin::AdminServer& admin,
                                     std::function<void()> stop) {
  return std::make_unique<DrainImpl>(io, options, server, admin, std::move(stop));
}

}  // namespace lintel::app
