#pragma once
// The graceful drain on SIGTERM / SIGINT (docs/configuration.md "Shutdown"):
//
//   first signal   /readyz turns 503; shutdown tasks start; the proxy keeps accepting and
//                  serving for `delay` (the load balancer deregisters the Pod meanwhile)
//   + delay        proxy::Server::begin_drain(): listeners closed, idle keep-alive
//                  connections closed, Connection: close on every response started from
//                  now on, requests in flight finish
//   all done       no downstream connection left and every shutdown task done: the stop
//                  callback runs (control loop, ticket timer, admin, proxy), exit code 0
//   + timeout      (counted from the first signal) whatever is left is closed: exit code 0
//   second signal  at any point of the drain: stop at once, exit code 1
//
// The routes keep being updated while draining: the control loop is stopped by the stop
// callback, at the very end.
//
// Thread: the control thread. Everything runs on its io_context (asio signal_set and
// steady timers, no sleeps); the proxy's "drained" report is posted to it.

#include <chrono>
#include <functional>
#include <memory>

namespace boost::asio {
class io_context;
}

namespace lintel::proxy {
class Server;
}

namespace lintel::admin {
class AdminServer;
}

namespace lintel::app {

struct DrainOptions {
  // From the first signal to closing the listeners; 0: close them at once.
  std::chrono::milliseconds delay{5'000};
  // From the first signal to exiting whatever is left; must be longer than `delay`.
  std::chrono::milliseconds timeout{30'000};
};

// Exit codes of a drain.
constexpr int kDrainExitOk = 0;           // drained, or the timeout cut what was left
constexpr int kDrainExitInterrupted = 1;  // a second signal cut the drain short

class Drain {
 public:
  // `stop` runs once, on the control thread, at the end of the drain (all done, timeout,
  // or second signal): it stops the control loop, the timers, admin and the proxy, and
  // makes io.run() return. `server` and `admin` must outlive the Drain.
  static std::unique_ptr<Drain> create(boost::asio::io_context& io, const DrainOptions& options,
                                       proxy::Server& server, admin::AdminServer& admin,
                                       std::function<void()> stop);
  virtual ~Drain() = default;

  // Starts listening for SIGTERM and SIGINT. Control thread.
  virtual void start() = 0;

  // Work started at the first signal, in parallel with the shutdown delay (clearing the
  // Ingress status, releasing a leader lease); the process does not exit before every task
  // has called done() or the shutdown timeout passed. A task added during a drain starts at
  // once. Control thread; done() may be called from any thread (only its first call
  // counts) as long as the control io_context exists.
  virtual void add_shutdown_task(std::function<void(std::function<void()> done)> task) = 0;

  // Once the stop callback has run: kDrainExitOk or kDrainExitInterrupted.
  virtual int exit_code() const = 0;
};

}  // namespace lintel::app
