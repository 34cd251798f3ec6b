// kube-standin: a stand-in Kubernetes API server for tests and demos. A real HTTPS server
// (bearer token, HTTP/1.1 keep-alive) that keeps objects in memory and in DIR/state.json
// and speaks the list/watch protocol closely enough for the real kubectl and for Lintel's
// API client. Everything about objects is in standin/api.cpp; this file owns the sockets,
// TLS, authentication, the watch streams and the test knobs.
//
// One thread, one io_context: every handler runs to completion between awaits, so a
// change is queued to every open watch in the same turn that made it and nothing locks.
// A slow watcher only fills its own queue (bounded; past the bound it is disconnected).

#include <sys/socket.h>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "standin/api.h"
#include "standin/credentials.h"
#include "standin/store.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using Stream = beast::ssl_stream<beast::tcp_stream>;
using namespace std::chrono_literals;

namespace lintel::standin {
namespace {

constexpr char kHelp[] = R"(kube-standin: a stand-in Kubernetes API server for tests and demos.

  kube-standin --listen 127.0.0.1:PORT --dir DIR

Creates (or reuses) in DIR: ca.crt/ca.key, server.crt/server.key (127.0.0.1, ::1,
localhost), token, kubeconfig (server, certificate-authority, token; current context set)
and state.json (every object and the resourceVersion counter, rewritten atomically after
every change and loaded at start: a restarted stand-in keeps its objects, but not its watch
history, so a WATCH from an older resourceVersion gets 410). Prints
"listening on https://HOST:PORT" once ready (PORT 0 picks a free port). Runs until killed.

  kubectl --kubeconfig DIR/kubeconfig create -f examples/

Serves HTTPS only, HTTP/1.1 keep-alive, "Authorization: Bearer TOKEN" on every request
(401 otherwise, knobs included). Kinds: Namespace, Service, Secret, ConfigMap, Event (v1);
Ingress, IngressClass (networking.k8s.io/v1); EndpointSlice (discovery.k8s.io/v1); Lease
(coordination.k8s.io/v1); Event (events.k8s.io/v1). Verbs: get, list (labelSelector,
fieldSelector, limit/continue, resourceVersion[Match]), watch (resourceVersion,
allowWatchBookmarks, timeoutSeconds, sendInitialEvents), create, update, patch (merge,
JSON, strategic (approximated), apply (approximated as merge)), delete, deletecollection;
/status for Ingress, Service and Namespace. No OpenAPI: kubectl validates nothing
client-side. Events are one store in two shapes: an events.k8s.io/v1 Event is also a v1
Event (converted as the real server does, field selectors included) and the reverse;
events.k8s.io/v1 creates and updates are validated as there (422 Invalid). `kubectl get`
gets the real server's Table columns for Ingress, Lease and Event (other kinds: NAME, AGE).
--verbose logs one line per request, watches included: "METHOD TARGET → STATUS".

Knobs (token required; JSON answers):
  POST /_standin/expire-watches   every open watch gets an ERROR event (Status 410
                                  Expired), then its response ends      {"expired": N}
  POST /_standin/drop-watches     every watch connection is closed abruptly, mid-stream
                                  (no terminating chunk, no TLS close_notify)  {"dropped": N}
  POST /_standin/compact          watch history dropped: a WATCH from any older
                                  resourceVersion gets 410; outstanding continue tokens
                                  get 410          {"compacted": true, "resourceVersion": "N"}
  POST /_standin/rotate-token     new token in DIR/token and DIR/kubeconfig; the old one
                                  gets 401 from now on                     {"token": "..."}
  POST /_standin/fail?status=N&count=K[&path=PREFIX]
                                  the next K API requests (whose path starts with PREFIX)
                                  fail with status N and a Status body (429: Retry-After 1);
                                  count=0 clears every rule     {"status": N, "count": K, ...}
  POST /_standin/bookmark-interval?ms=N
                                  BOOKMARK period for watches with allowWatchBookmarks=true
                                  (default 1000)                             {"ms": N}
  GET  /_standin/state            {"resourceVersion", "historyStart", "objects",
                                   "watches": [{"watch", "queued"}], "connections"})";

constexpr size_t kHeaderLimit = 64 * 1024;
constexpr size_t kBodyLimit = 8 * 1024 * 1024;
constexpr auto kHandshakeTimeout = 10s;
constexpr auto kIdleTimeout = 120s;  // a kept-alive connection between requests
constexpr auto kReadTimeout = 30s;   // the rest of a request once it started
constexpr auto kWriteTimeout = 30s;  // any write, watch events included
constexpr auto kShutdownTimeout = 2s;
constexpr size_t kMaxConnections = 4096;
constexpr size_t kWatchBatchBytes = 256 * 1024;

auto use_ec(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

void log(const std::string& line) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
  std::fprintf(stderr, "%s kube-standin: %s\n", stamp, line.c_str());
}

struct Settings {
  std::string listen = "127.0.0.1:6443";
  std::string dir;
  size_t history = 10000;
  size_t watch_queue_events = 10000;
  size_t watch_queue_bytes = 64 * 1024 * 1024;
  uint64_t bookmark_ms = 1000;
  bool verbose = false;
};

// One open watch. Owned by its connection's coroutine; listed in Server::watchers_ while
// it streams, so changes and knobs can reach it.
struct Watcher {
  enum class End { kNone, kExpire, kDrop, kOverflow, kPeerGone };

