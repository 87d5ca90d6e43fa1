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

namespace {

// Replaces the user principal of a decision and the address of a user
// exemption (in its value and its id "<tenant>/user/<address>").
void PseudonymizeRecord(const Pseudonymizer& pseudonym, nlohmann::json& j) {
  auto replace = [&](const char* field) {
    auto it = j.find(field);
    if (it != j.end() && it->is_string() && !it->get<std::string>().empty()) {
      *it = pseudonym(it->get<std::string>());
    }
  };
  replace("user_principal");
  auto id = j.find("exemption_id");
  if (id == j.end() || !id->is_string()) {
    return;
  }
  const std::string text = id->get<std::string>();
  const std::size_t user = text.find("/user/");
  if (user != std::string::npos) {
    *id = StrCat(text.substr(0, user), "/user/",
                 pseudonym(text.substr(user + 6)));
    replace("value");
  }
}

}  // namespace

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
  ASSIGN_OR_RETURN(std::uint64_t rekey_seq, FirstRekeySeq(db));
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
  ASSIGN_OR_RETURN(Statement rows,
                   db.Prepare(StrCat("SELECT ", kAuditRowColumns,
                                     " FROM audit ORDER BY seq")));
  // Retention may have deleted the oldest rows: the signed anchor names the
  // last one, and the chain starts after it.
  ASSIGN_OR_RETURN(std::string anchor,
                   db.QueryText("SELECT value FROM meta WHERE name = "
                                "'audit_anchor'"));
  absl::StatusOr<AuditAnchor> from = ParseAuditAnchor(anchor, key);
  if (!from.ok()) {
    AuditVerification broken;
    broken.ok = false;
    broken.bad_seq = 1;
    broken.problem = std::string(from.status().message());
    (void)db.Exec("COMMIT");
    return broken;
  }
  const std::uint64_t anchor_seq = from->seq;
  const std::string& anchor_hash = from->hash;
  AuditChainWalker walker(std::string(key), rekey_seq, anchor_seq + 1,
                          anchor_hash);
  AuditVerification v;
  v.pruned_through = anchor_seq;
  std::string checkpoint_row_hash;
  while (true) {
    ASSIGN_OR_RETURN(bool more, rows.Step());
    if (!more) break;
    const AuditChainRow row = ReadAuditRow(rows);
    if (cancel != nullptr && row.seq % 4096 == 0 && cancel->load()) {
      (void)db.Exec("COMMIT");
      return absl::CancelledError("the audit verification was stopped");
    }
    if (!walker.Add(row)) break;
    if (checkpoint != nullptr && row.seq == checkpoint->seq) {
      checkpoint_row_hash = row.hash;
    }
  }
  if (walker.ok()) {
    ASSIGN_OR_RETURN(std::string head,
                     db.QueryText("SELECT value FROM meta WHERE name = "
                                  "'audit_head'"));
    walker.CheckHead(head, false);
  }
  v.rows = walker.rows();
  v.first_seq = walker.rows() > 0 ? anchor_seq + 1 : 0;
  v.last_seq = walker.last_seq();
  v.ok = walker.ok();
  v.bad_seq = walker.bad_seq();
  v.problem = walker.problem();
  if (v.ok && checkpoint != nullptr && checkpoint->seq > 0) {
    if (checkpoint->seq <= anchor_seq) {
      // Its rows were pruned: the anchor, signed with the same key, is what
      // links the rows kept to them.
      if (checkpoint->seq == anchor_seq && checkpoint->head != anchor_hash) {
        v.ok = false;
        v.bad_seq = anchor_seq;
        v.problem = StrCat("the prune anchor is not the row the checkpoint of ",
                           FormatUtc(checkpoint->at), " signed");
      } else {
        v.after_checkpoint = v.last_seq - checkpoint->seq;
      }
    } else if (checkpoint->seq > v.last_seq) {
      v.ok = false;
      v.bad_seq = v.last_seq + 1;
      v.problem = StrCat("rows ", v.last_seq + 1, "..", checkpoint->seq,
                         " were deleted: the checkpoint of ",
                         FormatUtc(checkpoint->at), " covers rows up to ",
                         checkpoint->seq, ", the log ends at row ", v.last_seq);
    } else if (checkpoint_row_hash != checkpoint->head) {
      v.ok = false;
      v.bad_seq = checkpoint->seq;
      v.problem = StrCat(
          "row ", checkpoint->seq, " is not the row the checkpoint of ",
          FormatUtc(checkpoint->at), " signed: the log up to it was rewritten");
    } else {
      v.after_checkpoint = v.last_seq - checkpoint->seq;
    }
  }
  v.head_hash = v.ok ? walker.head() : "";
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
    std::string_view record = rows.Blob(0);
    if (record.size() < 2 || record.back() != '}') {
      continue;  // not an object; verify reports it
    }
    std::string rewritten;
    if (pseudonymize != nullptr) {
      nlohmann::json j = nlohmann::json::parse(record, nullptr, false);
      if (!j.is_object()) continue;
      // The canonical record's hash no longer matches; the line says so.
      PseudonymizeRecord(*pseudonymize, j);
      j["pseudonymized"] = true;
      rewritten =
          j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      record = rewritten;
    }
    record.remove_suffix(1);
    out << record << ",\"hash\":\"" << rows.Blob(1) << "\"}\n";
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
