#include "plugin/cli/offline_state.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/status_macros.h"
#include "common/strings.h"
#include "plugin/config.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/pg_schema.h"
#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/state_tools.h"

namespace hijackguard::plugin::cli {
namespace {

class SqliteState final : public OfflineState {
 public:
  SqliteState(std::string path, std::string key_file) : path_(std::move(path)) {
    key_file_ = std::move(key_file);
  }
  std::string name() const override { return StrCat("state database ", path_); }
  absl::StatusOr<store::AuditVerification> Verify(
      std::string_view key, const store::AuditCheckpoint* checkpoint) override {
    return store::VerifyAudit(path_, key, checkpoint);
  }
  absl::StatusOr<std::uint64_t> Export(
      absl::Time since, std::ostream& out,
      const store::Pseudonymizer* pseudonymize) override {
    return store::ExportAudit(path_, since, out, pseudonymize);
  }
  absl::StatusOr<std::string> Backup(const std::string& to) override {
    RETURN_IF_ERROR(store::BackupState(path_, to));
    std::error_code ec;
    return StrCat(path_, " to ", to, " (", std::filesystem::file_size(to, ec),
                  " bytes, checked)");
  }
  absl::StatusOr<policy::OutboxState> Outbox() override {
    return store::ReadOutboxState(path_);
  }
  absl::StatusOr<std::pair<int, int>> Migrate() override {
    int before = 0;
    {
      ASSIGN_OR_RETURN(store::sqlite::Database db,
                       store::sqlite::OpenStateReadOnly(path_, 0));
      ASSIGN_OR_RETURN(std::int64_t v, db.QueryInt("PRAGMA user_version"));
      before = static_cast<int>(v);
    }
    // Opening for writing migrates (as serve does).
    ASSIGN_OR_RETURN(store::sqlite::Database db,
                     store::sqlite::OpenState(path_, {}));
    return std::pair<int, int>{before, store::kStateSchemaVersion};
  }

 private:
  std::string path_;
};

// pg_dump and pg_restore from PATH (Debian's wrappers pick the newest
// installed version, which can dump older servers too), else Debian's 15.
std::string PgTool(const char* tool) {
  for (const char* dir : {"/usr/bin/", "/usr/local/bin/"}) {
    std::error_code ec;
    if (std::filesystem::exists(StrCat(dir, tool), ec)) {
      return StrCat(dir, tool);
    }
  }
  return StrCat("/usr/lib/postgresql/15/bin/", tool);
}

// Runs `argv` with PGPASSFILE naming a private file that holds `password`
// (never in argv or the environment's value, which others may read).
absl::Status RunWithPassword(std::vector<std::string> argv,
                             const std::string& password) {
  std::string passfile;
  if (!password.empty()) {
    char tmpl[] = "/tmp/hg-pgpass-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    if (fd < 0) return absl::InternalError("cannot create a password file");
    passfile = tmpl;
    std::string escaped;
    for (char c : password) {
      if (c == ':' || c == '\\') escaped += '\\';
      escaped += c;
    }
    const std::string line = StrCat("*:*:*:*:", escaped, "\n");
    const bool written = ::write(fd, line.data(), line.size()) ==
                         static_cast<ssize_t>(line.size());
    ::close(fd);
    if (!written) {
      ::unlink(passfile.c_str());
      return absl::InternalError("cannot write a password file");
    }
  }
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!passfile.empty()) ::setenv("PGPASSFILE", passfile.c_str(), 1);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "cannot run %s\n", args[0]);
    ::_exit(127);
  }
  int status = 0;
  while (pid > 0 && ::waitpid(pid, &status, 0) < 0) {
  }
  if (!passfile.empty()) ::unlink(passfile.c_str());
  if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(StrCat(
        argv[0], " failed (exit ", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
        "; its message is above)"));
  }
  return absl::OkStatus();
}

