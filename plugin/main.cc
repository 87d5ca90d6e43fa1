// The `hijackguard` binary: one executable, several subcommands.
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/strings.h"
#include "plugin/cli/commands.h"
#include "plugin/grpc_log.h"
#include "plugin/server_options.h"

namespace {

namespace cli = hijackguard::plugin::cli;

// The deepest subcommand the command line chose ("policy apply" gives apply).
CLI::App* Chosen(CLI::App& app) {
  CLI::App* at = &app;
  while (true) {
    const std::vector<CLI::App*> chosen = at->get_subcommands();
    if (chosen.empty()) return at;
    at = chosen.front();
  }
}

// "policy apply" for apply; "" for the top level.
std::string PathOf(const CLI::App* app) {
  std::string path;
  for (; app != nullptr && app->get_parent() != nullptr;
       app = app->get_parent()) {
    path = path.empty() ? app->get_name()
                        : std::string(app->get_name()).append(" ").append(path);
  }
  return path;
}

// "; did you mean X?" for the nearest of `known`, or "".
std::string Suggestion(const std::string& word,
                       const std::vector<std::string>& known) {
  const std::string* nearest = hijackguard::Nearest(word, known);
  return nearest != nullptr ? " (did you mean " + *nearest + "?)" : "";
}

// Names what was not understood and the nearest valid word: the first
// argument left over, as a subcommand or a flag of the command it was given
// to; CLI11's own message when nothing was left over.
std::string Explain(CLI::App& app, const CLI::ParseError& e) {
  CLI::App* at = Chosen(app);
  std::vector<std::string> extra = at->remaining();
  if (extra.empty()) {
    extra = app.remaining();  // CLI11 hands a subcommand's extras up
  }
  const std::string where = PathOf(at).empty() ? "" : PathOf(at) + ": ";
  if (extra.empty()) {
    return where + e.what();
  }
  const std::string& word = extra.front();
  if (word.starts_with("-")) {
    std::vector<std::string> flags;
    for (const CLI::Option* o : at->get_options()) {
      for (const std::string& name : o->get_lnames()) {
        flags.push_back("--" + name);
      }
      for (const std::string& name : o->get_snames()) {
        flags.push_back("-" + name);
      }
    }
    const std::string flag = word.substr(0, word.find('='));
    return where + "unknown flag " + flag + Suggestion(flag, flags);
  }
  std::vector<std::string> commands;
  for (const CLI::App* sub : at->get_subcommands({})) {
    commands.push_back(sub->get_name());
  }
  if (commands.empty()) {
    return where + "unexpected argument \"" + word + "\"";
  }
  return where + "unknown command \"" + word + "\"" +
         Suggestion(word, commands);
}

}  // namespace

int main(int argc, char** argv) {
  // Commands report what failed themselves; `serve` forwards gRPC's errors
  // once it is up.
  hijackguard::plugin::QuietGrpcLog();
  hijackguard::plugin::ApplyProcessDefaults();
  CLI::App app{
      "hijackguard: detects Exchange ActiveSync clients that hijack meeting "
      "ownership and tells the MDM what to do at check-in."};
  app.require_subcommand(1);
  cli::RunFn run;
  cli::AddServeCommand(app, &run);
  cli::AddConfigCommands(app, &run);
  cli::AddFingerprintCommand(app, &run);
  cli::AddCheckInCommand(app, &run);
  cli::AddWireCommands(app, &run);
  cli::AddTrafficCommands(app, &run);
  cli::AddPolicyCommands(app, &run);
  cli::AddAdminCommands(app, &run);
  cli::AddSimulateCommand(app, &run);
  cli::AddStateCommands(app, &run);
  cli::AddAuthCommands(app, &run);
  cli::AddGatewayCommands(app, &run);
  cli::AddReportCommand(app, &run);
  cli::AddVersionCommand(app, &run);
  cli::AddReferenceCommands(app, &run);
  app.set_version_flag("--version", cli::VersionLine());
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Usage errors exit 2, like other Unix tools, whatever CLI11's internal
    // code is. An unknown word is named first: it is usually why a required
    // flag or subcommand seems missing.
    std::cerr << "error: " << Explain(app, e)
              << "\nRun with --help for usage.\n";
    return cli::kExitUsage;
  }
  return run ? run() : cli::kExitUsage;
}
