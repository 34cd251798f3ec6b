#pragma once
// ClusterState: every object Lintel knows, by kind and "namespace/name". Both sources
// (the manifest folder now, the Kubernetes API later) fill the same type, and the
// compiler reads only this.
//
// Thread: owned and mutated by the control thread; the compiler reads a const reference.

#include <map>
#include <string>
#include <vector>

#include "ingress/model.h"

namespace lintel::ingress {

// "namespace/name", or "name" for cluster-scoped kinds (IngressClass).
std::string object_key(const ObjectMeta& meta, bool namespaced = true);

struct ClusterState {
  std::map<std::string, Ingress> ingresses;
  std::map<std::string, IngressClass> ingress_classes;  // key: name
  std::map<std::string, Service> services;
  std::map<std::string, EndpointSlice> endpoint_slices;
  std::map<std::string, Secret> secrets;

  // Inserts or replaces by key. Returns false (and leaves the state unchanged) when an
  // object with the same kind and key is already present and `replace` is false.
  bool put(Object object, bool replace = true);
  size_t size() const;
};

}  // namespace lintel::ingress
