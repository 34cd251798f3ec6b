#pragma once
// The downstream session: one coroutine per accepted connection, serving its requests one
// after the other (so pipelined requests are answered in order), each forwarded to an
// upstream endpoint with both bodies streamed. Plain HTTP and TLS connections run the same
// code (session.cpp).
//
// Thread: the worker's thread.

#include "proxy/io.h"

namespace lintel::proxy {

class Worker;

// A connection accepted on the HTTP listener.
Awaitable<void> run_session(Worker& worker, Socket socket);
// A connection accepted on the HTTPS listener: TLS handshake (certificate by SNI from the
// worker's current snapshot, under ProxyOptions::handshake_timeout), then the same session
// as run_session(), then close_notify.
Awaitable<void> run_tls_session(Worker& worker, Socket socket);

}  // namespace lintel::proxy
