// What the PostgreSQL store's files share (pg_store.cc: opening, the pool
// and the audit chain; pg_writer.cc: commits; pg_reads.cc: loads;
// pg_retention.cc: pruning): how a commit's sequence numbers and rows are
// put together. Internal to store/postgres/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/state_store.h"
#include "store/audit_log.h"
#include "store/commit_queue.h"
#include "store/postgres/pg_conn.h"
#include "store/store_time.h"

namespace hijackguard::store {

// The shared sequences as a commit found them under the append lock, and
// as it leaves them.
struct AppendState {
  std::uint64_t audit_seq = 0;
  std::string audit_hash{kAuditGenesis};
  std::uint64_t outbox_seq = 0;
  std::uint64_t policy_seq = 0;
  std::uint64_t alert_seq = 0;
};

// From a row of (meta 'audit_head' value or NULL, counters 'outbox_seq' or
// NULL, the newest policy's seq, counters 'alert_seq' or NULL). DATA_LOSS when
// the head is damaged or its mac does not match `key` (a forged head is never
// extended).
absl::StatusOr<AppendState> ParseAppendState(const pg::Result& row,
                                             std::string_view key);

// The history rows of a commit, as one upsert.
class HistoryColumns {
 public:
  void Add(const StoreRow& row, const policy::DeviceListing* listing,
           std::int64_t now_ms);
  pg::Statement Upsert() const;

 private:
  std::vector<std::string_view> keys_;
  std::vector<std::int64_t> times_;
  std::vector<std::string_view> values_;
  // The listing's columns; NULL for rows without one.
  std::vector<std::optional<std::string_view>> tenant_, eas_, mdm_, user_,
      build_, os_, model_, platform_, enforced_, evaluated_, level_;
  std::vector<std::optional<std::string>> folded_;
  std::vector<std::optional<double>> score_;
};

// Audit rows appended by a commit, as one insert.
class AuditRows {
 public:
  // Appends `row` after `head` (its seq is head->audit_seq + 1, made by the
  // caller) and moves the head on.
  void Add(AuditRow row, std::int64_t at_us, AppendState* head);
  bool empty() const { return seqs_.empty(); }
  std::size_t size() const { return seqs_.size(); }
  pg::Statement Insert() const;
  void clear();

 private:
  std::vector<std::int64_t> seqs_;
  std::vector<std::int64_t> at_us_;
  std::vector<std::string> kinds_;
  std::vector<std::string> records_;
  std::vector<std::string> prev_;
  std::vector<std::string> hashes_;
};

// ASCII letters folded to lower case (the device list's user filter is
// ASCII case-insensitive, whatever the database's collation).
std::string FoldAscii(std::string_view s);

}  // namespace hijackguard::store
