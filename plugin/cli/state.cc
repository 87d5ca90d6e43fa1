// `hijackguard backup`, `state migrate` and `audit verify|export|checkpoint|
// pseudonym`: offline tools on the state (a state directory's database, or
// the store a configuration names; safe while servers run).
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "absl/time/time.h"
#include "common/file.h"
#include "common/strings.h"
#include "plugin/cli/client_flags.h"
#include "plugin/cli/commands.h"
#include "plugin/cli/offline_state.h"
#include "store/audit_key.h"
#include "store/audit_log.h"
#include "store/sqlite/sqlite_store.h"

namespace hijackguard::plugin::cli {
namespace {

struct StateFlags {
  StateTarget target;
  std::string to;
  std::string since;
  std::string checkpoint;
  std::string address;
  bool pseudonymize = false;
};

// The state the flags name, or nullptr after printing why (`command` first).
std::unique_ptr<OfflineState> OpenState(const StateFlags& f,
                                        const char* command,
                                        bool need_database = true) {
  auto state = OfflineState::Open(f.target, need_database);
  if (!state.ok()) {
    std::fprintf(stderr, "%s: %s\n", command,
                 std::string(state.status().message()).c_str());
    return nullptr;
  }
  return *std::move(state);
}

// The audit key (never created here), or nullopt after printing why.
std::optional<std::string> Key(const OfflineState& state) {
  auto key = state.Key();
  if (!key.ok()) {
    std::fprintf(stderr, "error: %s\n",
                 std::string(key.status().message()).c_str());
    return std::nullopt;
  }
  return *key;
}

int RunBackup(const StateFlags& f) {
  ::umask(077);
  std::unique_ptr<OfflineState> state = OpenState(f, "backup");
  if (state == nullptr) return kExitUsage;
  absl::StatusOr<std::string> done = state->Backup(f.to);
  if (!done.ok()) {
    std::fprintf(stderr, "backup failed: %s\n",
                 std::string(done.status().message()).c_str());
    return ExitStatusOf(done.status());
  }
  std::printf("backed up %s\n", done->c_str());
  return kExitDone;
}

int RunVerify(const StateFlags& f) {
  std::unique_ptr<OfflineState> state = OpenState(f, "audit verify");
  if (state == nullptr) return kExitUsage;
  const std::optional<std::string> key = Key(*state);
  if (!key) {
    return kExitUsage;
  }
  std::optional<store::AuditCheckpoint> checkpoint;
  if (!f.checkpoint.empty()) {
    auto text = ReadNamedFile("checkpoint", f.checkpoint, 4096,
                              FileKinds::kAlsoStreams);
    if (!text.ok()) {
      std::fprintf(stderr, "error: %s\n",
                   std::string(text.status().message()).c_str());
      return kExitUsage;
    }
    auto parsed = store::ParseCheckpoint(*text, *key);
    if (!parsed.ok()) {
      std::fprintf(stderr, "error: --checkpoint %s: %s\n", f.checkpoint.c_str(),
                   std::string(parsed.status().message()).c_str());
      return kExitUsage;
    }
    checkpoint = *std::move(parsed);
  }
  auto v = state->Verify(*key, checkpoint ? &*checkpoint : nullptr);
  if (!v.ok()) {
    std::fprintf(stderr, "audit verify: %s\n",
                 std::string(v.status().message()).c_str());
    return ExitStatusOf(v.status());
  }
  if (!v->ok) {
    std::printf("audit log BROKEN at row %ju: %s\n",
                static_cast<std::uintmax_t>(v->bad_seq), v->problem.c_str());
    std::printf("(rows 1..%ju verified before it)\n",
                static_cast<std::uintmax_t>(v->last_seq));
    return kExitProblems;
  }
  std::printf("audit log OK: %ju rows", static_cast<std::uintmax_t>(v->rows));
  if (v->rows > 0) {
    std::printf(" (%ju..%ju), head %s",
                static_cast<std::uintmax_t>(v->first_seq),
                static_cast<std::uintmax_t>(v->last_seq), v->head_hash.c_str());
  }
  std::printf("\n");
  if (checkpoint) {
    std::printf("checkpoint of %s (row %ju) holds; %ju rows follow it\n",
                FormatUtc(checkpoint->at).c_str(),
                static_cast<std::uintmax_t>(checkpoint->seq),
                static_cast<std::uintmax_t>(v->after_checkpoint));
  }
  return kExitDone;
}

int RunCheckpoint(const StateFlags& f) {
  std::unique_ptr<OfflineState> state = OpenState(f, "audit checkpoint");
  if (state == nullptr) return kExitUsage;
  const std::optional<std::string> key = Key(*state);
  if (!key) {
    return kExitUsage;
  }
  auto c = state->Checkpoint(*key, absl::Now());
  if (!c.ok()) {
    std::fprintf(stderr, "audit checkpoint: %s\n",
                 std::string(c.status().message()).c_str());
    return ExitStatusOf(c.status());
  }
  std::printf("%s\n", store::CheckpointLine(*c).c_str());
  return kExitDone;
}

int RunPseudonym(const StateFlags& f) {
  std::unique_ptr<OfflineState> state =
      OpenState(f, "audit pseudonym", /*need_database=*/false);
  if (state == nullptr) return kExitUsage;
  const std::optional<std::string> key = Key(*state);
  if (!key) {
    return kExitUsage;
  }
  std::printf("%s\n", store::Pseudonymizer(*key, false)(f.address).c_str());
  return kExitDone;
}

int RunMigrate(const StateFlags& f) {
  std::unique_ptr<OfflineState> state = OpenState(f, "state migrate");
  if (state == nullptr) return kExitUsage;
  auto versions = state->Migrate();
  if (!versions.ok()) {
    std::fprintf(stderr, "state migrate: %s\n",
                 std::string(versions.status().message()).c_str());
    return ExitStatusOf(versions.status());
  }
  if (versions->first == versions->second) {
    std::printf("%s: schema %d, nothing to do\n", state->name().c_str(),
                versions->second);
  } else {
    std::printf("%s: schema %d -> %d\n", state->name().c_str(), versions->first,
                versions->second);
  }
  return kExitDone;
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
      return kExitUsage;
    }
  }
  std::unique_ptr<OfflineState> state = OpenState(f, "audit export");
  if (state == nullptr) return kExitUsage;
  std::optional<store::Pseudonymizer> pseudonym;
  if (f.pseudonymize) {
    const std::optional<std::string> key = Key(*state);
    if (!key) {
      return kExitUsage;
    }
    pseudonym.emplace(*key, false);
  }
  std::ofstream file;
  std::ostream* out = &std::cout;
  if (!f.to.empty()) {
    // Mode 0600: the log holds personal data.
    absl::Status created = WritePrivateFile(f.to, "");
    if (absl::IsAlreadyExists(created)) {
      created = MakePrivate(f.to);
    }
    if (!created.ok()) {
      std::fprintf(stderr, "error: %s\n",
                   std::string(created.message()).c_str());
      return ExitStatusOf(created);
    }
    file.open(f.to, std::ios::out | std::ios::trunc);
    if (!file) {
      std::fprintf(stderr, "error: cannot write %s: %s\n", f.to.c_str(),
                   std::strerror(errno));
      return kExitUsage;
    }
    out = &file;
  }
  auto n = state->Export(since, *out, pseudonym ? &*pseudonym : nullptr);
  if (!n.ok()) {
    std::fprintf(stderr, "audit export: %s\n",
                 std::string(n.status().message()).c_str());
    return ExitStatusOf(n.status());
  }
  std::fprintf(stderr, "exported %ju audit rows\n",
               static_cast<std::uintmax_t>(*n));
  return kExitDone;
}

}  // namespace

