#include "app/control.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <chrono>
#include <set>

#include "app/tls_setup.h"

namespace lintel::app {

namespace asio = boost::asio;

namespace {

constexpr std::chrono::minutes kExpiryCheck{1};

// Everything a client can observe from a compile, as text: when two compiles give the
// same fingerprint, the second is not published (no new generation, no log line). The
// certificates are in it by SHA-256 fingerprint, so a rotated Secret is published.
std::string fingerprint(const ingress::CompileResult& result,
                        const std::vector<routing::Diagnostic>& diagnostics) {
  std::string out = ingress::format_route_table(*result.routes);
  out += format_certificates(*result.certs);
  for (const routing::Diagnostic& d : diagnostics) {
    out += d.to_string();
    out += '\n';
  }
  return out;
}

// Where the objects come from. Both sources hand the control loop a whole ClusterState
// (plus the diagnostics of what they could not read) and say when it may have changed.
class Source {
 public:
  virtual ~Source() = default;
  // Starts watching; `changed` is called on the control thread.
  virtual void start(std::function<void()> changed) = 0;
  virtual void stop() = 0;
  // Whether load() is the whole truth yet (the API: every kind listed once).
  virtual bool ready() const = 0;
  virtual ingress::ManifestLoad load() = 0;
  // The API source (nullptr for a folder).
  virtual ingress::KubeSource* kube() { return nullptr; }
  virtual std::string describe() const = 0;
  // "3 files, " for the summary line, or "" when files mean nothing.
  virtual std::string files_text(const ingress::ManifestLoad& load) const = 0;
  // A compile before start() returns (the folder's first snapshot is synchronous).
  virtual bool compile_at_start() const = 0;
};

class FolderSource final : public Source {
 public:
  FolderSource(asio::io_context& io, std::string dir,
               std::unique_ptr<ingress::ManifestSource> source)
      : io_(io), dir_(std::move(dir)), source_(std::move(source)) {}

  void start(std::function<void()> changed) override {
    changed_ = std::move(changed);
    std::string error;
    int fd = source_->watch(error);
    if (fd < 0) {
      spdlog::warn("manifests {}: {}; changes will not be picked up until restart", dir_, error);
      return;
    }
    // The descriptor stays owned by the ManifestSource; give Asio a duplicate to wait on.
    watch_ = std::make_unique<asio::posix::stream_descriptor>(io_, ::dup(fd));
    wait_for_changes();
  }

  void stop() override {
    stopped_ = true;
    if (watch_) {
      boost::system::error_code ec;
      watch_->close(ec);
    }
  }

  bool ready() const override { return true; }
  ingress::ManifestLoad load() override { return source_->load(); }
  std::string describe() const override { return "manifests " + dir_; }
  std::string files_text(const ingress::ManifestLoad& load) const override {
    return fmt::format("{} files, ", load.files);
  }
  bool compile_at_start() const override { return true; }

 private:
  void wait_for_changes() {
    watch_->async_wait(asio::posix::stream_descriptor::wait_read,
                       [this](const boost::system::error_code& ec) {
                         if (ec || stopped_) {
                           return;
                         }
                         if (source_->drain_events()) {
                           changed_();
                         }
                         wait_for_changes();
                       });
  }

  asio::io_context& io_;
  std::string dir_;
  std::unique_ptr<ingress::ManifestSource> source_;
  std::unique_ptr<asio::posix::stream_descriptor> watch_;
  std::function<void()> changed_;
  bool stopped_ = false;
};

class ApiSource final : public Source {
 public:
  explicit ApiSource(std::unique_ptr<ingress::KubeSource> source) : source_(std::move(source)) {}

  void start(std::function<void()> changed) override { source_->start(std::move(changed)); }
  void stop() override { source_->stop(); }
  bool ready() const override { return source_->synced(); }
  ingress::ManifestLoad load() override { return source_->load(); }
  std::string describe() const override { return source_->describe(); }
  ingress::KubeSource* kube() override { return source_.get(); }
  std::string files_text(const ingress::ManifestLoad&) const override { return ""; }
  bool compile_at_start() const override { return false; }

