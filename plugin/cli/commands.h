// The `hijackguard` subcommands. Each Add*Command registers its flags on `app`
// and, when the subcommand is chosen, sets `*run` to the function that carries
// it out and returns the exit status (below; README, "Exit statuses").
#pragma once

#include <functional>
#include <string>

#include "CLI/CLI.hpp"

namespace hijackguard::plugin::cli {

using RunFn = std::function<int()>;

// Exit statuses, one meaning each for every command.
inline constexpr int kExitDone = 0;
// Problems found: a policy or configuration that does not validate, an audit
// log that does not verify, decode issues, items a server refused.
inline constexpr int kExitProblems = 1;
// A usage error, or input that is missing or cannot be read.
inline constexpr int kExitUsage = 2;
// An RPC or the state store failed.
inline constexpr int kExitFailed = 3;

void AddServeCommand(CLI::App& app, RunFn* run);
void AddFingerprintCommand(CLI::App& app, RunFn* run);
void AddCheckInCommand(CLI::App& app, RunFn* run);
void AddVersionCommand(CLI::App& app, RunFn* run);
// "hijackguard 0.x (API hijackguard.v1, gRPC 1.51.1)": `version` and
// `--version` print it.
std::string VersionLine();
// decode, encode, parse-request.
void AddWireCommands(CLI::App& app, RunFn* run);
// replay, device show, device list, trace build.
void AddTrafficCommands(CLI::App& app, RunFn* run);
// device list, under `device`.
void AddDeviceListCommand(CLI::App& device, RunFn* run);
// policy validate, policy apply, policy get.
void AddPolicyCommands(CLI::App& app, RunFn* run);
void AddSimulateCommand(CLI::App& app, RunFn* run);
// backup, audit verify, audit export.
void AddStateCommands(CLI::App& app, RunFn* run);
// alerts watch, alerts backlog, exemptions list|put|delete
void AddAdminCommands(CLI::App& app, RunFn* run);
// alerts backlog, under `alerts`.
void AddAlertsBacklogCommand(CLI::App& alerts, RunFn* run);
// report (report.cc)
void AddReportCommand(CLI::App& app, RunFn* run);
// completion bash, manpage: generated from the definitions above; add last.
void AddReferenceCommands(CLI::App& app, RunFn* run);
// config validate
void AddConfigCommands(CLI::App& app, RunFn* run);
// gateway nginx-config
void AddGatewayCommands(CLI::App& app, RunFn* run);
// auth new-token, auth hash-token
void AddAuthCommands(CLI::App& app, RunFn* run);

}  // namespace hijackguard::plugin::cli
