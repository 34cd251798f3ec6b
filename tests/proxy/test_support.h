#pragma once
// Loopback helpers for the proxy tests: a recording HTTP/1.1 upstream on its own thread
// and a blocking raw-socket client. Plain POSIX sockets, so the tests do not depend on the
// code under test to talk HTTP. Every wait is bounded by a receive/send timeout.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace lintel::proxy::test {

inline constexpr int kIoTimeoutMs = 10'000;
inline constexpr size_t kKeptBodyBytes = 1024 * 1024;

inline void set_timeouts(int fd, int ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

inline bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads from a socket (or another byte source, e.g. a TLS client) into a buffer, with
// line and byte helpers. Read errors (timeout included) and EOF both end the stream: `eof`
// tells which.
class Reader {
 public:
  // Returns bytes read, 0 at EOF, < 0 on error (like recv()).
  using Source = std::function<ssize_t(char*, size_t)>;
  explicit Reader(int fd) : fd_(fd) {}
  explicit Reader(Source source) : source_(std::move(source)) {}
  bool fill() {
    char buf[65536];
    const ssize_t n = source_ ? source_(buf, sizeof buf) : ::recv(fd_, buf, sizeof buf, 0);
    if (n == 0) eof_ = true;
    if (n <= 0) return false;
    data_.append(buf, static_cast<size_t>(n));
    return true;
  }
  // A line without its CRLF.
  std::optional<std::string> line() {
    for (;;) {
      const auto pos = data_.find("\r\n");
      if (pos != std::string::npos) {
        std::string out = data_.substr(0, pos);
        data_.erase(0, pos + 2);
        return out;
      }
      if (!fill()) return std::nullopt;
    }
  }
  // Exactly n bytes; when `keep` is false they are counted, not kept.
  bool bytes(uint64_t n, std::string* out) {
    while (n > 0) {
      if (data_.empty() && !fill()) return false;
      const size_t take = static_cast<size_t>(std::min<uint64_t>(n, data_.size()));
      // Bodies are kept up to kKeptBodyBytes: large transfers are only counted.
      if (out && out->size() < kKeptBodyBytes) out->append(data_, 0, take);
      data_.erase(0, take);
      n -= take;
    }
    return true;
  }
  // Everything until EOF.
  void rest(std::string* out, uint64_t* count) {
    for (;;) {
      if (out && out->size() < kKeptBodyBytes) out->append(data_);
      if (count) *count += data_.size();
      data_.clear();
      if (!fill()) return;
    }
  }
  bool eof() const { return eof_; }
  std::string& buffered() { return data_; }

 private:
  int fd_ = -1;
  Source source_;
  std::string data_;
  bool eof_ = false;
};

struct Message {
  std::string start_line;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  uint64_t body_bytes = 0;
  bool complete = false;  // framing well formed and complete
  bool chunked = false;

  std::vector<std::string> all(std::string_view name) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : headers) {
      if (strcasecmp(k.c_str(), std::string(name).c_str()) == 0) out.push_back(v);
    }
    return out;
  }
  std::string get(std::string_view name) const {
    const auto v = all(name);
    return v.empty() ? "" : v.front();
  }
  int status() const { return start_line.size() >= 12 ? std::stoi(start_line.substr(9, 3)) : 0; }
};

// Reads a head and a body framed by Content-Length, chunked, or (when `until_close`) EOF.
// `keep_body`: false counts body bytes only (large transfers).
inline std::optional<Message> read_message(Reader& r, bool is_response, bool keep_body = true,
                                           bool head_request = false) {
  Message m;
  auto first = r.line();
  if (!first) return std::nullopt;
  m.start_line = *first;
  for (;;) {
    auto l = r.line();
    if (!l) return std::nullopt;
    if (l->empty()) break;
    const auto colon = l->find(':');
    if (colon == std::string::npos) return std::nullopt;
    std::string value = l->substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    m.headers.emplace_back(l->substr(0, colon), value);
  }
  std::string* body = keep_body ? &m.body : nullptr;
  const int status = is_response ? m.status() : 0;
  if (head_request || (is_response && (status / 100 == 1 || status == 204 || status == 304))) {
    m.complete = true;
    return m;
  }
  if (strcasecmp(m.get("Transfer-Encoding").c_str(), "chunked") == 0) {
    m.chunked = true;
    for (;;) {
      auto size_line = r.line();
      if (!size_line) return m;
      const uint64_t n = std::stoull(*size_line, nullptr, 16);
      if (n == 0) {
        while (true) {
          auto trailer = r.line();
          if (!trailer) return m;
          if (trailer->empty()) break;
        }
        m.complete = true;
        return m;
      }
      if (!r.bytes(n, body)) return m;
      m.body_bytes += n;
      if (!r.line()) return m;
    }
  }
  const std::string cl = m.get("Content-Length");
  if (!cl.empty()) {
    const uint64_t n = std::stoull(cl);
    if (r.bytes(n, body)) {
      m.body_bytes = n;
      m.complete = true;
    }
    return m;
  }
  if (is_response) {
    uint64_t count = 0;
    r.rest(body, &count);
    m.body_bytes = count;
    m.complete = r.eof();
  } else {
    m.complete = true;
  }
  return m;
}

