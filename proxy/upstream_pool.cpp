#include "proxy/upstream_pool.h"

#include <sys/socket.h>

#include <cerrno>

namespace lintel::proxy {

bool UpstreamPool::looks_open(Socket& socket) {
  // An idle HTTP/1.1 connection has nothing to read. A zero-byte read means the peer
  // closed it (FIN); an error means it was reset; bytes mean the peer sent something
  // unsolicited (e.g. a 408 before closing). Only EAGAIN says "open and quiet".
  char byte;
  const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::optional<UpstreamPool::Socket> UpstreamPool::take(std::string_view key, bool can_retry) {
  const auto it = idle_.find(key);
  if (it == idle_.end()) return std::nullopt;
  auto& list = it->second;
  const auto now = Clock::now();
  std::optional<Socket> out;
  while (!list.empty() && !out) {
    Idle idle = std::move(list.back());
    list.pop_back();
    const auto idle_for = now - idle.since;
    if (idle_for < idle_timeout_ &&
        ((can_retry && idle_for < kTrustedIdle) || looks_open(idle.socket))) {
      out.emplace(std::move(idle.socket));
    } else {
      boost::system::error_code ec;
      idle.socket.close(ec);
    }
  }
  return out;
}

void UpstreamPool::put(std::string_view key, Socket socket) {
  if (max_idle_ == 0) {
    boost::system::error_code ec;
    socket.close(ec);
    return;
  }
  auto it = idle_.find(key);
  if (it == idle_.end()) it = idle_.emplace(std::string(key), std::vector<Idle>()).first;
  auto& list = it->second;
  if (list.size() >= max_idle_) {
    boost::system::error_code ec;
    list.front().socket.close(ec);  // the oldest is the likeliest to be closed by the peer
    list.erase(list.begin());
  }
  list.push_back({std::move(socket), Clock::now()});
}

void UpstreamPool::sweep() {
  const auto now = Clock::now();
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto& list = it->second;
    size_t expired = 0;
    while (expired < list.size() && now - list[expired].since >= idle_timeout_) {
      boost::system::error_code ec;
      list[expired].socket.close(ec);
      ++expired;
    }
    list.erase(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(expired));
    it = list.empty() ? idle_.erase(it) : std::next(it);
  }
}

void UpstreamPool::close_all() {
  for (auto& [key, list] : idle_) {
    for (auto& idle : list) {
      boost::system::error_code ec;
      idle.socket.close(ec);
    }
  }
  idle_.clear();
}

size_t UpstreamPool::idle_count() const {
  size_t n = 0;
  for (const auto& [key, list] : idle_) n += list.size();
  return n;
}

}  // namespace lintel::proxy
