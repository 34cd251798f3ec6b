#include "tls/cert_tool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace lintel::tls {
namespace {

std::string base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// Writes through a temporary file and rename(), so an interrupted run never leaves half a
// key behind; `mode` applies from creation (a key is never readable by others, even
// briefly).
Status write_file(const std::string& path, std::string_view data, mode_t mode) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    return Error{"cannot write " + tmp + ": " + std::strerror(errno)};
  }
  ::fchmod(fd, mode);  // O_CREAT's mode does not apply to an existing file
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return Error{"cannot write " + tmp + ": " + std::strerror(err)};
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Error{"cannot write " + path + ": " + std::strerror(err)};
  }
  return std::nullopt;
}

bool is_alnum_lower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

Result<CertifiedKey> load_or_create_ca(const std::string& cert_path, const std::string& key_path,
                                       TimePoint now, bool* reused) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool have_cert = fs::exists(cert_path, ec);
  const bool have_key = fs::exists(key_path, ec);
  *reused = have_cert && have_key;
  if (have_cert != have_key) {
    return Error{(have_cert ? key_path : cert_path) + " is missing but " +
                 (have_cert ? cert_path : key_path) +
                 " exists; restore it, or remove both to create a new CA"};
  }
  if (!have_cert) {
    return create_ca(now);
  }
  auto ca = CertifiedKey::from_files(cert_path, key_path);
  if (!ca) {
    return ca.error();
  }
  if (X509_check_ca(ca->leaf()) < 1) {
    return Error{cert_path + " is not a CA certificate"};
  }
  if (Status bad = ca->check_validity(now)) {
    return Error{cert_path + ": " + bad->message + "; remove ca.crt and ca.key to create a new CA"};
  }
  return ca;
}

}  // namespace

std::string secret_name_for(std::string_view host) {
  std::string name;
  if (host.starts_with("*.")) {
    name = "wildcard-";
    host.remove_prefix(2);
  }
  for (char c : host) {
    name += (c == '.') ? '-' : c;
  }
  return name + "-tls";
}

Status check_secret_name(std::string_view name) {
  const bool ok = !name.empty() && name.size() <= 253 && is_alnum_lower(name.front()) &&
                  is_alnum_lower(name.back()) && std::all_of(name.begin(), name.end(), [](char c) {
                    return is_alnum_lower(c) || c == '-' || c == '.';
                  });
  if (!ok) {
    return Error{"Secret name \"" + std::string(name) +
                 "\" must be lowercase letters, digits, '-' and '.', start and end with a "
                 "letter or digit, at most 253 characters"};
  }
  return std::nullopt;
}

Status check_namespace_name(std::string_view name) {
  const bool ok =
      !name.empty() && name.size() <= 63 && is_alnum_lower(name.front()) &&
      is_alnum_lower(name.back()) &&
      std::all_of(name.begin(), name.end(), [](char c) { return is_alnum_lower(c) || c == '-'; });
  if (!ok) {
    return Error{"namespace \"" + std::string(name) +
                 "\" must be lowercase letters, digits and '-', start and end with a letter or "
                 "digit, at most 63 characters"};
  }
  return std::nullopt;
}

std::string render_tls_secret(std::string_view name, std::string_view name_space,
                              std::string_view cert_pem, std::string_view key_pem) {
  std::string out;
  out += "# Written by `lintel cert`. The key is in the clear: keep this file private.\n";
  out += "apiVersion: v1\n";
  out += "kind: Secret\n";
  out += "metadata:\n";
  out += "  name: " + std::string(name) + "\n";
  out += "  namespace: " + std::string(name_space) + "\n";
  out += "type: kubernetes.io/tls\n";
  out += "data:\n";
  out += "  tls.crt: " + base64(cert_pem) + "\n";
  out += "  tls.key: " + base64(key_pem) + "\n";
  return out;
}

Result<CertBundle> write_cert_bundle(const CertBundleRequest& request, TimePoint now) {
  std::vector<std::string> hosts;
  for (std::string host : request.hosts) {
    std::transform(host.begin(), host.end(), host.begin(),
                   [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; });
    if (Status bad = check_dns_name(host)) {
      return *bad;
    }
    if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) {
      hosts.push_back(std::move(host));
    }
  }
  if (hosts.empty()) {
    return Error{"at least one --host is required"};
  }
  if (request.out_dir.empty()) {
    return Error{"--out DIR is required"};
  }
  CertBundle bundle;
  bundle.secret_name =
      request.secret_name.empty() ? secret_name_for(hosts.front()) : request.secret_name;
  if (Status bad = check_secret_name(bundle.secret_name)) {
    return *bad;
  }
  if (Status bad = check_namespace_name(request.secret_namespace)) {
    return *bad;
  }
  std::error_code ec;
  std::filesystem::create_directories(request.out_dir, ec);
  if (ec) {
    return Error{"cannot create " + request.out_dir + ": " + ec.message()};
  }
  const std::string dir = request.out_dir + (request.out_dir.ends_with('/') ? "" : "/");
  bundle.ca_cert_path = dir + "ca.crt";
  bundle.ca_key_path = dir + "ca.key";
  bundle.cert_path = dir + bundle.secret_name + ".crt";
  bundle.key_path = dir + bundle.secret_name + ".key";
  bundle.secret_path = dir + bundle.secret_name + ".yaml";

  auto ca = load_or_create_ca(bundle.ca_cert_path, bundle.ca_key_path, now, &bundle.ca_reused);
  if (!ca) {
    return ca.error();
  }
  auto leaf = issue_certificate(*ca, hosts, now, request.days);
  if (!leaf) {
    return leaf.error();
  }
  const std::string cert_pem = leaf->chain_pem();
  const std::string key_pem = leaf->key_pem();
  if (!bundle.ca_reused) {
    // Key first: a crash in between leaves ca.key without ca.crt, which the next run
    // reports instead of silently making a second CA.
    if (Status bad = write_file(bundle.ca_key_path, ca->key_pem(), 0600)) {
      return *bad;
    }
    if (Status bad = write_file(bundle.ca_cert_path, ca->chain_pem(), 0644)) {
      return *bad;
    }
  }
  if (Status bad = write_file(bundle.key_path, key_pem, 0600)) {
    return *bad;
  }
  if (Status bad = write_file(bundle.cert_path, cert_pem, 0644)) {
    return *bad;
  }
  const std::string manifest =
      render_tls_secret(bundle.secret_name, request.secret_namespace, cert_pem, key_pem);
  if (Status bad = write_file(bundle.secret_path, manifest, 0600)) {
    return *bad;
  }
  bundle.fingerprint_sha256 = leaf->fingerprint_sha256();
  bundle.not_after = leaf->not_after();
  return bundle;
}

}  // namespace lintel::tls
