#include "store/sqlite/sqlite_db.h"

#include <sqlite3.h>

#include <array>
#include <cctype>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include "common/log.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace hijackguard::store::sqlite {
namespace {

// What to do about a damaged file, without throwing anything away first.
std::string Remedy(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return StrCat("copy the state directory aside first (cp -a ",
                dir.empty() ? "." : dir, " ", dir.empty() ? "." : dir,
                ".damaged) and keep that copy; then restore the latest backup "
                "(docs/state.md, \"Backup and restore\") and check it with "
                "`hijackguard audit verify --state DIR`");
}

std::uint64_t BigEndian(const unsigned char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v = (v << 8) | p[i];
  }
  return v;
}

struct WalContents {
  std::set<std::uint32_t> pages;
  std::uint64_t database_pages = 0;  // the size after the last commit
};

// SQLite's running WAL checksum over `n` bytes (a multiple of 8): 32-bit
// words in the byte order the log's magic names, summed in pairs.
void WalChecksum(bool big_endian, const unsigned char* data, std::size_t n,
                 std::uint32_t* s1, std::uint32_t* s2) {
  auto word = [&](const unsigned char* p) {
    return big_endian ? static_cast<std::uint32_t>(BigEndian(p, 4))
                      : static_cast<std::uint32_t>(p[0]) |
                            (static_cast<std::uint32_t>(p[1]) << 8) |
                            (static_cast<std::uint32_t>(p[2]) << 16) |
                            (static_cast<std::uint32_t>(p[3]) << 24);
  };
  for (std::size_t i = 0; i + 8 <= n; i += 8) {
    *s1 += word(data + i) + *s2;
    *s2 += word(data + i + 4) + *s1;
  }
}

// The pages that the write-ahead log `wal` holds in committed transactions,
// as SQLite's recovery reads it: whole frames of the log's generation
// (salts) whose running checksums hold, up to the last commit frame. Nullopt
// when there is no such log.
std::optional<WalContents> WalPages(const std::string& wal,
                                    std::uint64_t page_size) {
  std::ifstream in(wal, std::ios::binary);
  std::array<unsigned char, 32> header{};
  if (!in.read(reinterpret_cast<char*>(header.data()), header.size())) {
    return std::nullopt;
  }
  const std::uint64_t magic = BigEndian(header.data(), 4);
  if ((magic & ~1ULL) != 0x377f0682 ||
      BigEndian(header.data() + 8, 4) != page_size) {
    return std::nullopt;
  }
  const bool big_endian = (magic & 1) != 0;
  std::uint32_t s1 = 0;
  std::uint32_t s2 = 0;
  WalChecksum(big_endian, header.data(), 24, &s1, &s2);
  if (s1 != BigEndian(header.data() + 24, 4) ||
      s2 != BigEndian(header.data() + 28, 4)) {
    return std::nullopt;  // SQLite ignores such a log
  }
  WalContents committed;
  std::vector<std::uint32_t> open;  // frames since the last commit
  std::vector<unsigned char> frame(24 + page_size);
  while (in.read(reinterpret_cast<char*>(frame.data()),
                 static_cast<std::streamsize>(frame.size()))) {
    if (std::memcmp(frame.data() + 8, header.data() + 16, 8) != 0) {
      break;  // a frame of an older generation: the log ends here
    }
    WalChecksum(big_endian, frame.data(), 8, &s1, &s2);
    WalChecksum(big_endian, frame.data() + 24, page_size, &s1, &s2);
    if (s1 != BigEndian(frame.data() + 16, 4) ||
        s2 != BigEndian(frame.data() + 20, 4)) {
      break;  // torn or damaged: recovery stops here too
    }
    open.push_back(static_cast<std::uint32_t>(BigEndian(frame.data(), 4)));
    if (const std::uint64_t after = BigEndian(frame.data() + 4, 4);
        after != 0) {  // a commit frame
      committed.pages.insert(open.begin(), open.end());
      committed.database_pages = after;
      open.clear();
    }
  }
  return committed;
}

}  // namespace

