// `hijackguard policy validate|apply|get` and `hijackguard simulate`: the
// security team's tools for writing, rolling out and trying a policy.
#include "policy/policy.h"

#include <fstream>
#include <iostream>
#include <memory>

#include "absl/time/time.h"
#include "common/clock.h"
#include "common/file.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "hijackguard/v1/policy_admin.grpc.pb.h"
#include "plugin/cli/client_flags.h"
#include "plugin/cli/commands.h"
#include "plugin/cli/device_flags.h"
#include "plugin/convert.h"
#include "plugin/policy_admin_service.h"
#include "plugin/proto_json.h"

namespace hijackguard::plugin::cli {
namespace {

constexpr std::size_t kMaxPolicyBytes = 4 << 20;
constexpr std::size_t kMaxEventsBytes = 16 << 20;

absl::StatusOr<std::shared_ptr<const detector::KnownIssueCatalog>> LoadCatalog(
    const std::string& path) {
  auto catalog = path.empty() ? detector::KnownIssueCatalog::Builtin()
                              : detector::KnownIssueCatalog::LoadFile(path);
  if (!catalog.ok()) {
    return catalog.status();
  }
  return std::make_shared<const detector::KnownIssueCatalog>(
      *std::move(catalog));
}

// ---------------------------------------------------------------------------
// policy validate

struct ValidateFlags {
  std::string file;
  std::string catalog;
};

int RunValidate(const ValidateFlags& f) {
  auto catalog = LoadCatalog(f.catalog);
  if (!catalog.ok()) {
    std::cerr << "error: " << catalog.status().message() << "\n";
    return kExitUsage;
  }
  auto text =
      ReadNamedFile("policy", f.file, kMaxPolicyBytes, FileKinds::kAlsoStreams);
  if (!text.ok()) {
    std::cerr << "error: " << text.status().message() << "\n";
    return kExitUsage;
  }
  std::vector<policy::PolicyProblem> problems;
  auto parsed = policy::Policy::Parse(*text, **catalog, &problems);
  if (!parsed.ok()) {
    // FILE:LINE:COLUMN: POINTER: MESSAGE, as compilers print, so editors
    // can jump to each problem.
    for (const policy::PolicyProblem& p : problems) {
      std::cout << f.file << ":";
      if (p.line > 0) {
        std::cout << p.line << ":" << p.column << ":";
      }
      std::cout << " " << p.pointer << ": " << SanitizeText(p.message) << "\n";
    }
    std::cout << f.file << ": " << problems.size()
              << (problems.size() == 1 ? " problem" : " problems")
              << "; the policy would not be applied\n";
    return kExitProblems;
  }
  const policy::Settings& s = (*parsed)->global();
  std::cout << f.file << ": valid; revision " << (*parsed)->revision()
            << "; mode " << policy::ModeName(s.mode.value) << "; "
            << (*parsed)->tenants().size() << " tenant override(s); "
            << (*parsed)->exemptions().size() << " exemption(s)\n";
  return kExitDone;
}

// ---------------------------------------------------------------------------
// policy apply / get

struct ApplyFlags {
  std::string file;
  bool dry_run = false;
  std::string expected_revision;
  ClientFlags client;
};

int RunApply(const ApplyFlags& f) {
  auto text =
      ReadNamedFile("policy", f.file, kMaxPolicyBytes, FileKinds::kAlsoStreams);
  if (!text.ok()) {
    std::cerr << "error: " << text.status().message() << "\n";
    return kExitUsage;
  }
  if (!IsValidUtf8(*text)) {
    std::cerr << "error: " << f.file << " is not valid UTF-8\n";
    return kExitUsage;
  }
  auto call = Dial<v1::PolicyAdmin>(f.client);
  if (call->failed != 0) {
    return call->failed;
  }
  v1::ApplyPolicyRequest request;
  request.set_policy_json(*text);
  request.set_dry_run(f.dry_run);
  request.set_expected_revision(f.expected_revision);
  v1::ApplyPolicyResponse response;
  const grpc::Status status =
      call->stub->ApplyPolicy(&call->context, request, &response);
  if (!status.ok()) {
    return PrintRpcError("ApplyPolicy", status, f.client);
  }
  if (f.dry_run) {
    std::cout << f.file << ": valid; dry run: revision " << response.revision()
              << " would replace " << response.previous_revision() << "\n";
  } else if (response.applied()) {
    std::cout << f.file << ": applied revision " << response.revision()
              << " (was " << response.previous_revision() << ")\n";
  } else {
    std::cout << f.file << ": revision " << response.revision()
              << " is already in force\n";
  }
  return kExitDone;
}

struct GetFlags {
  ClientFlags client;
  bool json = false;
  bool revision = false;
};

int RunGet(const GetFlags& f) {
  auto call = Dial<v1::PolicyAdmin>(f.client);
  if (call->failed != 0) {
    return call->failed;
  }
  v1::GetPolicyResponse response;
  const grpc::Status status =
      call->stub->GetPolicy(&call->context, v1::GetPolicyRequest(), &response);
  if (!status.ok()) {
    return PrintRpcError("GetPolicy", status, f.client);
  }
  if (f.json) {
    std::cout << ToJson(response) << "\n";
    return kExitDone;
  }
  if (f.revision) {
    std::cout << response.revision() << "\n";
    return kExitDone;
  }
  // The document itself, as applied: it diffs against a file and can be
  // applied again. What it is goes to stderr, out of the way of `>`.
  std::cerr << "policy in force: revision " << response.revision()
            << ", origin " << response.origin() << ", applied at "
            << google::protobuf::util::TimeUtil::ToString(response.applied_at())
            << "\n";
  if (response.policy_json().empty()) {
    std::cerr << "the built-in defaults are in force: they have no document "
                 "of their own (examples/policies/default.json spells them "
                 "out)\n";
    return kExitDone;
  }
  std::cout << response.policy_json();
  if (response.policy_json().back() != '\n') {
    std::cout << "\n";
  }
  return kExitDone;
}

// ---------------------------------------------------------------------------
// simulate

struct SimulateFlags {
  std::string policy;
  std::string events;
  std::string catalog;
  IdentityFlags identity;
  std::string now;
  std::string warn_since;
  DeviceFlags device;
  ClientFlags client;
};

absl::Status ParseTimeFlag(const std::string& flag, const std::string& value,
                           google::protobuf::Timestamp* out) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, value, &t, &error)) {
    return absl::InvalidArgumentError(
        StrCat(flag, " \"", value,
               "\" is not an RFC 3339 time such as 2026-12-01T09:00:00Z"));
  }
  ToProto(t, out);
  return absl::OkStatus();
}

