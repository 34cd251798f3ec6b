#pragma once
// Errors as values for the tls/ library. Everything in tls/ that can fail for a reason an
// operator should read (a bad Secret, a missing file, a key that does not match) returns a
// Result<T> or a Status instead of throwing, so the compiler can turn the message into a
// diagnostic and carry on with the next object.
//
// Thread: plain values; any thread.

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace lintel::tls {

// A human-readable reason, already complete: "tls.key does not match the certificate".
// When OpenSSL was involved, its error queue has been drained into the message.
struct Error {
  std::string message;
};

// Either a T or an Error. Deliberately tiny: std::expected is C++23 and GCC 12 in C++20
// mode does not provide it.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// The outcome of a check: std::nullopt when everything is fine, else the reason.
//   if (Status bad = key.check_validity(now)) diags.push_back(bad->message);
using Status = std::optional<Error>;

}  // namespace lintel::tls
