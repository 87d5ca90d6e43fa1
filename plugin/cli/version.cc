// `hijackguard version`.
#include "plugin/version.h"

#include <iostream>

#include "grpcpp/grpcpp.h"
#include "plugin/cli/commands.h"

namespace hijackguard::plugin::cli {

void AddVersionCommand(CLI::App& app, RunFn* run) {
  CLI::App* c =
      app.add_subcommand("version", "Print the version and the API version");
  c->callback([run] {
    *run = [] {
      std::cout << "hijackguard " << kVersion << " (API hijackguard.v1, gRPC "
                << grpc::Version() << ")\n";
      return 0;
    };
  });
}

}  // namespace hijackguard::plugin::cli
