#include "store/sqlite/audit_chain.h"

#include "store/sqlite/sqlite_db.h"

namespace hijackguard::store {

AuditChainRow ReadAuditRow(const sqlite::Statement& row) {
  return AuditChainRow{static_cast<std::uint64_t>(row.Int(0)),
                       row.Int(1),
                       std::string(row.Blob(2)),
                       std::string(row.Blob(3)),
                       std::string(row.Blob(4)),
                       std::string(row.Blob(5))};
}

absl::StatusOr<std::uint64_t> FirstRekeySeq(sqlite::Database& db) {
  auto seq =
      db.QueryInt("SELECT ifnull(min(seq), 0) FROM audit WHERE kind = 'rekey'");
  if (!seq.ok()) return seq.status();
  return static_cast<std::uint64_t>(*seq);
}

}  // namespace hijackguard::store
