#pragma once
// Just enough of the Kubernetes protobuf encoding for what kubectl's typed clients POST:
// `kubectl create namespace|configmap|secret` send application/vnd.kubernetes.protobuf and
// do not fall back to JSON on 415. Decodes the "k8s\0" envelope (runtime.Unknown) and, for
// Namespace, ConfigMap and Secret (v1), the fields those commands set: metadata (name,
// generateName, namespace, labels, annotations, finalizers), data, binaryData, stringData,
// type, immutable, spec.finalizers. Everything else is refused with a message that says
// to send JSON (`kubectl create -f`).
//
// Thread: any (pure function).

#include <optional>
#include <string>
#include <string_view>

#include "standin/resources.h"

namespace lintel::standin {

inline constexpr std::string_view kProtobufMediaType = "application/vnd.kubernetes.protobuf";

// The object as JSON (with apiVersion and kind), or nullopt and `error` set.
std::optional<json> decode_protobuf_object(std::string_view body, std::string& error);

}  // namespace lintel::standin
