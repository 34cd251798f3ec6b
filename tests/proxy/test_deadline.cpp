// Deadline: beast::tcp_stream's timeout semantics with a lazily re-armed timer. Loopback
// socket pairs; the margins between expiries and events are wide (tenths of seconds against
// seconds) so a loaded machine does not change the outcome.

#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <optional>

#include "proxy/deadline.h"

namespace lintel::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using namespace std::chrono_literals;

struct Pair {
  explicit Pair(asio::io_context& io) : client(io), server(io) {
    asio::basic_socket_acceptor<tcp, Executor> acceptor(
        io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    client.connect(acceptor.local_endpoint());
    server = acceptor.accept();
  }
  Socket client;
  Socket server;
};

// Reads one byte from `pair.client` under `deadline`; the result lands in `result`.
void read_one(Deadline& deadline, Pair& pair, char& byte, std::optional<error_code>& result) {
  deadline.start();
  pair.client.async_read_some(asio::buffer(&byte, 1), [&](error_code ec, size_t) {
    deadline.finish(ec);
    result = ec;
  });
}

TEST(Deadline, PendingOperationTimesOutAndSocketIsClosed) {
  asio::io_context io;
  Pair pair(io);
  Deadline deadline(io.get_executor(), pair.client);
  deadline.expires_after(50ms);
  char byte = 0;
  std::optional<error_code> result;
  read_one(deadline, pair, byte, result);
  io.run_for(10s);
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, boost::beast::error::timeout);
  EXPECT_FALSE(pair.client.is_open());
}

// The timer waits for the first expiry; a later one set before it fires is honoured: the
// operation completes when its bytes arrive, after the first expiry.
TEST(Deadline, ExpiryMovedLaterIsHonoured) {
  asio::io_context io;
  Pair pair(io);
  Deadline deadline(io.get_executor(), pair.client);
  char byte = 0;
  std::optional<error_code> result;

  // Arm the timer for +100 ms with a first operation that completes at once.
  deadline.expires_after(100ms);
  asio::write(pair.server, asio::buffer("a", 1));
  read_one(deadline, pair, byte, result);
  io.run_one_for(10s);
  ASSERT_TRUE(result);
  ASSERT_FALSE(*result);

  // Then 5 s, with the bytes 400 ms later: past the first expiry, well before the second.
  result.reset();
  deadline.expires_after(5s);
  read_one(deadline, pair, byte, result);
  Timer later(io.get_executor(), 400ms);
  later.async_wait([&](error_code) { asio::write(pair.server, asio::buffer("b", 1)); });
  while (!result && io.run_one_for(10s)) {
  }
  ASSERT_TRUE(result);
  EXPECT_FALSE(*result) << result->message();
  EXPECT_EQ(byte, 'b');
  EXPECT_TRUE(pair.client.is_open());
}

// An expiry that passes with no operation pending closes nothing; the next operation
// fails with timeout, as with beast::tcp_stream.
TEST(Deadline, ExpiryPassedWhileIdleFailsTheNextOperation) {
  asio::io_context io;
  Pair pair(io);
  Deadline deadline(io.get_executor(), pair.client);
  char byte = 0;
  std::optional<error_code> result;

  deadline.expires_after(50ms);
  asio::write(pair.server, asio::buffer("a", 1));
  read_one(deadline, pair, byte, result);  // arms the timer for +50 ms, completes at once
  io.run_one_for(10s);
  ASSERT_TRUE(result && !*result);

  Timer pause(io.get_executor(), 300ms);
  pause.async_wait([](error_code) {});
  io.run_for(1s);  // the deadline timer fires meanwhile, with nothing pending
  EXPECT_TRUE(pair.client.is_open());

  result.reset();
  read_one(deadline, pair, byte, result);
  io.restart();
  while (!result && io.run_one_for(10s)) {
  }
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, boost::beast::error::timeout);
  EXPECT_FALSE(pair.client.is_open());
}

// expires_never(): nothing times out; the timer armed before does not close the socket.
TEST(Deadline, NeverDoesNotTimeOut) {
  asio::io_context io;
  Pair pair(io);
  Deadline deadline(io.get_executor(), pair.client);
  char byte = 0;
  std::optional<error_code> result;
  deadline.expires_after(50ms);
  asio::write(pair.server, asio::buffer("a", 1));
  read_one(deadline, pair, byte, result);
  io.run_one_for(10s);
  ASSERT_TRUE(result && !*result);

  result.reset();
  deadline.expires_never();
  read_one(deadline, pair, byte, result);
  Timer later(io.get_executor(), 300ms);
  later.async_wait([&](error_code) { asio::write(pair.server, asio::buffer("b", 1)); });
  while (!result && io.run_one_for(10s)) {
  }
  ASSERT_TRUE(result);
  EXPECT_FALSE(*result) << result->message();
  EXPECT_TRUE(pair.client.is_open());
}

// A cancelled operation (the drain) reports operation_aborted, not a timeout.
TEST(Deadline, CancelIsNotATimeout) {
  asio::io_context io;
  Pair pair(io);
  Deadline deadline(io.get_executor(), pair.client);
  char byte = 0;
  std::optional<error_code> result;
  deadline.expires_after(5s);
  read_one(deadline, pair, byte, result);
  asio::post(io, [&] { pair.client.cancel(); });
  while (!result && io.run_one_for(10s)) {
  }
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, asio::error::operation_aborted);
  EXPECT_TRUE(pair.client.is_open());
}

}  // namespace
}  // namespace lintel::proxy
