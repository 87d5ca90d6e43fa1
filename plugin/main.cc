// The `hijackguard` binary: one executable, several subcommands.
#include <iostream>

#include "CLI/CLI.hpp"
#include "plugin/cli/commands.h"

int main(int argc, char** argv) {
  namespace cli = hijackguard::plugin::cli;
  CLI::App app{
      "hijackguard: detects Exchange ActiveSync clients that hijack meeting "
      "ownership and tells the MDM what to do at check-in."};
  app.require_subcommand(1);
  cli::RunFn run;
  cli::AddServeCommand(app, &run);
  cli::AddFingerprintCommand(app, &run);
  cli::AddCheckInCommand(app, &run);
  cli::AddWireCommands(app, &run);
  cli::AddTrafficCommands(app, &run);
  cli::AddPolicyCommands(app, &run);
  cli::AddSimulateCommand(app, &run);
  cli::AddStateCommands(app, &run);
  cli::AddAuthCommands(app, &run);
  cli::AddGatewayCommands(app, &run);
  cli::AddVersionCommand(app, &run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Usage errors exit 2, like other Unix tools, whatever CLI11's internal
    // code is.
    std::cerr << "error: " << e.what() << "\nRun with --help for usage.\n";
    return 2;
  }
  return run ? run() : 2;
}
