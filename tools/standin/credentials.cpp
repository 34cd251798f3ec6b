#include "standin/credentials.h"

#include <openssl/bn.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tls/generate.h"
#include "tls/openssl_util.h"

namespace lintel::standin {
namespace {

namespace fs = std::filesystem;
using tls::Error;

std::optional<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

tls::Status write_file(const fs::path& path, const std::string& data, fs::perms perms) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << data;
    out.flush();
    if (!out) {
      return Error{"cannot write " + tmp.string()};
    }
  }
  std::error_code ec;
  fs::permissions(tmp, perms, ec);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return Error{"cannot rename " + tmp.string() + " to " + path.string()};
  }
  return std::nullopt;
}

// tls::issue_certificate takes DNS names only; clients of an API server dial an IP, so the
// serving certificate is built here with IP SANs.
tls::Result<tls::CertifiedKey> issue_serving_certificate(const tls::CertifiedKey& ca) {
  const auto now = tls::Clock::now();
  auto key = tls::generate_key(tls::KeyType::kEcdsaP256);
  if (!key) {
    return key.error();
  }
  tls::X509Ptr cert(X509_new());
  unsigned char serial_bytes[16];
  if (!cert || RAND_bytes(serial_bytes, sizeof serial_bytes) != 1) {
    return tls::openssl_error("cannot start a certificate");
  }
  serial_bytes[0] = (serial_bytes[0] & 0x7f) | 0x01;
  tls::BignumPtr serial_bn(BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr));
  tls::Asn1IntegerPtr serial(serial_bn ? BN_to_ASN1_INTEGER(serial_bn.get(), nullptr) : nullptr);
  tls::NamePtr name(X509_NAME_new());
  if (!serial || !name) {
    return tls::openssl_error("cannot allocate certificate fields");
  }
  X509_set_version(cert.get(), X509_VERSION_3);
  X509_set_serialNumber(cert.get(), serial.get());
  X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("kube-standin"), -1, -1, 0);
  X509_set_subject_name(cert.get(), name.get());
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.leaf()));
  const auto not_after = std::min(ca.not_after(), now + std::chrono::days(365));
  if (!ASN1_TIME_set(X509_getm_notBefore(cert.get()),
                     tls::Clock::to_time_t(now - std::chrono::hours(1))) ||
      !ASN1_TIME_set(X509_getm_notAfter(cert.get()), tls::Clock::to_time_t(not_after))) {
    return tls::openssl_error("cannot set the validity dates");
  }
  X509_set_pubkey(cert.get(), key->get());
  const std::pair<int, const char*> extensions[] = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature"},
      {NID_ext_key_usage, "serverAuth"},
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid:always"},
      {NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1"},
  };
  for (const auto& [nid, value] : extensions) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, ca.leaf(), cert.get(), nullptr, nullptr, 0);
    tls::ExtensionPtr ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
    if (!ext || X509_add_ext(cert.get(), ext.get(), -1) != 1) {
      return tls::openssl_error(std::string("cannot add extension ") + value);
    }
  }
  if (X509_sign(cert.get(), ca.key(), EVP_sha256()) <= 0) {
    return tls::openssl_error("cannot sign the serving certificate");
  }
  std::vector<tls::X509Ptr> chain;
  chain.push_back(std::move(cert));
  return tls::CertifiedKey::from_objects(std::move(chain), std::move(key).value());
}

// A pair from DIR, if both files are there, parse, match and are valid for another day.
std::optional<tls::CertifiedKey> load_pair(const fs::path& crt, const fs::path& key) {
  if (!fs::exists(crt) || !fs::exists(key)) {
    return std::nullopt;
  }
  auto loaded = tls::CertifiedKey::from_files(crt.string(), key.string());
  if (!loaded || loaded->check_validity(tls::Clock::now() + std::chrono::hours(24))) {
    return std::nullopt;
  }
  return std::move(loaded).value();
}

}  // namespace

std::string random_token() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    std::abort();  // no randomness: nothing safe to hand out
  }
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

tls::Result<Credentials> load_or_create_credentials(const std::string& dir_arg) {
  std::error_code ec;
  fs::create_directories(dir_arg, ec);
  const fs::path dir = fs::absolute(dir_arg, ec);
  if (ec || !fs::is_directory(dir)) {
    return Error{"cannot use directory " + dir_arg};
  }
  const auto perms_private = fs::perms::owner_read | fs::perms::owner_write;
  const auto perms_public = perms_private | fs::perms::group_read | fs::perms::others_read;
  std::optional<tls::CertifiedKey> ca = load_pair(dir / "ca.crt", dir / "ca.key");
  bool new_ca = false;
  if (!ca) {
    auto created = tls::create_ca(tls::Clock::now());
    if (!created) {
      return created.error();
    }
    ca.emplace(std::move(created).value());
    new_ca = true;
    if (auto bad = write_file(dir / "ca.key", ca->key_pem(), perms_private)) {
      return *bad;
    }
    if (auto bad = write_file(dir / "ca.crt", ca->chain_pem(), perms_public)) {
      return *bad;
    }
  }
  std::optional<tls::CertifiedKey> server;
  if (!new_ca) {
    server = load_pair(dir / "server.crt", dir / "server.key");
  }
  if (!server) {
    auto issued = issue_serving_certificate(*ca);
    if (!issued) {
      return issued.error();
    }
    server.emplace(std::move(issued).value());
    if (auto bad = write_file(dir / "server.key", server->key_pem(), perms_private)) {
      return *bad;
    }
    if (auto bad = write_file(dir / "server.crt", server->chain_pem(), perms_public)) {
      return *bad;
    }
  }
  Credentials out;
  out.dir = dir.string();
  out.ca_pem = ca->chain_pem();
  out.server_chain_pem = server->chain_pem();
  out.server_key_pem = server->key_pem();
  if (auto token = read_file(dir / "token")) {
    while (!token->empty() && (token->back() == '\n' || token->back() == '\r')) {
      token->pop_back();
    }
    out.token = *token;
  }
  if (out.token.empty()) {
    out.token = random_token();
  }
  return out;
}

tls::Status write_client_files(const Credentials& credentials, const std::string& server_url) {
  const fs::path dir = credentials.dir;
  const auto perms_private = fs::perms::owner_read | fs::perms::owner_write;
  if (auto bad = write_file(dir / "token", credentials.token + "\n", perms_private)) {
    return bad;
  }
  const std::string kubeconfig =
      "apiVersion: v1\n"
      "kind: Config\n"
      "clusters:\n"
      "- name: kube-standin\n"
      "  cluster:\n"
      "    server: " +
      server_url +
      "\n"
      "    certificate-authority: " +
      (dir / "ca.crt").string() +
      "\n"
      "users:\n"
      "- name: kube-standin\n"
      "  user:\n"
      "    token: " +
      credentials.token +
      "\n"
      "contexts:\n"
      "- name: kube-standin\n"
      "  context:\n"
      "    cluster: kube-standin\n"
      "    user: kube-standin\n"
      "    namespace: default\n"
      "current-context: kube-standin\n"
      "preferences: {}\n";
  return write_file(dir / "kubeconfig", kubeconfig, perms_private);
}

}  // namespace lintel::standin
