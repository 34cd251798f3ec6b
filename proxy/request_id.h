#pragma once
// X-Request-ID values: 32 hex characters (128 random bits) from a per-worker generator, so
// no lock is shared between workers. Not cryptographic: the id correlates log lines, it
// authorizes nothing.
//
// Thread: one generator per worker, used on that worker's thread only.

#include <cstdint>
#include <random>
#include <string>

namespace lintel::proxy {

class RequestIdGenerator {
 public:
  RequestIdGenerator() : engine_(std::random_device{}()) {}
  explicit RequestIdGenerator(uint64_t seed) : engine_(seed) {}

  std::string next() {
    std::string out;
    next(out);
    return out;
  }

  // The same into `out` (replacing its content), reusing its capacity.
  void next(std::string& out) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.assign(32, '0');
    for (int word = 0; word < 2; ++word) {
      uint64_t bits = engine_();
      for (int i = 0; i < 16; ++i, bits >>= 4) out[word * 16 + i] = kHex[bits & 0xf];
    }
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace lintel::proxy
