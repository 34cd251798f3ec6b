#include "app/tls_setup.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <boost/asio.hpp>
#include <chrono>
#include <utility>

#include "tls/generate.h"

namespace lintel::app {

namespace asio = boost::asio;

tls::Result<TlsSetup> make_tls_setup(const TlsSetupOptions& options, tls::TimePoint now) {
  TlsSetup setup;
  if (options.ticket_key_files.empty()) {
    setup.tickets = tls::TicketKeyRing::generate(now);
  } else {
    auto ring = tls::TicketKeyRing::from_files(options.ticket_key_files);
    if (!ring) {
      return ring.error();
    }
    setup.tickets = std::move(ring).value();
  }
  auto key = tls::load_or_generate_default(options.default_cert, options.default_key, now,
                                           &setup.generated_default);
  if (!key) {
    return key.error();
  }
  auto context =
      tls::ServerContext::create(std::move(key).value(), tls::ContextOptions{setup.tickets});
  if (!context) {
    return tls::Error{"default certificate: " + context.error().message};
  }
  setup.default_context = std::move(context).value();
  return setup;
}

namespace {

constexpr std::chrono::minutes kTicketTick{1};

// What says "the operator replaced the file": mtime (ns) and size. Zeroes when the file
// cannot be stat()ed, which then differs from any real state and triggers a reload that
// reports the error.
struct FileStamp {
  int64_t mtime_ns = 0;
  int64_t size = 0;
  bool operator==(const FileStamp&) const = default;
};

FileStamp stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return {};
  }
  return {int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec, int64_t{st.st_size}};
}

class TicketKeyTimerImpl final : public TicketKeyTimer {
 public:
  TicketKeyTimerImpl(asio::io_context& io, std::shared_ptr<tls::TicketKeyRing> ring,
                     std::vector<std::string> files)
      : timer_(io), ring_(std::move(ring)), files_(std::move(files)) {
    for (const std::string& file : files_) {
      stamps_.push_back(stamp_of(file));
    }
  }

  void start() override { arm(); }

  void stop() override {
    stopped_ = true;
    timer_.cancel();
  }

 private:
  void arm() {
    timer_.expires_after(kTicketTick);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopped_) {
        return;
      }
      tick();
      arm();
    });
  }

  void tick() {
    if (ring_->rotate_if_due(std::chrono::system_clock::now())) {
      spdlog::debug("session tickets: rotated to a new key (previous keys still decrypt)");
    }
    if (files_.empty()) {
      return;
    }
    std::vector<FileStamp> now;
    for (const std::string& file : files_) {
      now.push_back(stamp_of(file));
    }
    if (now == stamps_) {
      return;
    }
    // Remember the new state even when the reload fails: a half-copied file is reported
    // once, and the next change (the copy completing) is tried again.
    stamps_ = std::move(now);
    if (tls::Status bad = ring_->reload()) {
      spdlog::error(
          "session ticket key files changed but cannot be used: {}; the previous "
          "keys stay in force",
          bad->message);
      return;
    }
    spdlog::info("session ticket keys reloaded from {}", fmt::join(files_, ", "));
  }

  asio::steady_timer timer_;
  std::shared_ptr<tls::TicketKeyRing> ring_;
  std::vector<std::string> files_;
  std::vector<FileStamp> stamps_;
  bool stopped_ = false;
};

}  // namespace

std::unique_ptr<TicketKeyTimer> TicketKeyTimer::create(asio::io_context& io,
                                                       std::shared_ptr<tls::TicketKeyRing> ring,
                                                       std::vector<std::string> key_files) {
  return std::make_unique<TicketKeyTimerImpl>(io, std::move(ring), std::move(key_files));
}

std::string format_certificates(const tls::CertStore& certs, bool show_default) {
  std::vector<std::pair<std::string, std::string>> rows;
  for (const std::string& host : certs.hosts()) {
    auto it = certs.certificates().find(host);
    rows.emplace_back(host, it != certs.certificates().end() && it->second
                                ? it->second->certificate().describe()
                                : std::string("default certificate"));
  }
  std::string out;
  if (rows.empty()) {
    out += "TLS hosts: none\n";
  } else {
    size_t width = std::string_view("TLS HOST").size();
    for (const auto& [host, text] : rows) {
      width = std::max(width, host.size());
    }
    out += fmt::format("{:<{}}  CERTIFICATE\n", "TLS HOST", width);
    for (const auto& [host, text] : rows) {
      out += fmt::format("{:<{}}  {}\n", host, width, text);
    }
  }
  if (const auto& def = certs.default_context(); def && show_default) {
    out += fmt::format("default certificate: {}\n", def->certificate().describe());
  }
  return out;
}

}  // namespace lintel::app