void AddStateCommands(CLI::App& app, RunFn* run) {
  auto flags = std::make_shared<StateFlags>();
  // --state or --config, and --key-file for the commands that need the
  // audit key.
  auto add_state = [&flags](CLI::App* command, bool key) {
    command->add_option("--state", flags->target.state_dir, "State directory")
        ->capture_default_str();
    command->add_option("--config", flags->target.config,
                        "The server's configuration: its state store instead "
                        "of --state (PostgreSQL through postgres.dsn)");
    if (key) {
      command->add_option("--key-file", flags->target.key_file,
                          "The audit key (default: the configuration's "
                          "audit.key_file, else <state>/audit.key)");
    }
  };
  CLI::App* backup = app.add_subcommand(
      "backup",
      "Copy the state database to a file (online: the server may run); "
      "PostgreSQL's with pg_dump");
  add_state(backup, false);
  backup->add_option("--to", flags->to, "Backup file to create")->required();
  backup->callback(
      [flags, run] { *run = [flags] { return RunBackup(*flags); }; });

  CLI::App* state = app.add_subcommand("state", "The state database's schema");
  state->require_subcommand(1);
  CLI::App* migrate = state->add_subcommand(
      "migrate",
      "Apply this build's schema steps (PostgreSQL: before upgrading "
      "replicas; docs/state.md)");
  add_state(migrate, false);
  migrate->callback(
      [flags, run] { *run = [flags] { return RunMigrate(*flags); }; });

  CLI::App* audit =
      app.add_subcommand("audit", "Check or export the audit log");
  audit->require_subcommand(1);
  CLI::App* verify = audit->add_subcommand(
      "verify",
      "Walk the hash chain; report the first altered, inserted or "
      "deleted row (exit 1)");
  add_state(verify, true);
  verify->add_option("--checkpoint", flags->checkpoint,
                     "A checkpoint line (audit checkpoint, or the server's "
                     "log): rows it covers must all be there unchanged");
  verify->callback(
      [flags, run] { *run = [flags] { return RunVerify(*flags); }; });
  CLI::App* exp = audit->add_subcommand(
      "export", "Write audit rows as JSON Lines (for a SIEM)");
  add_state(exp, true);
  exp->add_option("--since", flags->since,
                  "Only rows at or after this RFC 3339 time");
  exp->add_option("--to", flags->to,
                  "Output file to create, mode 0600 (default: stdout)");
  exp->add_flag("--pseudonymize", flags->pseudonymize,
                "Replace user principals and addresses by their pseudonyms "
                "(for a third party)");
  exp->callback([flags, run] { *run = [flags] { return RunExport(*flags); }; });

  CLI::App* cp = audit->add_subcommand(
      "checkpoint",
      "Print a signed checkpoint of the log's head as one JSON line; keep it "
      "elsewhere to detect rows cut from the end later");
  add_state(cp, true);
  cp->callback(
      [flags, run] { *run = [flags] { return RunCheckpoint(*flags); }; });

  CLI::App* ps = audit->add_subcommand(
      "pseudonym",
      "Print the pseudonym that stands for ADDRESS (a user or a device id) in "
      "logs");
  ps->add_option("address", flags->address,
                 "A user principal, an address or an EAS device id")
      ->required();
  add_state(ps, true);
  ps->callback(
      [flags, run] { *run = [flags] { return RunPseudonym(*flags); }; });
}

}  // namespace hijackguard::plugin::cli