// JSON Lines of SimulatedEvent (proto3 JSON); blank lines and lines starting
// with '#' are skipped.
absl::Status ReadEvents(const std::string& path,
                        v1::SimulateDecisionRequest* request) {
  auto text =
      ReadNamedFile("events", path, kMaxEventsBytes, FileKinds::kAlsoStreams);
  if (!text.ok()) {
    return text.status();
  }
  std::size_t line_no = 0;
  std::size_t start = 0;
  while (start < text->size()) {
    std::size_t end = text->find('\n', start);
    if (end == std::string::npos) {
      end = text->size();
    }
    const std::string_view line(text->data() + start, end - start);
    start = end + 1;
    ++line_no;
    const std::size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos || line[first] == '#') {
      continue;
    }
    if (absl::Status s = FromJson(line, request->add_events()); !s.ok()) {
      return absl::InvalidArgumentError(
          StrCat(path, ":", line_no, ": ", std::string(s.message())));
    }
  }
  return absl::OkStatus();
}

int RunSimulate(const SimulateFlags& f) {
  if (f.policy.empty() && f.client.server.empty()) {
    std::cerr << "error: --policy FILE (offline) or --server ADDR (the "
                 "running plugin's policy) is required\n";
    return kExitUsage;
  }
  v1::SimulateDecisionRequest request;
  v1::CheckInRequest* c = request.mutable_check_in();
  if (!CheckUtf8Flags(f.device, f.identity)) {
    return kExitUsage;
  }
  f.identity.Apply(c);
  f.device.Apply(c);
  if (c->device().eas_device_id().empty() &&
      c->device().mdm_device_id().empty()) {
    c->mutable_device()->set_eas_device_id("SIMULATED");
  }
  absl::Status status;
  if (!f.now.empty()) {
    status.Update(ParseTimeFlag("--now", f.now, request.mutable_now()));
  }
  if (!f.warn_since.empty()) {
    status.Update(ParseTimeFlag("--warn-since", f.warn_since,
                                request.mutable_warn_since()));
  }
  if (!f.events.empty()) {
    status.Update(ReadEvents(f.events, &request));
  }
  if (!f.policy.empty()) {
    auto text = ReadNamedFile("policy", f.policy, kMaxPolicyBytes,
                              FileKinds::kAlsoStreams);
    if (!text.ok()) {
      status.Update(text.status());
    } else if (!IsValidUtf8(*text)) {
      status.Update(
          absl::InvalidArgumentError(StrCat(f.policy, " is not valid UTF-8")));
    } else {
      request.set_policy_json(*text);
    }
  }
  if (!status.ok()) {
    std::cerr << "error: " << status.message() << "\n";
    return kExitUsage;
  }

  v1::SimulateDecisionResponse response;
  if (!f.client.server.empty()) {
    auto call = Dial<v1::PolicyAdmin>(f.client);
    if (call->failed != 0) {
      return call->failed;
    }
    const grpc::Status s =
        call->stub->SimulateDecision(&call->context, request, &response);
    if (!s.ok()) {
      return PrintRpcError("SimulateDecision", s, f.client);
    }
  } else {
    auto catalog = LoadCatalog(f.catalog);
    if (!catalog.ok()) {
      std::cerr << "error: " << catalog.status().message() << "\n";
      return kExitUsage;
    }
    std::vector<policy::PolicyProblem> problems;
    auto parsed =
        policy::Policy::Parse(request.policy_json(), **catalog, &problems);
    if (!parsed.ok()) {
      std::cerr << "error: " << f.policy << ": " << parsed.status().message()
                << "\n";
      return kExitUsage;
    }
    policy::PolicyEngine engine(*catalog, *parsed, &RealClock(), nullptr);
    const PolicyAdminService admin(&engine, &RealClock(), nullptr, nullptr);
    request.clear_policy_json();  // the engine holds it
    const absl::Status s = admin.DoSimulate(request, &response);
    if (!s.ok()) {
      std::cerr << "error: " << s.message() << "\n";
      return ExitStatusOf(s);
    }
  }
  std::cout << ToJson(response) << "\n";
  return kExitDone;
}

}  // namespace

