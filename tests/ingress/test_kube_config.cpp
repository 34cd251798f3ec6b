// Kubeconfig and in-cluster configuration: every field Lintel reads, the -data variants,
// relative paths, and errors that name the file and the field.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "ingress/kube_config.h"

namespace lintel::ingress {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "lintel-kubeconfig-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) {
      path_ = pattern;
    }
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    fs::path file = path_ / name;
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << text;
    return file.string();
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

const std::string kCa = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
const std::string kCert = "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n";
const std::string kKey = "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n";

std::string base64(const std::string& in) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += table[(v >> s) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// A kubeconfig with two contexts; `cluster` and `user` are the bodies of the first ones.
std::string kubeconfig(const std::string& cluster, const std::string& user,
                       const std::string& current = "main") {
  return "apiVersion: v1\nkind: Config\ncurrent-context: " + current +
         "\n"
         "clusters:\n- name: c1\n  cluster:\n" +
         cluster +
         "- name: c2\n  cluster:\n    server: https://[fd00::1]:6443\n"
         "    insecure-skip-tls-verify: true\n"
         "users:\n- name: u1\n  user:\n" +
         user +
         "- name: u2\n  user:\n    token: second-token\n"
         "contexts:\n"
         "- name: main\n  context:\n    cluster: c1\n    user: u1\n    namespace: shop\n"
         "- name: other\n  context:\n    cluster: c2\n    user: u2\n";
}

TEST(Kubeconfig, FilesRelativeToTheKubeconfigFolder) {
  TempDir dir;
  dir.write("pki/ca.crt", kCa);
  dir.write("pki/client.crt", kCert);
  dir.write("pki/client.key", kKey);
  dir.write("token", "  file-token\n");
  std::string file =
      dir.write("conf/config", kubeconfig("    server: https://127.0.0.1:6443\n"
                                          "    certificate-authority: ../pki/ca.crt\n",
                                          "    tokenFile: ../token\n"
                                          "    client-certificate: ../pki/client.crt\n"
                                          "    client-key: " +
                                              (dir.path() / "pki/client.key").string() + "\n"));
  auto config = load_kubeconfig(file);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->server, "https://127.0.0.1:6443");
  EXPECT_EQ(config->host, "127.0.0.1");
  EXPECT_EQ(config->port, "6443");
  EXPECT_EQ(config->server_name, "127.0.0.1");
  EXPECT_EQ(config->ca_pem, kCa);
  EXPECT_FALSE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->token, "");
  EXPECT_EQ(fs::path(config->token_file), (dir.path() / "token").lexically_normal());
  EXPECT_EQ(config->client_cert_pem, kCert);
  EXPECT_EQ(config->client_key_pem, kKey);
  EXPECT_EQ(config->namespace_, "shop");
  EXPECT_NE(config->description.find(file), std::string::npos);
  EXPECT_NE(config->description.find("context main"), std::string::npos);
  auto token = read_token_file(config->token_file);
  ASSERT_TRUE(token);
  EXPECT_EQ(*token, "file-token");
}

TEST(Kubeconfig, DataVariantsAndStaticToken) {
  TempDir dir;
  std::string file =
      dir.write("config", kubeconfig("    server: https://api.example.test\n"
                                     "    certificate-authority-data: " +
                                         base64(kCa) +
                                         "\n"
                                         "    tls-server-name: kubernetes.default.svc\n",
                                     "    token: static-token\n"
                                     "    client-certificate-data: " +
                                         base64(kCert) +
                                         "\n"
                                         "    client-key-data: " +
                                         base64(kKey) + "\n"));
  auto config = load_kubeconfig(file);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->host, "api.example.test");
  EXPECT_EQ(config->port, "443");
  EXPECT_EQ(config->server_name, "kubernetes.default.svc");
  EXPECT_EQ(config->ca_pem, kCa);
  EXPECT_EQ(config->token, "static-token");
  EXPECT_EQ(config->token_file, "");
  EXPECT_EQ(config->client_cert_pem, kCert);
  EXPECT_EQ(config->client_key_pem, kKey);
}

TEST(Kubeconfig, ContextByNameAndInsecureIPv6) {
  TempDir dir;
  std::string file = dir.write("config", kubeconfig("    server: https://127.0.0.1:1\n"
                                                    "    certificate-authority-data: " +
                                                        base64(kCa) + "\n",
                                                    "    token: t\n"));
  auto config = load_kubeconfig(file, "other");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->host, "fd00::1");
  EXPECT_EQ(config->port, "6443");
  EXPECT_TRUE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->ca_pem, "");
  EXPECT_EQ(config->token, "second-token");
  EXPECT_EQ(config->namespace_, "");
}

struct ErrorCase {
  const char* name;
  std::string cluster;
  std::string user;
  std::string current;
  std::string context;
  std::string field;  // expected in the message after "kubeconfig FILE: "
};

