// Offline operations on a state database: backup, audit verification,
// checkpoints and export (declared in state_tools.h).
#include "store/sqlite/state_tools.h"

#include <sqlite3.h>

#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "common/file.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "nlohmann/json.hpp"
#include "store/audit_key.h"
#include "store/audit_log.h"
#include "store/sqlite/audit_chain.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_store.h"

namespace hijackguard::store {

using sqlite::Database;
using sqlite::Statement;

absl::Status BackupState(const std::string& db_path, const std::string& to) {
  std::error_code ec;
  if (std::filesystem::exists(to, ec)) {
    return absl::AlreadyExistsError(
        StrCat(to, " exists already; choose a new file for the backup"));
  }
  // Any version: a backup is what one takes before an upgrade migrates it.
  ASSIGN_OR_RETURN(Database source, sqlite::OpenStateReadOnly(db_path, 1));
  // Missing directories are made (the owner's alone: the copy holds
  // personal data); one that cannot be is named with the reason.
  if (const std::filesystem::path dir = std::filesystem::path(to).parent_path();
      !dir.empty() && !std::filesystem::is_directory(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          StrCat("cannot make the backup's directory ", dir.string(), ": ",
                 ec.message()));
    }
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  }
  const std::string partial = StrCat(to, ".partial");
  std::filesystem::remove(partial, ec);
  absl::Status status;
  {
    ASSIGN_OR_RETURN(Database target, Database::Open(partial, true, false));
    sqlite3_backup* backup =
        sqlite3_backup_init(target.get(), "main", source.get(), "main");
    if (backup == nullptr) {
      status = sqlite::Error(target.get(), sqlite3_errcode(target.get()),
                             StrCat("starting the backup to ", partial));
    } else {
      // One step: a read transaction on the source (WAL: writers go on)
      // gives a consistent copy.
      const int rc = sqlite3_backup_step(backup, -1);
      sqlite3_backup_finish(backup);
      if (rc != SQLITE_DONE) {
        status = sqlite::Error(target.get(), rc,
                               StrCat("copying ", db_path, " to ", partial));
      }
    }
    if (status.ok()) {
      auto check = target.QueryText("PRAGMA quick_check(1)");
      if (!check.ok()) {
        status = check.status();
      } else if (*check != "ok") {
        status = absl::DataLossError(StrCat(
            "the backup does not check out (quick_check: ", *check, ")"));
      }
    }
    if (status.ok()) {
      status = target.Exec("PRAGMA journal_mode=DELETE");  // one file
    }
  }
  if (status.ok()) {
    status = MakePrivate(partial);
  }
  if (status.ok()) {
    std::filesystem::rename(partial, to, ec);
    if (ec) {
      status = absl::InternalError(
          StrCat("renaming ", partial, " to ", to, ": ", ec.message()));
    }
  }
  if (!status.ok()) {
    std::filesystem::remove(partial, ec);
  }
  return status;
}

namespace {

// The log in one read transaction of a SQLite connection.
class SqliteAuditSource final : public AuditSource {
 public:
  explicit SqliteAuditSource(Database& db) : db_(db) {}
  absl::StatusOr<std::string> Meta(std::string_view name) override {
    return db_.QueryText(
        StrCat("SELECT value FROM meta WHERE name = '", name, "'"));
  }
  absl::StatusOr<std::uint64_t> RekeySeq() override {
    return FirstRekeySeq(db_);
  }
  absl::Status Rows(
      const std::function<bool(const AuditChainRow&)>& row) override {
    ASSIGN_OR_RETURN(Statement rows,
                     db_.Prepare(StrCat("SELECT ", kAuditRowColumns,
                                        " FROM audit ORDER BY seq")));
    while (true) {
      ASSIGN_OR_RETURN(bool more, rows.Step());
      if (!more || !row(ReadAuditRow(rows))) return absl::OkStatus();
    }
  }

 private:
  Database& db_;
};

}  // namespace

