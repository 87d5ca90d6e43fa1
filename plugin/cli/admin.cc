// `hijackguard alerts watch` and `hijackguard exemptions list|put|delete`:
// what a security team does with a running plugin besides policies.
#include <chrono>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/time/time.h"
#include "common/strings.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "hijackguard/v1/policy_admin.grpc.pb.h"
#include "plugin/cli/client_flags.h"
#include "plugin/cli/commands.h"
#include "plugin/cli/summary.h"
#include "plugin/proto_json.h"

namespace hijackguard::plugin::cli {
namespace {

using google::protobuf::util::TimeUtil;

// ---------------------------------------------------------------------------
// alerts watch

struct WatchFlags {
  ClientFlags client;
  std::string tenant;
  bool json = false;
};

// One line per alert: when, which device, the change, what the MDM is told.
void PrintAlert(const v1::ComplianceAlert& a) {
  std::cout << TimeUtil::ToString(a.emitted_at()) << " " << a.tenant_id() << "/"
            << a.eas_device_id() << " "
            << ShortName(v1::Action_Name(a.old_action()), "ACTION_") << " -> "
            << ShortName(v1::Action_Name(a.new_action()), "ACTION_")
            << " (enforced "
            << ShortName(v1::Action_Name(a.enforced_action()), "ACTION_")
            << ", " << ShortName(v1::PolicyMode_Name(a.mode()), "POLICY_MODE_")
            << ") score " << a.score() << " via " << a.trigger();
  if (a.reasons_size() > 0) {
    std::cout << ": " << a.reasons(0).code();
  }
  std::cout << " [alert " << a.alert_id() << ", seq " << a.sequence() << "]\n";
}

int RunWatch(const WatchFlags& f) {
  auto call = Dial<v1::CompliancePlugin>(f.client);
  if (call->failed != 0) {
    return call->failed;
  }
  // A watch runs until it is interrupted or the server ends it.
  call->context.set_deadline(std::chrono::system_clock::time_point::max());
  v1::WatchAlertsRequest request;
  request.set_tenant_id(f.tenant);
  auto reader = call->stub->WatchAlerts(&call->context, request);
  v1::ComplianceAlert alert;
  // (No gap warning: `sequence` counts the server's alerts of every tenant,
  // so a tenant-scoped watch sees gaps that are other tenants' alerts.)
  while (reader->Read(&alert)) {
    if (f.json) {
      std::cout << ToJsonLine(alert) << "\n";
    } else {
      PrintAlert(alert);
    }
    std::cout.flush();
  }
  const grpc::Status status = reader->Finish();
  return status.ok() ? kExitDone
                     : PrintRpcError("WatchAlerts", status, f.client);
}

// ---------------------------------------------------------------------------
// exemptions

struct ExemptionFlags {
  ClientFlags client;
  std::string tenant;
  bool include_expired = false;
  bool json = false;
  // put
  std::string kind;
  std::string value;
  std::string reason;
  std::string expires;
  std::string valid_for;
  // delete
  std::string id;
};

void PrintExemption(const v1::Exemption& e) {
  std::cout << e.id() << "  until " << TimeUtil::ToString(e.expires()) << "  ("
            << e.source() << ")  " << e.reason() << "\n";
}

int RunList(const ExemptionFlags& f) {
  auto call = Dial<v1::PolicyAdmin>(f.client);
  if (call->failed != 0) {
    return call->failed;
  }
  v1::ListExemptionsRequest request;
  request.set_tenant_id(f.tenant);
  request.set_include_expired(f.include_expired);
  v1::ListExemptionsResponse response;
  const grpc::Status status =
      call->stub->ListExemptions(&call->context, request, &response);
  if (!status.ok()) {
    return PrintRpcError("ListExemptions", status, f.client);
  }
  if (f.json) {
    std::cout << ToJson(response) << "\n";
    return kExitDone;
  }
  for (const v1::Exemption& e : response.exemptions()) {
    PrintExemption(e);
  }
  if (response.exemptions().empty()) {
    std::cerr << "no exemptions\n";
  }
  return kExitDone;
}

// The exemption --kind/--value/--reason/(--expires | --for) describe; false
// after printing why not.
bool BuildExemption(const ExemptionFlags& f, v1::Exemption* e) {
  const std::string kind = absl::AsciiStrToUpper(f.kind);
  v1::ExemptionKind parsed;
  if (!v1::ExemptionKind_Parse("EXEMPTION_KIND_" + kind, &parsed) ||
      parsed == v1::EXEMPTION_KIND_UNSPECIFIED) {
    std::cerr << "error: --kind must be user, device or group, not \"" << f.kind
              << "\"\n";
    return false;
  }
  absl::Time expires;
  if (!f.expires.empty()) {
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, f.expires, &expires, &error)) {
      std::cerr << "error: --expires \"" << f.expires
                << "\" is not an RFC 3339 time (" << error << ")\n";
      return false;
    }
  } else {
    absl::Duration d;
    if (!absl::ParseDuration(f.valid_for, &d) || d <= absl::ZeroDuration()) {
      std::cerr << "error: --for \"" << f.valid_for
                << "\" is not a positive duration (e.g. 72h, 30m)\n";
      return false;
    }
    expires = absl::Now() + d;
  }
  e->set_tenant_id(f.tenant);
  e->set_kind(parsed);
  e->set_value(f.value);
  e->set_reason(f.reason);
  *e->mutable_expires() =
      TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(expires));
  return true;
}

