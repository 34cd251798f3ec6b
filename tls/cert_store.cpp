#include "tls/cert_store.h"

#include <algorithm>
#include <cctype>

namespace lintel::tls {

void CertStore::add_host(std::string host) {
  std::transform(host.begin(), host.end(), host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  hosts_.insert(std::move(host));
}

}  // namespace lintel::tls
