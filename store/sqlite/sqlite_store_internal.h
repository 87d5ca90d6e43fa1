// What the SQLite store's files share (sqlite_store.cc: opening and the audit
// log; sqlite_writer.cc: the group-commit queue; sqlite_reads.cc: the loads;
// sqlite_retention.cc: pruning): the prepared
// statements and a connection. Internal to
// store/sqlite/.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_store.h"
#include "store/store_time.h"

namespace hijackguard::store {

// Statements a connection keeps prepared (readers use the kLoad ones, the
// writer the rest; the SQL is in sqlite_statements.cc).
enum StatementId {
  kLoadDevice,
  kFindDeviceByIndex,
  kLoadEvents,
  kLoadLedger,
  kLoadHistory,
  kPutDevice,
  kPutLedger,
  kDeleteLedger,
  kPutEvent,
  kPutPending,
  kDeletePending,
  kPutHistory,
  kPutExemption,
  kDeleteExemption,
  kPutPolicy,
  kPutAudit,
  kPutMeta,
  kPruneEvents,
  kPruneLedger,
  kPruneDevices,
  kPruneHistory,
  kPrunePending,
  kFirstAuditRows,
  kDeleteAuditThrough,
  kPutOutbox,
  kPutSinkCursor,
  kPruneOutbox,
  kStatementCount
};

struct SqliteStore::Connection {
  sqlite::Database db;
  std::vector<sqlite::Statement> statements;
  sqlite::Statement& at(int id) {
    return statements[static_cast<std::size_t>(id)];
  }
};

// A connection with its statements prepared: the writer's, or a reader's
// (the kLoad ones).
absl::StatusOr<std::unique_ptr<SqliteStore::Connection>> ConnectStatements(
    sqlite::Database db, bool writer);

}  // namespace hijackguard::store
