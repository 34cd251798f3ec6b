#pragma once
// Base64 as Kubernetes writes []byte fields (Secret data, kubeconfig *-data): the standard
// alphabet with padding, as Go's encoding/json decodes it; CR and LF are skipped (Go
// ignores them too), anything else outside the alphabet is an error.
//
// Thread: pure, any thread.

#include <optional>
#include <string>
#include <string_view>

namespace lintel::ingress {

std::optional<std::string> base64_decode(std::string_view in);

}  // namespace lintel::ingress
