#pragma once
// SNI certificate store: host name → certificate (an SSL_CTX), with a default. Filled by
// the compiler from kubernetes.io/tls Secrets and travels in the snapshot beside the
// route table. The HTTPS listener that reads it arrives with the TLS issue; until then
// the store only records which hosts have TLS configured, so routing of plain HTTP can
// already know about them.
//
// Thread: built on the control thread, immutable afterwards, read by any worker.

#include <set>
#include <string>

namespace lintel::tls {

class CertStore {
 public:
  // Hosts (lowercase, may be "*.example.com") covered by a usable certificate.
  const std::set<std::string>& hosts() const { return hosts_; }
  void add_host(std::string host);  // lowercased

 private:
  std::set<std::string> hosts_;
};

}  // namespace lintel::tls