int RunPut(const ExemptionFlags& f) {
  v1::PutExemptionRequest request;
  if (!BuildExemption(f, request.mutable_exemption())) {
    return kExitUsage;
  }
  auto call = Dial<v1::PolicyAdmin>(f.client);
  if (call->failed != 0) {
    return call->failed;
  }
  v1::PutExemptionResponse response;
  const grpc::Status status =
      call->stub->PutExemption(&call->context, request, &response);
  if (!status.ok()) {
    return PrintRpcError("PutExemption", status, f.client);
  }
  if (f.json) {
    std::cout << ToJson(response.exemption()) << "\n";
  } else {
    PrintExemption(response.exemption());
  }
  return kExitDone;
}

int RunDelete(const ExemptionFlags& f) {
  auto call = Dial<v1::PolicyAdmin>(f.client);
  if (call->failed != 0) {
    return call->failed;
  }
  v1::DeleteExemptionRequest request;
  request.set_id(f.id);
  v1::DeleteExemptionResponse response;
  const grpc::Status status =
      call->stub->DeleteExemption(&call->context, request, &response);
  if (!status.ok()) {
    return PrintRpcError("DeleteExemption", status, f.client);
  }
  std::cerr << "deleted " << f.id << "\n";
  return kExitDone;
}

}  // namespace

void AddAdminCommands(CLI::App& app, RunFn* run) {
  CLI::App* alerts = app.add_subcommand("alerts", "Follow compliance alerts");
  alerts->require_subcommand(1);
  {
    auto f = std::make_shared<WatchFlags>();
    CLI::App* c = alerts->add_subcommand(
        "watch",
        "Follow WatchAlerts: one line per alert (a device's evaluated action "
        "changed) until interrupted; --json for JSON Lines");
    f->client.Register(c);
    c->add_option("--tenant", f->tenant, "Only this tenant's alerts");
    c->add_flag("--json", f->json, "One ComplianceAlert per line as JSON");
    c->callback([f, run] { *run = [f] { return RunWatch(*f); }; });
  }
  AddAlertsBacklogCommand(*alerts, run);
  CLI::App* ex =
      app.add_subcommand("exemptions", "List, add or remove exemptions");
  ex->require_subcommand(1);
  {
    auto f = std::make_shared<ExemptionFlags>();
    CLI::App* c = ex->add_subcommand(
        "list", "Exemptions in force (of the policy and of the API)");
    f->client.Register(c);
    c->add_option("--tenant", f->tenant,
                  "Only this tenant's (and every tenant's) exemptions");
    c->add_flag("--include-expired", f->include_expired,
                "Also those that have expired");
    c->add_flag("--json", f->json, "Print the response as JSON");
    c->callback([f, run] { *run = [f] { return RunList(*f); }; });
  }
  {
    auto f = std::make_shared<ExemptionFlags>();
    CLI::App* c = ex->add_subcommand(
        "put",
        "Exempt a user, device or group (ALLOW, still scored) until a time");
    f->client.Register(c);
    c->add_option("--tenant", f->tenant, "The tenant (default: every tenant)");
    c->add_option("--kind", f->kind, "user, device or group")->required();
    c->add_option("--value", f->value, "The user, device id or group")
        ->required();
    c->add_option("--reason", f->reason, "Why (kept in the audit log)")
        ->required();
    auto* expires =
        c->add_option("--expires", f->expires,
                      "When it ends, RFC 3339 (2026-12-31T00:00:00Z)");
    auto* valid_for = c->add_option("--for", f->valid_for,
                                    "How long from now, e.g. 72h or 30m");
    expires->excludes(valid_for);
    c->add_flag("--json", f->json, "Print the stored exemption as JSON");
    c->callback([f, run, expires, valid_for] {
      if (expires->count() == 0 && valid_for->count() == 0) {
        throw CLI::RequiredError("--expires or --for");
      }
      *run = [f] { return RunPut(*f); };
    });
  }
  {
    auto f = std::make_shared<ExemptionFlags>();
    CLI::App* c = ex->add_subcommand("delete", "Remove an exemption by id");
    f->client.Register(c);
    c->add_option("ID", f->id, "The exemption's id (as `list` prints it)")
        ->required();
    c->callback([f, run] { *run = [f] { return RunDelete(*f); }; });
  }
}

}  // namespace hijackguard::plugin::cli
