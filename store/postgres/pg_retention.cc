// Retention for the PostgreSQL store: as the SQLite store's (what is
// deleted, when, and the audit log's oldest rows behind a signed anchor),
// in the commit's transaction. Any replica may run it: the deletes are
// bounded and idempotent, and the audit log's part holds the append lock.
#include "common/log.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "store/audit_log.h"
#include "store/audit_walker.h"
#include "store/postgres/pg_internal.h"
#include "store/postgres/pg_store.h"

namespace hijackguard::store {

using pg::Params;

absl::StatusOr<std::int64_t> PostgresStore::PruneStep(
    absl::Time now, absl::Duration event_horizon, std::size_t chunk) {
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

absl::Status PostgresStore::ApplyPrune(
    const Submission& sub, AppendState* head, AuditRows* rows,
    std::vector<pg::Statement>* writes, std::vector<PruneCount>* counted,
    std::array<std::uint64_t, kPruneTables>* pruned) {
  static constexpr std::array<std::tuple<PruneTable, const char*, const char*>,
                              5>
      kTables = {{{kPrunedEvents, "events", "recorded_ms"},
                  {kPrunedLedger, "ledger", "updated_ms"},
                  {kPrunedDevices, "devices", "active_ms"},
                  {kPrunedHistory, "history", "decided_ms"},
                  {kPrunedPending, "pending", "at_ms"}}};
  sub.pruned = 0;
  {
    // Alerts for other replicas (not counted: no retention setting).
    pg::Statement& s = writes->emplace_back();
    s.sql =
        "DELETE FROM alert_feed WHERE seq IN (SELECT seq FROM alert_feed "
        "WHERE at_us < $1 ORDER BY seq LIMIT $2)";
    s.params.Int(ToUs(options_.clock->Now()) - pg::kAlertFeedMaxAgeUs)
        .Int(sub.prune_limit);
  }
  for (const auto& [table, name, column] : kTables) {
    const std::int64_t before = sub.prune_before[table];
    if (before <= 0) continue;
    counted->push_back({&sub, table, writes->size()});
    pg::Statement& s = writes->emplace_back();
    s.sql = StrCat("DELETE FROM ", name, " WHERE key IN (SELECT key FROM ",
                   name, " WHERE ", column, " < $1 LIMIT $2)");
    s.params.Int(before).Int(sub.prune_limit);
  }
  const std::int64_t before_us = sub.prune_before[kPrunedAudit];
  if (before_us == 0) return absl::OkStatus();

  // The rows this commit appends go first, so that the chain read below is
  // the whole chain.
  if (!rows->empty()) {
    const pg::Statement insert = rows->Insert();
    RETURN_IF_ERROR(writer_->Query(insert.sql, insert.params).status());
    rows->clear();
  }
  // The oldest rows in chain order, up to the first one still kept: a clock
  // that went back never makes a hole in the middle.
  ASSIGN_OR_RETURN(
      pg::Result oldest,
      writer_->Query("SELECT seq, at_us, hash FROM audit ORDER BY seq LIMIT $1",
                     Params().Int(sub.prune_limit)));
  std::uint64_t through = 0;
  std::string through_hash;
  std::int64_t n = 0;
  for (int i = 0; i < oldest.rows() && oldest.Int(i, 1) < before_us; ++i) {
    through = static_cast<std::uint64_t>(oldest.Int(i, 0));
    through_hash = std::string(oldest.Bytes(i, 2));
    ++n;
  }
  if (n == 0) return absl::OkStatus();
  // Only a verified stretch is signed away: from the current anchor (or the
  // genesis) through the rows to delete, and the first row kept linking to
  // the last one deleted.
  ASSIGN_OR_RETURN(
      pg::Result anchor_row,
      writer_->Query(
          "SELECT (SELECT value FROM meta WHERE name = 'audit_anchor')"));
  absl::StatusOr<AuditAnchor> from =
      ParseAuditAnchor(anchor_row.Bytes(0, 0), audit_key_);
  if (!from.ok()) {
    LogWarning(StrCat("audit retention skipped: ", from.status().message(),
                      "; run hijackguard audit verify"));
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(
      pg::Result range,
      writer_->Query("SELECT seq, at_us, kind, record, prev_hash, hash FROM "
                     "audit WHERE seq <= $1 ORDER BY seq",
                     Params().Int(static_cast<std::int64_t>(through + 1))));
  AuditChainWalker walker(audit_key_, 0, from->seq + 1, from->hash);
  for (int i = 0; i < range.rows() && walker.ok(); ++i) {
    walker.Add({static_cast<std::uint64_t>(range.Int(i, 0)), range.Int(i, 1),
                std::string(range.Bytes(i, 2)), std::string(range.Bytes(i, 3)),
                std::string(range.Bytes(i, 4)),
                std::string(range.Bytes(i, 5))});
  }
  if (!walker.ok()) {
    LogWarning(StrCat("audit retention skipped: row ", walker.bad_seq(),
                      " of the rows to prune does not verify (",
                      walker.problem(), "); run hijackguard audit verify"));
    return absl::OkStatus();
  }
  pg::Statement& del = writes->emplace_back();
  del.sql = "DELETE FROM audit WHERE seq <= $1";
  del.params.Int(static_cast<std::int64_t>(through));
  pg::Statement& anchor = writes->emplace_back();
  anchor.sql =
      "INSERT INTO meta(name, value) VALUES('audit_anchor', $1) ON CONFLICT "
      "(name) DO UPDATE SET value = excluded.value";
  anchor.params.Bytes(
      StrCat(through, " ", through_hash, " ",
             AuditAnchorMac(audit_key_, through, through_hash)));
  sub.pruned = std::max(sub.pruned, n);
  (*pruned)[kPrunedAudit] += static_cast<std::uint64_t>(n);
  // The chain records its own pruning (and so always keeps a row).
  const absl::Time now = options_.clock->Now();
  rows->Add(MakePruneRow(head->audit_seq + 1, now, head->audit_hash, audit_key_,
                         through, through_hash, static_cast<std::uint64_t>(n),
                         FromUs(before_us)),
            ToUs(now), head);
  return absl::OkStatus();
}

}  // namespace hijackguard::store
