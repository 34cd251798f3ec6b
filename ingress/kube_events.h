#pragma once
// Kubernetes Events (events.k8s.io/v1) for Ingress problems, so that `kubectl describe
// ingress` says what is wrong: a rejected Ingress, a broken TLS Secret, a path conflict get
// a `Warning` Event with the diagnostic's reason and a one-line note; an Ingress whose
// problems are all gone gets one `Normal` Event.
//
// Three layers, the first two pure (no I/O, time is an input) and unit-tested:
//
//   event_causes()  compile output → per-Ingress causes (only Ingresses this controller
//                   claims, including ones the decoder rejected whose class is ours).
//   EventPlanner    the state machine: which Event to write, when, as a POST or a PATCH.
//   EventRecorder   runs the planner on the control thread's io_context and writes with
//                   its own KubeConnection (Beast stays in kube_event_recorder.cpp).
//
// How it is used (app/, on the control thread; `options.compile` is the CompileOptions of
// the compile, `source` the KubeSource):
//
//   std::string error;
//   EventRecorderOptions o;
//   o.config = kube_config;                       // the same KubeConfig as the source
//   o.reporting_instance = pod_name_or_hostname;  // "" = gethostname()
//   auto recorder = EventRecorder::create(io, std::move(o), error);  // null: `error` says
//   ...
//   // after every compile of the API source, also one that changed no route (call it
//   // before control.cpp's "routing unchanged" return: a re-created Ingress has the same
//   // routes and a new uid). The recorder diffs, so equal causes cost nothing:
//   recorder->observe(event_causes(load.state, result, diagnostics, rejected,
//                                  options.compile));
//   //   `diagnostics` = load.diagnostics + result.diagnostics (what /routes shows);
//   //   `rejected` = the Ingress informer's KindCache::rejected_ingresses() (decoder-
//   //   rejected Ingresses with no good version: KubeSource has to hand them out beside
//   //   load(), e.g. `virtual std::vector<RejectedIngress> rejected_ingresses() const`).
//   recorder->set_leader(true / false);           // from the Lease; false at start
//   recorder->stop();                             // at shutdown, before the io_context ends
//
// Not for the manifest-folder mode: there is no API server to write to.
//
// Semantics (EventPlanner):
// - A cause (Ingress, type, reason, note) that appears → a Warning Event. While it stays,
//   nothing more is written. When every Warning cause of an Ingress is gone and the Ingress
//   is still there and ours → one Normal Event (reason "Valid"). An Ingress that is gone, or
//   no longer ours, is forgotten (and so is one whose uid changed: it was re-created).
// - Aggregation: Event names are deterministic, `<ingress name>.<16 hex digits of a hash of
//   uid, type, reason and note>`. The same cause again (it flapped, or a new leader sends
//   what the old one sent) is not a new Event: the POST answers 409 AlreadyExists and a
//   merge PATCH raises `series.count` and `series.lastObservedTime`. RBAC needs only
//   `create` and `patch` on events.events.k8s.io; nothing is ever read.
//   series.count counts what this process saw, plus one for an Event that already
//   existed: after a restart or a change of leader it starts again from 2, as the count on
//   the server cannot be read without `get`.
// - Rate limit: at most one write per Event name per `min_interval`; occurrences in
//   between go into the next PATCH. At most `max_pending` Events wait; more are dropped
//   (one log line per observe()). Writes go one at a time.
// - Failures: transport errors, 5xx and 429 are retried after a backoff (kube_backoff.h;
//   Retry-After is honoured within its cap), up to `max_attempts`, then the write is
//   dropped; other 4xx are logged and dropped; a PATCH answered 404 (the Event expired,
//   --event-ttl is one hour by default) creates the Event again.
// - Only the leader writes. Every replica tracks the causes; on becoming leader the causes
//   current then are sent (an Event the old leader wrote answers 409 → PATCH). Losing the
//   lead drops what was queued.
//
// Thread: everything on the control thread (the io_context given to create()).

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ingress/cluster_state.h"
#include "ingress/compiler.h"
#include "ingress/kube_backoff.h"
#include "ingress/kube_cache.h"
#include "ingress/kube_config.h"
#include "ingress/kube_time.h"
#include "routing/diagnostic.h"

