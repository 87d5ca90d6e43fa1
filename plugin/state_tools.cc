// Offline operations on a state database: backup, audit verification and
// export (declared in sqlite_store.h).
#include <sqlite3.h>

#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "nlohmann/json.hpp"
#include "plugin/audit_log.h"
#include "plugin/sqlite_db.h"
#include "plugin/sqlite_store.h"

namespace hijackguard::plugin {

using sqlite::Database;
using sqlite::Statement;

absl::Status BackupState(const std::string& db_path, const std::string& to) {
  std::error_code ec;
  if (std::filesystem::exists(to, ec)) {
    return absl::AlreadyExistsError(
        StrCat(to, " exists already; choose a new file for the backup"));
  }
  ASSIGN_OR_RETURN(Database source, sqlite::OpenStateReadOnly(db_path));
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

absl::StatusOr<AuditVerification> VerifyAudit(const std::string& db_path) {
  ASSIGN_OR_RETURN(Database db, sqlite::OpenStateReadOnly(db_path));
  // One read transaction: a consistent snapshot while a server appends.
  RETURN_IF_ERROR(db.Exec("BEGIN"));
  ASSIGN_OR_RETURN(Statement rows,
                   db.Prepare("SELECT seq, at_us, kind, record, prev_hash, "
                              "hash FROM audit ORDER BY seq"));
  AuditVerification v;
  std::string prev(kAuditGenesis);
  std::uint64_t expected = 1;
  auto fail = [&](std::uint64_t seq, std::string problem) {
    v.ok = false;
    v.bad_seq = seq;
    v.problem = std::move(problem);
  };
  while (v.ok) {
    ASSIGN_OR_RETURN(bool more, rows.Step());
    if (!more) break;
    const auto seq = static_cast<std::uint64_t>(rows.Int(0));
    const std::int64_t at_us = rows.Int(1);
    const std::string kind(rows.Blob(2));
    const std::string record(rows.Blob(3));
    const std::string prev_hash(rows.Blob(4));
    const std::string hash(rows.Blob(5));
    if (seq != expected) {
      fail(expected,
           seq > expected
               ? StrCat("row ", expected, " is missing: rows ", expected, "..",
                        seq - 1, " were deleted (the next row is ", seq, ")")
               : StrCat("row ", seq, " is out of sequence"));
      break;
    }
    if (v.rows == 0) {
      v.first_seq = seq;
    }
    const nlohmann::json j = nlohmann::json::parse(record, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      fail(seq, StrCat("row ", seq, " was altered: its record is not JSON"));
      break;
    }
    if (AuditHash(prev_hash, record) != hash) {
      fail(seq, StrCat("row ", seq,
                       " was altered: its record does not match its hash"));
      break;
    }
    const std::string at =
        absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromUnixMicros(at_us),
                         absl::UTCTimeZone());
    auto field = [&](const char* name) -> std::string {
      auto it = j.find(name);
      if (it == j.end()) return std::string();
      if (it->is_string()) return it->get<std::string>();
      if (it->is_number_unsigned())
        return std::to_string(it->get<std::uint64_t>());
      return "?";  // a value of another type never matches
    };
    if (field("seq") != std::to_string(seq) || field("kind") != kind ||
        field("at") != at || field("prev_hash") != prev_hash) {
      fail(seq, StrCat("row ", seq,
                       " was altered: its seq, at, kind or prev_hash column "
                       "disagrees with its record"));
      break;
    }
    if (prev_hash != prev && seq == 1) {
      fail(1, "row 1 was altered: it does not start the chain");
      break;
    }
    if (prev_hash != prev) {
      fail(seq - 1,
           StrCat("the chain breaks between rows ", seq - 1, " and ", seq,
                  ": row ", seq, " links to ", prev_hash.substr(0, 16),
                  "..., row ", seq - 1, " hashes to ", prev.substr(0, 16),
                  "... (row ", seq - 1, " was altered and re-hashed, or row ",
                  seq, " was inserted)"));
      break;
    }
    prev = hash;
    v.last_seq = seq;
    ++v.rows;
    ++expected;
  }
  if (v.ok) {
    // The head the writer recorded with the last append: rows deleted from
    // the end leave it ahead of the table.
    ASSIGN_OR_RETURN(std::string head,
                     db.QueryText("SELECT value FROM meta WHERE name = "
                                  "'audit_head'"));
    if (!head.empty()) {
      const std::size_t space = head.find(' ');
      std::uint64_t head_seq = 0;
      if (space == std::string::npos ||
          !absl::SimpleAtoi(head.substr(0, space), &head_seq)) {
        fail(v.last_seq + 1, "the recorded head of the chain is damaged");
      } else if (head_seq > v.last_seq) {
        fail(v.last_seq + 1,
             StrCat("rows ", v.last_seq + 1, "..", head_seq,
                    " were deleted from the end (the recorded head is row ",
                    head_seq, ")"));
      } else if (head_seq < v.last_seq) {
        fail(head_seq + 1, StrCat("row ", head_seq + 1,
                                  " was inserted after the recorded head"));
      } else if (head.substr(space + 1) != prev) {
        fail(v.last_seq, StrCat("row ", v.last_seq,
                                " was altered and re-hashed: the recorded "
                                "head has another hash"));
      }
    }
  }
  v.head_hash = v.ok ? prev : "";
  (void)db.Exec("COMMIT");
  return v;
}

absl::StatusOr<std::uint64_t> ExportAudit(const std::string& db_path,
                                          absl::Time since, std::ostream& out) {
  ASSIGN_OR_RETURN(Database db, sqlite::OpenStateReadOnly(db_path));
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

}  // namespace hijackguard::plugin
