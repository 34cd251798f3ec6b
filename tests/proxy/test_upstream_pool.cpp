// UpstreamPool on its own: LIFO reuse, the per-endpoint cap, and a list that runs empty
// and fills again (its entry is kept so that a take()/put() pair allocates nothing).

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "proxy/upstream_pool.h"

namespace lintel::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// An open socket (not connected: the pool only needs a descriptor). Its native handle
// tells which one the pool handed back.
UpstreamPool::Socket open_socket(asio::io_context& io) {
  UpstreamPool::Socket s(io);
  s.open(tcp::v4());
  return s;
}

TEST(UpstreamPool, LastParkedFirstOutAndEmptyListsRefill) {
  asio::io_context io;
  UpstreamPool pool(2, std::chrono::seconds(60));
  EXPECT_FALSE(pool.take("10.0.0.1:80", true));

  UpstreamPool::Socket a = open_socket(io);
  UpstreamPool::Socket b = open_socket(io);
  const int fd_a = a.native_handle();
  const int fd_b = b.native_handle();
  pool.put("10.0.0.1:80", std::move(a));
  pool.put("10.0.0.1:80", std::move(b));
  EXPECT_EQ(pool.idle_count(), 2u);
  EXPECT_FALSE(pool.take("10.0.0.2:80", true));  // another endpoint

  auto first = pool.take("10.0.0.1:80", true);  // parked < kTrustedIdle: no liveness check
  ASSERT_TRUE(first);
  EXPECT_EQ(first->native_handle(), fd_b);
  auto second = pool.take("10.0.0.1:80", true);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->native_handle(), fd_a);
  EXPECT_FALSE(pool.take("10.0.0.1:80", true));
  EXPECT_EQ(pool.idle_count(), 0u);

  // The emptied list fills again; the cap drops the oldest.
  pool.put("10.0.0.1:80", std::move(*second));
  pool.put("10.0.0.1:80", std::move(*first));
  UpstreamPool::Socket c = open_socket(io);
  const int fd_c = c.native_handle();
  pool.put("10.0.0.1:80", std::move(c));
  EXPECT_EQ(pool.idle_count(), 2u);
  auto got = pool.take("10.0.0.1:80", true);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->native_handle(), fd_c);
  got = pool.take("10.0.0.1:80", true);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->native_handle(), fd_b);
  EXPECT_FALSE(pool.take("10.0.0.1:80", true));
}

TEST(UpstreamPool, SweepClosesExpiredAndForgetsEmptyEndpoints) {
  asio::io_context io;
  UpstreamPool pool(4, std::chrono::milliseconds(0));  // everything is expired at once
  pool.put("10.0.0.1:80", open_socket(io));
  pool.put("10.0.0.1:80", open_socket(io));
  pool.put("10.0.0.3:80", open_socket(io));
  EXPECT_EQ(pool.idle_count(), 3u);
  pool.sweep();
  EXPECT_EQ(pool.idle_count(), 0u);
  EXPECT_FALSE(pool.take("10.0.0.1:80", true));
}

// Without the retry (can_retry false) a connection is checked: one the peer closed is
// dropped, never handed out.
TEST(UpstreamPool, ClosedByPeerIsNotHandedOutWithoutRetry) {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  UpstreamPool::Socket client(io);
  client.connect(acceptor.local_endpoint());
  tcp::socket server = acceptor.accept();
  UpstreamPool pool(4, std::chrono::seconds(60));
  pool.put("k", std::move(client));
  server.close();
  // The FIN arrives asynchronously on loopback; poll with a deadline.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  bool handed_out = true;
  while (std::chrono::steady_clock::now() < deadline) {
    auto got = pool.take("k", false);
    if (!got) {
      handed_out = false;
      break;
    }
    pool.put("k", std::move(*got));
  }
  EXPECT_FALSE(handed_out);
  EXPECT_EQ(pool.idle_count(), 0u);
}

}  // namespace
}  // namespace lintel::proxy
