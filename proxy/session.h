#pragma once
// The downstream session: one coroutine per accepted connection, serving its requests one
// after the other (so pipelined requests are answered in order), each forwarded to an
// upstream endpoint with both bodies streamed.
//
// Thread: the worker's thread.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace lintel::proxy {

class Worker;

boost::asio::awaitable<void> run_session(Worker& worker, boost::asio::ip::tcp::socket socket);

}  // namespace lintel::proxy
