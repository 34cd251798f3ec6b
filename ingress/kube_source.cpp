#include "ingress/kube_source.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <random>

#include "ingress/decode.h"
#include "ingress/kube_cache.h"
#include "ingress/kube_client.h"
#include "ingress/kube_stream.h"

namespace lintel::ingress {

namespace asio = boost::asio;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// One LIST page is kept whole for parsing; 500 objects of a few KiB each is a few MiB, and
// this bounds what a broken server can make us hold.
constexpr size_t kMaxListBody = 256 * 1024 * 1024;
// The watch's HTTP deadline: timeoutSeconds plus this, so the server ends it first.
constexpr std::chrono::seconds kWatchSlack{30};
// A watch that delivered nothing and ended sooner than this was not healthy: back off
// before the next one instead of spinning on a server that closes every watch at once.
constexpr milliseconds kHealthyWatch{1000};
// A LIST whose continue token expires again and again is a failure, not a loop.
constexpr int kMaxListRestarts = 3;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}


// "too large resource version" (a watch or list ahead of the server's cache) is handled
// like 410: client-go's isTooLargeResourceVersionError checks the Status cause and, for
// older servers, the message text.
bool is_too_large_rv(const json& status) {
  if (lower(string_at(status, {"message"})).find("too large resource version") !=
      std::string::npos) {
    return true;
  }
  auto details = status.find("details");
  if (details != status.end() && details->is_object()) {
    auto causes = details->find("causes");
    if (causes != details->end() && causes->is_array()) {
      for (const json& cause : *causes) {
        if (string_at(cause, {"reason"}) == "ResourceVersionTooLarge") {
          return true;
        }
      }
    }
  }
  return false;
}

bool status_is_gone(const json& status) {
  auto code = status.find("code");
  if (code != status.end() && code->is_number_integer() && code->get<int>() == 410) {
    return true;
  }
  const std::string reason = string_at(status, {"reason"});
  return reason == "Expired" || reason == "Gone" || is_too_large_rv(status);
}

std::string seconds_text(milliseconds d) { return fmt::format("{:.1f}s", d.count() / 1000.0); }

struct Shared : std::enable_shared_from_this<Shared> {
  Shared(asio::io_context& io, KubeSourceOptions options) : io(io), options(std::move(options)) {}
  asio::io_context& io;
  KubeSourceOptions options;
  std::shared_ptr<asio::ssl::context> context;
  std::shared_ptr<TokenSource> tokens;
  std::function<void()> on_change;
  std::function<void()> on_status;
  std::mt19937_64 random{std::random_device{}()};
  bool stopped = false;
  bool notify_pending = false;
  bool status_pending = false;
  size_t kinds_listed = 0;

  void notify_status() {
    if (status_pending || stopped) {
      return;
    }
    status_pending = true;
    asio::post(io, [self = shared_from_this()] {
      self->status_pending = false;
      if (!self->stopped && self->on_status) {
        self->on_status();
      }
    });
  }

  // Many events of one read (or several kinds at once) make one callback: the control
  // loop then compiles once for the batch.
  void notify() {
    if (notify_pending || stopped) {
      return;
    }
    notify_pending = true;
    asio::post(io, [self = shared_from_this()] {
      self->notify_pending = false;
      if (!self->stopped && self->on_change) {
        self->on_change();
      }
    });
  }
};

enum class Outcome { kEnded, kGone, kFailed, kStopped };

class Informer : public std::enable_shared_from_this<Informer> {
 public:
  // `status_only`: an extra Service informer for the publish Service's namespace
  // (`namespace_`), whose objects are not compiled.
  Informer(std::shared_ptr<Shared> shared, KubeKind kind, bool status_only = false,
           const std::string& namespace_ = "")
      : shared_(std::move(shared)),
        kind_(kind),
        status_only_(status_only),
        name_(status_only ? std::string("Service (namespace ") + namespace_ + ", for status)"
                          : std::string(kube_kind_info(kind).kind)),
        path_(collection_path(kind, status_only ? namespace_ : shared_->options.watch_namespace)),
        cache_(kind),
        connection_(shared_->io.get_executor(), shared_->context, shared_->options.config,
                    shared_->tokens, shared_->options.user_agent, shared_->options.request_timeout),
        timer_(shared_->io),
        backoff_(shared_->options.backoff, shared_->random()) {}

