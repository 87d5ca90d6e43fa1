// `hijackguard version`.
#include "plugin/version.h"

#include <iostream>

#include "grpcpp/grpcpp.h"
#include "plugin/cli/commands.h"

namespace hijackguard::plugin::cli {

std::string VersionLine() {
  return std::string("hijackguard ") + kVersion +
         " (API hijackguard.v1, gRPC " + grpc::Version() + ")";
}

void AddVersionCommand(CLI::App& app, RunFn* run) {
  CLI::App* c =
      app.add_subcommand("version", "Print the version and the API version");
  c->callback([run] {
    *run = [] {
      std::cout << VersionLine() << "\n";
      return kExitDone;
    };
  });
}

}  // namespace hijackguard::plugin::cli
