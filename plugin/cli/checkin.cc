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
#include "plugin/cli/summary.h"
#include "plugin/proto_json.h"

namespace hijackguard::plugin::cli {
namespace {

struct CheckInFlags {
  bool json = false;
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
  if (WantJson(f.json)) {
    std::cout << ToJson(response) << "\n";
  } else {
    PrintSummary(response, std::cout);
  }
  return kExitDone;
}

}  // namespace

void AddCheckInCommand(CLI::App& app, RunFn* run) {
  auto f = std::make_shared<CheckInFlags>();
  CLI::App* c = app.add_subcommand("checkin",
                                   "Call CheckIn on a running plugin as an MDM "
                                   "would; prints a summary on a terminal, "
                                   "the response as JSON otherwise");
  f->identity.Register(c, "Tenant id");
  f->device.Register(c);
  f->client.Register(c);
  c->add_flag("--json", f->json,
              "Print the response as JSON even on a terminal");
  c->callback([f, run] { *run = [f] { return RunCheckIn(*f); }; });
}

}  // namespace hijackguard::plugin::cli
