#pragma once
// The stand-in's credentials and the files a client needs: a local CA and a serving
// certificate for 127.0.0.1 / ::1 / localhost (IP SANs: clients verify the address they
// dial, KUBE-API.md §1), a random bearer token, and a kubeconfig pointing at all of it.
// Reused from DIR when present, so a restarted stand-in keeps its clients working.
//
// Thread: start-up and the knob handler (blocking file I/O, a few milliseconds).

#include <string>

#include "tls/certificate.h"

namespace lintel::standin {

struct Credentials {
  std::string dir;  // absolute
  std::string ca_pem;
  std::string server_chain_pem;
  std::string server_key_pem;
  std::string token;
};

// Loads DIR/ca.crt+ca.key, DIR/server.crt+server.key and DIR/token when present and
// usable, creates whatever is missing (a new CA re-issues the serving certificate). An
// error message on failure.
tls::Result<Credentials> load_or_create_credentials(const std::string& dir);

// A fresh random token (hex of 32 random bytes).
std::string random_token();

// Writes DIR/token and DIR/kubeconfig (server https://HOST:PORT, certificate-authority
// DIR/ca.crt, the token; one context, current). Atomic per file (written aside, renamed).
tls::Status write_client_files(const Credentials& credentials, const std::string& server_url);

}  // namespace lintel::standin