absl::Status Error(sqlite3* db, int rc, std::string_view doing) {
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const std::string text =
      StrCat(doing, ": ", message, " (SQLite code ", rc, ")");
  switch (rc & 0xFF) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(text);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
      return absl::UnavailableError(text);
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(text);
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return absl::PermissionDeniedError(text);
    default:
      return absl::InternalError(text);
  }
}

// ---------------------------------------------------------------------------
// Statement

Statement::~Statement() {
  if (stmt_ != nullptr) {
    sqlite3_finalize(stmt_);
  }
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_) {
  other.stmt_ = nullptr;
}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (stmt_ != nullptr) {
      sqlite3_finalize(stmt_);
    }
    db_ = other.db_;
    stmt_ = other.stmt_;
    other.stmt_ = nullptr;
  }
  return *this;
}

Statement& Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  return *this;
}

Statement& Statement::Bind(int index, std::string_view blob) {
  sqlite3_bind_blob64(stmt_, index, blob.data(), blob.size(), SQLITE_STATIC);
  return *this;
}

Statement& Statement::BindText(int index, std::string_view text) {
  sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_STATIC,
                      SQLITE_UTF8);
  return *this;
}

Statement& Statement::Bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::BindDouble(int index, double value) {
  sqlite3_bind_double(stmt_, index, value);
  return *this;
}

Statement& Statement::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

absl::StatusOr<bool> Statement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  return Error(db_, rc, StrCat("running \"", sqlite3_sql(stmt_), "\""));
}

absl::Status Statement::Run() {
  while (true) {
    ASSIGN_OR_RETURN(bool row, Step());
    if (!row) {
      return absl::OkStatus();
    }
  }
}

std::string_view Statement::Blob(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  return data == nullptr ? std::string_view()
                         : std::string_view(static_cast<const char*>(data),
                                            static_cast<std::size_t>(size));
}

std::int64_t Statement::Int(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

double Statement::Double(int column) const {
  return sqlite3_column_double(stmt_, column);
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

// ---------------------------------------------------------------------------
// Database

Database::~Database() {
  if (db_ != nullptr) {
    sqlite3_close_v2(db_);
  }
}

Database::Database(Database&& other) noexcept
    : db_(other.db_), path_(std::move(other.path_)) {
  other.db_ = nullptr;
}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    if (db_ != nullptr) {
      sqlite3_close_v2(db_);
    }
    db_ = other.db_;
    path_ = std::move(other.path_);
    other.db_ = nullptr;
  }
  return *this;
}

