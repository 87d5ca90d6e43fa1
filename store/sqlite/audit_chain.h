// Reading the SQLite store's audit rows for the chain walker
// (store/audit_walker.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "store/audit_walker.h"

namespace hijackguard::store {

namespace sqlite {
class Database;
class Statement;
}  // namespace sqlite

// Reading rows from the state database: select kAuditRowColumns, in this
// order, and read each row with ReadAuditRow.
inline constexpr std::string_view kAuditRowColumns =
    "seq, at_us, kind, record, prev_hash, hash";
AuditChainRow ReadAuditRow(const sqlite::Statement& row);
// The first "rekey" row's seq, 0 when there is none.
absl::StatusOr<std::uint64_t> FirstRekeySeq(sqlite::Database& db);

}  // namespace hijackguard::store
