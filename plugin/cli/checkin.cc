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
  std::string tenant;
  std::string device_id;
  std::string mdm_device_id;
  std::string user;
  std::string smtp;
  std::string locale;
  std::vector<std::string> groups;
  DeviceFlags device;
  ClientFlags client;
};

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
  if (f.client.tls_cert.empty() != f.client.tls_key.empty()) {
    std::cerr << "error: --tls-cert and --tls-key go together\n";
    return 2;
  }
  v1::CheckInRequest request;
  request.set_tenant_id(f.tenant);
  request.mutable_device()->set_eas_device_id(f.device_id);
  request.mutable_device()->set_mdm_device_id(f.mdm_device_id);
  request.mutable_device()->set_user_principal(f.user);
  request.mutable_device()->set_primary_smtp_address(f.smtp);
  for (const std::string& g : f.groups) {
    request.mutable_device()->add_groups(g);
  }
  request.set_locale(f.locale);
  f.device.Apply(&request);

  std::string error;
  auto channel = f.client.Connect(&error);
  if (channel == nullptr) {
    std::cerr << "error: " << error << "\n";
    return 1;
  }
  auto stub = v1::CompliancePlugin::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(f.client.Deadline());
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
  c->add_option("--tenant", f->tenant, "Tenant id");
  c->add_option("--device-id", f->device_id,
                "EAS DeviceId, e.g. ApplDMPFXZABDFHW");
  c->add_option("--mdm-device-id", f->mdm_device_id, "The MDM's device id");
  c->add_option("--user", f->user, "User principal name");
  c->add_option("--smtp", f->smtp, "Primary SMTP address of the mailbox");
  c->add_option("--locale", f->locale,
                "The user's language for the alert, e.g. de-CH");
  c->add_option("--group", f->groups, "A group of the user (repeatable)");
  f->device.Register(c);
  f->client.Register(c);
  c->callback([f, run] { *run = [f] { return RunCheckIn(*f); }; });
}

}  // namespace hijackguard::plugin::cli
