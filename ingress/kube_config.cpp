#include "ingress/kube_config.h"

#include "ingress/base64.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <vector>

namespace lintel::ingress {

namespace {

constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";
// Credentials and CA bundles are small; a larger file is a wrong path, not a certificate.
constexpr std::uintmax_t kMaxCredentialFile = 4 * 1024 * 1024;

tls::Result<std::string> read_small_file(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    return tls::Error{"cannot read " + path + ": " + ec.message()};
  }
  if (size > kMaxCredentialFile) {
    return tls::Error{"cannot read " + path + ": larger than 4 MiB"};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return tls::Error{"cannot read " + path + ": " + std::strerror(errno)};
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string trim(std::string s) {
  const char* space = " \t\r\n";
  s.erase(0, s.find_first_not_of(space));
  s.erase(s.find_last_not_of(space) + 1);
  return s;
}

bool is_ipv6_literal(const std::string& host) { return host.find(':') != std::string::npos; }

class KubeconfigReader {
 public:
  KubeconfigReader(std::string file) : file_(std::move(file)) {
    dir_ = std::filesystem::path(file_).parent_path();
  }

  tls::Error error(const std::string& field, const std::string& message) const {
    return tls::Error{"kubeconfig " + file_ + ": " + (field.empty() ? "" : field + ": ") + message};
  }

  std::string resolve(const std::string& path) const {
    if (path.empty() || std::filesystem::path(path).is_absolute()) {
      return path;
    }
    return (dir_ / path).lexically_normal().string();
  }

  // A scalar field as a string; `present` false when absent or null.
  static std::optional<std::string> scalar(const YAML::Node& parent, const char* key) {
    YAML::Node node = parent[key];
    if (!node || node.IsNull()) {
      return std::nullopt;
    }
    if (!node.IsScalar()) {
      return std::string("\x01");  // marker: not a scalar; caller reports
    }
    return node.as<std::string>();
  }

  tls::Result<std::string> string_field(const YAML::Node& parent, const char* key,
                                        const std::string& path) const {
    auto value = scalar(parent, key);
    if (!value) {
      return std::string();
    }
    if (*value == "\x01") {
      return error(path + "." + key, "is not a string");
    }
    return *value;
  }

  // `key` (a file path) or `key`-data (base64): the bytes of whichever is set.
  tls::Result<std::string> file_or_data(const YAML::Node& parent, const std::string& key,
                                        const std::string& path) const {
    auto data = string_field(parent, (key + "-data").c_str(), path);
    if (!data) {
      return data.error();
    }
    if (!data->empty()) {
      auto bytes = base64_decode(*data);
      if (!bytes || bytes->empty()) {
        return error(path + "." + key + "-data", "is not valid base64");
      }
      return *bytes;
    }
    auto file = string_field(parent, key.c_str(), path);
    if (!file) {
      return file.error();
    }
    if (file->empty()) {
      return std::string();
    }
    auto bytes = read_small_file(resolve(*file));
    if (!bytes) {
      return error(path + "." + key, bytes.error().message);
    }
    return *bytes;
  }

  // The entry of list `list` (clusters, users, contexts) named `name`: its `inner` map.
  tls::Result<YAML::Node> named(const YAML::Node& root, const char* list, const char* inner,
                                const std::string& name, const std::string& referrer) const {
    YAML::Node entries = root[list];
    if (entries && entries.IsSequence()) {
      for (const YAML::Node& entry : entries) {
        if (entry.IsMap() && entry["name"] && entry["name"].IsScalar() &&
            entry["name"].as<std::string>() == name) {
          YAML::Node body = entry[inner];
          if (!body || !body.IsMap()) {
            return error(std::string(list) + "[" + name + "]." + inner, "is missing or not a map");
          }
          return body;
        }
      }
    }
    return error(referrer, "names \"" + name + "\", which is not in " + list);
  }

  tls::Result<KubeConfig> read(const std::string& text, const std::string& wanted_context) {
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      return error("", "not valid YAML: " + std::string(e.what()));
    }
    if (!root.IsMap()) {
      return error("", "is not a kubeconfig (a YAML map with clusters, users and contexts)");
    }
    try {
      return read_root(root, wanted_context);
    } catch (const YAML::Exception& e) {
      // as<std::string>() on odd nodes; every field is checked first, this is a backstop.
      return error("", std::string(e.what()));
    }
  }

  tls::Result<KubeConfig> read_root(const YAML::Node& root, const std::string& wanted_context) {
    KubeConfig config;
    std::string context_name = wanted_context;
    std::string context_field = "--context";
    if (context_name.empty()) {
      auto current = string_field(root, "current-context", "");
      if (!current) {
        return current.error();
      }
      if (current->empty()) {
        return error("current-context", "is not set (pass --context NAME)");
      }
      context_name = *current;
      context_field = "current-context";
    }
    auto context = named(root, "contexts", "context", context_name, context_field);
    if (!context) {
      return context.error();
    }
    const std::string context_path = "contexts[" + context_name + "].context";
    auto cluster_name = string_field(*context, "cluster", context_path);
    auto user_name = string_field(*context, "user", context_path);
    auto ns = string_field(*context, "namespace", context_path);
    if (!cluster_name) return cluster_name.error();
    if (!user_name) return user_name.error();
    if (!ns) return ns.error();
    if (cluster_name->empty()) {
      return error(context_path + ".cluster", "is not set");
    }
    config.namespace_ = *ns;
    config.description = "kubeconfig " + file_ + " (context " + context_name + ")";

    auto cluster = named(root, "clusters", "cluster", *cluster_name, context_path + ".cluster");
    if (!cluster) {
      return cluster.error();
    }
    const std::string cluster_path = "clusters[" + *cluster_name + "].cluster";
    auto server = string_field(*cluster, "server", cluster_path);
    if (!server) return server.error();
    if (server->empty()) {
      return error(cluster_path + ".server", "is not set");
    }
    std::string url_error;
    if (!split_server_url(*server, config.host, config.port, url_error)) {
      return error(cluster_path + ".server", url_error);
    }
    config.server = *server;
    auto server_name = string_field(*cluster, "tls-server-name", cluster_path);
    if (!server_name) return server_name.error();
    config.server_name = server_name->empty() ? config.host : *server_name;

    YAML::Node insecure = (*cluster)["insecure-skip-tls-verify"];
    if (insecure && !insecure.IsNull()) {
      bool value = false;
      if (!insecure.IsScalar() || !YAML::convert<bool>::decode(insecure, value)) {
        return error(cluster_path + ".insecure-skip-tls-verify", "is not true or false");
      }
      config.insecure_skip_tls_verify = value;
    }
    auto ca = file_or_data(*cluster, "certificate-authority", cluster_path);
    if (!ca) return ca.error();
    config.ca_pem = *ca;
    if (config.ca_pem.empty() && !config.insecure_skip_tls_verify) {
      // kubectl would fall back to the system trust store; an API server with a public
      // certificate is rare and silently trusting every public CA is not what we want.
      return error(cluster_path + ".certificate-authority",
                   "neither certificate-authority nor certificate-authority-data is set (or "
                   "set insecure-skip-tls-verify: true)");
    }

    if (!user_name->empty()) {
      auto user = named(root, "users", "user", *user_name, context_path + ".user");
      if (!user) {
        return user.error();
      }
      const std::string user_path = "users[" + *user_name + "].user";
      for (const char* unsupported : {"exec", "auth-provider", "username"}) {
        if ((*user)[unsupported] && !(*user)[unsupported].IsNull()) {
          return error(user_path + "." + unsupported,
                       "is not supported (use token, tokenFile or a client certificate)");
        }
      }
      auto token = string_field(*user, "token", user_path);
      auto token_file = string_field(*user, "tokenFile", user_path);
      if (!token) return token.error();
      if (!token_file) return token_file.error();
      config.token = trim(*token);
      if (config.token.empty() && !token_file->empty()) {
        config.token_file = resolve(*token_file);
        auto first = read_token_file(config.token_file);
        if (!first) {
          return error(user_path + ".tokenFile", first.error().message);
        }
      }
      auto cert = file_or_data(*user, "client-certificate", user_path);
      if (!cert) return cert.error();
      auto key = file_or_data(*user, "client-key", user_path);
      if (!key) return key.error();
      if (cert->empty() != key->empty()) {
        return error(user_path + (cert->empty() ? ".client-certificate" : ".client-key"),
                     "is not set, but its pair is (a client certificate needs both)");
      }
      config.client_cert_pem = *cert;
      config.client_key_pem = *key;
    }
    return config;
  }

 private:
  std::string file_;
  std::filesystem::path dir_;
};

}  // namespace

std::string service_account_dir() {
  const char* dir = std::getenv("LINTEL_SERVICEACCOUNT_DIR");
  return dir != nullptr && *dir != '\0' ? dir : kServiceAccountDir;
}

bool split_server_url(const std::string& url, std::string& host, std::string& port,
                      std::string& error) {
  constexpr std::string_view kScheme = "https://";
  if (url.rfind(kScheme, 0) != 0) {
    error = "\"" + url + "\" is not an https:// URL (Lintel talks to the API server over TLS only)";
    return false;
  }
  std::string rest = url.substr(kScheme.size());
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    if (rest.find_first_not_of('/', slash) != std::string::npos) {
      error = "\"" + url + "\" has a path; a server URL with a path prefix is not supported";
      return false;
    }
    rest.resize(slash);
  }
  port = "443";
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos) {
      error = "\"" + url + "\" has an unclosed [ in its host";
      return false;
    }
    host = rest.substr(1, close - 1);
    std::string after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "\"" + url + "\" has junk after the IPv6 address";
        return false;
      }
      port = after.substr(1);
    }
  } else if (size_t colon = rest.rfind(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  } else {
    host = rest;
  }
  if (host.empty()) {
    error = "\"" + url + "\" has no host";
    return false;
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) == 0 ||
      std::stoi(port) > 65535) {
    error = "\"" + url + "\" has an invalid port";
    return false;
  }
  return true;
}