  Watcher(asio::any_io_executor executor, WatchPlan p) : plan(std::move(p)), wake(executor) {}

  // Events are shared between the watches that see them: a change is serialized once.
  using Event = std::shared_ptr<const std::string>;

  void push(Event event, size_t max_events, size_t max_bytes) {
    if (end != End::kNone) {
      return;
    }
    if (queue.size() >= max_events || queued_bytes + event->size() > max_bytes) {
      // Too far behind: the real server also drops a watcher it cannot keep up with; the
      // client rewatches from its last resourceVersion. Closed now, not after the write it
      // is stuck in times out.
      end = End::kOverflow;
      close_socket();
    } else {
      queued_bytes += event->size();
      queue.push_back(std::move(event));
    }
    wake.cancel();
  }

  // Ends the connection at once, aborting a pending write (drop-watches, overflow).
  void close_socket() {
    if (socket != nullptr) {
      error_code ignored;
      socket->shutdown(tcp::socket::shutdown_both, ignored);
      socket->close(ignored);
    }
  }

  WatchPlan plan;
  tcp::socket* socket = nullptr;  // the connection's, valid while the watch is listed
  std::deque<Event> queue;
  size_t queued_bytes = 0;
  asio::steady_timer wake;
  End end = End::kNone;
  bool finished = false;
  std::chrono::steady_clock::time_point next_bookmark;
};

struct FailRule {
  unsigned status;
  uint64_t remaining;
  std::string prefix;
};

class Server {
 public:
  Server(asio::io_context& io, ssl::context& tls, Settings settings, Store& store, Api& api,
         Credentials& credentials, std::string server_url)
      : io_(io),
        tls_(tls),
        settings_(std::move(settings)),
        store_(store),
        api_(api),
        credentials_(credentials),
        server_url_(std::move(server_url)) {
    store_.set_listener([this](const Change& change) { on_change(change); });
  }

  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
    for (;;) {
      error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(use_ec(ec));
      if (!acceptor.is_open()) {
        co_return;
      }
      if (ec) {
        // Out of descriptors and the like: pause rather than spin.
        asio::steady_timer pause(acceptor.get_executor(), 50ms);
        co_await pause.async_wait(use_ec(ec));
        continue;
      }
      if (connections_ >= kMaxConnections) {
        socket.close(ec);
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      asio::co_spawn(io_, serve(std::move(socket)), [](std::exception_ptr e) {
        if (!e) {
          return;
        }
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log(std::string("connection ended by exception: ") + ex.what());
        }
      });
    }
  }

