#include "tests/plugin/test_certs.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <iostream>
#include <memory>

namespace hijackguard::plugin::testing {
namespace {

struct Deleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Deleter>;
using Cert = std::unique_ptr<X509, Deleter>;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::cerr << "test PKI: " << what << " failed\n";
    std::abort();
  }
}

Key NewKey() {
  Key key(EVP_EC_gen("P-256"));
  Check(key != nullptr, "EVP_EC_gen");
  return key;
}

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  Check(ext != nullptr, "X509V3_EXT_conf_nid");
  Check(X509_add_ext(cert, ext, -1) == 1, "X509_add_ext");
  X509_EXTENSION_free(ext);
}

// Issues a certificate for `key` named `common_name`, signed by `issuer_key`
// (self-signed when `issuer` is null).
Cert Issue(EVP_PKEY* key, const char* common_name, X509* issuer,
           EVP_PKEY* issuer_key, long serial, bool is_ca, const char* san) {
  Cert cert(X509_new());
  Check(cert != nullptr, "X509_new");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(
      name, "CN", MBSTRING_ASC,
      reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  AddExtension(cert.get(), signer, NID_basic_constraints,
               is_ca ? "critical,CA:TRUE" : "CA:FALSE");
  if (san != nullptr) {
    AddExtension(cert.get(), signer, NID_subject_alt_name, san);
  }
  Check(X509_sign(cert.get(), issuer_key, EVP_sha256()) > 0, "X509_sign");
  return cert;
}

std::string Pem(X509* cert) {
  std::unique_ptr<BIO, Deleter> bio(BIO_new(BIO_s_mem()));
  Check(PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string Pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, Deleter> bio(BIO_new(BIO_s_mem()));
  Check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr,
                                 nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace

TestPki MakeTestPki() {
  Key ca_key = NewKey();
  Cert ca = Issue(ca_key.get(), "hijackguard test CA", nullptr, ca_key.get(), 1,
                  true, nullptr);
  Key server_key = NewKey();
  Cert server = Issue(server_key.get(), "localhost", ca.get(), ca_key.get(), 2,
                      false, "DNS:localhost,IP:127.0.0.1");
  Key client_key = NewKey();
  Cert client = Issue(client_key.get(), "mdm.example.com", ca.get(),
                      ca_key.get(), 3, false, "DNS:mdm.example.com");
  return TestPki{Pem(ca.get()),         Pem(server.get()),
                 Pem(server_key.get()), Pem(client.get()),
                 Pem(client_key.get()), Pem(ca_key.get())};
}

TestClientCert IssueClientCert(const TestPki& pki,
                               const std::string& common_name,
                               const std::string& san) {
  std::unique_ptr<BIO, Deleter> cert_bio(BIO_new_mem_buf(
      pki.ca_cert.data(), static_cast<int>(pki.ca_cert.size())));
  Cert ca(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  Check(ca != nullptr, "PEM_read_bio_X509");
  std::unique_ptr<BIO, Deleter> key_bio(
      BIO_new_mem_buf(pki.ca_key.data(), static_cast<int>(pki.ca_key.size())));
  Key ca_key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  Check(ca_key != nullptr, "PEM_read_bio_PrivateKey");
  static long serial = 100;
  Key key = NewKey();
  Cert cert = Issue(key.get(), common_name.c_str(), ca.get(), ca_key.get(),
                    ++serial, false, san.empty() ? nullptr : san.c_str());
  return TestClientCert{Pem(cert.get()), Pem(key.get())};
}

}  // namespace hijackguard::plugin::testing
