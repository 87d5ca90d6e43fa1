// `hijackguard checkin`: calls CheckIn on a running plugin, as an MDM server
// would.
#include <iostream>
#include <memory>

#include "absl/status/status.h"
#include "common/utf8.h"
#include "grpcpp/grpcpp.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "plugin/cli/client_flags.h"
#include "plugin/cli/commands.h"
#include "plugin/cli/device_flags.h"
#include "plugin/proto_json.h"

namespace hijackguard::plugin::cli {
namespace {

struct CheckInFlags {
  IdentityFlags identity;
  DeviceFlags device;
  ClientFlags client;
};

int RunCheckIn(const CheckInFlags& f) {
  if (!CheckUtf8Flags(f.device, f.identity)) {
    return kExitUsage;
  }
  if (f.client.tls_cert.empty() != f.client.tls_key.empty()) {
    std::cerr << "error: --tls-cert and --tls-key go together\n";
    return kExitUsage;
  }
  v1::CheckInRequest request;
  f.identity.Apply(&request);
  f.device.Apply(&request);

  auto call = Dial<v1::CompliancePlugin>(f.client);
  if (call->failed != 0) {
    return call->failed;
  }
  v1::CheckInResponse response;
  const grpc::Status status =
      call->stub->CheckIn(&call->context, request, &response);
  if (!status.ok()) {
    return PrintRpcError("CheckIn", status, f.client);
  }
  std::cout << ToJson(response) << "\n";
  return kExitDone;
}

}  // namespace

void AddCheckInCommand(CLI::App& app, RunFn* run) {
  auto f = std::make_shared<CheckInFlags>();
  CLI::App* c = app.add_subcommand("checkin",
                                   "Call CheckIn on a running plugin as an MDM "
                                   "would; prints the response as JSON");
  f->identity.Register(c, "Tenant id");
  f->device.Register(c);
  f->client.Register(c);
  c->callback([f, run] { *run = [f] { return RunCheckIn(*f); }; });
}

}  // namespace hijackguard::plugin::cli