  static asio::awaitable<void> run(std::shared_ptr<Informer> self) {
    // No exception may leave the coroutine (it would end the informer silently): anything
    // unexpected is logged and the loop starts over with a relist after a backoff.
    while (!self->shared_->stopped) {
      std::string unexpected;
      try {
        co_await self->loop();
      } catch (const std::exception& e) {
        unexpected = e.what();
      }
      if (unexpected.empty()) {
        continue;  // loop() returns only when stopped
      }
      spdlog::error("kube {}: unexpected error: {}; relisting after a backoff", self->name_,
                    unexpected);
      self->need_list_ = true;
      self->connection_.cancel();
      co_await self->sleep(self->backoff_.next(Clock::now()));
    }
  }

  void stop() {
    connection_.cancel();
    timer_.cancel();
  }

  const KindCache& cache() const { return cache_; }
  bool listed() const { return listed_; }
  bool status_only() const { return status_only_; }
  const std::map<std::string, LoadBalancerStatus>& statuses() const { return statuses_; }

 private:
  asio::awaitable<void> loop() {
    std::string relist_reason = "initial list";
    while (!shared_->stopped) {
      if (need_list_) {
        Outcome listed = co_await list(relist_reason);
        if (listed == Outcome::kStopped) {
          co_return;
        }
        if (listed != Outcome::kEnded) {
          co_await fail("list", failure_);
          continue;
        }
        need_list_ = false;
      }
      const auto started = Clock::now();
      size_t events = 0;
      bool established = false;
      Outcome watched = co_await watch(events, established);
      // Healthy: the server accepted the watch and it delivered events or lasted. A watch
      // that never got its 200 (refused, timed out connecting) is a failure however long
      // it took.
      const bool healthy = established && (events > 0 || Clock::now() - started >= kHealthyWatch);
      switch (watched) {
        case Outcome::kStopped:
          co_return;
        case Outcome::kGone:
          need_list_ = true;
          relist_reason = failure_;
          if (healthy) {
            spdlog::info("kube {}: relisting: {}", name_, failure_);
          } else {
            // Gone again right after a list: a server in that state must not get a
            // list + watch per round trip. Relist after a backoff.
            co_await fail("watch (relisting next)", failure_);
          }
          break;
        case Outcome::kEnded:
          if (healthy) {
            spdlog::debug("kube {}: watch ended; watching again from resourceVersion {}", name_,
                          rv_);
          } else {
            co_await fail("watch", "the server ended the watch at once");
          }
          break;
        case Outcome::kFailed:
          if (healthy) {
            // A stream that worked and then broke (a dropped connection, a proxy timeout):
            // the resourceVersion is still good, so rewatch at once, no relist.
            spdlog::info("kube {}: watch dropped ({}); watching again from resourceVersion {}",
                         name_, failure_, rv_);
          } else {
            co_await fail("watch", failure_);
          }
          break;
      }
    }
  }

  asio::awaitable<void> fail(const char* what, const std::string& why) {
    milliseconds delay = backoff_.next(Clock::now());
    // A server that says when to come back (429, 503 Retry-After) is believed, within the
    // backoff cap.
    if (retry_after_.count() > 0) {
      delay = std::clamp(retry_after_, delay, std::max(delay, shared_->options.backoff.cap));
      retry_after_ = milliseconds(0);
    }
    spdlog::warn(
        "kube {}: {} failed: {}; retrying in {} (attempt {}); the last good routes "
        "keep serving",
        name_, what, why, seconds_text(delay), backoff_.failures());
    co_await sleep(delay);
  }