void AddPolicyCommands(CLI::App& app, RunFn* run) {
  CLI::App* p = app.add_subcommand(
      "policy", "Validate, apply and read the policy (docs/policy.md)");
  p->require_subcommand(1);
  {
    auto f = std::make_shared<ValidateFlags>();
    CLI::App* c = p->add_subcommand(
        "validate",
        "Check a policy file; prints every problem as FILE:LINE:COLUMN: "
        "POINTER: MESSAGE and exits 1 on any");
    c->add_option("file", f->file, "Policy file (JSON)")->required();
    c->add_option("--catalog", f->catalog,
                  "Known-issue catalog to check issue ids against (default: "
                  "built in)");
    c->callback([f, run] { *run = [f] { return RunValidate(*f); }; });
  }
  {
    auto f = std::make_shared<ApplyFlags>();
    CLI::App* c = p->add_subcommand(
        "apply", "Apply a policy file to a running plugin (PolicyAdmin)");
    c->add_option("file", f->file, "Policy file (JSON)")->required();
    c->add_flag("--dry-run", f->dry_run,
                "Validate and compare on the server; change nothing");
    c->add_option("--expected-revision", f->expected_revision,
                  "Apply only if this revision is in force (compare-and-set)");
    f->client.Register(c);
    c->callback([f, run] { *run = [f] { return RunApply(*f); }; });
  }
  {
    auto f = std::make_shared<GetFlags>();
    CLI::App* c =
        p->add_subcommand("get",
                          "Print the running plugin's policy document as it "
                          "was applied (to diff or apply again); its revision "
                          "and origin go to stderr");
    f->client.Register(c);
    c->add_flag("--json", f->json,
                "Print the GetPolicy response (document, revision, origin, "
                "time) as JSON instead");
    c->add_flag("--revision", f->revision,
                "Print only the revision in force (for --expected-revision)");
    c->callback([f, run] { *run = [f] { return RunGet(*f); }; });
  }
}

void AddSimulateCommand(CLI::App& app, RunFn* run) {
  auto f = std::make_shared<SimulateFlags>();
  CLI::App* c = app.add_subcommand(
      "simulate",
      "The decision a device would get under a policy, with reasons and "
      "matched rules; no side effects");
  c->add_option("--policy", f->policy,
                "Policy file; offline unless --server is given (then it is "
                "the candidate the server simulates)");
  c->add_option("--events", f->events,
                "Detection events: JSON Lines of SimulatedEvent, e.g. "
                "{\"kind\": \"EVENT_KIND_ORGANIZER_REWRITE\", "
                "\"attendeeCount\": 12}");
  c->add_option("--catalog", f->catalog,
                "Known-issue catalog (offline; default: built in)");
  f->identity.tenant = "default";
  f->identity.Register(c, "Tenant id (default \"default\")");
  c->add_option("--now", f->now, "Decide at this RFC 3339 time");
  c->add_option("--warn-since", f->warn_since,
                "The device has been at WARN since this RFC 3339 time");
  f->device.Register(c);
  f->client.Register(c, /*server_required=*/false);
  c->callback([f, run] { *run = [f] { return RunSimulate(*f); }; });
}

}  // namespace hijackguard::plugin::cli
