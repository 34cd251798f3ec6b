#pragma once
// A problem found while reading or compiling configuration. Diagnostics travel inside the
// snapshot so /routes can show them; they are plain strings here because routing/ knows
// nothing about Kubernetes.

#include <string>

namespace lintel::routing {

struct Diagnostic {
  enum class Severity { kWarning, kError };
  Severity severity = Severity::kError;
  // What the problem is about, e.g. "Ingress default/web" or a file name.
  std::string object;
  // Where: "examples/app.yaml:14" (file:line) when known, else "".
  std::string where;
  // The field path, e.g. "spec.rules[0].http.paths[1].pathType", or "".
  std::string field;
  std::string message;
  // True when the object was rejected as a whole (lintel check exits 1 if any is).
  bool rejected = false;
  // What kind of problem, as one CamelCase word in the manner of a Kubernetes Event reason
  // ("Rejected", "PathConflict", "TLSSecretNotFound", ...): the reason of the Event it
  // becomes, and a stable key for tools. Every diagnostic has one. Last member, so that
  // aggregate initialization of the fields above still reads the same.
  std::string reason;

  // "examples/app.yaml:14 Ingress default/web: spec.rules[0]...: message"
  std::string to_string() const;
};

}  // namespace lintel::routing