namespace boost::asio {
class io_context;
}

namespace lintel::ingress {

// ---- causes (pure) ----

inline constexpr char kEventWarning[] = "Warning";
inline constexpr char kEventNormal[] = "Normal";
// The Normal Event's reason when an Ingress's problems are gone.
inline constexpr char kReasonValid[] = "Valid";
// An Event's note is at most 1 KiB (the API's limit).
inline constexpr size_t kMaxEventNote = 1024;
// Warning causes kept per Ingress (the first ones in the compiler's order); the rest are
// on /routes. Bounds the Events one broken Ingress can cause.
inline constexpr size_t kMaxCausesPerIngress = 10;

struct EventCause {
  std::string type;    // kEventWarning or kEventNormal
  std::string reason;  // the diagnostic's reason, or kReasonValid
  std::string note;    // one line, at most kMaxEventNote bytes
  // "Validate" for a diagnostic that rejects something, else "Sync".
  std::string action;
  bool operator<(const EventCause& o) const;
  bool operator==(const EventCause& o) const;
};

// One Ingress this controller claims, with its current problems.
struct IngressCauses {
  std::string namespace_;
  std::string name;
  std::string uid;
  std::string resource_version;
  std::vector<EventCause> warnings;  // sorted, unique; empty = no problem
  // The note of the Normal Event when `warnings` became empty: "3 routes on 2 hosts are
  // served" (the default backend counts as a route).
  std::string served_note;
};

// Every Ingress that is ours now, by "namespace/name".
using EventCauses = std::map<std::string, IngressCauses>;

// "spec.tls[0].secretName: Secret \"x\" ...": field and message on one line (line breaks
// become spaces), cut to kMaxEventNote bytes on a UTF-8 character boundary.
std::string event_note(const routing::Diagnostic& diagnostic);

// The causes of every Ingress this controller claims (`result.claimed`, uid and
// resourceVersion from `state`) plus those of `rejected` Ingresses whose class is ours by
// the compiler's rule (DESIGN.md "Classes"). `diagnostics` are all of them, the source's
// and the compiler's (an Ingress's are those whose object is "Ingress namespace/name").
// Ingresses of other classes never appear.
EventCauses event_causes(const ClusterState& state, const CompileResult& result,
                         const std::vector<routing::Diagnostic>& diagnostics,
                         const std::vector<RejectedIngress>& rejected,
                         const CompileOptions& options);

// ---- Event names and bodies (pure) ----

// "<ingress name>.<16 lowercase hex digits>" (FNV-1a 64 of uid, type, reason, note; the
// name part cut so the whole stays a valid 253-character DNS subdomain).
std::string event_name(const std::string& ingress_name, const std::string& uid,
                       const EventCause& cause);

// ---- the state machine (pure) ----

struct EventPolicy {
  std::chrono::milliseconds min_interval{10'000};  // per Event name
  size_t max_pending = 1000;
  int max_attempts = 5;  // per write, for retryable failures
  BackoffPolicy backoff{std::chrono::milliseconds(500), std::chrono::milliseconds(30'000), 0.2,
                        std::chrono::milliseconds(120'000)};
  // An Event whose cause is gone and that has nothing to send is forgotten after this (it
  // has expired on the server by then: --event-ttl defaults to one hour).
  std::chrono::milliseconds forget_after{2 * 3600 * 1000};
};

struct EventWrite {
  enum class Verb { kCreate, kPatch };
  Verb verb = Verb::kCreate;
  std::string name;
  std::string namespace_;
  std::string ingress;  // "namespace/name", for log lines
  std::string type;
  std::string reason;
  int count = 1;             // series.count sent (1: no series)
  std::string method;        // "POST" or "PATCH"
  std::string target;        // the API path
  std::string content_type;  // application/json or application/merge-patch+json
  std::string body;
};

enum class WriteOutcome {
  kOk,             // 2xx
  kAlreadyExists,  // 409 on a create
  kNotFound,       // 404 on a patch
  kRetryable,      // transport failure, 5xx, 429
  kFailed,         // any other answer
};

// What happens after a write, for the log line.
struct WriteFollowUp {
  enum class Next { kNothing, kPatch, kCreate, kRetry, kDropped, kForgotten };
  Next next = Next::kNothing;
  std::chrono::milliseconds delay{0};  // kRetry
  int attempt = 0;                     // kRetry, kDropped: attempts made
};

class EventPlanner {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;
  using WallTime = std::chrono::system_clock::time_point;

  struct Identity {
    std::string reporting_controller = "lintel.dev/ingress-controller";
    std::string reporting_instance;
  };

  EventPlanner(Identity identity, EventPolicy policy, uint64_t seed);

  // A new set of causes. Returns how many Events could not be queued (queue full).
  size_t observe(EventCauses current, SteadyTime now, WallTime wall);
  void set_leader(bool leader, SteadyTime now, WallTime wall);
  bool leader() const { return leader_; }

  // The next write that may go out at `now` (taken off the queue), if any. The caller
  // sends it and reports with finished().
  std::optional<EventWrite> next(SteadyTime now);
  // When next() will have something, if anything is queued (nullopt: nothing queued, or
  // not leader).
  std::optional<SteadyTime> next_due() const;
  // The answer to a write from next(). `retry_after` is the server's Retry-After.
  WriteFollowUp finished(const EventWrite& write, WriteOutcome outcome, SteadyTime now,
                         std::chrono::milliseconds retry_after = std::chrono::milliseconds(0));

  size_t queued() const { return queue_.size(); }
  size_t tracked() const { return records_.size(); }

 private:
  struct Record {
    std::string ingress;  // "namespace/name"
    std::string namespace_;
    std::string ingress_name;
    std::string uid;
    std::string resource_version;
    EventCause cause;
    bool active = false;   // the cause is present now (Warnings; Normal: never after)
    bool created = false;  // the Event exists on the server (201 or 409 seen)
    int count = 0;         // occurrences to report (series.count)
    int sent_count = 0;    // the count the server has from our last successful write
    WallTime first_observed{};
    WallTime last_observed{};
    bool queued = false;
    SteadyTime not_before{};  // rate limit
    SteadyTime touched{};     // last occurrence or write, for forgetting
    int attempts = 0;
  };
  struct Tracked {
    std::string uid;
    bool had_warnings = false;
  };

  void occur(const std::string& key, const IngressCauses& ingress, const EventCause& cause,
             SteadyTime now, WallTime wall, size_t& dropped);
  bool enqueue(const std::string& name, bool front = false);
  void forget_ingress(const std::string& key);
  std::string create_body(const std::string& name, const Record& record) const;

  Identity identity_;
  EventPolicy policy_;
  Backoff backoff_;
  bool leader_ = false;
  SteadyTime blocked_until_{};
  std::map<std::string, Record> records_;  // by Event name
  std::map<std::string, Tracked> ingresses_;
  std::deque<std::string> queue_;  // Event names
};

// ---- the recorder (I/O) ----

struct EventRecorderOptions {
  KubeConfig config;
  // Deadline of each write (connect, TLS handshake, request and answer).
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds token_reread{60'000};
  std::string user_agent = "lintel";
  std::string reporting_controller = "lintel.dev/ingress-controller";
  // The pod name (or hostname): which replica wrote an Event. "" = gethostname(). Cut to
  // 128 bytes (the API's limit).
  std::string reporting_instance;
  EventPolicy policy;
};

class EventRecorder {
 public:
  // Fails (nullptr, `error` set) when the TLS client context cannot be built.
  static std::unique_ptr<EventRecorder> create(boost::asio::io_context& io,
                                               EventRecorderOptions options, std::string& error);
  virtual ~EventRecorder() = default;

  // After each compile (control thread): the causes now. Cheap when nothing changed.
  virtual void observe(EventCauses current) = 0;
  // Writes only while leader; while not, state is still tracked.
  virtual void set_leader(bool leader) = 0;
  // Cancels the write in flight; nothing is written after this.
  virtual void stop() = 0;
};

}  // namespace lintel::ingress
