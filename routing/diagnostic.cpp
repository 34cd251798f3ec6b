#include "routing/diagnostic.h"

namespace lintel::routing {

std::string Diagnostic::to_string() const {
  std::string out;
  if (!where.empty()) {
    out += where;
    out += ' ';
  }
  out += object.empty() ? std::string("(unknown object)") : object;
  out += ": ";
  if (!field.empty()) {
    out += field;
    out += ": ";
  }
  out += message;
  return out;
}

}  // namespace lintel::routing
