#pragma once
// The deadline of the operations on one socket: beast::basic_stream's timeout semantics
// with a timer that is armed far less often.
//
// Semantics (those of beast::tcp_stream, which this replaces on the request path):
// expires_after() sets an absolute expiry that every later operation shares until it is
// set again. An operation pending when the expiry passes, or started after it passed,
// fails with beast::error::timeout and the socket is closed. Time spent with no operation
// pending never times anything out by itself (an expiry that passed then fails the next
// operation).
//
// Cost: beast::tcp_stream arms its timer for every read and write and cancels it when the
// operation completes (a timer-queue insert and removal, a posted cancellation and a
// handler, ~2,500 instructions per proxied request, docs/benchmarks.md). Here the timer
// stays armed across operations and is re-armed only when an expiry earlier than the one
// it waits for is set; when it fires for an expiry that has since moved later, it waits
// again. Deadlines move later with every request (now + timeout), so a keep-alive
// connection re-arms its timer about once per timeout period instead of several times
// per request.
//
// Use: start() right before starting an operation on the socket or on a stream layered
// on it (TLS), finish(ec) when it completes. One operation at a time per Deadline (true of
// a session: the client side and the upstream side each have their own).
//
// Thread: the socket's executor (the worker thread).

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <cstdint>
#include <memory>

#include "proxy/io.h"

namespace lintel::proxy {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  // `socket` is closed when an operation times out; it must outlive this object.
  Deadline(const Executor& executor, Socket& socket)
      : state_(std::make_shared<State>(executor, socket)) {}
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  void expires_after(Clock::duration timeout) { state_->expiry = Clock::now() + timeout; }
  void expires_never() { state_->expiry = Clock::time_point::max(); }

  // An operation starts.
  void start() {
    State& s = *state_;
    s.pending = true;
    if (s.expiry < s.armed) arm(s);  // also an expiry already passed: fires at once
  }
  // The operation completed with `ec`; replaced by beast::error::timeout when it timed out.
  void finish(boost::system::error_code& ec) {
    State& s = *state_;
    s.pending = false;
    if (s.timed_out) {
      s.timed_out = false;
      ec = boost::beast::error::timeout;
    }
  }

 private:
  struct State : std::enable_shared_from_this<State> {
    State(const Executor& executor, Socket& s) : timer(executor), socket(&s) {}
    Timer timer;
    Socket* socket;
    Clock::time_point expiry = Clock::time_point::max();
    Clock::time_point armed = Clock::time_point::max();  // what the timer waits for; max: idle
    uint64_t generation = 0;  // of the current wait: a completion already queued is stale
    bool pending = false;
    bool timed_out = false;
  };

  static void arm(State& s) {
    s.armed = s.expiry;
    const uint64_t generation = ++s.generation;
    s.timer.expires_at(s.expiry);  // cancels the previous wait (completes as aborted)
    s.timer.async_wait([weak = s.weak_from_this(), generation](
                           const boost::system::error_code& ec) { fired(weak, generation, ec); });
  }

  static void fired(const std::weak_ptr<State>& weak, uint64_t generation,
                    const boost::system::error_code& ec) {
    if (ec == boost::asio::error::operation_aborted) return;  // re-armed, or destroyed
    const auto s = weak.lock();
    if (!s || generation != s->generation) return;
    s->armed = Clock::time_point::max();
    if (!s->pending || s->expiry == Clock::time_point::max()) return;  // start() re-arms
    if (Clock::now() < s->expiry) {
      arm(*s);  // the expiry moved later while the timer waited
      return;
    }
    s->timed_out = true;
    boost::system::error_code ignored;
    s->socket->close(ignored);  // the pending operation completes with operation_aborted
  }

  std::shared_ptr<State> state_;
};

}  // namespace lintel::proxy
