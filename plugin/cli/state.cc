// `hijackguard backup`, `audit verify` and `audit export`: offline tools on
// a state directory's database (safe while the server runs).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "absl/time/time.h"
#include "common/strings.h"
#include "plugin/cli/commands.h"
#include "plugin/sqlite_store.h"

namespace hijackguard::plugin::cli {
namespace {

struct StateFlags {
  std::string state = "./var";
  std::string to;
  std::string since;
};

std::string DatabasePath(const std::string& state_dir) {
  return (std::filesystem::path(state_dir) / kStateFileName).string();
}

int RunBackup(const StateFlags& f) {
  const absl::Status status = BackupState(DatabasePath(f.state), f.to);
  if (!status.ok()) {
    std::fprintf(stderr, "backup failed: %s\n",
                 std::string(status.message()).c_str());
    return 1;
  }
  std::error_code ec;
  std::printf(
      "backed up %s to %s (%ju bytes, checked)\n",
      DatabasePath(f.state).c_str(), f.to.c_str(),
      static_cast<std::uintmax_t>(std::filesystem::file_size(f.to, ec)));
  return 0;
}

int RunVerify(const StateFlags& f) {
  auto v = VerifyAudit(DatabasePath(f.state));
  if (!v.ok()) {
    std::fprintf(stderr, "audit verify: %s\n",
                 std::string(v.status().message()).c_str());
    return 1;
  }
  if (!v->ok) {
    std::printf("audit log BROKEN at row %ju: %s\n",
                static_cast<std::uintmax_t>(v->bad_seq), v->problem.c_str());
    std::printf("(rows 1..%ju verified before it)\n",
                static_cast<std::uintmax_t>(v->last_seq));
    return 1;
  }
  std::printf("audit log OK: %ju rows", static_cast<std::uintmax_t>(v->rows));
  if (v->rows > 0) {
    std::printf(" (%ju..%ju), head %s",
                static_cast<std::uintmax_t>(v->first_seq),
                static_cast<std::uintmax_t>(v->last_seq), v->head_hash.c_str());
  }
  std::printf("\n");
  return 0;
}

int RunExport(const StateFlags& f) {
  absl::Time since = absl::InfinitePast();
  if (!f.since.empty()) {
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, f.since, &since, &error)) {
      std::fprintf(stderr,
                   "error: --since \"%s\" is not an RFC 3339 time "
                   "(2026-12-01T00:00:00Z): %s\n",
                   f.since.c_str(), error.c_str());
      return 2;
    }
  }
  std::ofstream file;
  std::ostream* out = &std::cout;
  if (!f.to.empty()) {
    file.open(f.to, std::ios::out | std::ios::trunc);
    if (!file) {
      std::fprintf(stderr, "error: cannot write %s\n", f.to.c_str());
      return 1;
    }
    out = &file;
  }
  auto n = ExportAudit(DatabasePath(f.state), since, *out);
  if (!n.ok()) {
    std::fprintf(stderr, "audit export: %s\n",
                 std::string(n.status().message()).c_str());
    return 1;
  }
  std::fprintf(stderr, "exported %ju audit rows\n",
               static_cast<std::uintmax_t>(*n));
  return 0;
}

}  // namespace

void AddStateCommands(CLI::App& app, RunFn* run) {
  auto flags = std::make_shared<StateFlags>();
  CLI::App* backup = app.add_subcommand(
      "backup",
      "Copy the state database to a file (online: the server may run)");
  backup->add_option("--state", flags->state, "State directory")
      ->capture_default_str();
  backup->add_option("--to", flags->to, "Backup file to create")->required();
  backup->callback(
      [flags, run] { *run = [flags] { return RunBackup(*flags); }; });

  CLI::App* audit =
      app.add_subcommand("audit", "Check or export the audit log");
  audit->require_subcommand(1);
  CLI::App* verify = audit->add_subcommand(
      "verify",
      "Walk the hash chain; report the first altered, inserted or "
      "deleted row (exit 1)");
  verify->add_option("--state", flags->state, "State directory")
      ->capture_default_str();
  verify->callback(
      [flags, run] { *run = [flags] { return RunVerify(*flags); }; });
  CLI::App* exp = audit->add_subcommand(
      "export", "Write audit rows as JSON Lines (for a SIEM)");
  exp->add_option("--state", flags->state, "State directory")
      ->capture_default_str();
  exp->add_option("--since", flags->since,
                  "Only rows at or after this RFC 3339 time");
  exp->add_option("--to", flags->to, "Output file (default: stdout)");
  exp->callback([flags, run] { *run = [flags] { return RunExport(*flags); }; });
}

}  // namespace hijackguard::plugin::cli
