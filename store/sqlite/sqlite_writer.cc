// The SQLite store's writer: the group-commit queue, its tickets and
// waiters, commits and their retries, health.
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

namespace {

// Retries of a failed commit: the first soon, then doubling up to the last.
constexpr absl::Duration kFirstRetry = absl::Milliseconds(50);
constexpr absl::Duration kLastRetry = absl::Seconds(5);

}  // namespace

// ---------------------------------------------------------------------------
// Submissions and the writer

StoreTicket SqliteStore::Enqueue(std::shared_ptr<Submission> sub) {
  absl::MutexLock lock(&mu_);
  // Back-pressure: a writer that falls behind slows submitters down rather
  // than letting the queue take the memory. While commits fail, handlers
  // refuse new work and only calls already under way arrive: they are
  // queued without waiting for room, so that nobody blocks (holding the
  // engine's or the detector's lock) for the length of an outage.
  while (queue_.size() >= options_.max_queued && failed_.ok() &&
         write_error_.ok() && !writer_done_) {
    space_cv_.Wait(&mu_);
  }
  sub->ticket = ++next_ticket_;
  ++stats_.submissions;
  std::shared_ptr<const Submission> owner = sub;
  auto note = [&](Overlay& overlay, const std::vector<StoreRow>& rows) {
    for (const StoreRow& row : rows) {
      overlay.insert_or_assign(row.key, OverlayRow{owner, &row});
    }
  };
  if (sub->detector) {
    note(devices_overlay_, sub->detector->devices);
    note(ledger_overlay_, sub->detector->ledger);
    note(events_overlay_, sub->detector->events);
    note(pending_overlay_, sub->detector->pending);
  }
  if (sub->engine) {
    note(history_overlay_, sub->engine->devices);
  }
  if (failed_.ok() && !writer_done_) {
    queue_.push_back(std::move(sub));
    queued_cv_.Signal();
  }
  return next_ticket_;
}

StoreTicket SqliteStore::Submit(detector::DetectorChanges changes) {
  auto sub = std::make_shared<Submission>();
  sub->detector = std::move(changes);
  return Enqueue(std::move(sub));
}

StoreTicket SqliteStore::SubmitEngine(policy::EngineChanges changes) {
  auto sub = std::make_shared<Submission>();
  sub->engine = std::move(changes);
  return Enqueue(std::move(sub));
}