absl::StatusOr<Database> Database::Open(const std::string& path, bool create,
                                        bool read_only) {
  Database db;
  db.path_ = path;
  int flags = SQLITE_OPEN_NOMUTEX;
  flags |= read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (create && !read_only) {
    flags |= SQLITE_OPEN_CREATE;
  }
  const int rc = sqlite3_open_v2(path.c_str(), &db.db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status = Error(db.db_, rc, StrCat("opening ", path));
    return status;
  }
  sqlite3_extended_result_codes(db.db_, 1);
  sqlite3_busy_timeout(db.db_, 10'000);
  return db;
}

absl::Status Database::Exec(std::string_view sql) {
  char* message = nullptr;
  const std::string text(sql);
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string detail = message != nullptr ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    absl::Status status = Error(db_, rc, StrCat("running \"", sql, "\""));
    return absl::Status(
        status.code(),
        StrCat(path_, ": ", detail, " (running \"", sql.substr(0, 60), "\")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc =
      sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                         SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    return Error(db_, rc, StrCat(path_, ": preparing \"", sql, "\""));
  }
  return Statement(db_, stmt);
}

absl::StatusOr<std::int64_t> Database::QueryInt(std::string_view sql) {
  ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? stmt.Int(0) : 0;
}

absl::StatusOr<std::string> Database::QueryText(std::string_view sql) {
  ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? std::string(stmt.Blob(0)) : std::string();
}

// ---------------------------------------------------------------------------
// The state database

absl::Status CheckHeader(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::OkStatus();
  }
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        StrCat("state database ", path, " cannot be read: ", ec.message()));
  }
  if (size < 100) {
    return absl::DataLossError(StrCat(
        "state database ", path, " is truncated: ", size,
        " bytes, shorter than the 100-byte SQLite header; ", Remedy(path)));
  }
  std::array<unsigned char, 100> header{};
  std::ifstream in(path, std::ios::binary);
  if (!in.read(reinterpret_cast<char*>(header.data()), header.size())) {
    return absl::DataLossError(
        StrCat("state database ", path, ": the header cannot be read"));
  }
  static constexpr char kMagic[] = "SQLite format 3";  // and a NUL
  if (std::memcmp(header.data(), kMagic, sizeof(kMagic)) != 0) {
    return absl::FailedPreconditionError(
        StrCat("state database ", path,
               " is not an SQLite database (bytes 0-15 are not \"SQLite format "
               "3\\0\"); point state_dir at hijackguard's state directory"));
  }
  auto be = [&](int offset, int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) {
      v = (v << 8) | header[static_cast<std::size_t>(offset) +
                            static_cast<std::size_t>(i)];
    }
    return v;
  };
  std::uint64_t page_size = be(16, 2);
  if (page_size == 1) {
    page_size = 65536;
  }
  const std::uint64_t pages = be(28, 4);
  const bool pages_valid = be(24, 4) == be(92, 4);
  if (!pages_valid || pages == 0 || size >= page_size * pages) {
    return absl::OkStatus();
  }
  // Shorter than the header says. After a crash or a full disk during a
  // checkpoint the header already counts pages that are still only in the
  // write-ahead log: SQLite rebuilds them from there. Truncation is what
  // the log does not cover.
  if (auto wal = WalPages(path + "-wal", page_size)) {
    const std::uint64_t needed =
        wal->database_pages != 0 ? wal->database_pages : pages;
    bool covered = true;
    for (std::uint64_t p = size / page_size + 1; p <= needed && covered; ++p) {
      covered = wal->pages.contains(static_cast<std::uint32_t>(p));
    }
    if (covered) {
      return absl::OkStatus();
    }
  }
  {
    return absl::DataLossError(StrCat(
        "state database ", path, " is truncated: its header (byte 28) says ",
        pages, " pages of ", page_size, " bytes (", page_size * pages,
        " bytes), the file has ", size, "; ", Remedy(path)));
  }
  return absl::OkStatus();
}

