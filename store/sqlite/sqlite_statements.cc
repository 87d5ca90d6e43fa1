// The SQLite store's statements (its table bindings) and its connections.
#include <sqlite3.h>

#include <limits>

#include "common/status_macros.h"
#include "store/sqlite/sqlite_store_internal.h"

namespace hijackguard::store {

using sqlite::Database;

namespace {

constexpr const char* kStatementSql[kStatementCount] = {
    "SELECT value FROM devices WHERE key = ?1",
    "SELECT key FROM devices WHERE idx = ?1 ORDER BY active_ms DESC LIMIT 1",
    "SELECT key, value FROM events WHERE key >= ?1 AND key < ?2 ORDER BY key",
    "SELECT value FROM ledger WHERE key = ?1",
    "SELECT value FROM history WHERE key = ?1",
    "INSERT OR REPLACE INTO devices(key, idx, active_ms, value) "
    "VALUES(?1, ?2, ?3, ?4)",
    "INSERT OR REPLACE INTO ledger(key, updated_ms, value) VALUES(?1, ?2, ?3)",
    "DELETE FROM ledger WHERE key = ?1",
    "INSERT OR REPLACE INTO events(key, recorded_ms, value) VALUES(?1, ?2, ?3)",
    "INSERT OR REPLACE INTO pending(key, at_ms, value) VALUES(?1, ?2, ?3)",
    "DELETE FROM pending WHERE key = ?1",
    // Exactly INSERT OR REPLACE: schema 9's triggers keep history_tally on
    // it (the BEFORE INSERT one takes the replaced row off). An upsert or
    // INSERT OR IGNORE would count wrong.
    "INSERT OR REPLACE INTO history(key, decided_ms, value, tenant, "
    "eas_device_id, mdm_device_id, user_principal, enforced_action, "
    "evaluated_action, level, score, build, os_version, model_name, "
    "platform) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
    "?15)",
    "INSERT OR REPLACE INTO exemptions(id, tenant, kind, value, reason, "
    "expires_us) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    "DELETE FROM exemptions WHERE id = ?1",
    "INSERT INTO policies(revision, origin, applied_us, document) "
    "VALUES(?1, ?2, ?3, ?4)",
    "INSERT INTO audit(seq, at_us, kind, record, prev_hash, hash) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    "INSERT OR REPLACE INTO meta(name, value) VALUES(?1, ?2)",
    "DELETE FROM events WHERE key IN (SELECT key FROM events WHERE "
    "recorded_ms < ?1 LIMIT ?2)",
    "DELETE FROM ledger WHERE key IN (SELECT key FROM ledger WHERE "
    "updated_ms < ?1 LIMIT ?2)",
    "DELETE FROM devices WHERE key IN (SELECT key FROM devices WHERE "
    "active_ms < ?1 LIMIT ?2)",
    "DELETE FROM history WHERE key IN (SELECT key FROM history WHERE "
    "decided_ms < ?1 LIMIT ?2)",
    "DELETE FROM pending WHERE key IN (SELECT key FROM pending WHERE "
    "at_ms < ?1 LIMIT ?2)",
    "SELECT seq, at_us, hash FROM audit ORDER BY seq LIMIT ?1",
    "DELETE FROM audit WHERE seq <= ?1",
    "INSERT INTO outbox(payload) VALUES(?1)",
    "INSERT OR REPLACE INTO sink_cursors(sink, delivered, dropped) "
    "VALUES(?1, ?2, ?3)",
    // At most 10,000 rows a commit (the rest go with the next prunes), so
    // that catching up after a long outage never makes one long commit.
    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE seq <= ?1 "
    "ORDER BY seq LIMIT 10000)",
};

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteStore::Connection>> ConnectStatements(
    Database db, bool writer) {
  auto c = std::make_unique<SqliteStore::Connection>();
  c->db = std::move(db);
  c->statements.resize(kStatementCount);
  const int first = writer ? kPutDevice : kLoadDevice;
  const int last = writer ? kStatementCount : kPutDevice;
  for (int i = first; i < last; ++i) {
    ASSIGN_OR_RETURN(c->at(i), c->db.Prepare(kStatementSql[i]));
  }
  return c;
}

}  // namespace hijackguard::store
