// The pure parts of kube_events.h: causes from the compile output, Event names and bodies,
// and the planner's state machine. The network part is kube_event_recorder.cpp.
#include "ingress/kube_events.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

namespace lintel::ingress {

namespace {

using json = nlohmann::json;

constexpr char kEventsPath[] = "/apis/events.k8s.io/v1/namespaces/";
// A Kubernetes object name (DNS-1123 subdomain) is at most 253 characters.
constexpr size_t kMaxName = 253;

// Cuts `text` to at most `limit` bytes without splitting a UTF-8 sequence, marking the cut
// with "...".
std::string cut_utf8(std::string text, size_t limit) {
  if (text.size() <= limit) {
    return text;
  }
  size_t end = limit - 3;
  // Back up over continuation bytes (10xxxxxx) to the start of the cut character.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
  }
  text.resize(end);
  text += "...";
  return text;
}

std::string ingress_object(const std::string& key) { return "Ingress " + key; }

// How many routes (the default backend counts as one) and hosts `object` contributes.
std::string served_note(const routing::RouteTable& table, const std::string& object) {
  size_t routes = 0;
  size_t hosts = 0;
  for (const routing::VirtualHost& vhost : table.virtual_hosts()) {
    size_t here = static_cast<size_t>(
        std::count_if(vhost.routes.begin(), vhost.routes.end(),
                      [&](const routing::Route& route) { return route.source == object; }));
    routes += here;
    hosts += here > 0 ? 1 : 0;
  }
  const routing::Route* def = table.default_route();
  const bool is_default = def != nullptr && def->source == object;
  if (is_default) {
    ++routes;
  }
  std::string note = fmt::format("no problems left: {} route{} on {} host{}{} served", routes,
                                 routes == 1 ? "" : "s", hosts, hosts == 1 ? "" : "s",
                                 routes == 1 ? " is" : " are");
  if (is_default) {
    note += " (with the default backend)";
  }
  return note;
}

// FNV-1a, 64 bits: stable across processes, builds and replicas, which is what makes an
// Event name deterministic (std::hash is not). Not for security: a collision would only
// merge two Events' counts.
uint64_t fnv1a(const std::vector<const std::string*>& parts) {
  uint64_t h = 14695981039346656037ull;
  for (const std::string* part : parts) {
    for (unsigned char c : *part) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= 0xFF;  // a separator no UTF-8 text contains, so ("ab","c") != ("a","bc")
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

bool EventCause::operator<(const EventCause& o) const {
  return std::tie(type, reason, note, action) < std::tie(o.type, o.reason, o.note, o.action);
}

bool EventCause::operator==(const EventCause& o) const {
  return std::tie(type, reason, note, action) == std::tie(o.type, o.reason, o.note, o.action);
}

std::string event_note(const routing::Diagnostic& diagnostic) {
  std::string note =
      diagnostic.field.empty() ? diagnostic.message : diagnostic.field + ": " + diagnostic.message;
  for (char& c : note) {
    if (c == '\n' || c == '\r' || c == '\t') {
      c = ' ';
    }
  }
  return cut_utf8(std::move(note), kMaxEventNote);
}

EventCauses event_causes(const ClusterState& state, const CompileResult& result,
                         const std::vector<routing::Diagnostic>& diagnostics,
                         const std::vector<RejectedIngress>& rejected,
                         const CompileOptions& options) {
  EventCauses out;
  for (const std::string& key : result.claimed) {
    auto it = state.ingresses.find(key);
    if (it == state.ingresses.end()) {
      continue;
    }
    const ObjectMeta& meta = it->second.metadata;
    IngressCauses& causes = out[key];
    causes.namespace_ = meta.namespace_;
    causes.name = meta.name;
    causes.uid = meta.uid;
    causes.resource_version = meta.resource_version;
    causes.served_note = served_note(*result.routes, ingress_object(key));
  }

  // A rejected Ingress without a good version is not in `state`, so not in `claimed`. Its
  // class is decided by the compiler itself, on a state that holds the IngressClasses and
  // stand-ins for these Ingresses: `claimed` of that compile is exactly DESIGN.md's rule,
  // with no second copy of it to drift. (The stand-ins have no rules, so the compiler
  // rejects them; those diagnostics are not used.)
  if (!rejected.empty()) {
    ClusterState classes;
    classes.ingress_classes = state.ingress_classes;
    std::map<std::string, const RejectedIngress*> by_key;
    for (const RejectedIngress& r : rejected) {
      if (out.count(r.key) > 0 || state.ingresses.count(r.key) > 0) {
        continue;  // a good version is served and was judged by its own class
      }
      Ingress stand_in;
      stand_in.metadata.namespace_ = r.namespace_;
      stand_in.metadata.name = r.name;
      stand_in.spec.ingress_class_name = r.ingress_class_name;
      if (!r.class_annotation.empty()) {
        stand_in.metadata.annotations["kubernetes.io/ingress.class"] = r.class_annotation;
      }
      classes.ingresses[r.key] = std::move(stand_in);
      by_key[r.key] = &r;
    }
    if (!by_key.empty()) {
      CompileOptions class_options;
      class_options.ingress_class = options.ingress_class;
      class_options.controller_name = options.controller_name;
      class_options.watch_ingress_without_class = options.watch_ingress_without_class;
      for (const std::string& key : compile(classes, class_options).claimed) {
        const RejectedIngress& r = *by_key.at(key);
        IngressCauses& causes = out[key];
        causes.namespace_ = r.namespace_;
        causes.name = r.name;
        causes.uid = r.uid;
        causes.resource_version = r.resource_version;
        causes.served_note = "no problems left";  // not reached: it has no good version
      }
    }
  }

  for (const routing::Diagnostic& d : diagnostics) {
    if (!d.object.starts_with("Ingress ")) {
      continue;
    }
    auto it = out.find(d.object.substr(8));
    if (it == out.end()) {
      continue;  // not ours (or not an Ingress we know): no Event, ever
    }
    EventCause cause;
    cause.type = kEventWarning;
    cause.reason = d.reason.empty() ? std::string("Invalid") : d.reason;
    cause.note = event_note(d);
    cause.action = d.rejected ? "Validate" : "Sync";
    it->second.warnings.push_back(std::move(cause));
  }
  for (auto& [key, causes] : out) {
    auto& w = causes.warnings;
    // The first kMaxCausesPerIngress in the diagnostics' own (deterministic) order, then
    // sorted for comparison.
    std::vector<EventCause> unique;
    std::set<EventCause> seen;
    for (EventCause& cause : w) {
      if (unique.size() < kMaxCausesPerIngress && seen.insert(cause).second) {
        unique.push_back(std::move(cause));
      }
    }
    std::sort(unique.begin(), unique.end());
    w = std::move(unique);
  }
  return out;
}

std::string event_name(const std::string& ingress_name, const std::string& uid,
                       const EventCause& cause) {
  const uint64_t h = fnv1a({&uid, &cause.type, &cause.reason, &cause.note});
  const std::string suffix = fmt::format(".{:016x}", h);
  std::string prefix = ingress_name.substr(0, kMaxName - suffix.size());
  // A cut may leave a '-' or '.' at the end, which a name label may not end with.
  while (!prefix.empty() && (prefix.back() == '-' || prefix.back() == '.')) {
    prefix.pop_back();
  }
  if (prefix.empty()) {
    prefix = "ingress";
  }
  return prefix + suffix;
}

// ---- EventPlanner ----

EventPlanner::EventPlanner(Identity identity, EventPolicy policy, uint64_t seed)
    : identity_(std::move(identity)), policy_(policy), backoff_(policy.backoff, seed) {}

bool EventPlanner::enqueue(const std::string& name, bool front) {
  Record& record = records_.at(name);
  if (record.queued) {
    return true;
  }
  if (queue_.size() >= policy_.max_pending) {
    return false;
  }
  record.queued = true;
  if (front) {
    queue_.push_front(name);
  } else {
    queue_.push_back(name);
  }
  return true;
}

void EventPlanner::forget_ingress(const std::string& key) {
  ingresses_.erase(key);
  for (auto it = records_.begin(); it != records_.end();) {
    if (it->second.ingress == key) {
      if (it->second.queued) {
        queue_.erase(std::remove(queue_.begin(), queue_.end(), it->first), queue_.end());
      }
      it = records_.erase(it);
    } else {
      ++it;
    }
  }
}

void EventPlanner::occur(const std::string& key, const IngressCauses& ingress,
                         const EventCause& cause, SteadyTime now, WallTime wall, size_t& dropped) {
  const std::string name = event_name(ingress.name, ingress.uid, cause);
  auto [it, inserted] = records_.try_emplace(name);
  Record& record = it->second;
  if (inserted) {
    record.ingress = key;
    record.namespace_ = ingress.namespace_;
    record.ingress_name = ingress.name;
    record.uid = ingress.uid;
    record.cause = cause;
  }
  if (!record.created) {
    record.resource_version = ingress.resource_version;
  }
  record.active = cause.type == kEventWarning;
  record.touched = now;
  if (!leader_) {
    return;  // tracked, not counted: becoming leader sends what is current then
  }
  if (record.count == 0) {
    record.first_observed = wall;
  }
  ++record.count;
  record.last_observed = wall;
  if (!enqueue(name)) {
    ++dropped;
  }
}

size_t EventPlanner::observe(EventCauses current, SteadyTime now, WallTime wall) {
  size_t dropped = 0;
  // Gone, no longer ours, or re-created (a new uid): forget.
  for (auto it = ingresses_.begin(); it != ingresses_.end();) {
    auto found = current.find(it->first);
    if (found == current.end() || found->second.uid != it->second.uid) {
      const std::string key = it->first;
      ++it;
      forget_ingress(key);
    } else {
      ++it;
    }
  }
  for (const auto& [key, ingress] : current) {
    auto [tracked, inserted] = ingresses_.try_emplace(key);
    tracked->second.uid = ingress.uid;
    std::set<std::string> now_names;
    for (const EventCause& cause : ingress.warnings) {
      const std::string name = event_name(ingress.name, ingress.uid, cause);
      now_names.insert(name);
      auto record = records_.find(name);
      if (record == records_.end() || !record->second.active) {
        occur(key, ingress, cause, now, wall, dropped);
      }
    }
    for (auto& [name, record] : records_) {
      if (record.ingress == key && record.active && now_names.count(name) == 0) {
        record.active = false;
        record.touched = now;
      }
    }
    const bool has_warnings = !ingress.warnings.empty();
    if (tracked->second.had_warnings && !has_warnings) {
      EventCause valid;
      valid.type = kEventNormal;
      valid.reason = kReasonValid;
      valid.note = cut_utf8(ingress.served_note, kMaxEventNote);
      valid.action = "Sync";
      occur(key, ingress, valid, now, wall, dropped);
    }
    tracked->second.had_warnings = has_warnings;
  }
  // Forget what is long over: no cause, nothing to send, not touched for forget_after.
  for (auto it = records_.begin(); it != records_.end();) {
    const Record& r = it->second;
    if (!r.active && !r.queued && now - r.touched >= policy_.forget_after) {
      it = records_.erase(it);
    } else {
      ++it;
    }
  }
  return dropped;
}

void EventPlanner::set_leader(bool leader, SteadyTime now, WallTime wall) {
  if (leader == leader_) {
    return;
  }
  leader_ = leader;
  for (auto& [name, record] : records_) {
    record.queued = false;
    // What the server has is unknown from here on (another replica may have written):
    // a create finds out (409 → patch).
    record.created = false;
    record.count = 0;
    record.sent_count = 0;
    record.attempts = 0;
    record.not_before = {};
  }
  queue_.clear();
  blocked_until_ = {};
  backoff_.reset();
  if (!leader_) {
    return;
  }
  // Send what is current now.
  for (auto& [name, record] : records_) {
    if (record.active) {
      record.count = 1;
      record.first_observed = wall;
      record.last_observed = wall;
      record.touched = now;
      enqueue(name);
    }
  }
}

std::string EventPlanner::create_body(const std::string& name, const Record& record) const {
  json body = {
      {"apiVersion", "events.k8s.io/v1"},
      {"kind", "Event"},
      {"metadata", {{"name", name}, {"namespace", record.namespace_}}},
      {"eventTime", micro_time(record.first_observed)},
      {"reportingController", identity_.reporting_controller},
      {"reportingInstance", identity_.reporting_instance},
      {"action", record.cause.action},
      {"reason", record.cause.reason},
      {"note", record.cause.note},
      {"type", record.cause.type},
      {"regarding",
       {{"apiVersion", "networking.k8s.io/v1"},
        {"kind", "Ingress"},
        {"namespace", record.namespace_},
        {"name", record.ingress_name},
        {"uid", record.uid},
        {"resourceVersion", record.resource_version}}},
  };
  if (record.count >= 2) {
    body["series"] = {{"count", record.count},
                      {"lastObservedTime", micro_time(record.last_observed)}};
  }
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<EventWrite> EventPlanner::next(SteadyTime now) {
  if (!leader_ || queue_.empty() || now < blocked_until_) {
    return std::nullopt;
  }
  auto due = std::find_if(queue_.begin(), queue_.end(), [&](const std::string& name) {
    return records_.at(name).not_before <= now;
  });
  if (due == queue_.end()) {
    return std::nullopt;
  }
  const std::string name = *due;
  queue_.erase(due);
  Record& record = records_.at(name);
  record.queued = false;

  EventWrite write;
  write.name = name;
  write.namespace_ = record.namespace_;
  write.ingress = record.ingress;
  write.type = record.cause.type;
  write.reason = record.cause.reason;
  if (!record.created) {
    write.verb = EventWrite::Verb::kCreate;
    write.count = record.count;
    write.method = "POST";
    write.target = std::string(kEventsPath) + record.namespace_ + "/events";
    write.content_type = "application/json";
    write.body = create_body(name, record);
  } else {
    // Only the series changes: every other field of an events.k8s.io/v1 Event is
    // immutable. series.count is at least 2 by the API's validation.
    write.verb = EventWrite::Verb::kPatch;
    write.count = std::max(2, record.count);
    write.method = "PATCH";
    write.target = std::string(kEventsPath) + record.namespace_ + "/events/" + name;
    write.content_type = "application/merge-patch+json";
    json patch = {
        {"series",
         {{"count", write.count}, {"lastObservedTime", micro_time(record.last_observed)}}}};
    write.body = patch.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return write;
}

std::optional<EventPlanner::SteadyTime> EventPlanner::next_due() const {
  if (!leader_ || queue_.empty()) {
    return std::nullopt;
  }
  SteadyTime due = SteadyTime::max();
  for (const std::string& name : queue_) {
    due = std::min(due, records_.at(name).not_before);
  }
  return std::max(due, blocked_until_);
}

WriteFollowUp EventPlanner::finished(const EventWrite& write, WriteOutcome outcome, SteadyTime now,
                                     std::chrono::milliseconds retry_after) {
  WriteFollowUp follow;
  auto it = records_.find(write.name);
  if (it == records_.end() || !leader_) {
    // The Ingress went away, or the lead did, while the write was in flight.
    follow.next = WriteFollowUp::Next::kForgotten;
    return follow;
  }
  Record& record = it->second;
  record.touched = now;
  switch (outcome) {
    case WriteOutcome::kOk:
      backoff_.reset();
      record.attempts = 0;
      record.created = true;
      record.sent_count = write.count;
      record.not_before = now + policy_.min_interval;
      if (record.count > record.sent_count) {
        // More occurrences while the write was in flight: they go in the next patch.
        follow.next = WriteFollowUp::Next::kPatch;
        enqueue(write.name);
      }
      return follow;
    case WriteOutcome::kAlreadyExists:
      // Written before: by us before a restart, or by the previous leader. Its count on
      // the server is at least 1 more than what we counted.
      backoff_.reset();
      record.attempts = 0;
      record.created = true;
      ++record.count;
      follow.next = WriteFollowUp::Next::kPatch;
      enqueue(write.name, true);
      return follow;
    case WriteOutcome::kNotFound:
      if (write.verb == EventWrite::Verb::kPatch) {
        // Expired (--event-ttl) or deleted: a new Event, counting from one again.
        record.created = false;
        record.count = 1;
        record.sent_count = 0;
        record.first_observed = record.last_observed;
        follow.next = WriteFollowUp::Next::kCreate;
        enqueue(write.name, true);
        return follow;
      }
      [[fallthrough]];  // a create answered 404: the namespace is gone
    case WriteOutcome::kFailed:
      record.attempts = 0;
      follow.next = WriteFollowUp::Next::kDropped;
      follow.attempt = 1;
      return follow;
    case WriteOutcome::kRetryable: {
      ++record.attempts;
      follow.attempt = record.attempts;
      if (record.attempts >= policy_.max_attempts) {
        record.attempts = 0;
        follow.next = WriteFollowUp::Next::kDropped;
        return follow;
      }
      std::chrono::milliseconds delay = backoff_.next(now);
      if (retry_after > delay) {
        delay = std::min(retry_after, std::max(delay, policy_.backoff.cap));
      }
      blocked_until_ = now + delay;
      follow.next = WriteFollowUp::Next::kRetry;
      follow.delay = delay;
      enqueue(write.name, true);
      return follow;
    }
  }
  return follow;
}

}  // namespace lintel::ingress
