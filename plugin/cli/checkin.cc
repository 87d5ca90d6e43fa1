// `hijackguard checkin`: calls CheckIn on a running plugin, as an MDM server
// would.
#include <iostream>
#include <memory>

#include "absl/status/status.h"
#include "common/file.h"
#include "common/utf8.h"
#include "grpcpp/grpcpp.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "plugin/cli/commands.h"
#include "plugin/cli/device_flags.h"
#include "plugin/proto_json.h"

namespace hijackguard::plugin::cli {
namespace {

constexpr std::size_t kMaxPemBytes = 1 << 20;

struct CheckInFlags {
  std::string server;
  std::string tenant;
  std::string device_id;
  std::string mdm_device_id;
  std::string user;
  std::string smtp;
  DeviceFlags device;
  double timeout_seconds = 10;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
};

// "INVALID_ARGUMENT" for grpc::StatusCode::INVALID_ARGUMENT (absl's codes are
// gRPC's).
std::string StatusCodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

std::shared_ptr<grpc::ChannelCredentials> ClientCredentials(
    const CheckInFlags& f, std::string* error) {
  if (f.tls_ca.empty() && f.tls_cert.empty()) {
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  for (auto [path, out] : {std::pair{&f.tls_ca, &ssl.pem_root_certs},
                           std::pair{&f.tls_cert, &ssl.pem_cert_chain},
                           std::pair{&f.tls_key, &ssl.pem_private_key}}) {
    if (path->empty()) {
      continue;
    }
    auto pem = ReadFileToString(*path, kMaxPemBytes);
    if (!pem.ok()) {
      *error = std::string(pem.status().message());
      return nullptr;
    }
    *out = *std::move(pem);
  }
  return grpc::SslCredentials(ssl);
}

int RunCheckIn(const CheckInFlags& f) {
  std::string bad = f.device.FirstInvalidUtf8Flag();
  for (const auto& [name, value] :
       {std::pair{"--tenant", &f.tenant},
        std::pair{"--device-id", &f.device_id},
        std::pair{"--mdm-device-id", &f.mdm_device_id},
        std::pair{"--user", &f.user}, std::pair{"--smtp", &f.smtp}}) {
    if (bad.empty() && !IsValidUtf8(*value)) {
      bad = name;
    }
  }
  if (!bad.empty()) {
    std::cerr << "error: " << bad << " is not valid UTF-8\n";
    return 2;
  }
  if (f.tls_cert.empty() != f.tls_key.empty()) {
    std::cerr << "error: --tls-cert and --tls-key go together\n";
    return 2;
  }
  v1::CheckInRequest request;
  request.set_tenant_id(f.tenant);
  request.mutable_device()->set_eas_device_id(f.device_id);
  request.mutable_device()->set_mdm_device_id(f.mdm_device_id);
  request.mutable_device()->set_user_principal(f.user);
  request.mutable_device()->set_primary_smtp_address(f.smtp);
  f.device.Apply(&request);

  std::string error;
  auto credentials = ClientCredentials(f, &error);
  if (credentials == nullptr) {
    std::cerr << "error: " << error << "\n";
    return 1;
  }
  auto stub =
      v1::CompliancePlugin::NewStub(grpc::CreateChannel(f.server, credentials));
  grpc::ClientContext context;
  context.set_deadline(
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(static_cast<long>(f.timeout_seconds * 1000)));
  v1::CheckInResponse response;
  const grpc::Status status = stub->CheckIn(&context, request, &response);
  if (!status.ok()) {
    std::cerr << "error: CheckIn failed: "
              << StatusCodeName(status.error_code()) << ": "
              << status.error_message() << "\n";
    return 1;
  }
  std::cout << ToJson(response) << "\n";
  return 0;
}

}  // namespace

void AddCheckInCommand(CLI::App& app, RunFn* run) {
  auto f = std::make_shared<CheckInFlags>();
  CLI::App* c = app.add_subcommand("checkin",
                                   "Call CheckIn on a running plugin as an MDM "
                                   "would; prints the response as JSON");
  c->add_option("--server", f->server, "Plugin address host:port")->required();
  c->add_option("--tenant", f->tenant, "Tenant id");
  c->add_option("--device-id", f->device_id,
                "EAS DeviceId, e.g. ApplDMPFXZABDFHW");
  c->add_option("--mdm-device-id", f->mdm_device_id, "The MDM's device id");
  c->add_option("--user", f->user, "User principal name");
  c->add_option("--smtp", f->smtp, "Primary SMTP address of the mailbox");
  f->device.Register(c);
  c->add_option("--timeout", f->timeout_seconds, "Deadline in seconds")
      ->check(CLI::Range(0.001, 3600.0))
      ->capture_default_str();
  c->add_option("--tls-ca", f->tls_ca,
                "PEM CA bundle to verify the server (enables TLS)")
      ->check(CLI::ExistingFile)
      ->group("TLS");
  c->add_option("--tls-cert", f->tls_cert,
                "PEM client certificate chain (mutual TLS)")
      ->check(CLI::ExistingFile)
      ->group("TLS");
  c->add_option("--tls-key", f->tls_key, "PEM client private key (mutual TLS)")
      ->check(CLI::ExistingFile)
      ->group("TLS");
  c->callback([f, run] { *run = [f] { return RunCheckIn(*f); }; });
}

}  // namespace hijackguard::plugin::cli