TEST(Kubeconfig, ErrorsNameTheFileAndTheField) {
  const std::string ca = "    certificate-authority-data: " + base64(kCa) + "\n";
  const std::string server = "    server: https://127.0.0.1:6443\n";
  const std::vector<ErrorCase> cases = {
      {"http server", "    server: http://127.0.0.1:8080\n" + ca, "    token: t\n", "main", "",
       "clusters[c1].cluster.server: \"http://127.0.0.1:8080\" is not an https:// URL"},
      {"no server", ca, "    token: t\n", "main", "", "clusters[c1].cluster.server: is not set"},
      {"bad port", "    server: https://127.0.0.1:99999\n" + ca, "    token: t\n", "main", "",
       "clusters[c1].cluster.server"},
      {"no CA", server, "    token: t\n", "main", "", "clusters[c1].cluster.certificate-authority"},
      {"CA file missing", server + "    certificate-authority: nope/ca.crt\n", "    token: t\n",
       "main", "", "clusters[c1].cluster.certificate-authority: cannot read"},
      {"bad base64", server + "    certificate-authority-data: '!!!'\n", "    token: t\n", "main",
       "", "clusters[c1].cluster.certificate-authority-data: is not valid base64"},
      {"insecure not bool", server + ca + "    insecure-skip-tls-verify: maybe\n", "    token: t\n",
       "main", "", "clusters[c1].cluster.insecure-skip-tls-verify"},
      {"token file missing", server + ca, "    tokenFile: missing-token\n", "main", "",
       "users[u1].user.tokenFile: cannot read"},
      {"key without cert", server + ca, "    client-key-data: " + base64(kKey) + "\n", "main", "",
       "users[u1].user.client-certificate"},
      {"exec plugin", server + ca, "    exec:\n      command: aws\n", "main", "",
       "users[u1].user.exec: is not supported"},
      {"unknown context", server + ca, "    token: t\n", "main", "nope",
       "--context: names \"nope\", which is not in contexts"},
      {"unknown current", server + ca, "    token: t\n", "gone", "",
       "current-context: names \"gone\", which is not in contexts"},
      {"no current", server + ca, "    token: t\n", "\"\"", "", "current-context: is not set"},
  };
  TempDir dir;
  for (const ErrorCase& c : cases) {
    std::string file = dir.write("config", kubeconfig(c.cluster, c.user, c.current));
    auto config = load_kubeconfig(file, c.context);
    ASSERT_FALSE(config) << c.name;
    EXPECT_EQ(config.error().message.rfind("kubeconfig " + file + ": ", 0), 0u)
        << c.name << ": " << config.error().message;
    EXPECT_NE(config.error().message.find(c.field), std::string::npos)
        << c.name << ": " << config.error().message;
    EXPECT_EQ(config.error().message.find('\n'), std::string::npos) << c.name;
  }
}

TEST(Kubeconfig, UnreadableOrNotYaml) {
  TempDir dir;
  auto missing = load_kubeconfig((dir.path() / "nope").string());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("kubeconfig " + (dir.path() / "nope").string() +
                                         ": cannot read"),
            std::string::npos);
  std::string file = dir.write("config", "clusters: [\n");
  auto bad = load_kubeconfig(file);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("not valid YAML"), std::string::npos);
  file = dir.write("config2", "just a string\n");
  EXPECT_FALSE(load_kubeconfig(file));
}

TEST(ServerUrl, Splits) {
  std::string host, port, error;
  ASSERT_TRUE(split_server_url("https://[::1]:6443", host, port, error));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, "6443");
  ASSERT_TRUE(split_server_url("https://k8s.local/", host, port, error));
  EXPECT_EQ(host, "k8s.local");
  EXPECT_EQ(port, "443");
  EXPECT_FALSE(split_server_url("https://k8s.local/prefix", host, port, error));
  EXPECT_FALSE(split_server_url("https://[::1:6443", host, port, error));
  EXPECT_FALSE(split_server_url("https://:6443", host, port, error));
  EXPECT_FALSE(split_server_url("k8s.local:6443", host, port, error));
}

TEST(InCluster, ReadsTheServiceAccountFolder) {
  TempDir dir;
  dir.write("token", "sa-token\n");
  dir.write("ca.crt", kCa);
  dir.write("namespace", "ingress\n");
  std::map<std::string, std::string> env = {{"KUBERNETES_SERVICE_HOST", "fd00:10::1"},
                                            {"KUBERNETES_SERVICE_PORT", "443"},
                                            {"LINTEL_SERVICEACCOUNT_DIR", dir.path().string()}};
  auto getenv_fn = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  auto config = load_in_cluster_config(getenv_fn);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->server, "https://[fd00:10::1]:443");  // bracketed, as net.JoinHostPort
  EXPECT_EQ(config->host, "fd00:10::1");
  EXPECT_EQ(config->server_name, "fd00:10::1");  // verified against the address we dial
  EXPECT_EQ(config->ca_pem, kCa);
  EXPECT_EQ(config->token, "");
  EXPECT_EQ(config->token_file, dir.path().string() + "/token");  // re-read, never cached
  EXPECT_EQ(config->namespace_, "ingress");

  env.erase("KUBERNETES_SERVICE_PORT");
  auto outside = load_in_cluster_config(getenv_fn);
  ASSERT_FALSE(outside);
  EXPECT_NE(outside.error().message.find("not running in a cluster"), std::string::npos);

  env["KUBERNETES_SERVICE_PORT"] = "443";
  fs::remove(dir.path() / "ca.crt");
  auto no_ca = load_in_cluster_config(getenv_fn);
  ASSERT_FALSE(no_ca);
  EXPECT_NE(no_ca.error().message.find("ca.crt"), std::string::npos);
}

}  // namespace
}  // namespace lintel::ingress
