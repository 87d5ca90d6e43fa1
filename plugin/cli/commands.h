// The `hijackguard` subcommands. Each Add*Command registers its flags on `app`
// and, when the subcommand is chosen, sets `*run` to the function that carries
// it out and returns the exit status (0 success, 1 failure, 2 usage error).
#pragma once

#include <functional>

#include "CLI/CLI.hpp"

namespace hijackguard::plugin::cli {

using RunFn = std::function<int()>;

void AddServeCommand(CLI::App& app, RunFn* run);
void AddFingerprintCommand(CLI::App& app, RunFn* run);
void AddCheckInCommand(CLI::App& app, RunFn* run);
void AddVersionCommand(CLI::App& app, RunFn* run);
// decode, encode, parse-request.
void AddWireCommands(CLI::App& app, RunFn* run);
// replay, device show, trace build.
void AddTrafficCommands(CLI::App& app, RunFn* run);
// policy validate, policy apply, policy get.
void AddPolicyCommands(CLI::App& app, RunFn* run);
void AddSimulateCommand(CLI::App& app, RunFn* run);
// backup, audit verify, audit export.
void AddStateCommands(CLI::App& app, RunFn* run);
// gateway nginx-config
void AddGatewayCommands(CLI::App& app, RunFn* run);
// auth new-token, auth hash-token
void AddAuthCommands(CLI::App& app, RunFn* run);

}  // namespace hijackguard::plugin::cli
