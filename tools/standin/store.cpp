#include "standin/store.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>

namespace lintel::standin {
namespace {

Store::Key key_of(const json& object) {
  const json& meta = object.at("metadata");
  return {meta.value("namespace", std::string()), meta.value("name", std::string())};
}

}  // namespace

Store::Store(std::string state_path, size_t history_limit)
    : state_path_(std::move(state_path)), history_limit_(std::max<size_t>(1, history_limit)) {}

std::optional<std::string> Store::load() {
  std::ifstream in(state_path_, std::ios::binary);
  if (state_path_.empty() || !in) {
    // A fresh cluster: the namespaces kube-apiserver creates for itself.
    char created[32];
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    for (const char* name : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
      rv_++;
      by_resource_[find_kind("v1", "Namespace")->id()][{"", name}] = {
          {"apiVersion", "v1"},
          {"kind", "Namespace"},
          {"metadata",
           {{"name", name},
            {"uid", "00000000-0000-4000-8000-00000000000" + std::to_string(rv_)},
            {"resourceVersion", std::to_string(rv_)},
            {"creationTimestamp", created},
            {"labels", {{"kubernetes.io/metadata.name", name}}}}},
          {"spec", {{"finalizers", {"kubernetes"}}}},
          {"status", {{"phase", "Active"}}}};
    }
    history_start_ = rv_;
    save();
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  try {
    const json state = json::parse(text.str());
    uint64_t rv = state.at("resourceVersion").is_string()
                      ? std::stoull(state.at("resourceVersion").get<std::string>())
                      : state.at("resourceVersion").get<uint64_t>();
    for (const json& object : state.at("objects")) {
      const std::string api_version = object.value("apiVersion", "");
      const std::string kind = object.value("kind", "");
      const Resource* resource = find_kind(api_version, kind);
      if (resource == nullptr) {
        return state_path_ + ": unknown kind " + api_version + "/" + kind;
      }
      const Key key = key_of(object);
      if (key.second.empty()) {
        return state_path_ + ": a " + kind + " without metadata.name";
      }
      // Hand-edited objects may carry a newer version than the counter; never go back.
      const std::string object_rv = object["metadata"].value("resourceVersion", "0");
      rv = std::max<uint64_t>(rv, std::stoull(object_rv.empty() ? "0" : object_rv));
      // An events.k8s.io/v1 Event (hand-written, or from an older stand-in) joins the
      // core v1 Events it is one of.
      by_resource_[storage_of(*resource).id()][key] = to_stored(*resource, object);
    }
    rv_ = rv;
  } catch (const std::exception& e) {
    return state_path_ + ": " + e.what();
  }
  // The history did not survive the restart: like etcd after a compaction, a watch from
  // any older version gets 410 and the client relists.
  history_start_ = rv_;
  return std::nullopt;
}

void Store::compact() {
  history_.clear();
  history_start_ = rv_;
}

const Store::Objects& Store::objects(const Resource& resource) const {
  static const Objects kNone;
  const auto it = by_resource_.find(resource.id());
  return it == by_resource_.end() ? kNone : it->second;
}

const json* Store::get(const Resource& resource, const std::string& ns,
                       const std::string& name) const {
  const Objects& objects = this->objects(resource);
  const auto it = objects.find({ns, name});
  return it == objects.end() ? nullptr : &it->second;
}

json Store::create(const Resource& resource, json object) {
  return commit(resource, "ADDED", std::move(object), nullptr);
}

json Store::replace(const Resource& resource, json object) {
  const Key key = key_of(object);
  json previous = by_resource_[resource.id()].at(key);
  return commit(resource, "MODIFIED", std::move(object), std::move(previous));
}

json Store::remove(const Resource& resource, const std::string& ns, const std::string& name) {
  json previous = by_resource_[resource.id()].at({ns, name});
  json last = previous;
  return commit(resource, "DELETED", std::move(last), std::move(previous));
}

json Store::commit(const Resource& resource, std::string type, json object, json previous) {
  const uint64_t rv = ++rv_;
  object["metadata"]["resourceVersion"] = std::to_string(rv);
  Objects& objects = by_resource_[resource.id()];
  const Key key = key_of(object);
  if (type == "DELETED") {
    objects.erase(key);
  } else {
    objects[key] = object;
  }
  history_.push_back(Change{rv, &resource, std::move(type), object, std::move(previous)});
  while (history_.size() > history_limit_) {
    history_start_ = history_.front().rv;
    history_.pop_front();
  }
  save();
  if (listener_) {
    listener_(history_.back());
  }
  return object;
}

void Store::save() {
  if (state_path_.empty()) {
    return;
  }
  // One object per line: cheap to write after every change (no pretty-printing of large
  // objects), still easy to read and to edit by hand or from a test.
  std::string text = "{\"resourceVersion\": " + std::to_string(rv_) + ", \"objects\": [";
  const char* separator = "\n";
  for (const auto& [id, objects] : by_resource_) {
    for (const auto& [key, object] : objects) {
      text += separator;
      text += object.dump(-1, ' ', false, json::error_handler_t::replace);
      separator = ",\n";
    }
  }
  text += "\n]}\n";
  // Written beside the target and renamed over it: a stand-in killed mid-write leaves the
  // previous complete state, never half a file.
  const std::string tmp = state_path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      save_error_ = "cannot write " + tmp;
      return;
    }
  }
  if (std::rename(tmp.c_str(), state_path_.c_str()) != 0) {
    save_error_ = "cannot rename " + tmp + " to " + state_path_;
    return;
  }
  save_error_.clear();
}

}  // namespace lintel::standin
