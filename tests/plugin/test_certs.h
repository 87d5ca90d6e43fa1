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
};

// Generates a fresh PKI (P-256 keys, SHA-256 signatures, valid for one day).
// Aborts the test binary on OpenSSL failure (it cannot happen with valid
// parameters).
TestPki MakeTestPki();

}  // namespace hijackguard::plugin::testing
