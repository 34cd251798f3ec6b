#include "ingress/model.h"

namespace lintel::ingress {

namespace {
template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
}  // namespace

const char* kind_name(const Object& object) {
  return std::visit(Overloaded{
                        [](const Ingress&) { return "Ingress"; },
                        [](const IngressClass&) { return "IngressClass"; },
                        [](const Service&) { return "Service"; },
                        [](const EndpointSlice&) { return "EndpointSlice"; },
                        [](const Secret&) { return "Secret"; },
                    },
                    object);
}

const ObjectMeta& meta_of(const Object& object) {
  return std::visit([](const auto& o) -> const ObjectMeta& { return o.metadata; }, object);
}

const Origin& origin_of(const Object& object) {
  return std::visit([](const auto& o) -> const Origin& { return o.origin; }, object);
}

std::string describe(const Object& object) {
  const ObjectMeta& meta = meta_of(object);
  std::string out = kind_name(object);
  out += ' ';
  if (!std::holds_alternative<IngressClass>(object)) {
    out += meta.namespace_;
    out += '/';
  }
  out += meta.name;
  return out;
}

}  // namespace lintel::ingress