const std::vector<std::string_view>& Migrations() {
  static const std::vector<std::string_view> kSteps = {
      // 0 -> 1: the detector's and the engine's rows.
      R"sql(
CREATE TABLE meta(name TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID;
CREATE TABLE devices(key BLOB PRIMARY KEY, idx BLOB, active_ms INTEGER NOT NULL,
                     value BLOB NOT NULL) WITHOUT ROWID;
CREATE INDEX devices_by_idx ON devices(idx, active_ms) WHERE idx IS NOT NULL;
CREATE TABLE ledger(key BLOB PRIMARY KEY, updated_ms INTEGER NOT NULL,
                    value BLOB NOT NULL) WITHOUT ROWID;
CREATE INDEX ledger_by_time ON ledger(updated_ms);
CREATE TABLE events(key BLOB PRIMARY KEY, recorded_ms INTEGER NOT NULL,
                    value BLOB NOT NULL) WITHOUT ROWID;
CREATE INDEX events_by_time ON events(recorded_ms);
CREATE TABLE pending(key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE history(key BLOB PRIMARY KEY, decided_ms INTEGER NOT NULL,
                     value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE exemptions(id TEXT PRIMARY KEY, tenant TEXT NOT NULL,
                        kind TEXT NOT NULL, value TEXT NOT NULL,
                        reason TEXT NOT NULL, expires_us INTEGER NOT NULL)
                        WITHOUT ROWID;
CREATE TABLE policies(seq INTEGER PRIMARY KEY, revision TEXT NOT NULL,
                      origin TEXT NOT NULL, applied_us INTEGER NOT NULL,
                      document TEXT NOT NULL);
)sql",
      // 1 -> 2: the hash-chained audit log.
      R"sql(
CREATE TABLE audit(seq INTEGER PRIMARY KEY, at_us INTEGER NOT NULL,
                   kind TEXT NOT NULL, record TEXT NOT NULL,
                   prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX audit_by_time ON audit(at_us);
)sql",
      // 2 -> 3: the audit chain is keyed; a log with rows gets a "rekey" row
      // when the store opens it with the key (store/audit_log.h).
      R"sql(
INSERT INTO meta(name, value)
  SELECT 'audit_rekey', 'pending' WHERE EXISTS (SELECT 1 FROM audit);
)sql",
      // 3 -> 4: retention by time for devices, history and pending rows
      // (pending rows get a time; those already there count from now).
      R"sql(
ALTER TABLE pending ADD COLUMN at_ms INTEGER NOT NULL DEFAULT 0;
UPDATE pending SET at_ms = CAST((julianday('now') - 2440587.5) * 86400000
                                AS INTEGER);
CREATE INDEX pending_by_time ON pending(at_ms);
CREATE INDEX devices_by_time ON devices(active_ms);
CREATE INDEX history_by_time ON history(decided_ms);
)sql",
      // 4 -> 5: the device list's columns on the history rows (ListDevices).
      // Rows written before have none and are listed from their device's
      // next decision on. And an index of the audit log's rekey rows, which
      // every start looks for: without it the search reads the whole log.
      R"sql(
ALTER TABLE history ADD COLUMN tenant TEXT;
ALTER TABLE history ADD COLUMN eas_device_id TEXT;
ALTER TABLE history ADD COLUMN mdm_device_id TEXT;
ALTER TABLE history ADD COLUMN user_principal TEXT;
ALTER TABLE history ADD COLUMN enforced_action TEXT;
ALTER TABLE history ADD COLUMN evaluated_action TEXT;
ALTER TABLE history ADD COLUMN level TEXT;
ALTER TABLE history ADD COLUMN score REAL;
ALTER TABLE history ADD COLUMN build TEXT;
ALTER TABLE history ADD COLUMN os_version TEXT;
ALTER TABLE history ADD COLUMN model_name TEXT;
CREATE INDEX history_by_score ON history(score DESC, key)
  WHERE score IS NOT NULL;
CREATE INDEX history_by_tenant ON history(tenant, score DESC, key)
  WHERE score IS NOT NULL;
CREATE INDEX history_by_user ON history(user_principal COLLATE NOCASE)
  WHERE score IS NOT NULL;
CREATE INDEX history_unlisted ON history(key) WHERE score IS NULL;
CREATE INDEX audit_rekey ON audit(seq) WHERE kind = 'rekey';
)sql",
      // 5 -> 6: device and history rows say when they were written, inside
      // their values (detector and engine formats), so that a device paged
      // in is not written again before its daily refresh. Nothing to change
      // in SQL: the step is there so that an older build, which cannot read
      // such rows, refuses the file when it opens it.
      R"sql(
SELECT 1;
)sql",
      // 6 -> 7: the SIEM outbox (entries appended in the decision's commit;
      // AUTOINCREMENT so that a seq is never reused once pruned) and how far
      // each sink got.
      R"sql(
CREATE TABLE outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    payload TEXT NOT NULL);
CREATE TABLE sink_cursors(sink TEXT PRIMARY KEY, delivered INTEGER NOT NULL,
                          dropped INTEGER NOT NULL) WITHOUT ROWID;
)sql",
      // 7 -> 8: the device's platform in the list's columns (rows written
      // before have none until their device's next decision), an index
      // that holds every column the fleet's counts group by, so that
      // counting reads the index, not the rows, and an index of the audit
      // log by kind (the console's policy history and audit page).
      R"sql(