absl::StatusOr<AuditVerification> VerifyAudit(const std::string& db_path,
                                              std::string_view key,
                                              const AuditCheckpoint* checkpoint,
                                              const std::atomic<bool>* cancel,
                                              bool in_server) {
  ASSIGN_OR_RETURN(Database db,
                   sqlite::OpenStateReadOnly(
                       db_path, sqlite::kAuditSchemaVersion, in_server));
  // One read transaction: a consistent snapshot while a server appends.
  RETURN_IF_ERROR(db.Exec("BEGIN"));
  ASSIGN_OR_RETURN(std::string pending,
                   db.QueryText("SELECT value FROM meta WHERE name = "
                                "'audit_rekey'"));
  if (!pending.empty()) {
    // Only a server that has just migrated a log from before the key writes
    // this, and removes it in the same start; found here, it is tampering
    // or an interrupted start.
    AuditVerification broken;
    broken.ok = false;
    broken.bad_seq = 1;
    broken.problem =
        "the log is marked as not yet keyed (meta audit_rekey): start the "
        "server once to key it; if it was keyed before, the marker was "
        "written by someone else";
    (void)db.Exec("COMMIT");
    return broken;
  }
  SqliteAuditSource source(db);
  absl::StatusOr<AuditVerification> v =
      VerifyAuditChain(source, key, checkpoint, cancel);
  (void)db.Exec("COMMIT");
  return v;
}

absl::StatusOr<AuditCheckpoint> CheckpointAudit(const std::string& db_path,
                                                std::string_view key,
                                                absl::Time now) {
  // Sign only a log that verifies.
  ASSIGN_OR_RETURN(AuditVerification v, VerifyAudit(db_path, key));
  if (!v.ok) {
    return absl::FailedPreconditionError(
        StrCat("the audit log does not verify, so it is not signed: row ",
               v.bad_seq, ": ", v.problem));
  }
  // The head of the snapshot that was verified, not of a later one.
  return MakeCheckpoint(key, v.last_seq, v.head_hash, now);
}

absl::StatusOr<std::uint64_t> ExportAudit(const std::string& db_path,
                                          absl::Time since, std::ostream& out,
                                          const Pseudonymizer* pseudonymize) {
  ASSIGN_OR_RETURN(Database db, sqlite::OpenStateReadOnly(
                                    db_path, sqlite::kAuditSchemaVersion));
  ASSIGN_OR_RETURN(Statement rows,
                   db.Prepare("SELECT record, hash FROM audit WHERE at_us >= "
                              "?1 ORDER BY seq"));
  rows.Bind(
      1, since == absl::InfinitePast() ? INT64_MIN : absl::ToUnixMicros(since));
  std::uint64_t n = 0;
  while (true) {
    ASSIGN_OR_RETURN(bool more, rows.Step());
    if (!more) break;
    if (!WriteAuditLine(rows.Blob(0), rows.Blob(1), pseudonymize, out)) {
      continue;  // not an object; verify reports it
    }
    ++n;
  }
  out.flush();
  if (!out) {
    return absl::InternalError("writing the export failed");
  }
  return n;
}

absl::StatusOr<policy::OutboxState> QueryOutboxState(Database& db) {
  policy::OutboxState state;
  // sqlite_sequence keeps the highest seq ever handed out, even when every
  // entry has been pruned.
  ASSIGN_OR_RETURN(
      Statement head,
      db.Prepare("SELECT (SELECT seq FROM sqlite_sequence WHERE name = "
                 "'outbox'), (SELECT min(seq) FROM outbox)"));
  ASSIGN_OR_RETURN(bool row, head.Step());
  if (row) {
    state.head = head.IsNull(0) ? 0 : static_cast<std::uint64_t>(head.Int(0));
    state.oldest = head.IsNull(1) ? 0 : static_cast<std::uint64_t>(head.Int(1));
  }
  ASSIGN_OR_RETURN(
      Statement cursors,
      db.Prepare("SELECT sink, delivered, dropped FROM sink_cursors ORDER BY "
                 "sink"));
  while (true) {
    ASSIGN_OR_RETURN(bool more, cursors.Step());
    if (!more) break;
    state.cursors.push_back({std::string(cursors.Blob(0)),
                             static_cast<std::uint64_t>(cursors.Int(1)),
                             static_cast<std::uint64_t>(cursors.Int(2))});
  }
  return state;
}

absl::StatusOr<policy::OutboxState> ReadOutboxState(
    const std::string& db_path) {
  ASSIGN_OR_RETURN(Database db, sqlite::OpenStateReadOnly(
                                    db_path, sqlite::kOutboxSchemaVersion));
  return QueryOutboxState(db);
}

}  // namespace hijackguard::store
