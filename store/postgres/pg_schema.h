// The PostgreSQL store's schema: versioned steps applied in order, the
// version kept in meta ('schema_version'), and the oldest build's schema
// that can still run on it ('compatible_from'): a step that only adds
// (tables, columns, indexes) leaves it, so that replicas of the previous
// build keep running during a rolling upgrade; a step that changes what
// older builds rely on raises it, and those builds then refuse to start.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/postgres/pg_conn.h"

namespace hijackguard::store::pg {

// The schema this build writes.
inline constexpr int kSchemaVersion = 2;

// Advisory lock keys (pg_advisory_lock's bigint space; "hg" and a number).
inline constexpr std::int64_t kMigrationLock = 0x6867'0000'0001;
inline constexpr std::int64_t kAppendLock = 0x6867'0000'0002;   // audit, outbox
inline constexpr std::int64_t kOutboxLease = 0x6867'0000'0003;  // SIEM delivery
// The alerts table (alert_feed) keeps the newest this many, and retention
// deletes those older than an hour (they serve replicas that were away).
inline constexpr std::uint64_t kAlertFeedRows = 10'000;
inline constexpr std::int64_t kAlertFeedMaxAgeUs = 3'600'000'000;

struct SchemaState {
  int version = 0;          // 0: no hijackguard tables
  int compatible_from = 0;  // the oldest schema whose builds may run on it
  bool foreign = false;     // tables there, but not a hijackguard database
};

absl::StatusOr<SchemaState> ReadSchema(Connection& conn);

enum class MigrateMode {
  kCreateOnly,  // create the schema in an empty database; refuse an old one
  kMigrate,     // bring any older schema up to date (state migrate)
};

// Brings the database to kSchemaVersion under kMigrationLock (several
// replicas starting at once migrate once), or says why not:
// FAILED_PRECONDITION for a schema newer than this build knows (unless it
// is compatible), an older one under kCreateOnly ("run hijackguard state
// migrate") and a database with other tables; the message says what to do.
// Returns the version the database had before.
absl::StatusOr<int> Migrate(Connection& conn, MigrateMode mode,
                            std::string_view where);

}  // namespace hijackguard::store::pg