tls::Result<std::string> read_token_file(const std::string& path) {
  auto text = read_small_file(path);
  if (!text) {
    return text.error();
  }
  std::string token = trim(*text);
  if (token.empty()) {
    return tls::Error{path + " is empty"};
  }
  return token;
}

tls::Result<KubeConfig> load_in_cluster_config(
    const std::function<const char*(const char*)>& getenv_fn) {
  auto env = [&](const char* name) -> std::string {
    const char* value = getenv_fn ? getenv_fn(name) : std::getenv(name);
    return value == nullptr ? std::string() : std::string(value);
  };
  const std::string host = env("KUBERNETES_SERVICE_HOST");
  std::string port = env("KUBERNETES_SERVICE_PORT");
  if (host.empty() || port.empty()) {
    return tls::Error{
        "--kube: not running in a cluster (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
        "must both be set; use --kubeconfig outside a cluster)"};
  }
  KubeConfig config;
  // net.JoinHostPort: an IPv6 literal goes in brackets.
  config.server = "https://" + (is_ipv6_literal(host) ? "[" + host + "]" : host) + ":" + port;
  std::string url_error;
  if (!split_server_url(config.server, config.host, config.port, url_error)) {
    return tls::Error{"--kube: KUBERNETES_SERVICE_HOST/_PORT: " + url_error};
  }
  config.server_name = config.host;
  std::string dir = getenv_fn ? env("LINTEL_SERVICEACCOUNT_DIR") : service_account_dir();
  if (dir.empty()) {
    dir = kServiceAccountDir;
  }
  config.description = "in-cluster service account (" + dir + ")";
  config.token_file = dir + "/token";
  if (auto token = read_token_file(config.token_file); !token) {
    return tls::Error{"--kube: service account token: " + token.error().message};
  }
  auto ca = read_small_file(dir + "/ca.crt");
  if (!ca || ca->empty()) {
    return tls::Error{"--kube: service account ca.crt: " +
                      (ca ? dir + "/ca.crt is empty" : ca.error().message)};
  }
  config.ca_pem = *ca;
  if (auto ns = read_small_file(dir + "/namespace")) {
    config.namespace_ = trim(*ns);
  }
  return config;
}

tls::Result<KubeConfig> parse_kubeconfig(const std::string& text, const std::string& file,
                                         const std::string& context) {
  KubeconfigReader reader(file);
  return reader.read(text, context);
}

tls::Result<KubeConfig> load_kubeconfig(const std::string& file, const std::string& context) {
  auto text = read_small_file(file);
  if (!text) {
    return tls::Error{"kubeconfig " + file + ": " + text.error().message};
  }
  return parse_kubeconfig(*text, file, context);
}

}  // namespace lintel::ingress
