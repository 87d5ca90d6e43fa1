// Retention for the SQLite store: what is deleted, when, and how the audit
// log's oldest rows leave behind a signed anchor (store/audit_log.h).
#include <sqlite3.h>

#include "common/log.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "store/audit_log.h"
#include "store/sqlite/audit_chain.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/sqlite_store_internal.h"

namespace hijackguard::store {

using sqlite::Statement;

absl::StatusOr<std::int64_t> SqliteStore::PruneStep(
    absl::Time now, absl::Duration event_horizon, std::size_t chunk) {
  // Nothing to add to a queue that cannot be written.
  RETURN_IF_ERROR(health());
  auto before_ms = [&](absl::Duration keep) -> std::int64_t {
    return keep > absl::ZeroDuration() ? absl::ToUnixMillis(now - keep) : 0;
  };
  auto sub = std::make_shared<Submission>();
  sub->prune_before[kPrunedEvents] = before_ms(event_horizon);
  sub->prune_before[kPrunedLedger] = before_ms(options_.ledger_ttl);
  sub->prune_before[kPrunedDevices] = before_ms(options_.retention.devices);
  sub->prune_before[kPrunedHistory] = before_ms(options_.retention.history);
  sub->prune_before[kPrunedPending] = before_ms(options_.retention.pending);
  sub->prune_before[kPrunedAudit] =
      options_.retention.audit > absl::ZeroDuration()
          ? ToUs(now - options_.retention.audit)
          : 0;
  sub->prune_limit = static_cast<std::int64_t>(chunk);
  std::shared_ptr<const Submission> watch = sub;
  RETURN_IF_ERROR(queue_->WaitDurable(queue_->Enqueue(std::move(sub))));
  return watch->pruned;
}

absl::Status SqliteStore::ApplyPrune(const Submission& sub) {
  static constexpr std::array<std::pair<PruneTable, StatementId>, 5> kTables = {
      {{kPrunedEvents, kPruneEvents},
       {kPrunedLedger, kPruneLedger},
       {kPrunedDevices, kPruneDevices},
       {kPrunedHistory, kPruneHistory},
       {kPrunedPending, kPrunePending}}};
  sub.pruned = 0;
  for (const auto& [table, statement] : kTables) {
    const std::int64_t before = sub.prune_before[table];
    if (before <= 0) continue;
    RETURN_IF_ERROR(writer_->at(statement)
                        .Reset()
                        .Bind(1, before)
                        .Bind(2, sub.prune_limit)
                        .Run());
    const auto n =
        static_cast<std::int64_t>(sqlite3_changes(writer_->db.get()));
    sub.pruned = std::max(sub.pruned, n);
    committed_pruned_[table] += static_cast<std::uint64_t>(n);
  }
  if (const std::int64_t before = sub.prune_before[kPrunedAudit]; before != 0) {
    std::int64_t n = 0;
    RETURN_IF_ERROR(PruneAudit(before, sub.prune_limit, &n));
    sub.pruned = std::max(sub.pruned, n);
    committed_pruned_[kPrunedAudit] += static_cast<std::uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::PruneAudit(std::int64_t before_us, std::int64_t limit,
                                     std::int64_t* pruned) {
  // The oldest rows in chain order, up to the first one still kept: a clock
  // that went back never makes a hole in the middle.
  Statement& oldest = writer_->at(kFirstAuditRows).Reset().Bind(1, limit);
  std::uint64_t through = 0;
  std::string through_hash;
  std::int64_t rows = 0;
  while (true) {
    ASSIGN_OR_RETURN(bool row, oldest.Step());
    if (!row || oldest.Int(1) >= before_us) break;
    through = static_cast<std::uint64_t>(oldest.Int(0));
    through_hash = std::string(oldest.Blob(2));
    ++rows;
  }
  oldest.Reset();
  *pruned = 0;
  if (rows == 0) {
    return absl::OkStatus();
  }
  // Only a verified stretch is signed away: from the current anchor (or the
  // genesis) through the rows to delete, and the first row kept linking to
  // the last one deleted. Otherwise a break in the old part of the log would
  // vanish behind a valid anchor.
  ASSIGN_OR_RETURN(std::string anchor,
                   writer_->db.QueryText(
                       "SELECT value FROM meta WHERE name = 'audit_anchor'"));
  absl::StatusOr<AuditAnchor> from = ParseAuditAnchor(anchor, audit_key_);
  if (!from.ok()) {
    LogWarning(StrCat("audit retention skipped: ", from.status().message(),
                      "; run hijackguard audit verify"));
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(std::uint64_t rekey_seq, FirstRekeySeq(writer_->db));
  AuditChainWalker walker(audit_key_, rekey_seq, from->seq + 1, from->hash);
  ASSIGN_OR_RETURN(Statement range,
                   writer_->db.Prepare(StrCat("SELECT ", kAuditRowColumns,
                                              " FROM audit WHERE seq <= ?1 "
                                              "ORDER BY seq")));
  range.Bind(1, static_cast<std::int64_t>(through + 1));
  while (walker.ok()) {
    ASSIGN_OR_RETURN(bool row, range.Step());
    if (!row) break;
    walker.Add(ReadAuditRow(range));
  }
  if (!walker.ok()) {
    LogWarning(StrCat("audit retention skipped: row ", walker.bad_seq(),
                      " of the rows to prune does not verify (",
                      walker.problem(), "); run hijackguard audit verify"));
    return absl::OkStatus();
  }
  *pruned = rows;
  RETURN_IF_ERROR(writer_->at(kDeleteAuditThrough)
                      .Reset()
                      .Bind(1, static_cast<std::int64_t>(through))
                      .Run());
  RETURN_IF_ERROR(
      writer_->at(kPutMeta)
          .Reset()
          .BindText(1, "audit_anchor")
          .Bind(2, StrCat(through, " ", through_hash, " ",
                          AuditAnchorMac(audit_key_, through, through_hash)))
          .Run());
  // The chain records its own pruning (and so always keeps a row).
  const absl::Time now = options_.clock->Now();
  return InsertAudit(
      MakePruneRow(audit_seq_ + 1, now, audit_head_, audit_key_, through,
                   through_hash, static_cast<std::uint64_t>(rows),
                   FromUs(before_us)),
      now);
}

}  // namespace hijackguard::store