ALTER TABLE history ADD COLUMN platform TEXT;
CREATE INDEX history_counts ON history(tenant, platform, os_version, build,
                                       enforced_action, evaluated_action,
                                       level) WHERE score IS NOT NULL;
CREATE INDEX audit_by_kind ON audit(kind, seq);
)sql",
      // 8 -> 9: the fleet's counts kept as rows change (history_tally), so
      // that the console's fleet page reads a few hundred rows rather than
      // scanning an index of every device. Triggers keep it: a history row
      // written (INSERT OR REPLACE: the replaced row is taken off before,
      // since REPLACE deletes without delete triggers), deleted (retention)
      // or updated. A column without a value counts as "". The index that
      // counting read before goes: every decision wrote it. And the device
      // list's filters by evaluated action and by level get indexes in
      // score order, so that a filter few devices match (QUARANTINE) reads
      // those devices, not the whole fleet.
      R"sql(
DROP INDEX history_counts;
CREATE INDEX history_by_evaluated ON history(evaluated_action, score DESC, key)
  WHERE score IS NOT NULL;
CREATE INDEX history_by_level ON history(level, score DESC, key)
  WHERE score IS NOT NULL;
CREATE TABLE history_tally(
  tenant TEXT NOT NULL, platform TEXT NOT NULL, os_version TEXT NOT NULL,
  build TEXT NOT NULL, enforced_action TEXT NOT NULL,
  evaluated_action TEXT NOT NULL, level TEXT NOT NULL,
  devices INTEGER NOT NULL,
  PRIMARY KEY(tenant, platform, os_version, build, enforced_action,
              evaluated_action, level)) WITHOUT ROWID;
INSERT INTO history_tally
  SELECT ifnull(tenant, ''), ifnull(platform, ''), ifnull(os_version, ''),
         ifnull(build, ''), ifnull(enforced_action, ''),
         ifnull(evaluated_action, ''), ifnull(level, ''), COUNT(*)
  FROM history WHERE score IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7;
CREATE TRIGGER history_tally_replaced BEFORE INSERT ON history BEGIN
  UPDATE history_tally SET devices = devices - 1
  WHERE (tenant, platform, os_version, build, enforced_action,
         evaluated_action, level) =
        (SELECT ifnull(tenant, ''), ifnull(platform, ''),
                ifnull(os_version, ''), ifnull(build, ''),
                ifnull(enforced_action, ''), ifnull(evaluated_action, ''),
                ifnull(level, '')
         FROM history WHERE key = new.key AND score IS NOT NULL);
END;
CREATE TRIGGER history_tally_inserted AFTER INSERT ON history
WHEN new.score IS NOT NULL BEGIN
  INSERT INTO history_tally VALUES(
    ifnull(new.tenant, ''), ifnull(new.platform, ''),
    ifnull(new.os_version, ''), ifnull(new.build, ''),
    ifnull(new.enforced_action, ''), ifnull(new.evaluated_action, ''),
    ifnull(new.level, ''), 1)
  ON CONFLICT(tenant, platform, os_version, build, enforced_action,
              evaluated_action, level) DO UPDATE SET devices = devices + 1;
END;
CREATE TRIGGER history_tally_deleted AFTER DELETE ON history
WHEN old.score IS NOT NULL BEGIN
  UPDATE history_tally SET devices = devices - 1
  WHERE tenant = ifnull(old.tenant, '') AND platform = ifnull(old.platform, '')
    AND os_version = ifnull(old.os_version, '')
    AND build = ifnull(old.build, '')
    AND enforced_action = ifnull(old.enforced_action, '')
    AND evaluated_action = ifnull(old.evaluated_action, '')
    AND level = ifnull(old.level, '');
