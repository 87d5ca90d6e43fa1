// Offline operations on a state directory's database (safe while a server
// runs: they read a consistent snapshot): backup, audit verification,
// checkpoints and export.
#pragma once

#include <atomic>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "policy/state_store.h"
#include "store/audit_key.h"
#include "store/audit_log.h"
#include "store/audit_verify.h"
#include "store/sqlite/sqlite_db.h"

namespace hijackguard::store {

// Copies the database to `to` with SQLite's online backup API, then checks
// the copy (PRAGMA quick_check). `to` must not exist.
[[nodiscard]] absl::Status BackupState(const std::string& db_path,
                                       const std::string& to);

// Walks the audit chain with the audit key, and checks the signed head and,
// when given, that the rows `checkpoint` covers are all there unchanged. An
// error status only when the file cannot be read, or CANCELLED once
// `*cancel` is set (looked at every few thousand rows). `in_server`: called
// in the process whose store has the file open (sqlite::OpenStateReadOnly).
absl::StatusOr<AuditVerification> VerifyAudit(
    const std::string& db_path, std::string_view key,
    const AuditCheckpoint* checkpoint = nullptr,
    const std::atomic<bool>* cancel = nullptr, bool in_server = false);

// A checkpoint of the committed log's head, signed with `key`.
absl::StatusOr<AuditCheckpoint> CheckpointAudit(const std::string& db_path,
                                                std::string_view key,
                                                absl::Time now);

// Writes the audit rows at or after `since` as JSON Lines (the canonical
// record plus "hash" and "prev_hash"). Returns the number of rows written.
// With `pseudonymize`, user principals and exemption values are replaced by
// their pseudonyms (store/audit_key.h) for handing to a third party.
absl::StatusOr<std::uint64_t> ExportAudit(
    const std::string& db_path, absl::Time since, std::ostream& out,
    const Pseudonymizer* pseudonymize = nullptr);

// The SIEM outbox's head, oldest entry and sink cursors (schema 7 on):
// from a connection of the store's, or offline (`alerts backlog`).
absl::StatusOr<policy::OutboxState> QueryOutboxState(sqlite::Database& db);
absl::StatusOr<policy::OutboxState> ReadOutboxState(const std::string& db_path);

}  // namespace hijackguard::store
