#pragma once
// The downstream session: one coroutine per accepted connection, serving its requests one
// after the other (so pipelined requests are answered in order), each forwarded to an
// upstream endpoint with both bodies streamed. Plain HTTP and TLS connections run the same
// code (session.cpp).
//
// Thread: the worker's thread.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace lintel::proxy {

class Worker;

// A connection accepted on the HTTP listener.
boost::asio::awaitable<void> run_session(Worker& worker, boost::asio::ip::tcp::socket socket);
// A connection accepted on the HTTPS listener: TLS handshake (certificate by SNI from the
// worker's current snapshot, under ProxyOptions::handshake_timeout), then the same session
// as run_session(), then close_notify.
boost::asio::awaitable<void> run_tls_session(Worker& worker, boost::asio::ip::tcp::socket socket);

}  // namespace lintel::proxy