END;
CREATE TRIGGER history_tally_updated AFTER UPDATE ON history BEGIN
  UPDATE history_tally SET devices = devices - 1
  WHERE old.score IS NOT NULL
    AND tenant = ifnull(old.tenant, '') AND platform = ifnull(old.platform, '')
    AND os_version = ifnull(old.os_version, '')
    AND build = ifnull(old.build, '')
    AND enforced_action = ifnull(old.enforced_action, '')
    AND evaluated_action = ifnull(old.evaluated_action, '')
    AND level = ifnull(old.level, '');
  INSERT INTO history_tally
    SELECT ifnull(new.tenant, ''), ifnull(new.platform, ''),
           ifnull(new.os_version, ''), ifnull(new.build, ''),
           ifnull(new.enforced_action, ''), ifnull(new.evaluated_action, ''),
           ifnull(new.level, ''), 1
    WHERE new.score IS NOT NULL
  ON CONFLICT(tenant, platform, os_version, build, enforced_action,
              evaluated_action, level) DO UPDATE SET devices = devices + 1;
END;
)sql",
  };
  return kSteps;
}

absl::Status Migrate(Database& db, int target) {
  ASSIGN_OR_RETURN(std::int64_t version, db.QueryInt("PRAGMA user_version"));
  const auto& steps = Migrations();
  for (auto v = static_cast<std::size_t>(version);
       v < steps.size() && static_cast<int>(v) < target; ++v) {
    RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    absl::Status status = db.Exec(steps[v]);
    if (status.ok()) {
      status = db.Exec(StrCat("PRAGMA user_version = ", v + 1));
    }
    if (status.ok()) {
      status = db.Exec(StrCat("PRAGMA application_id = ", kApplicationId));
    }
    if (status.ok()) {
      status = db.Exec("COMMIT");
    }
    if (!status.ok()) {
      (void)db.Exec("ROLLBACK");
      return absl::Status(status.code(),
                          StrCat("migrating ", db.path(), " from schema ", v,
                                 " to ", v + 1, ": ", status.message()));
    }
  }
  return absl::OkStatus();
}