 private:
  std::unique_ptr<ingress::KubeSource> source_;
};

class ControlImpl final : public Control {
 public:
  ControlImpl(asio::io_context& io, ControlOptions options, std::unique_ptr<Source> source)
      : io_(io),
        options_(std::move(options)),
        source_(std::move(source)),
        timer_(io),
        clock_timer_(io) {}

  void on_snapshot(std::function<void(const proxy::SnapshotPtr&)> callback) override {
    callback_ = std::move(callback);
  }
  void on_compiled(std::function<void(const Compiled&)> callback) override {
    compiled_ = std::move(callback);
  }
  ingress::KubeSource* kube_source() override { return source_->kube(); }

  void start() override {
    source_->start([this] { changed(); });
    if (source_->compile_at_start()) {
      reload("start");
    }
    arm_clock();
  }

  void stop() override {
    stopped_ = true;
    timer_.cancel();
    clock_timer_.cancel();
    source_->stop();
  }

  std::string summary() const override { return summary_; }
  std::string source() const override { return source_->describe(); }

 private:
  // A change was seen. Compile now unless a compile happened within the window; then
  // compile once when the window closes.
  void changed() {
    if (stopped_ || !source_->ready()) {
      return;  // the API source before its first full list: nothing to compile yet
    }
    auto now = std::chrono::steady_clock::now();
    if (pending_) {
      return;  // a compile is already scheduled at the end of the window
    }
    if (now - last_compile_ >= options_.coalesce_window) {
      reload("change");
      return;
    }
    pending_ = true;
    timer_.expires_at(last_compile_ + options_.coalesce_window);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      pending_ = false;
      if (!ec && !stopped_) {
        reload("changes");
      }
    });
  }

