// `hijackguard device list`: the decided devices, highest score first
// (CompliancePlugin.ListDevices), filtered and paged.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/strings.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "plugin/cli/client_flags.h"
#include "plugin/cli/commands.h"
#include "plugin/cli/summary.h"
#include "plugin/proto_json.h"

namespace hijackguard::plugin::cli {
namespace {

using google::protobuf::util::TimeUtil;

struct ListFlags {
  ClientFlags client;
  std::string tenant;
  std::vector<std::string> actions;
  std::vector<std::string> evaluated_actions;
  std::vector<std::string> levels;
  std::string user;
  std::string build;
  unsigned page_size = 0;
  std::string page_token;
  bool all = false;
  bool json = false;
};

// "quarantine", "QUARANTINE" or "ACTION_QUARANTINE" (and comma-separated
// lists of them) as enum numbers; "" and the error naming `flag` otherwise.
template <typename Parse>
std::string ParseNames(const std::vector<std::string>& given,
                       std::string_view flag, std::string_view prefix,
                       std::string_view valid, Parse parse,
                       std::vector<int>* out) {
  for (const std::string& arg : given) {
    for (absl::string_view part : absl::StrSplit(arg, ',')) {
      std::string name = absl::AsciiStrToUpper(part);
      if (!name.starts_with(prefix)) {
        name = StrCat(prefix, name);
      }
      int value = 0;
      if (!parse(name, &value) || value == 0) {
        return StrCat(flag, ": '", part, "' is not one of ", valid);
      }
      out->push_back(value);
    }
  }
  return "";
}

std::string BuildRequest(const ListFlags& f, v1::ListDevicesRequest* request) {
  request->set_tenant_id(f.tenant);
  request->set_user_principal(f.user);
  request->set_build(f.build);
  request->set_page_size(f.page_size);
  request->set_page_token(f.page_token);
  std::vector<int> values;
  auto action = [](const std::string& name, int* v) {
    v1::Action a{};
    const bool ok = v1::Action_Parse(name, &a);
    *v = a;
    return ok;
  };
  const std::string_view actions = "ALLOW, WARN, QUARANTINE, BLOCK";
  std::string error =
      ParseNames(f.actions, "--action", "ACTION_", actions, action, &values);
  for (const int v : values) {
    request->add_enforced_actions(static_cast<v1::Action>(v));
  }
  values.clear();
  if (error.empty()) {
    error = ParseNames(f.evaluated_actions, "--evaluated-action", "ACTION_",
                       actions, action, &values);
  }
  for (const int v : values) {
    request->add_evaluated_actions(static_cast<v1::Action>(v));
  }
  values.clear();
  if (error.empty()) {
    error = ParseNames(
        f.levels, "--level", "RISK_LEVEL_", "LOW, ELEVATED, HIGH, CRITICAL",
        [](const std::string& name, int* v) {
          v1::RiskLevel l{};
          const bool ok = v1::RiskLevel_Parse(name, &l);
          *v = l;
          return ok;
        },
        &values);
  }
  for (const int v : values) {
    request->add_levels(static_cast<v1::RiskLevel>(v));
  }
  return error;
}

// `text` padded to `width`, with at least one space after it.
std::string Cell(std::string_view text, std::size_t width) {
  std::string out(text);
  out.append(out.size() + 1 < width ? width - out.size() : 1, ' ');
  return out;
}

// One line per device, aligned: score, level, actions, who, what it runs.
void PrintTable(const v1::ListDevicesResponse& response) {
  constexpr std::size_t kWidths[] = {7, 10, 22, 34, 30, 10};
  std::cout << Cell("SCORE", kWidths[0]) << Cell("LEVEL", kWidths[1])
            << Cell("ENFORCED/EVALUATED", kWidths[2])
            << Cell("TENANT/DEVICE", kWidths[3]) << Cell("USER", kWidths[4])
            << Cell("BUILD", kWidths[5]) << "RECORDED\n";
  for (const v1::DeviceSummary& d : response.devices()) {
    const std::string actions =
        StrCat(ShortName(v1::Action_Name(d.enforced_action()), "ACTION_"), "/",
               ShortName(v1::Action_Name(d.evaluated_action()), "ACTION_"));
    const std::string device =
        StrCat(d.tenant_id(), "/",
               d.eas_device_id().empty() ? StrCat("mdm:", d.mdm_device_id())
                                         : d.eas_device_id());
    std::cout << Cell(absl::StrFormat("%.1f", d.score()), kWidths[0])
              << Cell(ShortName(v1::RiskLevel_Name(d.level()), "RISK_LEVEL_"),
                      kWidths[1])
              << Cell(actions, kWidths[2]) << Cell(device, kWidths[3])
              << Cell(d.user_principal().empty() ? "-" : d.user_principal(),
                      kWidths[4])
              << Cell(d.build().empty() ? "-" : d.build(), kWidths[5])
              << TimeUtil::ToString(d.recorded_at()) << "\n";
  }
}

int RunList(const ListFlags& f) {
  v1::ListDevicesRequest request;
  if (std::string error = BuildRequest(f, &request); !error.empty()) {
    std::cerr << "error: " << error << "\n";
    return kExitUsage;
  }
  auto call = Dial<v1::CompliancePlugin>(f.client);
  if (call->failed != 0) {
    return call->failed;
  }
  v1::ListDevicesResponse all;
  std::string next;
  while (true) {
    v1::ListDevicesResponse page;
    // A context serves one call: each further page gets its own.
    grpc::ClientContext again;
    grpc::ClientContext* context = &call->context;
    if (!next.empty()) {
      if (!PrepareOrPrint(f.client, &again)) {
        return kExitUsage;
      }
      context = &again;
      request.set_page_token(next);
    }
    const grpc::Status status =
        call->stub->ListDevices(context, request, &page);
    if (!status.ok()) {
      return PrintRpcError("ListDevices", status, f.client);
    }
    for (v1::DeviceSummary& d : *page.mutable_devices()) {
      *all.add_devices() = std::move(d);
    }
    if (!next.empty() && page.next_page_token() == next) {
      std::cerr << "error: ListDevices returned the same page token twice\n";
      return kExitFailed;
    }
    next = page.next_page_token();
    if (!f.all || next.empty()) {
      all.set_next_page_token(next);
      break;
    }
  }
  if (WantJson(f.json)) {
    std::cout << ToJson(all) << "\n";
    return kExitDone;
  }
  PrintTable(all);
  if (!all.next_page_token().empty()) {
    std::cout << "more: add --page-token " << all.next_page_token()
              << " (or --all)\n";
  }
  return kExitDone;
}

}  // namespace

void AddDeviceListCommand(CLI::App& device, RunFn* run) {
  auto f = std::make_shared<ListFlags>();
  CLI::App* c = device.add_subcommand(
      "list",
      "Decided devices, highest score first, with their last recorded "
      "decision (ListDevices): a table on a terminal, JSON otherwise");
  c->add_option("--tenant", f->tenant,
                "Only this tenant's devices (default: every tenant the "
                "credential may see, which must be all)");
  c->add_option("--action,--enforced-action", f->actions,
                "Enforced action: ALLOW, WARN, QUARANTINE or BLOCK; repeat or "
                "separate with commas for any of several");
  c->add_option("--evaluated-action", f->evaluated_actions,
                "Evaluated action (what the policy concluded, enforced or "
                "not), as --action");
  c->add_option("--level", f->levels,
                "Risk level: LOW, ELEVATED, HIGH or CRITICAL; repeat or "
                "separate with commas");
  c->add_option("--user", f->user, "The device's user (any ASCII case)");
  c->add_option("--build", f->build,
                "iOS build, exact (10A403) or a prefix ending in * (10A*)");
  c->add_option("--page-size", f->page_size, "Devices per page (1-1000)")
      ->check(CLI::Range(1, 1000));
  c->add_option("--page-token", f->page_token,
                "Where to go on: a previous page's next_page_token");
  c->add_flag("--all", f->all, "Follow every page and print them as one");
  c->add_flag("--json", f->json, "Print JSON even on a terminal");
  f->client.Register(c);
  c->callback([f, run] { *run = [f] { return RunList(*f); }; });
}

}  // namespace hijackguard::plugin::cli