// A client connection to the proxy.
class Client {
 public:
  Client(const std::string& host, uint16_t port, int timeout_ms = kIoTimeoutMs) : reader_(-1) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    set_timeouts(fd_, timeout_ms);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    inet_pton(AF_INET, host.c_str(), &sa.sin_addr);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    reader_ = Reader(fd_);
  }
  ~Client() { ::close(fd_); }
  bool connected() const { return connected_; }
  bool send(std::string_view data) { return send_all(fd_, data); }
  std::optional<Message> response(bool keep_body = true, bool head_request = false) {
    // Interim 1xx responses are skipped.
    for (int i = 0; i < 8; ++i) {
      auto m = read_message(reader_, true, keep_body, head_request);
      if (!m || m->status() >= 200) return m;
    }
    return std::nullopt;
  }
  // True when the peer closed (EOF) with nothing more to read, within the timeout.
  bool closed_by_peer() {
    if (!reader_.buffered().empty()) return false;
    if (reader_.fill()) return false;
    return reader_.eof() || errno == ECONNRESET;
  }
  int fd() const { return fd_; }

 private:
  int fd_;
  bool connected_ = false;
  Reader reader_;
};

// A recording HTTP/1.1 origin. Answers 200 with body "NAME TARGET BODY_BYTES" and header
// X-Upstream: NAME. Hooks by path: /delay?ms=N, /close (no answer), /last (answers, then
// closes the kept-alive connection), /status?code=N,
// /download?bytes=N[&chunked=1], /eof?bytes=N (body delimited by close), /early-hints (a 103,
// then 200 with an empty reason phrase and repeated fields). A response to HEAD
// has the head of the GET response and no body (RFC 9110 §9.3.2), except for the one hook
// that breaks that rule on purpose: HEAD /late-head-body?bytes=N announces Content-Length N,
// then, once the next request arrives on the same connection, sends N body bytes before the
// answer to it (a broken origin, for the proxy's defence against it).
class Upstream {
 public:
  struct Record {
    Message request;
    std::string raw_head;
  };

  Upstream(std::string address, std::string name)
      : address_(std::move(address)), name_(std::move(name)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    inet_pton(AF_INET, address_.c_str(), &sa.sin_addr);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        ::listen(listen_fd_, 128) != 0) {
      throw std::runtime_error("upstream bind " + address_ + ": " + strerror(errno));
    }
    socklen_t len = sizeof sa;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~Upstream() { stop(); }