  asio::awaitable<void> sleep(milliseconds delay) {
    timer_.expires_after(delay);
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  // LIST every page, then replace the cache. On success rv_ is the list's version.
  // No resourceVersion on the LIST: a consistent read of the newest state, served in the
  // pages we ask for (a real server ignores `limit` for resourceVersion=0 and answers from
  // its watch cache, possibly stale). Relists after 410 do the same, which is where
  // client-go ends up too after its "not older than" attempt.
  asio::awaitable<Outcome> list(const std::string& reason) {
    retry_after_ = milliseconds(0);
    std::vector<json> items;
    std::string continue_token;
    std::string list_rv;
    int restarts = 0;
    size_t pages = 0;
    while (true) {
      const std::string target =
          path_ + "?" + list_query(kind_, shared_->options.page_size, continue_token);
      std::string body;
      bool too_big = false;
      KubeResponse response = co_await connection_.get(
          target, shared_->options.request_timeout, [&](std::string_view data) {
            if (body.size() + data.size() > kMaxListBody) {
              too_big = true;
              return false;
            }
            body.append(data);
            return true;
          });
      if (shared_->stopped) {
        co_return Outcome::kStopped;
      }
      if (too_big) {
        failure_ = "a page of the list is larger than 256 MiB";
        co_return Outcome::kFailed;
      }
      if (!response.error.empty()) {
        failure_ = response.error;
        co_return Outcome::kFailed;
      }
      if (response.status == 410 && !continue_token.empty()) {
        // The continue token expired (about 5 minutes on a real server, or compacted):
        // the pages read so far are from a version that is gone; start again.
        if (++restarts > kMaxListRestarts) {
          failure_ = "the list's continue token expired " + std::to_string(restarts) + " times";
          co_return Outcome::kFailed;
        }
        spdlog::info(
            "kube {}: list continue token expired (410) after {} pages; restarting "
            "the list",
            name_, pages);
        items.clear();
        continue_token.clear();
        pages = 0;
        continue;
      }
      if (response.status != 200) {
        failure_ = describe_answer(response);
        retry_after_ = std::chrono::seconds(response.retry_after);
        co_return Outcome::kFailed;
      }
      json page = json::parse(body, nullptr, false);
      if (page.is_discarded() || !page.is_object()) {
        failure_ = "the list response is not a JSON object";
        co_return Outcome::kFailed;
      }
      ++pages;
      auto page_items = page.find("items");
      if (page_items != page.end() && page_items->is_array()) {
        for (json& item : *page_items) {
          items.push_back(std::move(item));
        }
      }
      list_rv = string_at(page, {"metadata", "resourceVersion"});
      continue_token = string_at(page, {"metadata", "continue"});
      if (continue_token.empty()) {
        break;
      }
    }
    ReplaceResult replaced = cache_.replace(items);
    std::map<std::string, LoadBalancerStatus> statuses;
    for (const json& item : items) {
      if (tracks_status(item)) {
        // The publish Service is present (even with an empty status) while it exists.
        if (LoadBalancerStatus status = decode_load_balancer_status(item);
            !status.empty() || kind_ == KubeKind::kService) {
          statuses.emplace(api_object_key(item, true), std::move(status));
        }
      }
    }
    if (statuses != statuses_ || !listed_) {
      statuses_ = std::move(statuses);
      shared_->notify_status();
    }
    rv_ = list_rv;
    if (!listed_) {
      spdlog::info("kube {}: listed {} objects at resourceVersion {} ({}); watching", name_,
                   items.size(), rv_, reason);
    } else {
      spdlog::info(
          "kube {}: relisted {} objects at resourceVersion {}: {} new, {} deleted "
          "while not watching ({}); watching",
          name_, items.size(), rv_, replaced.added, replaced.deleted.size(), reason);
    }
    if (status_only_) {
      listed_ = true;
    } else if (!listed_) {
      listed_ = true;
      ++shared_->kinds_listed;
      shared_->notify();
    } else if (replaced.changed) {
      shared_->notify();
    }
    co_return Outcome::kEnded;
  }

  // One WATCH from rv_ until the server ends it, it fails, or it says the version is gone.
  asio::awaitable<Outcome> watch(size_t& events, bool& established) {
    std::uniform_int_distribution<int> spread(
        static_cast<int>(shared_->options.watch_timeout_min.count()),
        static_cast<int>(
            std::max(shared_->options.watch_timeout_min, shared_->options.watch_timeout_max)
                .count()));
    const int timeout = spread(shared_->random);
    retry_after_ = milliseconds(0);
    const std::string target = path_ + "?" + watch_query(kind_, rv_, timeout);
    JsonStreamSplitter splitter;
    std::vector<std::string> documents;
    Outcome outcome = Outcome::kEnded;
    KubeResponse response = co_await connection_.get(
        target, std::chrono::seconds(timeout) + kWatchSlack, [&](std::string_view data) {
          const bool ok = splitter.feed(data, documents);
          for (const std::string& document : documents) {
            if (!handle_event(document, outcome)) {
              documents.clear();
              return false;
            }
            ++events;
          }
          documents.clear();
          if (!ok) {
            failure_ = splitter.error();
            outcome = Outcome::kFailed;
            return false;
          }
          return true;
        });
    established = response.status == 200;
    if (shared_->stopped) {
      co_return Outcome::kStopped;
    }
    if (response.stopped) {
      co_return outcome;  // handle_event or the splitter said why
    }
    if (!response.error.empty()) {
      failure_ = response.error;
      co_return Outcome::kFailed;
    }
    if (response.status == 410) {
      failure_ = "watch from resourceVersion " + rv_ + " answered 410 Gone";
      co_return Outcome::kGone;
    }
    if (response.status != 200) {
      json status = json::parse(response.body, nullptr, false);
      if (status.is_object() && is_too_large_rv(status)) {
        failure_ = "resourceVersion " + rv_ + " is too large for the server";
        co_return Outcome::kGone;
      }
      failure_ = describe_answer(response);
      retry_after_ = std::chrono::seconds(response.retry_after);
      co_return Outcome::kFailed;
    }
    if (!splitter.idle()) {
      failure_ = "the watch stream ended in the middle of an event";
      co_return Outcome::kFailed;
    }
    co_return Outcome::kEnded;
  }

  // One watch event. Returns false to end the stream (`outcome` and failure_ say why).
  bool handle_event(const std::string& document, Outcome& outcome) {
    json event = json::parse(document, nullptr, false);
    if (event.is_discarded() || !event.is_object()) {
      failure_ = "a watch event is not valid JSON";
      outcome = Outcome::kFailed;
      return false;
    }
    const WatchEventType type = parse_event_type(string_at(event, {"type"}));
    auto object_it = event.find("object");
    if (object_it == event.end() || !object_it->is_object()) {
      failure_ = "a watch event has no object";
      outcome = Outcome::kFailed;
      return false;
    }
    const json& object = *object_it;
    switch (type) {
      case WatchEventType::kError: {
        const std::string message = string_at(object, {"message"});
        if (status_is_gone(object)) {
          failure_ =
              "watch expired: " + (message.empty() ? string_at(object, {"reason"}) : message);
          outcome = Outcome::kGone;
        } else {
          failure_ = "ERROR event: " + (message.empty() ? object.dump() : message);
          outcome = Outcome::kFailed;
        }
        return false;
      }
      case WatchEventType::kBookmark:
        // Only the version moves; restarting from a bookmark misses nothing.
        if (std::string rv = string_at(object, {"metadata", "resourceVersion"}); !rv.empty()) {
          rv_ = std::move(rv);
        }
        return true;
      case WatchEventType::kAdded:
      case WatchEventType::kModified:
      case WatchEventType::kDeleted:
        if (cache_.apply(type, object) && !status_only_) {
          shared_->notify();
        }
        if (object.is_object() && tracks_status(object)) {
          fold_status(type, object);
        }
        if (std::string rv = string_at(object, {"metadata", "resourceVersion"}); !rv.empty()) {
          rv_ = std::move(rv);
        }
        return true;
      case WatchEventType::kUnknown:
        spdlog::debug("kube {}: ignoring a watch event of type \"{}\"", name_,
                      string_at(event, {"type"}));
        return true;
    }
    return true;
  }

  // Every Ingress's status; of Services, only the publish Service's.
  bool tracks_status(const json& object) const {
    if (kind_ == KubeKind::kIngress) {
      return true;
    }
    return kind_ == KubeKind::kService && !shared_->options.publish_service.empty() &&
           api_object_key(object, true) == shared_->options.publish_service;
  }

  // An Ingress without addresses has no entry; the publish Service has one (possibly
  // empty) for as long as it exists.
  void fold_status(WatchEventType type, const json& object) {
    const std::string key = api_object_key(object, true);
    LoadBalancerStatus status = decode_load_balancer_status(object);
    auto it = statuses_.find(key);
    const bool gone = type == WatchEventType::kDeleted ||
                      (status.empty() && kind_ != KubeKind::kService);
    if (gone) {
      if (it != statuses_.end()) {
        statuses_.erase(it);
        shared_->notify_status();
      }
    } else if (it == statuses_.end() || it->second != status) {
      statuses_[key] = std::move(status);
      shared_->notify_status();
    }
  }

  std::shared_ptr<Shared> shared_;
  KubeKind kind_;
  bool status_only_ = false;
  std::string name_;
  std::string path_;
  KindCache cache_;
  // status.loadBalancer.ingress by key: every Ingress that has one; the publish Service
  // (present, possibly empty, while it exists).
  std::map<std::string, LoadBalancerStatus> statuses_;
  KubeConnection connection_;
  asio::steady_timer timer_;
  Backoff backoff_;
  std::string rv_;
  std::string failure_;
  milliseconds retry_after_{0};  // of the last failed answer
  bool need_list_ = true;
  bool listed_ = false;
};

class KubeSourceImpl final : public KubeSource {
 public:
  explicit KubeSourceImpl(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {
    for (KubeKind kind : kAllKubeKinds) {
      informers_.push_back(std::make_shared<Informer>(shared_, kind));
    }
    const KubeSourceOptions& o = shared_->options;
    if (!o.publish_service.empty()) {
      const std::string ns = o.publish_service.substr(0, o.publish_service.find('/'));
      if (!o.watch_namespace.empty() && o.watch_namespace != ns) {
        publish_informer_ = std::make_shared<Informer>(shared_, KubeKind::kService, true, ns);
        informers_.push_back(publish_informer_);
      } else {
        for (const auto& informer : informers_) {
          if (informer->cache().kind() == KubeKind::kService) {
            publish_informer_ = informer;
          }
        }
      }
    }
  }
  ~KubeSourceImpl() override { stop(); }

  void start(std::function<void()> on_change) override {
    shared_->on_change = std::move(on_change);
    spdlog::info("kube: {}", describe());
    for (const auto& informer : informers_) {
      asio::co_spawn(shared_->io, Informer::run(informer), asio::detached);
    }
  }

  void stop() override {
    if (shared_->stopped) {
      return;
    }
    shared_->stopped = true;
    shared_->on_change = nullptr;
    shared_->on_status = nullptr;
    for (const auto& informer : informers_) {
      informer->stop();
    }
  }

  bool synced() const override {
    return shared_->kinds_listed == std::size(kAllKubeKinds);
  }

  ManifestLoad load() const override {
    ManifestLoad load;
    for (const auto& informer : informers_) {
      if (!informer->status_only()) {
        informer->cache().fill(load.state, load.diagnostics);
      }
    }
    return load;
  }

  LoadBalancerStatus ingress_status(const std::string& key) const override {
    for (const auto& informer : informers_) {
      if (informer->cache().kind() == KubeKind::kIngress) {
        auto it = informer->statuses().find(key);
        return it == informer->statuses().end() ? LoadBalancerStatus{} : it->second;
      }
    }
    return {};
  }

  std::optional<LoadBalancerStatus> publish_service_status() const override {
    if (!publish_informer_ || !publish_informer_->listed()) {
      return std::nullopt;
    }
    auto it = publish_informer_->statuses().find(shared_->options.publish_service);
    if (it == publish_informer_->statuses().end()) {
      return std::nullopt;
    }
    return it->second;
  }

  std::vector<RejectedIngress> rejected_ingresses() const override {
    for (const auto& informer : informers_) {
      if (informer->cache().kind() == KubeKind::kIngress) {
        return informer->cache().rejected_ingresses();
      }
    }
    return {};
  }

  void on_status(std::function<void()> callback) override {
    shared_->on_status = std::move(callback);
  }

  std::string describe() const override {
    const KubeSourceOptions& o = shared_->options;
    return fmt::format(
        "{}, server {}{}{}", o.config.description, o.config.server,
        o.watch_namespace.empty() ? ", all namespaces" : ", namespace " + o.watch_namespace,
        o.config.insecure_skip_tls_verify ? ", certificate NOT verified" : "");
  }

 private:
  std::shared_ptr<Shared> shared_;
  std::vector<std::shared_ptr<Informer>> informers_;
  std::shared_ptr<Informer> publish_informer_;  // the one whose cache holds the publish Service
};

}  // namespace

std::unique_ptr<KubeSource> KubeSource::create(asio::io_context& io, KubeSourceOptions options,
                                               std::string& error) {
  auto shared = std::make_shared<Shared>(io, std::move(options));
  shared->context = make_client_context(shared->options.config, error);
  if (!shared->context) {
    return nullptr;
  }
  shared->tokens =
      std::make_shared<TokenSource>(shared->options.config, shared->options.token_reread);
  return std::make_unique<KubeSourceImpl>(std::move(shared));
}

}  // namespace lintel::ingress
