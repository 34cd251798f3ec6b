#pragma once
// How to reach the Kubernetes API server: in-cluster (service account) or a kubeconfig.
//
// In-cluster (client-go rest.InClusterConfig): https://$KUBERNETES_SERVICE_HOST:
// $KUBERNETES_SERVICE_PORT (an IPv6 host is bracketed), the token, ca.crt and namespace
// files under /var/run/secrets/kubernetes.io/serviceaccount (LINTEL_SERVICEACCOUNT_DIR
// overrides the folder, for tests). The API server's certificate is valid for the
// KUBERNETES_SERVICE_HOST address, not for kubernetes.default.svc, so that address is the
// name we verify.
//
// Kubeconfig: the context (current-context, or the one named), its cluster (server,
// certificate-authority[-data], insecure-skip-tls-verify, tls-server-name) and user
// (token, tokenFile, client-certificate[-data], client-key[-data]). Relative paths are
// relative to the kubeconfig's folder, as kubectl resolves them. exec and auth-provider
// plugins are not supported (an error naming the field, not a silent anonymous client).
//
// Every error is one line naming the file and the field, e.g.
//   kubeconfig /home/me/.kube/config: users[admin].user.client-key: cannot read
//   /home/me/.kube/admin.key: No such file or directory
//
// Thread: pure functions except for reading the named files; any thread.

#include <functional>
#include <optional>
#include <string>

#include "tls/result.h"

namespace lintel::ingress {

struct KubeConfig {
  std::string server;  // "https://host:port" as configured
  std::string host;    // without brackets; what we connect to
  std::string port;    // "443" when the URL has none
  // The name the server certificate must carry (tls-server-name, else `host`). An IP
  // literal is checked against the certificate's IP SANs.
  std::string server_name;
  std::string ca_pem;  // the only trust anchors; empty only with insecure_skip_tls_verify
  bool insecure_skip_tls_verify = false;
  // Credentials: a static token, or a token file re-read every minute and after a 401.
  std::string token;
  std::string token_file;
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string namespace_;  // the pod's (in-cluster) or the context's namespace; may be ""
  // "kubeconfig FILE (context NAME)" or "in-cluster service account (DIR)", for log lines.
  std::string description;
};

// The in-cluster folder: $LINTEL_SERVICEACCOUNT_DIR if set, else the standard one.
std::string service_account_dir();

// `env` is looked up through `getenv` (tests pass their own).
tls::Result<KubeConfig> load_in_cluster_config(
    const std::function<const char*(const char*)>& getenv_fn = nullptr);

// `context` empty: the file's current-context.
tls::Result<KubeConfig> load_kubeconfig(const std::string& file, const std::string& context = {});
// The same from text already read (`file` names it in messages and anchors relative paths).
tls::Result<KubeConfig> parse_kubeconfig(const std::string& text, const std::string& file,
                                         const std::string& context = {});

// Splits "https://host:port/" into host and port (IPv6 in brackets). Only https.
bool split_server_url(const std::string& url, std::string& host, std::string& port,
                      std::string& error);

// Reads a token file: the whole file minus surrounding whitespace. Empty is an error.
tls::Result<std::string> read_token_file(const std::string& path);

}  // namespace lintel::ingress