  // Time is a compile input: recompile when a live certificate has expired (checked every
  // minute, cheap) and every clock_recompile (a not-yet-valid one may have become valid).
  void arm_clock() {
    clock_timer_.expires_after(kExpiryCheck);
    clock_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopped_) {
        return;
      }
      const auto now = std::chrono::system_clock::now();
      const auto since = std::chrono::steady_clock::now() - last_compile_;
      if (snapshot_ && has_expired(*snapshot_->certs, now)) {
        reload("a certificate expired");
      } else if (since >= options_.clock_recompile) {
        reload("clock");
      }
      arm_clock();
    });
  }

  // One line per host whose certificate changed, so a rotation is visible in the log
  // (problems are diagnostics, logged above; this is the good news).
  static void log_certificate_changes(const tls::CertStore* before, const tls::CertStore& after) {
    for (const auto& [host, context] : after.certificates()) {
      const tls::CertifiedKey& key = context->certificate();
      const tls::ServerContext* old = nullptr;
      if (before != nullptr) {
        auto it = before->certificates().find(host);
        old = it == before->certificates().end() ? nullptr : it->second.get();
      }
      if (old == nullptr || old->certificate().chain_digest() != key.chain_digest()) {
        spdlog::info("tls {}: {}certificate {}", host, old == nullptr ? "" : "new ",
                     key.describe());
      }
    }
    if (before == nullptr) {
      return;
    }
    for (const auto& [host, context] : before->certificates()) {
      if (!after.certificates().contains(host)) {
        spdlog::info("tls {}: {}", host,
                     after.hosts().contains(host) ? "now served with the default certificate"
                                                  : "no longer a TLS host");
      }
    }
  }

  static bool has_expired(const tls::CertStore& certs, std::chrono::system_clock::time_point now) {
    for (const auto& [host, context] : certs.certificates()) {
      if (context && context->certificate().not_after() <= now) {
        return true;
      }
    }
    return false;
  }

  void reload(const char* why) {
    if (!source_->ready()) {
      return;  // never publish a partial view of the cluster (readiness depends on it)
    }
    auto started = std::chrono::steady_clock::now();
    last_compile_ = started;
    ingress::ManifestLoad load = source_->load();
    ingress::CompileOptions compile_options = options_.compile;
    compile_options.now = std::chrono::system_clock::now();
    compile_options.previous_certs = snapshot_ ? snapshot_->certs : nullptr;
    ingress::CompileResult result = ingress::compile(load.state, compile_options);
    std::vector<routing::Diagnostic> diagnostics = std::move(load.diagnostics);
    diagnostics.insert(diagnostics.end(), result.diagnostics.begin(), result.diagnostics.end());
    double compile_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    if (compiled_) {
      compiled_(Compiled{load.state, result, diagnostics});
    }

    std::string print = fingerprint(result, diagnostics);
    if (snapshot_ && print == fingerprint_) {
      spdlog::debug("input changed ({}), routing unchanged: generation {} stays live", why,
                    snapshot_->generation);
      return;
    }
    fingerprint_ = std::move(print);

    // Log each diagnostic once, when it first appears.
    std::set<std::string> now_reported;
    for (const routing::Diagnostic& d : diagnostics) {
      std::string text = d.to_string();
      if (!reported_.count(text)) {
        if (d.rejected) {
          spdlog::error("rejected: {}; the rest of the configuration is served", text);
        } else {
          spdlog::warn("{}", text);
        }
      }
      now_reported.insert(std::move(text));
    }
    reported_ = std::move(now_reported);

    log_certificate_changes(snapshot_ ? snapshot_->certs.get() : nullptr, *result.certs);

    auto snapshot = std::make_shared<proxy::Snapshot>();
    snapshot->generation = ++generation_;
    snapshot->routes = result.routes;
    snapshot->certs = result.certs;
    snapshot->diagnostics = std::move(diagnostics);
    summary_ = fmt::format(
        "generation {}: {}{} objects, {} ingresses, {} hosts, {} routes, {} TLS hosts "
        "({} with their own certificate), {} diagnostics, compiled in {:.2f} ms",
        snapshot->generation, source_->files_text(load), load.state.size(), result.stats.ingresses,
        result.stats.hosts, result.stats.routes, result.certs->hosts().size(),
        result.certs->certificates().size(), snapshot->diagnostics.size(), compile_ms);
    snapshot_ = snapshot;
    if (generation_ > 1 || !source_->compile_at_start()) {
      spdlog::info("config {}{}", summary_, generation_ == 1 ? " (every kind listed: ready)" : "");
    }
    if (callback_) {
      callback_(snapshot_);
    }
  }

  asio::io_context& io_;
  ControlOptions options_;
  std::unique_ptr<Source> source_;
  asio::steady_timer timer_;
  asio::steady_timer clock_timer_;
  std::function<void(const proxy::SnapshotPtr&)> callback_;
  std::function<void(const Compiled&)> compiled_;
  proxy::SnapshotPtr snapshot_;
  std::string fingerprint_;
  std::set<std::string> reported_;
  std::string summary_;
  uint64_t generation_ = 0;
  std::chrono::steady_clock::time_point last_compile_{};
  bool pending_ = false;
  bool stopped_ = false;
};

}  // namespace

std::unique_ptr<Control> Control::create(asio::io_context& io, const ControlOptions& options,
                                         std::string& error) {
  if (options.kube) {
    auto source = ingress::KubeSource::create(io, *options.kube, error);
    if (!source) {
      return nullptr;
    }
    return std::make_unique<ControlImpl>(io, options,
                                         std::make_unique<ApiSource>(std::move(source)));
  }
  auto source = ingress::ManifestSource::create(options.manifests, error);
  if (!source) {
    return nullptr;
  }
  return std::make_unique<ControlImpl>(
      io, options, std::make_unique<FolderSource>(io, options.manifests, std::move(source)));
}

}  // namespace lintel::app
