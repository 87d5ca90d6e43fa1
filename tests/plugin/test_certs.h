// A throwaway PKI for TLS tests, made with OpenSSL: a CA, a server certificate
// for localhost/127.0.0.1 and a client certificate, all signed by the CA. PEM
// text.
#pragma once

#include <string>

namespace hijackguard::plugin::testing {

struct TestPki {
  std::string ca_cert;
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;
  std::string ca_key;
};

struct TestClientCert {
  std::string cert;
  std::string key;
};

// Generates a fresh PKI (P-256 keys, SHA-256 signatures, valid for one day).
// Aborts the test binary on OpenSSL failure (it cannot happen with valid
// parameters).
TestPki MakeTestPki();

// A client certificate signed by `pki`'s CA with subject CN `common_name`
// and subjectAltName `san` (OpenSSL syntax, e.g. "URI:spiffe://x,DNS:y"; ""
// for none).
TestClientCert IssueClientCert(const TestPki& pki,
                               const std::string& common_name,
                               const std::string& san);

}  // namespace hijackguard::plugin::testing