namespace {

absl::Status CheckIdentity(Database& db) {
  const std::string& path = db.path();
  auto app = db.QueryInt("PRAGMA application_id");
  if (!app.ok()) {
    return absl::Status(app.status().code(),
                        StrCat("state database ", path, " cannot be read: ",
                               app.status().message(), "; ", Remedy(path)));
  }
  ASSIGN_OR_RETURN(std::int64_t version, db.QueryInt("PRAGMA user_version"));
  ASSIGN_OR_RETURN(std::int64_t tables,
                   db.QueryInt("SELECT count(*) FROM sqlite_schema"));
  if (*app != kApplicationId && (*app != 0 || tables > 0)) {
    return absl::FailedPreconditionError(
        StrCat("state database ", path,
               " is an SQLite database but not hijackguard's (application_id ",
               *app, "); point state_dir at hijackguard's state directory"));
  }
  if (version > kStateSchemaVersion) {
    return absl::FailedPreconditionError(StrCat(
        "state database ", path, " has schema version ", version,
        ", written by a newer hijackguard; this one reads versions up to ",
        kStateSchemaVersion,
        ". Run the newer version, or restore a backup made by this one"));
  }
  return absl::OkStatus();
}

// Moves everything in the write-ahead log into the file (what SQLite does
// anyway; done here so the file can be measured), then requires the file to
// hold all its pages. (CheckHeader has already made sure that a file
// shorter than its header has the rest in the log.)
absl::Status CheckLengthAfterCheckpoint(Database& db) {
  const std::string& path = db.path();
  ASSIGN_OR_RETURN(Statement checkpoint,
                   db.Prepare("PRAGMA wal_checkpoint(TRUNCATE)"));
  ASSIGN_OR_RETURN(bool row, checkpoint.Step());
  if (!row || checkpoint.Int(0) != 0) {
    return absl::UnavailableError(StrCat(
        "state database ", path,
        ": the write-ahead log could not be checkpointed at start (another "
        "process holds the database open); stop it and start again"));
  }
  ASSIGN_OR_RETURN(std::int64_t pages, db.QueryInt("PRAGMA page_count"));
  ASSIGN_OR_RETURN(std::int64_t page_size, db.QueryInt("PRAGMA page_size"));
  std::error_code ec;
  const auto size =
      static_cast<std::int64_t>(std::filesystem::file_size(path, ec));
  if (ec) {
    return absl::PermissionDeniedError(
        StrCat("state database ", path, " cannot be measured: ", ec.message()));
  }
  if (size < pages * page_size) {
    return absl::DataLossError(StrCat(
        "state database ", path,
        " failed the length check after recovering its write-ahead log: ",
        pages, " pages of ", page_size, " bytes are ", pages * page_size,
        " bytes, the file has ", size, "; ", Remedy(path)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Database> OpenState(const std::string& path,
                                   const OpenStateOptions& options) {
  RETURN_IF_ERROR(CheckHeader(path));
  std::string sync(options.synchronous);
  for (char& c : sync) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (sync != "FULL" && sync != "NORMAL" && sync != "OFF") {
    return absl::InvalidArgumentError(
        StrCat("synchronous \"", options.synchronous,
               "\" is not one of full, normal, off"));
  }
  std::error_code ec;
  const bool existed = std::filesystem::exists(path, ec);
  ASSIGN_OR_RETURN(Database db, Database::Open(path, true, false));
  RETURN_IF_ERROR(CheckIdentity(db));
  ASSIGN_OR_RETURN(std::string mode, db.QueryText("PRAGMA journal_mode=WAL"));
  if (mode != "wal") {
    return absl::FailedPreconditionError(
        StrCat("state database ", path, " cannot use WAL mode (got ", mode,
               "); it must be on a local file system"));
  }
  RETURN_IF_ERROR(db.Exec(StrCat("PRAGMA synchronous=", sync)));
  RETURN_IF_ERROR(db.Exec(
      StrCat("PRAGMA wal_autocheckpoint=", options.wal_autocheckpoint_pages)));
  RETURN_IF_ERROR(db.Exec(
      StrCat("PRAGMA journal_size_limit=", options.journal_size_limit_bytes)));
  if (existed) {
    RETURN_IF_ERROR(CheckLengthAfterCheckpoint(db));
  }
  if (existed && static_cast<std::int64_t>(std::filesystem::file_size(
                     path, ec)) <= options.quick_check_max_bytes) {
    ASSIGN_OR_RETURN(std::string check, db.QueryText("PRAGMA quick_check(1)"));
    if (check != "ok") {
      return absl::DataLossError(StrCat("state database ", path,
                                        " is damaged (quick_check: ", check,
                                        "); ", Remedy(path)));
    }
  }
  RETURN_IF_ERROR(Migrate(db, kStateSchemaVersion));
  return db;
}

absl::StatusOr<Database> OpenStateReadOnly(const std::string& path,
                                           int min_version, bool in_server) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(StrCat("no state database at ", path,
                                      " (is --state the state directory?)"));
  }
  if (!in_server) RETURN_IF_ERROR(CheckHeader(path));
  // Read-write without create: a WAL database needs its -shm file.
  ASSIGN_OR_RETURN(Database db, Database::Open(path, false, false));
  RETURN_IF_ERROR(CheckIdentity(db));
  RETURN_IF_ERROR(db.Exec("PRAGMA query_only=1"));
  ASSIGN_OR_RETURN(std::int64_t version, db.QueryInt("PRAGMA user_version"));
  if (version < min_version) {
    return absl::FailedPreconditionError(StrCat(
        "state database ", path, " has schema version ", version,
        "; start the server once to migrate it to ", kStateSchemaVersion));
  }
  return db;
}

}  // namespace hijackguard::store::sqlite