  void stop() {
    if (stopped_.exchange(true)) return;
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    {
      std::lock_guard lock(mutex_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    if (acceptor_.joinable()) acceptor_.join();
    for (auto& t : threads_) t.join();
    for (int fd : fds_) ::close(fd);
  }

  uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }
  std::vector<Record> records() {
    std::lock_guard lock(mutex_);
    return records_;
  }
  size_t complete_count() {
    std::lock_guard lock(mutex_);
    size_t n = 0;
    for (const auto& r : records_) n += r.request.complete ? 1 : 0;
    return n;
  }
  size_t connections() const { return connections_; }

 private:
  void accept_loop() {
    while (!stopped_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      ++connections_;
      set_timeouts(fd, 30'000);
      std::lock_guard lock(mutex_);
      fds_.push_back(fd);
      threads_.emplace_back([this, fd] { serve(fd); });
    }
  }

  static std::string param(const std::string& target, const std::string& key) {
    const auto pos = target.find(key + "=");
    if (pos == std::string::npos) return "";
    const auto end = target.find('&', pos);
    return target.substr(pos + key.size() + 1,
                         end == std::string::npos ? std::string::npos : end - pos - key.size() - 1);
  }

  void serve(int fd) {
    Reader r(fd);
    uint64_t late_body = 0;  // body bytes owed by /late-head-body, sent before the next answer
    while (!stopped_) {
      auto m = read_message(r, false, true);
      if (!m) break;
      {
        std::lock_guard lock(mutex_);
        records_.push_back({*m, ""});
      }
      if (!m->complete) break;
      if (late_body > 0) {
        if (!send_all(fd, std::string(static_cast<size_t>(late_body), 'd'))) break;
        late_body = 0;
      }
      const std::string method = m->start_line.substr(0, m->start_line.find(' '));
      const std::string target = m->start_line.substr(
          m->start_line.find(' ') + 1, m->start_line.rfind(' ') - m->start_line.find(' ') - 1);
      const std::string path = target.substr(0, target.find('?'));
      const bool head = method == "HEAD";
      if (path.ends_with("/close")) break;
      if (head && path.ends_with("/late-head-body")) {
        late_body = std::stoull(param(target, "bytes"));
        const std::string out = "HTTP/1.1 200 OK\r\nX-Upstream: " + name_ +
                                "\r\nContent-Length: " + std::to_string(late_body) + "\r\n\r\n";
        if (!send_all(fd, out)) break;
        continue;
      }
      if (path.ends_with("/early-hints")) {
        // A 103 with a field, then a final response with an empty reason phrase and
        // fields in odd case, one of them repeated.
        const std::string body = name_ + " " + target;
        const std::string out =
            "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
            "HTTP/1.1 200 \r\nx-upstream: " +
            name_ + "\r\nSet-Cookie: a=1\r\nSET-COOKIE: b=2\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + (head ? "" : body);
        if (!send_all(fd, out)) break;
        continue;
      }
      if (path.ends_with("/delay")) {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(param(target, "ms"))));
      }
      if (path.ends_with("/download") || path.ends_with("/eof")) {
        const uint64_t n = std::stoull(param(target, "bytes"));
        const bool chunked = param(target, "chunked") == "1";
        const bool eof = path.ends_with("/eof");
        std::string response_head = "HTTP/1.1 200 OK\r\nX-Upstream: " + name_ + "\r\n";
        if (eof) {
          response_head += "Connection: close\r\n";
        } else if (chunked) {
          response_head += "Transfer-Encoding: chunked\r\n";
        } else {
          response_head += "Content-Length: " + std::to_string(n) + "\r\n";
        }
        if (!send_all(fd, response_head + "\r\n")) break;
        if (head) {
          if (eof) break;
          continue;
        }
        const std::string block(64 * 1024, 'd');
        uint64_t left = n;
        bool ok = true;
        while (left > 0 && ok) {
          const size_t k = static_cast<size_t>(std::min<uint64_t>(left, block.size()));
          char size_line[32];
          snprintf(size_line, sizeof size_line, "%zx\r\n", k);
          if (chunked) ok = send_all(fd, size_line);
          ok = ok && send_all(fd, std::string_view(block).substr(0, k));
          if (chunked) ok = ok && send_all(fd, "\r\n");
          left -= k;
        }
        if (chunked && ok) ok = send_all(fd, "0\r\n\r\n");
        if (!ok || eof) break;
        continue;
      }
      int status = 200;
      if (path.ends_with("/status")) status = std::stoi(param(target, "code"));
      const std::string body = name_ + " " + target + " " + std::to_string(m->body_bytes);
      std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\nX-Upstream: " + name_ +
                        "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
      if (!head) out += body;
      if (!send_all(fd, out)) break;
      // An origin whose keep-alive timeout fires right after answering: no Connection:
      // close, the connection just goes away.
      if (path.ends_with("/last")) break;
    }
    ::shutdown(fd, SHUT_RDWR);
  }

  std::string address_;
  std::string name_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
  std::atomic<size_t> connections_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
  std::vector<Record> records_;
};

}  // namespace lintel::proxy::test
