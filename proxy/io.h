#pragma once
// The I/O types of the request path, all on the worker's io_context executor type rather
// than Asio's defaults (asio::any_io_executor). The type-erased executor is copied,
// compared and asked for work tracking by every handler, work guard and coroutine step
// (~3,600 instructions per proxied request, measured with callgrind: docs/benchmarks.md);
// the concrete one is a pointer, and lets Asio take its io_context fast paths.
//
// Every socket a session touches (accepted, pooled, connected) is a Socket, so they move
// between the listener, the session and the pool without conversion.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace lintel::proxy {

using Executor = boost::asio::io_context::executor_type;
using Socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>;
using Acceptor = boost::asio::basic_socket_acceptor<boost::asio::ip::tcp, Executor>;
using Timer = boost::asio::basic_waitable_timer<
    std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, Executor>;
template <class T>
using Awaitable = boost::asio::awaitable<T, Executor>;

}  // namespace lintel::proxy
