// How an MDM server calls hijackguard at device check-in, in C++.
//
//   mdm_checkin_client --server 127.0.0.1:50051 --user-agent
//   Apple-iPhone4C1/1001.403
//
// It sends what the MDM knows about the device, then acts on the answer: ALLOW
// keeps the device syncing, WARN shows the user alert, QUARANTINE/BLOCK stop
// ActiveSync. Exit status: 0 when the call succeeded, 1 when it failed, 2 on
// usage errors (including unreadable --token-file or TLS files).
//
// Against a server that requires authentication, give the bearer token in a
// file (--token-file) or in the HIJACKGUARD_TOKEN environment variable, and
// use TLS: --tls-ca is the CA that signs the server's certificate; --tls-cert
// and --tls-key add a client certificate (mutual TLS).
//
//   HIJACKGUARD_TOKEN=... mdm_checkin_client --server plugin.example:50051
//   --tls-ca ca.pem --tenant acme
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <utility>

#include "grpcpp/grpcpp.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"

namespace {

// Files larger than this are not a token or a PEM bundle.
constexpr std::streamsize kMaxFileBytes = 1 << 20;
constexpr std::streamsize kReadChunkBytes = 4096;

int Usage() {
  std::cerr << "usage: mdm_checkin_client --server HOST:PORT [--user-agent UA] "
               "[--device-os OS] [--tenant T] [--device-id ID] [--user UPN] "
               "[--token-file FILE] [--tls-ca FILE] [--tls-cert FILE "
               "--tls-key FILE]\n";
  return 2;
}

// Reads the file at `path`, given with `flag`, into `*out`. False after
// printing why to stderr when it cannot be read, is empty or is too large.
bool ReadFlagFile(const std::string& flag, const std::string& path,
                  std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "error: " << flag << " " << path << ": "
              << std::strerror(errno) << "\n";
    return false;
  }
  std::string text;
  char buffer[kReadChunkBytes];
  while (in.read(buffer, kReadChunkBytes) || in.gcount() > 0) {
    if (static_cast<std::streamsize>(text.size()) + in.gcount() >
        kMaxFileBytes) {
      std::cerr << "error: " << flag << " " << path << ": larger than "
                << kMaxFileBytes << " bytes\n";
      return false;
    }
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad() || text.empty()) {
    std::cerr << "error: " << flag << " " << path
              << ": cannot be read or is empty\n";
    return false;
  }
  *out = std::move(text);
  return true;
}

// The bearer token: the content of `token_file` when given, else the
// HIJACKGUARD_TOKEN environment variable, without trailing whitespace (the
// newline an editor leaves). Empty when there is none; false after printing
// why when the file cannot be read or the token cannot go in a header.
bool ReadToken(const std::string& token_file, std::string* token) {
  if (!token_file.empty()) {
    if (!ReadFlagFile("--token-file", token_file, token)) {
      return false;
    }
  } else if (const char* env = std::getenv("HIJACKGUARD_TOKEN")) {
    *token = env;
  }
  const std::size_t end = token->find_last_not_of(" \t\r\n\f\v");
  token->erase(end == std::string::npos ? 0 : end + 1);
  if (!token_file.empty() && token->empty()) {
    std::cerr << "error: --token-file " << token_file << " holds no token\n";
    return false;
  }
  for (const char c : *token) {
    // gRPC metadata values are visible ASCII; a token never needs more.
    if (c < '!' || c > '~') {
      std::cerr << "error: the token from "
                << (token_file.empty() ? "HIJACKGUARD_TOKEN" : "--token-file")
                << " holds a character not allowed in a header\n";
      return false;
    }
  }
  return true;
}

