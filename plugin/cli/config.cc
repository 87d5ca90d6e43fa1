// `hijackguard config validate`: everything `serve` would refuse at start,
// found without starting: the configuration, the catalog and policy it
// names, the TLS files, the address rule, the audit key file and the SIEM
// sinks' token and TLS files.
#include "plugin/config.h"

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "common/strings.h"
#include "detector/known_issues.h"
#include "plugin/auth.h"
#include "plugin/cli/client_flags.h"
#include "plugin/cli/commands.h"
#include "plugin/siem/transport.h"
#include "plugin/tls_files.h"
#include "policy/policy.h"
#include "store/audit_key.h"

namespace hijackguard::plugin::cli {
namespace {

struct ValidateFlags {
  std::string file;
};

// The policy named by `config`, checked against `catalog`; problems are
// appended to `problems`. "" when it does not load.
std::string CheckPolicy(const ServerConfig& config,
                        const detector::KnownIssueCatalog& catalog,
                        std::vector<std::string>* problems) {
  if (config.policy_path.empty()) {
    return "the built-in default policy (monitor mode)";
  }
  std::vector<policy::PolicyProblem> found;
  auto policy = policy::Policy::LoadFile(config.policy_path, catalog, &found,
                                         config.max_policy_bytes);
  if (policy.ok()) {
    return StrCat("policy ", config.policy_path, " (revision ",
                  (*policy)->revision().substr(0, 12), ", ",
                  policy::ModeName((*policy)->global().mode.value), " mode)");
  }
  problems->push_back(std::string(policy.status().message()));
  return "";
}

// The listeners' TLS files and address rules.
void CheckListeners(const ServerConfig& config,
                    std::vector<std::string>* problems) {
  const bool has_auth = config.auth.has_value();
  for (const auto& [key, listen, tls] :
       {std::tuple{"tls", config.listen, &config.tls},
        std::tuple{"http.tls", config.http.listen, &config.http.tls}}) {
    if (listen.empty()) {
      continue;
    }
    if (absl::Status s = CheckListenAddress(listen, has_auth, tls->has_value(),
                                            config.allow_insecure_remote, key);
        !s.ok()) {
      problems->push_back(std::string(s.message()));
    }
    if (tls->has_value()) {
      // Checked as the server checks them: they parse and the key matches,
      // copied into a temporary directory removed at once.
      if (auto files = TlsFiles::Create(**tls, ""); !files.ok()) {
        problems->push_back(std::string(files.status().message()));
      }
    }
  }
}

int RunValidate(const ValidateFlags& f) {
  auto config = LoadServerConfig(f.file);
  if (!config.ok()) {
    std::cerr << "error: " << config.status().message() << "\n";
    return absl::IsInvalidArgument(config.status())
               ? kExitProblems
               : ExitStatusOf(config.status());
  }
  std::vector<std::string> problems;
  auto catalog =
      config->catalog_path.empty()
          ? detector::KnownIssueCatalog::Builtin()
          : detector::KnownIssueCatalog::LoadFile(config->catalog_path);
  std::string policy_line;
  if (!catalog.ok()) {
    problems.push_back(std::string(catalog.status().message()));
  } else {
    policy_line = CheckPolicy(*config, *catalog, &problems);
  }
  CheckListeners(*config, &problems);
  for (const siem::SinkConfig& sink : config->siem.sinks) {
    // Its token and TLS files, read as the server reads them at start.
    if (auto transport = siem::MakeTransport(sink, ""); !transport.ok()) {
      problems.push_back(std::string(transport.status().message()));
    }
  }
  if (!config->audit_key_file.empty()) {
    // A missing key is made at the first start; one that is there must read.
    if (auto key = store::ReadAuditKey(config->audit_key_file);
        !key.ok() && !absl::IsNotFound(key.status())) {
      problems.push_back(std::string(key.status().message()));
    }
  }
  for (const std::string& p : problems) {
    std::cerr << "error: " << p << "\n";
  }
  if (!problems.empty()) {
    std::cerr << "configuration " << f.file << ": " << problems.size()
              << (problems.size() == 1 ? " problem\n" : " problems\n");
    return kExitProblems;
  }
  std::cout << "configuration " << f.file << ": OK; listen " << config->listen
            << (config->tls ? " (TLS)" : " (plaintext)") << "; " << policy_line
            << "; catalog "
            << (config->catalog_path.empty() ? std::string("built-in")
                                             : config->catalog_path)
            << "; state "
            << (config->state_store == "memory"
                    ? std::string("in memory")
                    : StrCat(config->state_store, " in ", config->state_dir))
            << "; "
            << (config->auth
                    ? StrCat(config->auth->principals.size(), " principals")
                    : std::string("development mode (no auth)"))
            << "\n";
  return kExitDone;
}

}  // namespace

void AddConfigCommands(CLI::App& app, RunFn* run) {
  CLI::App* config =
      app.add_subcommand("config", "Check a server configuration");
  config->require_subcommand(1);
  auto flags = std::make_shared<ValidateFlags>();
  CLI::App* v = config->add_subcommand(
      "validate",
      "Check a configuration file and everything it names (policy, catalog, "
      "TLS files, audit key) as `serve` would at start; exit 1 on problems");
  v->add_option("FILE", flags->file, "Configuration file (JSON)")->required();
  v->callback([flags, run] { *run = [flags] { return RunValidate(*flags); }; });
}

}  // namespace hijackguard::plugin::cli
