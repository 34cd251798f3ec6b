#include "tls/openssl_util.h"

#include <openssl/err.h>
#include <openssl/pem.h>

namespace lintel::tls {

std::string drain_openssl_errors() {
  std::string out;
  const char* file = nullptr;
  int line = 0;
  while (unsigned long code = ERR_get_error_all(&file, &line, nullptr, nullptr, nullptr)) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    // "error:0480006C:PEM routines::no start line": keep the part after the code, which is
    // what an operator can act on.
    std::string_view text = buf;
    if (auto pos = text.find(':', text.find(':') + 1); pos != std::string_view::npos) {
      text.remove_prefix(pos + 1);
    }
    if (!out.empty()) {
      out += "; ";
    }
    out += text;
  }
  return out;
}

Error openssl_error(std::string what) {
  std::string queue = drain_openssl_errors();
  if (!queue.empty()) {
    what += " (OpenSSL: " + queue + ")";
  }
  return Error{std::move(what)};
}

BioPtr memory_bio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string bio_to_string(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

std::string to_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return bio_to_string(bio.get());
}

std::string to_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_to_string(bio.get());
}

}  // namespace lintel::tls