// Plaintext credentials, or TLS ones when `tls_ca` or `tls_cert` is given;
// nullptr after printing why when a TLS file cannot be read.
std::shared_ptr<grpc::ChannelCredentials> MakeCredentials(
    const std::string& tls_ca, const std::string& tls_cert,
    const std::string& tls_key) {
  if (tls_ca.empty() && tls_cert.empty()) {
    return grpc::InsecureChannelCredentials();
  }
  // Without --tls-ca, pem_root_certs stays empty: gRPC's default roots.
  grpc::SslCredentialsOptions ssl;
  if ((!tls_ca.empty() &&
       !ReadFlagFile("--tls-ca", tls_ca, &ssl.pem_root_certs)) ||
      (!tls_cert.empty() &&
       !ReadFlagFile("--tls-cert", tls_cert, &ssl.pem_cert_chain)) ||
      (!tls_key.empty() &&
       !ReadFlagFile("--tls-key", tls_key, &ssl.pem_private_key))) {
    return nullptr;
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace

int main(int argc, char** argv) {
  std::string server;
  std::string token_file;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  hijackguard::v1::CheckInRequest request;
  request.set_tenant_id("example-tenant");
  request.mutable_device()->set_eas_device_id("ApplDMPFXZABDFHW");
  request.mutable_device()->set_user_principal("alice@example.com");
  request.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
  request.mutable_eas()->set_device_type("iPhone");
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) {
      return Usage();
    }
    const std::string value = argv[++i];
    if (flag == "--server") {
      server = value;
    } else if (flag == "--user-agent") {
      request.mutable_eas()->set_user_agent(value);
    } else if (flag == "--device-os") {
      request.mutable_eas()->set_device_os(value);
    } else if (flag == "--tenant") {
      request.set_tenant_id(value);
    } else if (flag == "--device-id") {
      request.mutable_device()->set_eas_device_id(value);
    } else if (flag == "--user") {
      request.mutable_device()->set_user_principal(value);
    } else if (flag == "--token-file") {
      token_file = value;
    } else if (flag == "--tls-ca") {
      tls_ca = value;
    } else if (flag == "--tls-cert") {
      tls_cert = value;
    } else if (flag == "--tls-key") {
      tls_key = value;
    } else {
      return Usage();
    }
  }
  if (server.empty()) {
    return Usage();
  }
  if (tls_cert.empty() != tls_key.empty()) {
    std::cerr << "error: --tls-cert and --tls-key go together\n";
    return Usage();
  }
  std::string token;
  if (!ReadToken(token_file, &token)) {
    return 2;
  }
  const std::shared_ptr<grpc::ChannelCredentials> credentials =
      MakeCredentials(tls_ca, tls_cert, tls_key);
  if (credentials == nullptr) {
    return 2;
  }

  // One channel per process, reused for every check-in (channels are expensive
  // to create).
  auto stub = hijackguard::v1::CompliancePlugin::NewStub(
      grpc::CreateChannel(server, credentials));

  grpc::ClientContext context;
  // The server reads the token from the `authorization` metadata of every
  // call (a new ClientContext per call, so add it to each).
  if (!token.empty()) {
    context.AddMetadata("authorization", "Bearer " + token);
  }
  // Always set a deadline: a check-in must not hang on a slow or unreachable
  // plugin. What to do then (fail open or closed) is the MDM's decision.
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(2));
  hijackguard::v1::CheckInResponse response;
  const grpc::Status status = stub->CheckIn(&context, request, &response);
  if (!status.ok()) {
    std::cerr << "CheckIn failed: " << status.error_code() << " "
              << status.error_message() << "\n";
    return 1;
  }

  // `action` is what to enforce; in monitor mode it is ALLOW and
  // evaluated_action says what enforce would have returned.
  std::cout << "decision " << response.decision_id() << ": "
            << hijackguard::v1::Action_Name(response.action()) << " (evaluated "
            << hijackguard::v1::Action_Name(response.evaluated_action()) << ", "
            << hijackguard::v1::PolicyMode_Name(response.mode()) << ", score "
            << response.score() << ")\n";
  const auto& fp = response.fingerprint();
  std::cout << "client: iOS " << fp.os_version() << " (" << fp.build()
            << ") on " << fp.model_name() << "\n";
  for (const auto& issue : fp.known_issues()) {
    std::cout << "known issue: " << issue.id() << " ("
              << hijackguard::v1::Confidence_Name(issue.confidence()) << ")\n";
  }
  for (const auto& reason : response.reasons()) {
    std::cout << "reason " << reason.code() << ": " << reason.message() << "\n";
  }
  if (response.has_user_alert()) {
    std::cout << "alert for the user: " << response.user_alert().title()
              << "\n  " << response.user_alert().message() << "\n  "
              << response.user_alert().remediation() << "\n";
  }
  return 0;
}