 private:
  // ---- one connection
  asio::awaitable<void> serve(tcp::socket socket) {
    connections_++;
    struct Count {
      size_t& n;
      ~Count() { n--; }
    } count{connections_};
    Stream stream(std::move(socket), tls_);
    error_code ec;
    beast::get_lowest_layer(stream).expires_after(kHandshakeTimeout);
    co_await stream.async_handshake(ssl::stream_base::server, use_ec(ec));
    if (ec) {
      co_return;
    }
    beast::flat_buffer buffer(kHeaderLimit + kBodyLimit);
    bool abrupt = false;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(kHeaderLimit);
      parser.body_limit(kBodyLimit);
      beast::get_lowest_layer(stream).expires_after(kIdleTimeout);
      co_await http::async_read_header(stream, buffer, parser, use_ec(ec));
      if (!ec && !parser.is_done()) {
        beast::get_lowest_layer(stream).expires_after(kReadTimeout);
        co_await http::async_read(stream, buffer, parser, use_ec(ec));
      }
      if (ec == http::error::body_limit || ec == http::error::header_limit) {
        const bool body = ec == http::error::body_limit;
        co_await write_reply(
            stream,
            status_reply(body ? 413 : 431, body ? "RequestEntityTooLarge" : "BadRequest",
                         body ? "the request body is larger than 8 MiB"
                              : "the request header is larger than 64 KiB"),
            false, false);
        break;
      }
      if (ec) {
        abrupt = ec != http::error::end_of_stream;
        break;
      }
      auto& req = parser.get();
      Request request{std::string(req.method_string()), std::string(req.target()),
                      std::string(req[http::field::content_type]),
                      std::string(req[http::field::accept]), std::move(req.body())};
      request.user_agent = std::string(req[http::field::user_agent]);
      const bool keep_alive = req.keep_alive();
      const std::string authorization(req[http::field::authorization]);
      auto outcome = handle(request, authorization);
      if (auto* reply = std::get_if<Reply>(&outcome)) {
        log_request(request, reply->status);
        if (!co_await write_reply(stream, *reply, keep_alive, request.method == "HEAD")) {
          abrupt = true;
          break;
        }
        if (!keep_alive) {
          break;
        }
        continue;
      }
      auto& plan = std::get<WatchPlan>(outcome);
      log_request(request, 200);  // the status line of the stream that starts now
      const auto result = co_await stream_watch(stream, std::move(plan));
      if (result != WatchResult::kKeepAlive || !keep_alive) {
        abrupt = result == WatchResult::kAbrupt;
        break;
      }
    }
    if (!abrupt) {
      beast::get_lowest_layer(stream).expires_after(kShutdownTimeout);
      co_await stream.async_shutdown(use_ec(ec));
    }
    beast::get_lowest_layer(stream).socket().close(ec);
  }

  // --verbose: one line per request, watches included, in one format that tests parse:
  // "METHOD TARGET → STATUS (USER-AGENT)" (TARGET as received, query included; for a
  // watch the status its stream starts with, logged when it starts; the user agent tells
  // Lintel's calls from kubectl's).
  void log_request(const Request& request, unsigned status) const {
    if (settings_.verbose) {
      log(request.method + " " + request.target + " → " + std::to_string(status) + " (" +
          request.user_agent + ")");
    }
  }

  asio::awaitable<bool> write_reply(Stream& stream, const Reply& reply, bool keep_alive,
                                    bool head) {
    http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
    res.set(http::field::content_type, reply.content_type);
    res.set(http::field::cache_control, "no-cache, private");
    for (const auto& [name, value] : reply.headers) {
      res.set(name, value);
    }
    res.body() = reply.body;
    res.keep_alive(keep_alive);
    res.prepare_payload();
    if (head) {
      res.body().clear();  // the head keeps the Content-Length of the GET answer
    }
    error_code ec;
    beast::get_lowest_layer(stream).expires_after(kWriteTimeout);
    co_await http::async_write(stream, res, use_ec(ec));
    co_return !ec;
  }

  std::variant<Reply, WatchPlan> handle(const Request& request, const std::string& authorization) {
    if (authorization != "Bearer " + credentials_.token) {
      return status_reply(401, "Unauthorized", "Unauthorized");
    }
    const std::string path = request.target.substr(0, request.target.find('?'));
    if (path.starts_with("/_standin/")) {
      return knob(request, path);
    }
    for (FailRule& rule : fail_rules_) {
      if (rule.remaining > 0 && path.starts_with(rule.prefix)) {
        rule.remaining--;
        Reply reply = status_reply(rule.status, reason_for(rule.status),
                                   "injected failure (kube-standin /_standin/fail)",
                                   rule.status == 429 ? json{{"retryAfterSeconds", 1}} : json());
        if (rule.status == 429 || rule.status == 503) {
          reply.headers.emplace_back("Retry-After", "1");
        }
        log("failing " + request.method + " " + request.target + " with " +
            std::to_string(rule.status));
        return reply;
      }
    }
    std::erase_if(fail_rules_, [](const FailRule& r) { return r.remaining == 0; });
    return api_.handle(request);
  }

  // ---- knobs
  Reply knob(const Request& request, const std::string& path) {
    const std::string name = path.substr(std::string("/_standin/").size());
    const auto query = parse_query(request.target.find('?') == std::string::npos
                                       ? std::string()
                                       : request.target.substr(request.target.find('?') + 1));
    const auto param = [&](const char* key) {
      const auto it = query.find(key);
      return it == query.end() ? std::string() : it->second;
    };
    const auto number = [&](const char* key) -> std::optional<uint64_t> {
      try {
        size_t used = 0;
        const std::string text = param(key);
        const uint64_t n = std::stoull(text, &used);
        return used == text.size() ? std::optional<uint64_t>(n) : std::nullopt;
      } catch (const std::exception&) {
        return std::nullopt;
      }
    };
    const auto answer = [](const json& body) {
      return Reply{200, body.dump() + "\n", "application/json", {}};
    };
    if (name == "state" && request.method == "GET") {
      json watches = json::array();
      for (const Watcher* w : watchers_) {
        watches.push_back({{"watch", w->plan.describe}, {"queued", w->queue.size()}});
      }
      size_t objects = 0;
      for (const Resource& r : resources()) {
        objects += store_.objects(r).size();
      }
      return answer({{"resourceVersion", std::to_string(store_.resource_version())},
                     {"historyStart", std::to_string(store_.history_start())},
                     {"objects", objects},
                     {"watches", watches},
                     {"connections", connections_}});
    }
    if (request.method != "POST") {
      return status_reply(405, "MethodNotAllowed", "knobs are POST (GET /_standin/state)");
    }
    if (name == "expire-watches" || name == "drop-watches") {
      const bool expire = name == "expire-watches";
      size_t n = 0;
      for (Watcher* w : watchers_) {
        if (w->end == Watcher::End::kNone) {
          w->end = expire ? Watcher::End::kExpire : Watcher::End::kDrop;
          if (!expire) {
            w->close_socket();
          }
          w->wake.cancel();
          n++;
        }
      }
      log(std::string(expire ? "expiring " : "dropping ") + std::to_string(n) + " watches");
      return answer({{expire ? "expired" : "dropped", n}});
    }
    if (name == "compact") {
      api_.compact();
      log("history compacted at resourceVersion " + std::to_string(store_.resource_version()));
      return answer(
          {{"compacted", true}, {"resourceVersion", std::to_string(store_.resource_version())}});
    }
    if (name == "rotate-token") {
      const std::string old = credentials_.token;
      credentials_.token = random_token();
      if (auto bad = write_client_files(credentials_, server_url_)) {
        credentials_.token = old;
        return status_reply(500, "InternalError", bad->message);
      }
      log("token rotated");
      return answer({{"token", credentials_.token}});
    }
    if (name == "fail") {
      const auto status = number("status");
      const auto count = number("count");
      if (!count || (*count > 0 && (!status || *status < 100 || *status > 599))) {
        return status_reply(400, "BadRequest", "usage: /_standin/fail?status=N&count=K[&path=P]");
      }
      if (*count == 0) {
        fail_rules_.clear();
      } else {
        fail_rules_.push_back({static_cast<unsigned>(*status), *count, param("path")});
      }
      log("next " + std::to_string(*count) + " requests under \"" + param("path") +
          "\" fail with " + param("status"));
      return answer({{"status", status.value_or(0)}, {"count", *count}, {"path", param("path")}});
    }
    if (name == "bookmark-interval") {
      const auto ms = number("ms");
      if (!ms || *ms == 0) {
        return status_reply(400, "BadRequest", "usage: /_standin/bookmark-interval?ms=N (N > 0)");
      }
      settings_.bookmark_ms = *ms;
      const auto next = std::chrono::steady_clock::now() + std::chrono::milliseconds(*ms);
      for (Watcher* w : watchers_) {
        w->next_bookmark = std::min(w->next_bookmark, next);
        w->wake.cancel();
      }
      return answer({{"ms", *ms}});
    }
    return status_reply(404, "NotFound", "no knob /_standin/" + name);
  }

  // ---- watches
  void on_change(const Change& change) {
    // By EventKind and watched resource (one change may be seen in two shapes: a core v1
    // Event is also an events.k8s.io/v1 one).
    std::map<std::pair<int, const Resource*>, Watcher::Event> rendered;
    for (Watcher* w : watchers_) {
      const EventKind kind = Api::classify(w->plan.filter, change);
      if (kind == EventKind::kNone) {
        continue;
      }
      Watcher::Event& event = rendered[{static_cast<int>(kind), w->plan.filter.resource}];
      if (!event) {
        event = std::make_shared<const std::string>(
            Api::render(kind, change, *w->plan.filter.resource));
      }
      w->push(event, settings_.watch_queue_events, settings_.watch_queue_bytes);
    }
  }

  enum class WatchResult { kKeepAlive, kClose, kAbrupt };

  // Notices a watcher's client going away while nothing is being written to it (no events,
  // no bookmarks): waits for the socket to turn readable without consuming anything, so
  // TLS stays intact; EOF, an error or a TLS alert (record type 21: close_notify) ends
  // the watch. Anything else (a pipelined request) is left for after the watch.
  static asio::awaitable<void> detect_peer_gone(tcp::socket& socket,
                                                std::shared_ptr<Watcher> watcher) {
    error_code ec;
    co_await socket.async_wait(tcp::socket::wait_read, use_ec(ec));
    if (watcher->finished || ec == asio::error::operation_aborted) {
      co_return;
    }
    unsigned char first = 0;
    const ssize_t n = ::recv(socket.native_handle(), &first, 1, MSG_PEEK | MSG_DONTWAIT);
    if (ec || n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
        (n == 1 && first == 21)) {
      if (watcher->end == Watcher::End::kNone) {
        watcher->end = Watcher::End::kPeerGone;
      }
      watcher->wake.cancel();
    }
  }

  asio::awaitable<WatchResult> stream_watch(Stream& stream, WatchPlan plan) {
    auto watcher = std::make_shared<Watcher>(stream.get_executor(), std::move(plan));
    watchers_.insert(watcher.get());
    struct Unlist {
      Server& server;
      std::shared_ptr<Watcher> w;
      ~Unlist() {
        w->finished = true;
        w->socket = nullptr;
        server.watchers_.erase(w.get());
      }
    } unlist{*this, watcher};
    for (std::string& event : watcher->plan.initial) {
      // The initial state may be larger than the live bound: it is not counted against it.
      watcher->queued_bytes += event.size();
      watcher->queue.push_back(std::make_shared<const std::string>(std::move(event)));
    }
    watcher->plan.initial.clear();
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + watcher->plan.timeout;
    watcher->next_bookmark = start + std::chrono::milliseconds(settings_.bookmark_ms);
    log("watch opened: " + watcher->plan.describe);

    error_code ec;
    std::string out =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-cache, "
        "private\r\nTransfer-Encoding: chunked\r\n\r\n";
    auto& socket = beast::get_lowest_layer(stream).socket();
    watcher->socket = &socket;
    asio::co_spawn(stream.get_executor(), detect_peer_gone(socket, watcher), asio::detached);
    const auto close_abruptly = [&] {
      error_code ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
    };
    const auto write = [&](std::string data) -> asio::awaitable<bool> {
      error_code wec;
      beast::get_lowest_layer(stream).expires_after(kWriteTimeout);
      co_await asio::async_write(stream, asio::buffer(data), use_ec(wec));
      co_return !wec;
    };
    const auto chunk = [](std::string& to, const std::string& event) {
      char size[24];
      std::snprintf(size, sizeof size, "%zx\r\n", event.size());
      to += size;
      to += event;
      to += "\r\n";
    };
    for (;;) {
      const Watcher::End end = watcher->end;
      if (end == Watcher::End::kDrop || end == Watcher::End::kOverflow ||
          end == Watcher::End::kPeerGone) {
        log(std::string("watch ") +
            (end == Watcher::End::kDrop       ? "dropped"
             : end == Watcher::End::kOverflow ? "closed: its client fell too far behind"
                                              : "ended by its client") +
            ": " + watcher->plan.describe);
        close_abruptly();
        co_return WatchResult::kAbrupt;
      }
      while (!watcher->queue.empty() && out.size() < kWatchBatchBytes) {
        watcher->queued_bytes -= watcher->queue.front()->size();
        chunk(out, *watcher->queue.front());
        watcher->queue.pop_front();
      }
      if (!out.empty()) {
        if (!co_await write(std::move(out))) {
          const Watcher::End why = watcher->end;
          if (why == Watcher::End::kDrop || why == Watcher::End::kOverflow ||
              why == Watcher::End::kPeerGone) {
            out.clear();
            continue;  // closed on purpose: logged with its reason at the top
          }
          log("watch write failed: " + watcher->plan.describe);
          close_abruptly();
          co_return WatchResult::kAbrupt;
        }
        out.clear();
        continue;  // re-check the end state and the queue after every await
      }
      const auto now = std::chrono::steady_clock::now();
      if (end == Watcher::End::kExpire || now >= deadline) {
        if (end == Watcher::End::kExpire) {
          chunk(out, api_.expired_event());
        }
        out += "0\r\n\r\n";
        watcher->finished = true;
        socket.cancel(ec);  // the detector's wait; nothing else is pending
        const bool ok = co_await write(std::move(out));
        log(std::string(end == Watcher::End::kExpire ? "watch expired: " : "watch timed out: ") +
            watcher->plan.describe);
        co_return ok ? WatchResult::kKeepAlive : WatchResult::kAbrupt;
      }
      if (watcher->plan.bookmarks && now >= watcher->next_bookmark) {
        // Queued behind every event already sent, so its version covers them all.
        chunk(out, api_.bookmark(watcher->plan.filter));
        watcher->next_bookmark = now + std::chrono::milliseconds(settings_.bookmark_ms);
        continue;
      }
      auto wake_at = deadline;
      if (watcher->plan.bookmarks) {
        wake_at = std::min(wake_at, watcher->next_bookmark);
      }
      watcher->wake.expires_at(wake_at);
      co_await watcher->wake.async_wait(use_ec(ec));
    }
  }

  asio::io_context& io_;
  ssl::context& tls_;
  Settings settings_;
  Store& store_;
  Api& api_;
  Credentials& credentials_;
  std::string server_url_;
  std::set<Watcher*> watchers_;
  std::vector<FailRule> fail_rules_;
  size_t connections_ = 0;
};

