#pragma once
// One decoder for files and (later) the API server: YAML is first converted to the same
// JSON form (with a side table of line numbers), then JSON is decoded into the typed model.
//
// Errors are values: a wrong type or a missing required field becomes a Diagnostic naming
// the file, line, object and field path, e.g.
//   examples/app.yaml:14 Ingress default/web: spec.rules[0].http.paths[1].pathType:
//     "prefix" is not one of Exact, Prefix, ImplementationSpecific
// Unknown fields are ignored. Kinds Lintel does not read (Deployment, ConfigMap, ...) are
// skipped silently; `kind: List` items are decoded one by one. Secrets whose type is not
// kubernetes.io/tls are skipped.
//
// Thread: pure functions, any thread. yaml-cpp and nlohmann::json exceptions never escape.

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "ingress/model.h"
#include "routing/diagnostic.h"

namespace lintel::ingress {

struct DecodeResult {
  std::vector<Object> objects;
  // Rejected objects and unparseable documents. An object with an error is not in
  // `objects`; the other objects of the same file are. Also warnings (severity kWarning,
  // rejected false) for documents skipped for a reason worth saying: a known kind at an
  // unsupported apiVersion (e.g. networking.k8s.io/v1beta1), a document that is not an object
  // or has no kind. Within one object, errors are in line order.
  std::vector<routing::Diagnostic> errors;
  // True when the file as a whole could not be parsed (YAML/JSON syntax error): the
  // manifest source then keeps the file's last good content. The one diagnostic then reads
  // "file:LINE: YAML syntax error: ..." (object "file:LINE", where and field empty).
  bool syntax_error = false;
};

// Decodes a whole file; the format is chosen by extension (.json → JSON, else YAML,
// multi-document). `file` is used in messages only.
DecodeResult decode_file(std::string_view content, const std::string& file);

// Decodes one JSON document (text), e.g. an API server response item.
DecodeResult decode_json(std::string_view json_text, const Origin& origin);

// status.loadBalancer.ingress of an API object (Ingress or Service), sorted and without
// duplicates. Lenient: status is written by controllers, not users, so entries that are not
// objects or have neither ip nor hostname are skipped rather than reported.
LoadBalancerStatus decode_load_balancer_status(const nlohmann::json& object);

// An RFC 1123 subdomain as the API validates names and hosts ("a.example-1.com").
bool is_dns_subdomain(std::string_view name);

}  // namespace lintel::ingress