void SqliteStore::WriterLoop() {
  std::vector<std::shared_ptr<Submission>> batch;
  absl::Duration backoff = kFirstRetry;
  absl::Time failing_since;
  int attempts = 0;
  while (true) {
    if (batch.empty()) {
      absl::MutexLock lock(&mu_);
      while (!(stopping_ || !queue_.empty())) {
        queued_cv_.Wait(&mu_);
      }
      if (queue_.empty()) {
        writer_done_ = true;  // stopping, and everything is committed
        durable_cv_.SignalAll();
        space_cv_.SignalAll();
        return;
      }
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    space_cv_.SignalAll();
    const absl::Status status = Commit(batch);
    if (!status.ok()) {
      ++attempts;
      if (attempts == 1) {
        failing_since = absl::Now();
      }
      switch (WriteFailed(status, attempts)) {
        case AfterFailure::kRetry:
          break;
        case AfterFailure::kDrop:
          batch.clear();
          attempts = 0;
          continue;
        case AfterFailure::kExit:
          return;  // stopping: what never committed was never acknowledged
      }
      // Kept, in order, and tried again: the rows are already in the
      // caches, so they must reach the file.
      absl::MutexLock lock(&mu_);
      const absl::Time deadline = absl::Now() + backoff;
      while (!stopping_ && !queued_cv_.WaitWithDeadline(&mu_, deadline)) {
      }
      backoff =
          stopping_ ? absl::ZeroDuration() : std::min(backoff * 2, kLastRetry);
      continue;
    }
    if (attempts > 0) {
      LogInfo(StrCat("the state store writes again after ", attempts,
                     " failed attempts in ",
                     absl::FormatDuration(absl::Trunc(
                         absl::Now() - failing_since, absl::Milliseconds(1))),
                     "; acknowledging again"));
      attempts = 0;
      backoff = kFirstRetry;
      {
        absl::MutexLock lock(&mu_);
        write_error_ = absl::OkStatus();
      }
      ReportHealth();
    }
    Committed(batch);
    batch.clear();
  }
}

namespace {

// Failures a commit may get past later: a full disk, I/O errors, a lock, a
// file made read-only. The rest (a damaged file, a row SQLite refuses) would
// fail the same way again.
// What a caller waiting for a commit is told while commits fail.
absl::Status NotAcknowledged(const absl::Status& write_error) {
  return absl::UnavailableError(
      StrCat("not acknowledged: ", write_error.message(),
             "; what the call changed is kept and committed once the store "
             "can write; try again later"));
}

bool Transient(const absl::Status& status) {
  return absl::IsResourceExhausted(status) || absl::IsUnavailable(status) ||
         absl::IsPermissionDenied(status);
}

}  // namespace

SqliteStore::AfterFailure SqliteStore::WriteFailed(const absl::Status& status,
                                                   int attempts) {
  std::multimap<StoreTicket, std::function<void(absl::Status)>> waiting;
  absl::Status answer;
  AfterFailure next = AfterFailure::kRetry;
  {
    absl::MutexLock lock(&mu_);
    if (!Transient(status) || (stopping_ && attempts > 1)) {
      next = stopping_ ? AfterFailure::kExit : AfterFailure::kDrop;
      LogError(StrCat("the state store stops: a commit failed (",
                      status.message(), "); ", queue_.size() + 1,
                      " batches are not committed (never acknowledged)"));
      failed_ = absl::Status(
          status.code(), StrCat("the state store stopped: a commit failed: ",
                                status.message()));
      queue_.clear();
      writer_done_ = next == AfterFailure::kExit;
      answer = failed_;
    } else {
      if (write_error_.ok()) {
        LogError(StrCat("the state store cannot write (", status.message(),
                        "); retrying with backoff, health NOT_SERVING"));
      }
      write_error_ = absl::UnavailableError(
          StrCat("the state store cannot write (", status.message(), ")"));
      answer = NotAcknowledged(write_error_);
    }
    // Whoever waits is answered now, in the same step that makes new waiters
    // see the failure: nobody hangs on a full disk.
    waiting.swap(waiters_);
  }
  ReportHealth();
  durable_cv_.SignalAll();
  space_cv_.SignalAll();
  for (auto& [ticket, done] : waiting) {
    done(answer);
  }
  return next;
}

void SqliteStore::ReportHealth() {
  absl::MutexLock lock(&health_mu_);
  const absl::Status now = health();
  if (now.ok() == health_reported_ok_) {
    return;
  }
  health_reported_ok_ = now.ok();
  if (on_health_) {
    on_health_(now);
  }
}

void SqliteStore::SetHealthCallback(
    std::function<void(const absl::Status&)> callback) {
  absl::MutexLock lock(&health_mu_);
  on_health_ = std::move(callback);
}

void SqliteStore::Committed(
    const std::vector<std::shared_ptr<Submission>>& batch) {
  std::vector<std::pair<std::function<void(absl::Status)>, absl::Status>> ready;
  {
    absl::MutexLock lock(&mu_);
    const StoreTicket last = batch.back()->ticket;
    durable_.store(last, std::memory_order_release);
    ++stats_.commits;
    stats_.audit_rows += committed_audit_rows_;
    durable_audit_seq_ = audit_seq_;
    durable_audit_head_ = audit_head_;
    for (std::size_t t = 0; t < kPruneTables; ++t) {
      stats_.pruned[t] += committed_pruned_[t];
    }
    stats_.durable_ticket = durable_.load();
    // The batch's rows leave the overlay unless a newer submission of the
    // same key replaced them there.
    auto clean = [](Overlay& overlay, const Submission* sub,
                    const std::vector<StoreRow>& rows) {
      for (const StoreRow& row : rows) {
        auto it = overlay.find(row.key);
        if (it != overlay.end() && it->second.owner.get() == sub) {
          overlay.erase(it);
        }
      }
    };
    for (const auto& sub : batch) {
      if (sub->detector) {
        clean(devices_overlay_, sub.get(), sub->detector->devices);
        clean(ledger_overlay_, sub.get(), sub->detector->ledger);
        clean(events_overlay_, sub.get(), sub->detector->events);
        clean(pending_overlay_, sub.get(), sub->detector->pending);
      }
      if (sub->engine) {
        clean(history_overlay_, sub.get(), sub->engine->devices);
      }
    }
    auto end = waiters_.upper_bound(durable_.load());
    for (auto it = waiters_.begin(); it != end; ++it) {
      ready.emplace_back(std::move(it->second), absl::OkStatus());
    }
    waiters_.erase(waiters_.begin(), end);
  }
  durable_cv_.SignalAll();
  for (auto& [done, result] : ready) {
    done(result);
  }
}

absl::Status SqliteStore::Commit(
    const std::vector<std::shared_ptr<Submission>>& batch) {
  Database& db = writer_->db;
  Connection& w = *writer_;
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
  absl::Status status = db.Exec("BEGIN IMMEDIATE");
  std::uint64_t ledger_version = 0;
  std::uint64_t event_id = 0;
  // Rows without a time of their own (pending) get the commit's.
  const std::int64_t now_ms = absl::ToUnixMillis(options_.clock->Now());
  // Rows of (key, time, value) tables; `erase` = -1 where rows never go.
  auto put_rows = [&](const std::vector<StoreRow>& rows, int put, int erase) {
    for (const StoreRow& r : rows) {
      if (!status.ok()) {
        return;
      }
      status = r.erase && erase >= 0
                   ? w.at(erase).Reset().Bind(1, r.key).Run()
                   : w.at(put)
                         .Reset()
                         .Bind(1, r.key)
                         .Bind(2, r.time_ms != 0 ? r.time_ms : now_ms)
                         .Bind(3, r.value)
                         .Run();
    }
  };
  for (std::size_t i = 0; status.ok() && i < batch.size(); ++i) {
    const Submission& sub = *batch[i];
    if (sub.detector) {
      const detector::DetectorChanges& c = *sub.detector;
      for (const StoreRow& r : c.devices) {
        if (!status.ok()) break;
        Statement& s = w.at(kPutDevice).Reset();
        s.Bind(1, r.key)
            .Bind(3, r.time_ms != 0 ? r.time_ms : now_ms)
            .Bind(4, r.value);
        if (r.index.empty()) {
          s.BindNull(2);
        } else {
          s.Bind(2, r.index);
        }
        status = s.Run();
      }
      put_rows(c.ledger, kPutLedger, kDeleteLedger);
      put_rows(c.events, kPutEvent, -1);
      put_rows(c.pending, kPutPending, kDeletePending);
      ledger_version = std::max(ledger_version, c.ledger_version);
      event_id = std::max(event_id, c.event_id);
    }
    if (sub.engine) {
      const policy::EngineChanges& c = *sub.engine;
      put_rows(c.devices, kPutHistory, -1);
      for (const policy::Exemption& e : c.put_exemptions) {
        if (!status.ok()) break;
        status = w.at(kPutExemption)
                     .Reset()
                     .BindText(1, e.id)
                     .BindText(2, e.tenant_id)
                     .BindText(3, policy::ExemptionKindName(e.kind))
                     .BindText(4, e.value)
                     .BindText(5, e.reason)
                     .Bind(6, ToUs(e.expires))
                     .Run();
      }
      for (const std::string& id : c.deleted_exemptions) {
        if (!status.ok()) break;
        status = w.at(kDeleteExemption).Reset().BindText(1, id).Run();
      }
      if (c.policy && status.ok()) {
        status = w.at(kPutPolicy)
                     .Reset()
                     .BindText(1, c.policy->revision)
                     .BindText(2, c.policy->origin)
                     .Bind(3, ToUs(c.policy->applied_at))
                     .BindText(4, c.policy->document)
                     .Run();
      }
      for (const policy::AuditRecord& a : c.audit) {
        if (!status.ok()) break;
        status = ApplyAudit(a);
      }
    }
    if (sub.prune_limit > 0 && status.ok()) {
      status = ApplyPrune(sub);
    }
  }
  auto meta = [&](std::string_view name, std::string_view value) {
    if (status.ok()) {
      status = w.at(kPutMeta).Reset().BindText(1, name).Bind(2, value).Run();
    }
  };
  if (ledger_version > 0) {
    meta("ledger_version", std::to_string(ledger_version));
  }
  if (event_id > 0) meta("event_id", std::to_string(event_id));
  if (audit_seq_ != saved_seq) {
    meta("audit_head", HeadValue());
  }
  if (status.ok()) {
    status = db.Exec("COMMIT");
  }
  if (!status.ok()) {
    (void)db.Exec("ROLLBACK");
    audit_seq_ = saved_seq;
    audit_head_ = saved_head;
  }
  return status;
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
// Durability

bool SqliteStore::IsDurable(StoreTicket ticket) const {
  return ticket <= durable_.load(std::memory_order_acquire);
}

absl::Status SqliteStore::WaitDurable(StoreTicket ticket) {
  absl::MutexLock lock(&mu_);
  while (!(ticket <= durable_.load() || !failed_.ok() || !write_error_.ok() ||
           writer_done_)) {
    durable_cv_.Wait(&mu_);
  }
  if (ticket <= durable_.load()) {
    return absl::OkStatus();
  }
  return !failed_.ok() ? failed_
         : !write_error_.ok()
             ? NotAcknowledged(write_error_)
             : absl::UnavailableError("the state store is closed");
}

void SqliteStore::WhenDurable(StoreTicket ticket,
                              std::function<void(absl::Status)> done) {
  absl::Status result;
  {
    absl::MutexLock lock(&mu_);
    if (ticket > durable_.load() && failed_.ok() && write_error_.ok() &&
        !writer_done_) {
      waiters_.emplace(ticket, std::move(done));
      return;
    }
    result = ticket <= durable_.load() ? absl::OkStatus()
             : !failed_.ok()           ? failed_
             : !write_error_.ok()
                 ? NotAcknowledged(write_error_)
                 : absl::UnavailableError("the state store is closed");
  }
  done(result);
}

absl::Status SqliteStore::FailReads(const absl::Status& status) {
  // What the cache would be built on is unknown: acknowledge nothing more.
  std::multimap<StoreTicket, std::function<void(absl::Status)>> waiting;
  absl::Status failed;
  {
    absl::MutexLock lock(&mu_);
    if (failed_.ok()) {
      failed_ = absl::Status(status.code(),
                             StrCat("the state store stopped: a read failed: ",
                                    std::string(status.message())));
      LogError(std::string(failed_.message()));
      queue_.clear();
      // Tickets already durable were answered; the rest never will be.
      waiting.swap(waiters_);
    }
    failed = failed_;
  }
  space_cv_.SignalAll();
  durable_cv_.SignalAll();
  for (auto& [ticket, done] : waiting) {
    done(failed);
  }
  ReportHealth();
  return failed;
}

absl::Status SqliteStore::health() const {
  absl::MutexLock lock(&mu_);
  return failed_.ok() ? write_error_ : failed_;
}

StoreStats SqliteStore::stats() const {
  absl::MutexLock lock(&mu_);
  StoreStats s = stats_;
  s.overlay_rows = devices_overlay_.size() + ledger_overlay_.size() +
                   events_overlay_.size() + pending_overlay_.size() +
                   history_overlay_.size();
  absl::MutexLock readers(&readers_mu_);
  s.idle_readers = readers_.size();
  return s;
}

}  // namespace hijackguard::store
