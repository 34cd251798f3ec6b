#pragma once
// RAII owners for the OpenSSL objects tls/ uses, and the one place that turns the OpenSSL
// error queue into text. Internal to tls/ (other folders see SSL_CTX* / SSL* only), but a
// header because every tls/ source file and the tls tests need it.
//
// Thread: any. The OpenSSL error queue is thread-local, so draining it here only ever
// reads errors raised by the calling thread.

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>

#include "tls/result.h"

namespace lintel::tls {

template <auto Free>
struct OpensslDeleter {
  template <class T>
  void operator()(T* p) const {
    Free(p);
  }
};

using BioPtr = std::unique_ptr<BIO, OpensslDeleter<BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, OpensslDeleter<X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, OpensslDeleter<EVP_PKEY_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, OpensslDeleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, OpensslDeleter<SSL_free>>;
using SessionPtr = std::unique_ptr<SSL_SESSION, OpensslDeleter<SSL_SESSION_free>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, OpensslDeleter<X509_EXTENSION_free>>;
using NamePtr = std::unique_ptr<X509_NAME, OpensslDeleter<X509_NAME_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, OpensslDeleter<GENERAL_NAMES_free>>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, OpensslDeleter<ASN1_INTEGER_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpensslDeleter<BN_free>>;

// Pops every error queued on this thread and joins their reasons: "PEM routines::no start
// line; ...". Empty when the queue was empty.
std::string drain_openssl_errors();

// Error{what} with the drained queue appended ("what (OpenSSL: ...)"); the queue is left
// empty either way, so a later failure does not report a stale reason.
Error openssl_error(std::string what);

// A read-only memory BIO over `data` (not copied: `data` must outlive the BIO).
BioPtr memory_bio(std::string_view data);

// Everything written to a memory BIO, as a string.
std::string bio_to_string(BIO* bio);

// One certificate / private key as PEM text.
std::string to_pem(X509* cert);
std::string to_pem(EVP_PKEY* key);  // PKCS#8, unencrypted

}  // namespace lintel::tls
