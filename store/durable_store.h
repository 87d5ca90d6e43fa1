// What the server needs of a durable state store beyond policy::StateStore:
// retention, health reports, counters for /metrics and the audit chain's
// head and key (checkpoints, pseudonyms). Implementations: SqliteStore
// (store/sqlite/, one process) and PostgresStore (store/postgres/, any
// number of replicas on one database).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "policy/state_store.h"
#include "store/audit_log.h"
#include "store/audit_verify.h"
#include "store/commit_queue.h"

namespace hijackguard::store {

// How long rows are kept; zero = forever. Events follow the policy's
// horizon (given to Prune) and the ledger its TTL.
struct RetentionOptions {
  absl::Duration devices = absl::Hours(24 * 180);  // not seen since
  absl::Duration history = absl::Hours(24 * 180);  // not decided since
  absl::Duration pending = absl::Hours(24 * 30);   // waiting since
  absl::Duration audit = absl::ZeroDuration();     // forever
};

struct StoreStats {
  std::uint64_t submissions = 0;
  std::uint64_t commits = 0;  // transactions
  std::uint64_t durable_ticket = 0;
  std::size_t queued = 0;  // submissions waiting for the writer
  std::uint64_t audit_rows = 0;
  std::array<std::uint64_t, kPruneTables> pruned{};
  std::size_t overlay_rows = 0;
  std::size_t idle_readers = 0;  // reader connections not in use
};

class DurableStore : public policy::StateStore {
 public:
  // "sqlite" or "postgres".
  virtual std::string_view kind() const = 0;
  // One retention step as of `now`, in one transaction queued like any
  // other: deletes at most `chunk` rows of each table past its cut-off
  // (events received longer than `event_horizon` ago, zero = kept; the
  // ledger and the rest as the options say). Returns the most rows one
  // table lost: fewer than `chunk` means nothing is left to prune.
  virtual absl::StatusOr<std::int64_t> PruneStep(absl::Time now,
                                                 absl::Duration event_horizon,
                                                 std::size_t chunk) = 0;
  // Steps until nothing is left.
  [[nodiscard]] absl::Status Prune(absl::Time now, absl::Duration event_horizon,
                                   std::size_t chunk = 2000) {
    while (true) {
      absl::StatusOr<std::int64_t> pruned =
          PruneStep(now, event_horizon, chunk);
      if (!pruned.ok()) return pruned.status();
      if (*pruned < static_cast<std::int64_t>(chunk)) return absl::OkStatus();
    }
  }
  virtual StoreStats stats() const = 0;
  // The audit key (32 bytes).
  virtual const std::string& audit_key() const = 0;
  // The last committed audit row this store knows of and its hash (for
  // checkpoints).
  virtual std::pair<std::uint64_t, std::string> audit_head() const = 0;
  // Walks the whole audit log on a connection of its own, from one
  // consistent snapshot, while the store keeps writing
  // (store/audit_verify.h).
  virtual absl::StatusOr<AuditVerification> VerifyAuditLog(
      const AuditCheckpoint* checkpoint, const std::atomic<bool>* cancel) = 0;
  // The SIEM outbox is delivered by one process at a time. A server with
  // sinks asks for the lease; HoldsOutboxLease says whether it holds it now
  // (a store of one process always does; replicas on one database take
  // turns, the lease passing when its holder's session ends).
  virtual void WantOutboxLease() {}
  virtual bool HoldsOutboxLease() const { return true; }
  // Replaces the health callback given at open (null: none; the server
  // clears it before what it calls goes away).
  virtual void SetHealthCallback(
      std::function<void(const absl::Status&)> callback) = 0;
};

}  // namespace hijackguard::store