// "host:port" or "[v6]:port" → endpoint.
bool parse_listen(const std::string& text, tcp::endpoint& out) {
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find("]:");
    if (close == std::string::npos) {
      return false;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) {
      return false;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  error_code ec;
  const auto address = asio::ip::make_address(host.empty() ? "127.0.0.1" : host, ec);
  unsigned long p = 0;
  try {
    size_t used = 0;
    p = std::stoul(port, &used);
    if (used != port.size()) {
      return false;
    }
  } catch (const std::exception&) {
    return false;
  }
  if (ec || p > 65535) {
    return false;
  }
  out = tcp::endpoint(address, static_cast<uint16_t>(p));
  return true;
}

int run(const Settings& settings) {
  tcp::endpoint endpoint;
  if (!parse_listen(settings.listen, endpoint)) {
    std::cerr << "kube-standin: --listen " << settings.listen
              << ": expected host:port or [v6]:port\n";
    return 2;
  }
  auto credentials = load_or_create_credentials(settings.dir);
  if (!credentials) {
    std::cerr << "kube-standin: " << credentials.error().message << "\n";
    return 1;
  }
  Store store(credentials->dir + "/state.json", settings.history);
  if (auto bad = store.load()) {
    std::cerr << "kube-standin: " << *bad << "\n";
    return 1;
  }

  asio::io_context io(1);
  tcp::acceptor acceptor(io);
  error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  }
  if (!ec) {
    acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    std::cerr << "kube-standin: bind " << settings.listen << ": " << ec.message() << "\n";
    return 1;
  }
  const auto bound = acceptor.local_endpoint();
  const std::string host_port = (bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                                         : bound.address().to_string()) +
                                ":" + std::to_string(bound.port());
  const std::string server_url = "https://" + host_port;
  if (auto bad = write_client_files(*credentials, server_url)) {
    std::cerr << "kube-standin: " << bad->message << "\n";
    return 1;
  }

  ssl::context tls(ssl::context::tls_server);
  tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  tls.use_certificate_chain(asio::buffer(credentials->server_chain_pem), ec);
  if (!ec) {
    tls.use_private_key(asio::buffer(credentials->server_key_pem), ssl::context::pem, ec);
  }
  if (ec) {
    std::cerr << "kube-standin: serving certificate: " << ec.message() << "\n";
    return 1;
  }

  Api api(store, host_port);
  Server server(io, tls, settings, store, api, *credentials, server_url);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const error_code&, int) {
    error_code ignored;
    acceptor.close(ignored);
    io.stop();
  });
  asio::co_spawn(io, server.accept_loop(acceptor), asio::detached);
  log("serving " + server_url + " from " + credentials->dir + " at resourceVersion " +
      std::to_string(store.resource_version()));
  std::cout << "listening on " << server_url << std::endl;
  io.run();
  return 0;
}

}  // namespace
}  // namespace lintel::standin

int main(int argc, char** argv) {
  lintel::standin::Settings settings;
  CLI::App app{lintel::standin::kHelp, "kube-standin"};
  app.add_option("--listen", settings.listen,
                 "address to listen on, host:port or [v6]:port (port 0: a free one)")
      ->capture_default_str();
  app.add_option("--dir", settings.dir, "folder for certificates, token, kubeconfig, state.json")
      ->required();
  app.add_option("--history", settings.history,
                 "changes kept for watches (older resourceVersions get 410)")
      ->capture_default_str();
  app.add_option("--watch-queue-limit", settings.watch_queue_events,
                 "events queued for one watch before it is closed as too slow")
      ->capture_default_str();
  app.add_option("--bookmark-interval-ms", settings.bookmark_ms, "BOOKMARK period")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_flag("--verbose", settings.verbose, "log every request");
  CLI11_PARSE(app, argc, argv);
  return lintel::standin::run(settings);
}
