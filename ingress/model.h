#pragma once
// Typed Kubernetes objects Lintel reads. Only the fields the compiler needs are kept;
// unknown fields are ignored by the decoder (ingress/decode.h). Names follow the API
// (networking.k8s.io/v1, v1, discovery.k8s.io/v1) in snake_case.
//
// Thread: plain values; built on the control thread, then read-only.

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace lintel::ingress {

// Where an object was read from, so every message can point at it.
// For files: path, 1-based document index in a multi-document YAML file, and the
// 1-based line where the document starts. For the API (later): file is empty.
struct Origin {
  std::string file;
  int document = 0;
  int line = 0;
};

struct ObjectMeta {
  std::string name;
  std::string namespace_;           // "default" when absent in a manifest
  std::string creation_timestamp;   // RFC 3339 as written ("" when absent: sorts first)
  std::string resource_version;
  std::string uid;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
};

// An int-or-string (Service targetPort, Ingress backend port).
struct IntOrString {
  std::optional<int32_t> number;
  std::string name;  // used when number is empty
  bool empty() const { return !number && name.empty(); }
};

// ---- networking.k8s.io/v1 Ingress ----
enum class PathType { kExact, kPrefix, kImplementationSpecific };

struct ServiceBackendPort {
  std::optional<int32_t> number;
  std::string name;  // exactly one of number / name is set after decoding
};

struct IngressServiceBackend {
  std::string name;
  ServiceBackendPort port;
};

// A `resource` backend (TypedLocalObjectReference). Lintel does not serve these; the
// compiler reports them.
struct TypedLocalObjectReference {
  std::string api_group;
  std::string kind;
  std::string name;
};

struct IngressBackend {
  std::optional<IngressServiceBackend> service;
  std::optional<TypedLocalObjectReference> resource;
};

struct HttpIngressPath {
  std::string path;  // "" when absent (the API defaults nothing; the compiler treats "" as "/")
  PathType path_type = PathType::kPrefix;
  IngressBackend backend;
};

struct IngressRule {
  std::string host;  // "" = any host
  std::vector<HttpIngressPath> paths;  // spec.rules[i].http.paths
};

struct IngressTls {
  std::vector<std::string> hosts;
  std::string secret_name;
};

struct IngressSpec {
  std::optional<std::string> ingress_class_name;
  std::optional<IngressBackend> default_backend;
  std::vector<IngressTls> tls;
  std::vector<IngressRule> rules;
};

struct Ingress {
  ObjectMeta metadata;
  IngressSpec spec;
  Origin origin;
};

// ---- networking.k8s.io/v1 IngressClass ----
struct IngressClass {
  ObjectMeta metadata;
  std::string controller;  // spec.controller
  // annotation ingressclass.kubernetes.io/is-default-class == "true"
  bool is_default = false;
  Origin origin;
};

// ---- v1 Service ----
struct ServicePort {
  std::string name;
  std::string protocol = "TCP";
  int32_t port = 0;
  IntOrString target_port;  // empty = same as port
};

struct Service {
  ObjectMeta metadata;
  std::string type = "ClusterIP";  // ClusterIP, NodePort, LoadBalancer, ExternalName
  std::string external_name;
  std::vector<ServicePort> ports;
  Origin origin;
};

// ---- discovery.k8s.io/v1 EndpointSlice ----
struct EndpointConditions {
  std::optional<bool> ready;  // nil means ready (API doc: "should be interpreted as true")
  std::optional<bool> serving;
  std::optional<bool> terminating;
};

struct SliceEndpoint {
  std::vector<std::string> addresses;
  EndpointConditions conditions;
};

struct EndpointPort {
  std::optional<std::string> name;  // nil and "" are the same: the unnamed port
  std::optional<int32_t> port;
  std::string protocol = "TCP";
};

struct EndpointSlice {
  ObjectMeta metadata;
  std::string address_type;  // IPv4, IPv6, FQDN
  std::vector<SliceEndpoint> endpoints;
  std::vector<EndpointPort> ports;
  // metadata.labels["kubernetes.io/service-name"], copied out for convenience
  std::string service_name;
  Origin origin;
};

// ---- v1 Secret (only type kubernetes.io/tls is kept by sources; others are skipped) ----
struct Secret {
  ObjectMeta metadata;
  std::string type;
  std::map<std::string, std::string> data;  // base64-decoded bytes (data ∪ stringData)
  Origin origin;
};

// ---- status.loadBalancer.ingress[] of an Ingress or a Service ----
// Read from the API (never from manifests, never by the compiler): what Lintel publishes as
// the Ingresses' addresses, and what it copies from the --publish-service Service.
struct LoadBalancerIngress {
  std::string ip;        // exactly one of ip / hostname is set
  std::string hostname;
  size_t ports = 0;      // entries in ports[] (Lintel writes none)
  auto operator<=>(const LoadBalancerIngress&) const = default;
};
using LoadBalancerStatus = std::vector<LoadBalancerIngress>;

using Object = std::variant<Ingress, IngressClass, Service, EndpointSlice, Secret>;

// "Ingress", "Service", ... for messages.
const char* kind_name(const Object& object);
const ObjectMeta& meta_of(const Object& object);
const Origin& origin_of(const Object& object);
// "Ingress default/web" (cluster-scoped kinds: "IngressClass lintel").
std::string describe(const Object& object);

}  // namespace lintel::ingress