class PostgresState final : public OfflineState {
 public:
  PostgresState(std::string config_path, PostgresConfig config,
                std::string key_file)
      : config_path_(std::move(config_path)), config_(std::move(config)) {
    key_file_ = std::move(key_file);
  }
  std::string name() const override {
    return StrCat("PostgreSQL database (postgres.dsn of ", config_path_, ")");
  }
  absl::StatusOr<store::AuditVerification> Verify(
      std::string_view key, const store::AuditCheckpoint* checkpoint) override {
    ASSIGN_OR_RETURN(auto conn, Connect());
    return store::VerifyPostgresAudit(*conn, key, checkpoint, nullptr);
  }
  absl::StatusOr<std::uint64_t> Export(
      absl::Time since, std::ostream& out,
      const store::Pseudonymizer* pseudonymize) override {
    ASSIGN_OR_RETURN(auto conn, Connect());
    return store::ExportPostgresAudit(*conn, since, out, pseudonymize);
  }
  absl::StatusOr<std::string> Backup(const std::string& to) override {
    std::error_code ec;
    if (std::filesystem::exists(to, ec)) {
      return absl::AlreadyExistsError(
          StrCat(to, " exists already; choose a new file for the backup"));
    }
    ASSIGN_OR_RETURN(std::string password, Password());
    // pg_dump's custom format: one consistent snapshot, restored with
    // pg_restore (docs/state.md); then read back whole as a check.
    RETURN_IF_ERROR(
        RunWithPassword({PgTool("pg_dump"), "--format=custom", "--no-owner",
                         "--file", to, "--dbname", config_.dsn},
                        password));
    ::chmod(to.c_str(), 0600);
    RETURN_IF_ERROR(RunWithPassword(
        {PgTool("pg_restore"), "--list", "--file", "/dev/null", to}, ""));
    return StrCat("the PostgreSQL database to ", to,
                  " (pg_dump custom format, ",
                  std::filesystem::file_size(to, ec),
                  " bytes; pg_restore --list reads its table of contents)");
  }
  absl::StatusOr<policy::OutboxState> Outbox() override {
    ASSIGN_OR_RETURN(auto conn, Connect());
    return store::ReadPostgresOutboxState(*conn);
  }
  absl::StatusOr<std::pair<int, int>> Migrate() override {
    ASSIGN_OR_RETURN(auto conn, Connect());
    ASSIGN_OR_RETURN(
        int before,
        store::pg::Migrate(*conn, store::pg::MigrateMode::kMigrate, name()));
    ASSIGN_OR_RETURN(store::pg::SchemaState after,
                     store::pg::ReadSchema(*conn));
    return std::pair<int, int>{before, after.version};
  }

 private:
  absl::StatusOr<std::string> Password() const {
    if (config_.password_file.empty()) return std::string();
    return store::pg::ReadPasswordFile(config_.password_file);
  }
  absl::StatusOr<std::unique_ptr<store::pg::Connection>> Connect() const {
    ASSIGN_OR_RETURN(std::string password, Password());
    return store::pg::Connection::Open(config_.dsn, password);
  }

  std::string config_path_;
  PostgresConfig config_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<OfflineState>> OfflineState::Open(
    const StateTarget& target, bool need_database) {
  std::string state_dir = target.state_dir;
  std::string key_file = target.key_file;
  if (!target.config.empty()) {
    absl::StatusOr<ServerConfig> config = LoadServerConfig(target.config);
    if (!config.ok()) {
      return absl::InvalidArgumentError(config.status().message());
    }
    if (config->state_store == "memory") {
      return absl::InvalidArgumentError(
          StrCat(target.config,
                 " keeps its state in memory: there is nothing to read"));
    }
    if (key_file.empty()) {
      key_file = !config->audit_key_file.empty()
                     ? config->audit_key_file
                     : store::DefaultAuditKeyPath(config->state_dir);
    }
    if (config->state_store == "postgres") {
      return std::unique_ptr<OfflineState>(std::make_unique<PostgresState>(
          target.config, config->postgres, key_file));
    }
    state_dir = config->state_dir;
  }
  if (key_file.empty()) key_file = store::DefaultAuditKeyPath(state_dir);
  const std::string path =
      (std::filesystem::path(state_dir) / store::kStateFileName).string();
  std::error_code ec;
  if (need_database && !std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(
        StrCat("no state database at ", path,
               " (is --state the state directory, or --config the server's "
               "configuration?)"));
  }
  return std::unique_ptr<OfflineState>(
      std::make_unique<SqliteState>(path, key_file));
}

absl::StatusOr<std::string> OfflineState::Key() const {
  absl::StatusOr<std::string> key = store::ReadAuditKey(key_file_);
  if (!key.ok()) {
    return absl::Status(key.status().code(), StrCat(key.status().message(),
                                                    " (--key-file names it)"));
  }
  return key;
}

absl::StatusOr<store::AuditCheckpoint> OfflineState::Checkpoint(
    std::string_view key, absl::Time now) {
  // Sign only a log that verifies, and the head of the snapshot verified.
  ASSIGN_OR_RETURN(store::AuditVerification v, Verify(key, nullptr));
  if (!v.ok) {
    return absl::FailedPreconditionError(
        StrCat("the audit log does not verify, so it is not signed: row ",
               v.bad_seq, ": ", v.problem));
  }
  return store::MakeCheckpoint(key, v.last_seq, v.head_hash, now);
}

}  // namespace hijackguard::plugin::cli
