// The SQLite store's writes: submissions to the group-commit queue
// (store/commit_queue.h), the commit of a batch in one transaction, and the
// audit rows' chain.
#include <sqlite3.h>

#include <filesystem>
#include <limits>
#include <variant>

#include "absl/strings/numbers.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "store/audit_key.h"
#include "store/audit_log.h"
#include "store/sqlite/audit_chain.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/sqlite_store_internal.h"

namespace hijackguard::store {

using sqlite::Database;
using sqlite::Statement;

StoreTicket SqliteStore::Submit(detector::DetectorChanges changes) {
  auto sub = std::make_shared<Submission>();
  sub->detector = std::move(changes);
  return queue_->Enqueue(std::move(sub));
}

StoreTicket SqliteStore::SubmitEngine(policy::EngineChanges changes) {
  auto sub = std::make_shared<Submission>();
  sub->engine = std::move(changes);
  return queue_->Enqueue(std::move(sub));
}

absl::Status SqliteStore::WriteRows(const std::vector<StoreRow>& rows, int put,
                                    int erase, std::int64_t now_ms) {
  for (const StoreRow& r : rows) {
    RETURN_IF_ERROR(r.erase && erase >= 0
                        ? writer_->at(erase).Reset().Bind(1, r.key).Run()
                        : writer_->at(put)
                              .Reset()
                              .Bind(1, r.key)
                              .Bind(2, r.time_ms != 0 ? r.time_ms : now_ms)
                              .Bind(3, r.value)
                              .Run());
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::WriteDetectorRows(const detector::DetectorChanges& c,
                                            std::int64_t now_ms) {
  for (const StoreRow& r : c.devices) {
    Statement& s = writer_->at(kPutDevice).Reset();
    s.Bind(1, r.key)
        .Bind(3, r.time_ms != 0 ? r.time_ms : now_ms)
        .Bind(4, r.value);
    if (r.index.empty()) {
      s.BindNull(2);
    } else {
      s.Bind(2, r.index);
    }
    RETURN_IF_ERROR(s.Run());
  }
  RETURN_IF_ERROR(WriteRows(c.ledger, kPutLedger, kDeleteLedger, now_ms));
  RETURN_IF_ERROR(WriteRows(c.events, kPutEvent, -1, now_ms));
  return WriteRows(c.pending, kPutPending, kDeletePending, now_ms);
}

absl::Status SqliteStore::WriteEngineRows(const policy::EngineChanges& c,
                                          std::int64_t now_ms) {
  for (std::size_t i = 0; i < c.devices.size(); ++i) {
    const StoreRow& r = c.devices[i];
    Statement& s = writer_->at(kPutHistory).Reset();
    s.Bind(1, r.key)
        .Bind(2, r.time_ms != 0 ? r.time_ms : now_ms)
        .Bind(3, r.value);
    if (i < c.listings.size()) {
      const policy::DeviceListing& d = c.listings[i];
      s.BindText(4, d.tenant_id)
          .BindText(5, d.eas_device_id)
          .BindText(6, d.mdm_device_id)
          .BindText(7, d.user_principal)
          .BindText(8, policy::ActionName(d.enforced_action))
          .BindText(9, policy::ActionName(d.evaluated_action))
          .BindText(10, policy::LevelName(d.level))
          .BindDouble(11, d.score)
          .BindText(12, d.build)
          .BindText(13, d.os_version)
          .BindText(14, d.model_name)
          .BindText(15, d.platform);
    } else {
      for (int column = 4; column <= 15; ++column) {
        s.BindNull(column);
      }
    }
    RETURN_IF_ERROR(s.Run());
  }
  for (const policy::Exemption& e : c.put_exemptions) {
    RETURN_IF_ERROR(writer_->at(kPutExemption)
                        .Reset()
                        .BindText(1, e.id)
                        .BindText(2, e.tenant_id)
                        .BindText(3, policy::ExemptionKindName(e.kind))
                        .BindText(4, e.value)
                        .BindText(5, e.reason)
                        .Bind(6, ToUs(e.expires))
                        .Run());
  }
  for (const std::string& id : c.deleted_exemptions) {
    RETURN_IF_ERROR(
        writer_->at(kDeleteExemption).Reset().BindText(1, id).Run());
  }
  if (c.policy) {
    RETURN_IF_ERROR(writer_->at(kPutPolicy)
                        .Reset()
                        .BindText(1, c.policy->revision)
                        .BindText(2, c.policy->origin)
                        .Bind(3, ToUs(c.policy->applied_at))
                        .BindText(4, c.policy->document)
                        .Run());
  }
  for (const policy::AuditRecord& a : c.audit) {
    RETURN_IF_ERROR(ApplyAudit(a));
  }
  for (const std::string& payload : c.outbox) {
    RETURN_IF_ERROR(writer_->at(kPutOutbox).Reset().BindText(1, payload).Run());
  }
  for (const policy::SinkCursor& cursor : c.sink_cursors) {
    RETURN_IF_ERROR(writer_->at(kPutSinkCursor)
                        .Reset()
                        .BindText(1, cursor.sink)
                        .Bind(2, static_cast<std::int64_t>(cursor.delivered))
                        .Bind(3, static_cast<std::int64_t>(cursor.dropped))
                        .Run());
  }
  if (c.outbox_prune_through > 0) {
    RETURN_IF_ERROR(
        writer_->at(kPruneOutbox)
            .Reset()
            .Bind(1, static_cast<std::int64_t>(c.outbox_prune_through))
            .Run());
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::Commit(const Batch& batch) {
  Database& db = writer_->db;
  const std::uint64_t saved_seq = audit_seq_;
  const std::string saved_head = audit_head_;
  committed_audit_rows_ = 0;
  committed_pruned_ = {};
  if (const bool cap = cap_file_.load(); cap != file_capped_) {
    // SQLite raises a cap below the file's size to the size.
    RETURN_IF_ERROR(db.Exec(cap ? "PRAGMA max_page_count = 1"
                                : "PRAGMA max_page_count = 4294967294"));
    file_capped_ = cap;
  }
  // Rows without a time of their own (pending) get the commit's.
  const std::int64_t now_ms = absl::ToUnixMillis(options_.clock->Now());
  auto write = [&]() -> absl::Status {
    RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    std::uint64_t ledger_version = 0;
    std::uint64_t event_id = 0;
    for (const auto& sub : batch) {
      if (sub->detector) {
        RETURN_IF_ERROR(WriteDetectorRows(*sub->detector, now_ms));
        ledger_version =
            std::max(ledger_version, sub->detector->ledger_version);
        event_id = std::max(event_id, sub->detector->event_id);
      }
      if (sub->engine) {
        RETURN_IF_ERROR(WriteEngineRows(*sub->engine, now_ms));
      }
      if (sub->prune_limit > 0) {
        RETURN_IF_ERROR(ApplyPrune(*sub));
      }
    }
    auto meta = [&](std::string_view name, std::string_view value) {
      return writer_->at(kPutMeta)
          .Reset()
          .BindText(1, name)
          .Bind(2, value)
          .Run();
    };
    if (ledger_version > 0) {
      RETURN_IF_ERROR(meta("ledger_version", std::to_string(ledger_version)));
    }
    if (event_id > 0) {
      RETURN_IF_ERROR(meta("event_id", std::to_string(event_id)));
    }
    if (audit_seq_ != saved_seq) {
      RETURN_IF_ERROR(meta("audit_head", HeadValue()));
    }
    return db.Exec("COMMIT");
  };
  if (absl::Status status = write(); !status.ok()) {
    (void)db.Exec("ROLLBACK");
    audit_seq_ = saved_seq;
    audit_head_ = saved_head;
    return status;
  }
  absl::MutexLock lock(&committed_mu_);
  durable_audit_seq_ = audit_seq_;
  durable_audit_head_ = audit_head_;
  audit_rows_ += committed_audit_rows_;
  for (std::size_t t = 0; t < kPruneTables; ++t) {
    pruned_[t] += committed_pruned_[t];
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::ApplyAudit(const policy::AuditRecord& record) {
  return InsertAudit(
      MakeAuditRow(audit_seq_ + 1, record, audit_head_, audit_key_), record.at);
}

absl::Status SqliteStore::InsertAudit(const AuditRow& row, absl::Time at) {
  const std::uint64_t seq = audit_seq_ + 1;
  RETURN_IF_ERROR(writer_->at(kPutAudit)
                      .Reset()
                      .Bind(1, static_cast<std::int64_t>(seq))
                      .Bind(2, ToUs(at))
                      .BindText(3, row.kind)
                      .BindText(4, row.record)
                      .BindText(5, audit_head_)
                      .BindText(6, row.hash)
                      .Run());
  audit_seq_ = seq;
  audit_head_ = row.hash;
  ++committed_audit_rows_;
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Durability and health: the queue's

bool SqliteStore::IsDurable(StoreTicket ticket) const {
  return queue_->IsDurable(ticket);
}

absl::Status SqliteStore::WaitDurable(StoreTicket ticket) {
  return queue_->WaitDurable(ticket);
}

void SqliteStore::WhenDurable(StoreTicket ticket,
                              std::function<void(absl::Status)> done) {
  queue_->WhenDurable(ticket, std::move(done));
}

absl::Status SqliteStore::FailReads(const absl::Status& status) {
  // What the cache would be built on is unknown: acknowledge nothing more.
  return queue_->Fail(status);
}

absl::Status SqliteStore::health() const { return queue_->health(); }

void SqliteStore::SetHealthCallback(
    std::function<void(const absl::Status&)> callback) {
  queue_->SetHealthCallback(std::move(callback));
}

StoreStats SqliteStore::stats() const {
  StoreStats s;
  const CommitQueueStats queued = queue_->stats();
  s.submissions = queued.submissions;
  s.commits = queued.commits;
  s.durable_ticket = queued.durable_ticket;
  s.queued = queued.queued;
  s.overlay_rows = queue_->rows().size();
  {
    absl::MutexLock lock(&committed_mu_);
    s.audit_rows = audit_rows_;
    s.pruned = pruned_;
  }
  absl::MutexLock readers(&readers_mu_);
  s.idle_readers = readers_.size();
  return s;
}

}  // namespace hijackguard::store
