#include "ingress/cluster_state.h"

namespace lintel::ingress {

std::string object_key(const ObjectMeta& meta, bool namespaced) {
  if (!namespaced) {
    return meta.name;
  }
  return meta.namespace_ + "/" + meta.name;
}

namespace {
template <class T>
bool put_into(std::map<std::string, T>& map, std::string key, T&& value, bool replace) {
  auto [it, inserted] = map.try_emplace(std::move(key), std::move(value));
  if (!inserted) {
    if (!replace) {
      return false;
    }
    it->second = std::move(value);
  }
  return true;
}
}  // namespace

bool ClusterState::put(Object object, bool replace) {
  return std::visit(
      [&](auto&& o) -> bool {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, Ingress>) {
          return put_into(ingresses, object_key(o.metadata), std::move(o), replace);
        } else if constexpr (std::is_same_v<T, IngressClass>) {
          return put_into(ingress_classes, object_key(o.metadata, false), std::move(o), replace);
        } else if constexpr (std::is_same_v<T, Service>) {
          return put_into(services, object_key(o.metadata), std::move(o), replace);
        } else if constexpr (std::is_same_v<T, EndpointSlice>) {
          return put_into(endpoint_slices, object_key(o.metadata), std::move(o), replace);
        } else {
          return put_into(secrets, object_key(o.metadata), std::move(o), replace);
        }
      },
      std::move(object));
}

size_t ClusterState::size() const {
  return ingresses.size() + ingress_classes.size() + services.size() + endpoint_slices.size() +
         secrets.size();
}

}  // namespace lintel::ingress
