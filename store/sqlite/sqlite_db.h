// Thin RAII helpers over the SQLite C API for the state store: a connection
// with its prepared statements, and opening, checking and migrating the
// state database. For store/sqlite/ (the store and the offline tools).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct sqlite3;
struct sqlite3_stmt;

namespace hijackguard::store {

// The schema version this build writes (PRAGMA user_version); the opener
// refuses newer ones and migrates older ones to it.
inline constexpr int kStateSchemaVersion = 9;
// The database's file name inside the state directory.
inline constexpr std::string_view kStateFileName = "hijackguard.db";

}  // namespace hijackguard::store

namespace hijackguard::store::sqlite {

// A prepared statement. Bind* bind by reference (SQLITE_STATIC): the bound
// bytes must live until the statement has been stepped. Reset() before
// binding anew.
class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Reset();                                 // before binding anew
  Statement& Bind(int index, std::string_view blob);  // as a BLOB
  Statement& BindText(int index, std::string_view text);
  Statement& Bind(int index, std::int64_t value);
  Statement& BindDouble(int index, double value);
  Statement& BindNull(int index);
  // SQLITE_ROW -> true, SQLITE_DONE -> false, else an error.
  absl::StatusOr<bool> Step();
  // Runs to completion (no rows expected).
  [[nodiscard]] absl::Status Run();
  std::string_view Blob(int column) const;
  std::int64_t Int(int column) const;
  double Double(int column) const;
  bool IsNull(int column) const;

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  Database() = default;
  ~Database();
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Opens `path`; `create` allows creating it.
  static absl::StatusOr<Database> Open(const std::string& path, bool create,
                                       bool read_only);
  [[nodiscard]] absl::Status Exec(std::string_view sql);
  absl::StatusOr<Statement> Prepare(std::string_view sql);
  // The single value of a one-row query (integer or text).
  absl::StatusOr<std::int64_t> QueryInt(std::string_view sql);
  absl::StatusOr<std::string> QueryText(std::string_view sql);
  sqlite3* get() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

// An error status for SQLite result `rc` on `db`, naming what was being done.
[[nodiscard]] absl::Status Error(sqlite3* db, int rc, std::string_view doing);

// Checks an existing file's header before SQLite sees it: the SQLite magic,
// and, unless a non-empty write-ahead log (`path`-wal) may still hold the
// missing pages (a crash or a full disk during a checkpoint), that the file
// is as long as the header says. OK for a missing file.
[[nodiscard]] absl::Status CheckHeader(const std::string& path);

struct OpenStateOptions {
  std::string synchronous = "full";  // PRAGMA synchronous: full, normal, off
  // Files up to this size get PRAGMA quick_check on open.
  std::int64_t quick_check_max_bytes = 256 << 20;
  // PRAGMA wal_autocheckpoint (pages); SQLite's default is 1000.
  int wal_autocheckpoint_pages = 1000;
  // PRAGMA journal_size_limit: the WAL is truncated to this after a
  // checkpoint that emptied it.
  std::int64_t journal_size_limit_bytes = 64 << 20;
};

// Opens the state database for writing: header check, identity
// (application_id), schema version (refusing newer ones), WAL and
// synchronous mode, recovery from the WAL with a full checkpoint and then
// the file-length check, an integrity check for files up to
// quick_check_max_bytes, and the forward migrations.
absl::StatusOr<Database> OpenState(const std::string& path,
                                   const OpenStateOptions& options);
// The audit table and its keyed chain are as they have been since schema 3:
// the audit tools read databases from that version on, unmigrated.
inline constexpr int kAuditSchemaVersion = 3;
// The first with the SIEM outbox.
inline constexpr int kOutboxSchemaVersion = 7;

// Opens it for reading only (tools), with the same identity checks; never
// creates or migrates. Versions below `min_version` (what the tool reads)
// are refused with a hint to migrate; newer than this build's, always.
// In the process whose store has the file open, pass `in_server`: the file
// is then opened through SQLite only. (Its header check reads the file
// itself, and closing that descriptor would drop every POSIX lock the
// process holds on the file, SQLite's included: another process could then
// take the database for unused and delete its write-ahead log.)
absl::StatusOr<Database> OpenStateReadOnly(const std::string& path,
                                           int min_version,
                                           bool in_server = false);

// The migrations, in order: step i takes user_version i to i + 1.
const std::vector<std::string_view>& Migrations();
// Applies the migrations from the file's version up to `target` (tests use a
// lower target to make an old database).
[[nodiscard]] absl::Status Migrate(Database& db, int target);

inline constexpr std::int64_t kApplicationId = 0x48474442;  // "HGDB"

}  // namespace hijackguard::store::sqlite
