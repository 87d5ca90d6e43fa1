#include "plugin/sqlite_store.h"

#include <sqlite3.h>

#include <filesystem>
#include <limits>
#include <variant>

#include "absl/strings/numbers.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "plugin/audit_chain.h"
#include "plugin/audit_key.h"
#include "plugin/audit_log.h"
#include "plugin/sqlite_db.h"
#include "plugin/sqlite_store_internal.h"

namespace hijackguard::plugin {

using sqlite::Database;
using sqlite::Statement;

namespace {

constexpr const char* kStatementSql[kStatementCount] = {
    "SELECT value FROM devices WHERE key = ?1",
    "SELECT key FROM devices WHERE idx = ?1 ORDER BY active_ms DESC LIMIT 1",
    "SELECT key, value FROM events WHERE key >= ?1 AND key < ?2 ORDER BY key",
    "SELECT value FROM ledger WHERE key = ?1",
    "SELECT value FROM history WHERE key = ?1",
    "INSERT OR REPLACE INTO devices(key, idx, active_ms, value) "
    "VALUES(?1, ?2, ?3, ?4)",
    "INSERT OR REPLACE INTO ledger(key, updated_ms, value) VALUES(?1, ?2, ?3)",
    "DELETE FROM ledger WHERE key = ?1",
    "INSERT OR REPLACE INTO events(key, recorded_ms, value) VALUES(?1, ?2, ?3)",
    "INSERT OR REPLACE INTO pending(key, at_ms, value) VALUES(?1, ?2, ?3)",
    "DELETE FROM pending WHERE key = ?1",
    "INSERT OR REPLACE INTO history(key, decided_ms, value) VALUES(?1, ?2, ?3)",
    "INSERT OR REPLACE INTO exemptions(id, tenant, kind, value, reason, "
    "expires_us) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    "DELETE FROM exemptions WHERE id = ?1",
    "INSERT INTO policies(revision, origin, applied_us, document) "
    "VALUES(?1, ?2, ?3, ?4)",
    "INSERT INTO audit(seq, at_us, kind, record, prev_hash, hash) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    "INSERT OR REPLACE INTO meta(name, value) VALUES(?1, ?2)",
    "DELETE FROM events WHERE key IN (SELECT key FROM events WHERE "
    "recorded_ms < ?1 LIMIT ?2)",
    "DELETE FROM ledger WHERE key IN (SELECT key FROM ledger WHERE "
    "updated_ms < ?1 LIMIT ?2)",
    "DELETE FROM devices WHERE key IN (SELECT key FROM devices WHERE "
    "active_ms < ?1 LIMIT ?2)",
    "DELETE FROM history WHERE key IN (SELECT key FROM history WHERE "
    "decided_ms < ?1 LIMIT ?2)",
    "DELETE FROM pending WHERE key IN (SELECT key FROM pending WHERE "
    "at_ms < ?1 LIMIT ?2)",
    "SELECT seq, at_us, hash FROM audit ORDER BY seq LIMIT ?1",
    "DELETE FROM audit WHERE seq <= ?1",
};

}  // namespace

std::int64_t ToUs(absl::Time t) {
  if (t == absl::InfiniteFuture())
    return std::numeric_limits<std::int64_t>::max();
  if (t == absl::InfinitePast())
    return std::numeric_limits<std::int64_t>::min();
  return absl::ToUnixMicros(t);
}

absl::Time FromUs(std::int64_t us) {
  if (us == std::numeric_limits<std::int64_t>::max())
    return absl::InfiniteFuture();
  if (us == std::numeric_limits<std::int64_t>::min())
    return absl::InfinitePast();
  return absl::FromUnixMicros(us);
}

namespace {

constexpr int kReaders = 4;
// Retries of a failed commit: the first soon, then doubling up to the last.
constexpr absl::Duration kFirstRetry = absl::Milliseconds(50);
constexpr absl::Duration kLastRetry = absl::Seconds(5);

absl::StatusOr<std::unique_ptr<SqliteStore::Connection>> Connect(Database db,
                                                                 bool writer) {
  auto c = std::make_unique<SqliteStore::Connection>();
  c->db = std::move(db);
  c->statements.resize(kStatementCount);
  const int first = writer ? kPutDevice : kLoadDevice;
  const int last = writer ? kStatementCount : kPutDevice;
  for (int i = first; i < last; ++i) {
    ASSIGN_OR_RETURN(c->at(i), c->db.Prepare(kStatementSql[i]));
  }
  return c;
}

}  // namespace

// ---------------------------------------------------------------------------
// Opening and closing

namespace {
SqliteStoreOptions WithDefaults(SqliteStoreOptions o) {
  if (o.audit_key_file.empty()) {
    o.audit_key_file = DefaultAuditKeyPath(
        std::filesystem::path(o.path).parent_path().string());
  }
  return o;
}
}  // namespace

SqliteStore::SqliteStore(SqliteStoreOptions options)
    : options_(WithDefaults(std::move(options))),
      on_health_(options_.on_health_change) {}

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(
    SqliteStoreOptions options) {
  std::unique_ptr<SqliteStore> store(new SqliteStore(std::move(options)));
  RETURN_IF_ERROR(store->Start());
  return store;
}

absl::Status SqliteStore::Start() {
  // Personal data: the database and its WAL are the owner's alone, whatever
  // the umask was when they were made.
  for (const char* suffix : {"", "-wal", "-shm"}) {
    RETURN_IF_ERROR(MakePrivate(StrCat(options_.path, suffix)));
  }
  ASSIGN_OR_RETURN(
      Database db,
      sqlite::OpenState(
          options_.path,
          {.synchronous = options_.synchronous,
           .quick_check_max_bytes = options_.quick_check_max_bytes,
           .wal_autocheckpoint_pages = options_.wal_autocheckpoint_pages,
           .journal_size_limit_bytes = options_.journal_size_limit_bytes}));
  for (const char* suffix : {"", "-wal", "-shm"}) {
    RETURN_IF_ERROR(MakePrivate(StrCat(options_.path, suffix)));
  }
  ASSIGN_OR_RETURN(writer_, Connect(std::move(db), true));
  RETURN_IF_ERROR(OpenAudit());
  for (int i = 0; i < kReaders; ++i) {
    ASSIGN_OR_RETURN(Database reader,
                     Database::Open(options_.path, false, false));
    RETURN_IF_ERROR(reader.Exec("PRAGMA query_only=1"));
    ASSIGN_OR_RETURN(auto connection, Connect(std::move(reader), false));
    readers_.push_back(std::move(connection));
  }
  durable_audit_seq_ = audit_seq_;
  durable_audit_head_ = audit_head_;
  writer_thread_ = std::thread([this] { WriterLoop(); });
  if (options_.retention_interval > absl::ZeroDuration()) {
    retention_thread_ = std::thread([this] { RetentionLoop(); });
  }
  return absl::OkStatus();
}

void SqliteStore::StopRetention() {
  {
    std::lock_guard<std::mutex> lock(retention_mu_);
    retention_stop_ = true;
  }
  retention_cv_.notify_all();
  if (retention_thread_.joinable()) {
    retention_thread_.join();
  }
}

absl::Status SqliteStore::OpenAudit() {
  // The table's last row and the head recorded with the last append.
  std::uint64_t tail_seq = 0;
  std::string tail_hash(kAuditGenesis);
  {
    ASSIGN_OR_RETURN(Statement tail,
                     writer_->db.Prepare("SELECT seq, hash FROM audit ORDER BY "
                                         "seq DESC LIMIT 1"));
    ASSIGN_OR_RETURN(bool row, tail.Step());
    if (row) {
      tail_seq = static_cast<std::uint64_t>(tail.Int(0));
      tail_hash = std::string(tail.Blob(1));
    }
  }
  ASSIGN_OR_RETURN(std::string head,
                   writer_->db.QueryText(
                       "SELECT value FROM meta WHERE name = 'audit_head'"));
  ASSIGN_OR_RETURN(std::string rekey,
                   writer_->db.QueryText(
                       "SELECT value FROM meta WHERE name = 'audit_rekey'"));
  std::uint64_t head_seq = 0;
  std::string head_hash;
  {
    const std::size_t space = head.find(' ');
    if (space != std::string::npos &&
        absl::SimpleAtoi(head.substr(0, space), &head_seq)) {
      head_hash = head.substr(space + 1, head.find(' ', space + 1) - space - 1);
    }
  }
  // A log from before the key (schema 2, rekey pending) has no key yet: one
  // is made for it, first as <key>.pending, moved into place only once the
  // rekey row is committed (a crash in between reuses it). The marker is
  // believed only while no key exists: with a key, the log is keyed and the
  // marker was written by someone else. Otherwise a log with rows needs the
  // key that made it.
  const std::string& key_file = options_.audit_key_file;
  const bool key_exists = !absl::IsNotFound(ReadAuditKey(key_file).status());
  const bool pending_rekey = !rekey.empty() && tail_seq > 0 && !key_exists;
  if (!key_exists && rekey.empty()) {
    ASSIGN_OR_RETURN(std::uint64_t rekeyed_at, FirstRekeySeq(writer_->db));
    if (rekeyed_at > 0) {
      RETURN_IF_ERROR(PromotePendingAuditKey(key_file));  // OK if none
    }
  }
  ASSIGN_OR_RETURN(
      audit_key_,
      pending_rekey
          ? LoadOrCreateAuditKey(PendingAuditKeyPath(key_file), 0)
          : LoadOrCreateAuditKey(key_file, std::max(tail_seq, head_seq)));
  audit_seq_ = tail_seq;
  audit_head_ = tail_hash;

  // The tail must verify: its rows, their links and the signed head.
  ASSIGN_OR_RETURN(std::string problem, CheckAuditTail(head, pending_rekey));
  if (!problem.empty()) {
    if (!options_.accept_broken_audit) {
      return absl::FailedPreconditionError(StrCat(
          "state database ", options_.path,
          ": the audit log is broken: ", problem,
          ". Run hijackguard audit verify and restore a backup; or start with "
          "--accept-broken-audit to continue the log after the damage (that "
          "start is recorded in the log)"));
    }
    LogError(StrCat("state database ", options_.path,
                    ": the audit log is broken (", problem,
                    "); continuing because of --accept-broken-audit"));
    if (head_seq > tail_seq) {
      // Rows cut from the end: continue after the recorded head, so that
      // the gap stays visible to audit verify.
      audit_seq_ = head_seq;
      audit_head_ = head_hash;
    }
  }
  if (pending_rekey) {
    // A store from before the key: the first keyed row links the unkeyed
    // chain's head, and every row after it is keyed.
    const absl::Time now = options_.clock->Now();
    RETURN_IF_ERROR(AppendNow(
        MakeRekeyRow(audit_seq_ + 1, now, audit_head_, audit_key_), now));
    RETURN_IF_ERROR(PromotePendingAuditKey(key_file));
    LogInfo(StrCat("state database ", options_.path,
                   ": the audit log is keyed from row ", audit_seq_,
                   " on (rows before it keep their SHA-256 chain)"));
  }
  if (!problem.empty()) {
    policy::AuditRecord record;
    record.at = options_.clock->Now();
    record.what = policy::AcceptBrokenAudit{problem};
    RETURN_IF_ERROR(
        AppendNow(MakeAuditRow(audit_seq_ + 1, record, audit_head_, audit_key_),
                  record.at));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SqliteStore::CheckAuditTail(
    std::string_view recorded_head, bool pending_rekey) {
  constexpr int kTailRows = 1000;
  ASSIGN_OR_RETURN(std::uint64_t rekey_seq, FirstRekeySeq(writer_->db));
  if (pending_rekey) {
    rekey_seq = std::numeric_limits<std::uint64_t>::max();  // none keyed yet
  }
  ASSIGN_OR_RETURN(Statement rows,
                   writer_->db.Prepare(StrCat("SELECT ", kAuditRowColumns,
                                              " FROM (SELECT * FROM "
                                              "audit ORDER BY seq DESC LIMIT ",
                                              kTailRows, ") ORDER BY seq")));
  std::optional<AuditChainWalker> walker;
  while (true) {
    ASSIGN_OR_RETURN(bool more, rows.Step());
    if (!more) break;
    const AuditChainRow row = ReadAuditRow(rows);
    if (!walker) {
      // The tail's first row is trusted to link to what came before it
      // (audit verify walks the whole chain).
      walker.emplace(audit_key_, static_cast<std::uint64_t>(rekey_seq), row.seq,
                     row.prev_hash);
    }
    if (!walker->Add(row)) break;
  }
  if (!walker) {
    walker.emplace(audit_key_, 0, 1, std::string(kAuditGenesis));
  }
  walker->CheckHead(recorded_head, pending_rekey);
  return walker->problem();
}

absl::Status SqliteStore::AppendNow(const AuditRow& row, absl::Time at) {
  Database& db = writer_->db;
  RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  absl::Status status = InsertAudit(row, at);
  if (status.ok()) {
    status = writer_->at(kPutMeta)
                 .Reset()
                 .BindText(1, "audit_head")
                 .Bind(2, HeadValue())
                 .Run();
  }
  if (status.ok()) {
    status = db.Exec("DELETE FROM meta WHERE name = 'audit_rekey'");
  }
  if (status.ok()) {
    status = db.Exec("COMMIT");
  }
  if (!status.ok()) {
    (void)db.Exec("ROLLBACK");
  }
  committed_audit_rows_ = 0;
  return status;
}

std::pair<std::uint64_t, std::string> SqliteStore::audit_head() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {durable_audit_seq_, durable_audit_head_};
}

std::string SqliteStore::HeadValue() const {
  return StrCat(audit_seq_, " ", audit_head_, " ",
                AuditHeadMac(audit_key_, audit_seq_, audit_head_));
}

SqliteStore::~SqliteStore() {
  StopRetention();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  queued_cv_.notify_all();
  if (writer_thread_.joinable()) {
    writer_thread_.join();
  }
}

// ---------------------------------------------------------------------------
// Submissions and the writer

StoreTicket SqliteStore::Enqueue(std::shared_ptr<Submission> sub) {
  std::unique_lock<std::mutex> lock(mu_);
  // Back-pressure: a writer that falls behind slows submitters down rather
  // than letting the queue take the memory. While commits fail, handlers
  // refuse new work and only calls already under way arrive: they are
  // queued without waiting for room, so that nobody blocks (holding the
  // engine's or the detector's lock) for the length of an outage.
  space_cv_.wait(lock, [&] {
    return queue_.size() < options_.max_queued || !failed_.ok() ||
           !write_error_.ok() || writer_done_;
  });
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
    queued_cv_.notify_one();
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
      std::unique_lock<std::mutex> lock(mu_);
      queued_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) {
        writer_done_ = true;  // stopping, and everything is committed
        durable_cv_.notify_all();
        space_cv_.notify_all();
        return;
      }
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    space_cv_.notify_all();
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
      std::unique_lock<std::mutex> lock(mu_);
      queued_cv_.wait_for(lock, absl::ToChronoNanoseconds(backoff),
                          [&] { return stopping_; });
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
        std::lock_guard<std::mutex> lock(mu_);
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
    std::lock_guard<std::mutex> lock(mu_);
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
  durable_cv_.notify_all();
  space_cv_.notify_all();
  for (auto& [ticket, done] : waiting) {
    done(answer);
  }
  return next;
}

void SqliteStore::ReportHealth() {
  std::lock_guard<std::mutex> lock(health_mu_);
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
  std::lock_guard<std::mutex> lock(health_mu_);
  on_health_ = std::move(callback);
}

void SqliteStore::Committed(
    const std::vector<std::shared_ptr<Submission>>& batch) {
  std::vector<std::pair<std::function<void(absl::Status)>, absl::Status>> ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
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
  durable_cv_.notify_all();
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
  if (ledger_version > 0)
    meta("ledger_version", std::to_string(ledger_version));
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
  std::unique_lock<std::mutex> lock(mu_);
  durable_cv_.wait(lock, [&] {
    return ticket <= durable_.load() || !failed_.ok() || !write_error_.ok() ||
           writer_done_;
  });
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
    std::lock_guard<std::mutex> lock(mu_);
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
    std::lock_guard<std::mutex> lock(mu_);
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
  space_cv_.notify_all();
  durable_cv_.notify_all();
  for (auto& [ticket, done] : waiting) {
    done(failed);
  }
  ReportHealth();
  return failed;
}

absl::Status SqliteStore::health() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failed_.ok() ? write_error_ : failed_;
}

StoreStats SqliteStore::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  StoreStats s = stats_;
  s.overlay_rows = devices_overlay_.size() + ledger_overlay_.size() +
                   events_overlay_.size() + pending_overlay_.size() +
                   history_overlay_.size();
  std::lock_guard<std::mutex> readers(readers_mu_);
  s.idle_readers = readers_.size();
  return s;
}

// ---------------------------------------------------------------------------
// Loads

SqliteStore::ReaderLease::ReaderLease(SqliteStore* store) : store_(store) {
  std::unique_lock<std::mutex> lock(store_->readers_mu_);
  store_->readers_cv_.wait(lock, [&] { return !store_->readers_.empty(); });
  connection_ = std::move(store_->readers_.back());
  store_->readers_.pop_back();
}

SqliteStore::ReaderLease::~ReaderLease() {
  {
    std::lock_guard<std::mutex> lock(store_->readers_mu_);
    store_->readers_.push_back(std::move(connection_));
  }
  store_->readers_cv_.notify_one();
}

bool SqliteStore::FromOverlay(const Overlay& overlay, std::string_view key,
                              std::optional<std::string>* value) const {
  auto it = overlay.find(key);
  if (it == overlay.end()) {
    return false;
  }
  if (it->second.row->erase) {
    value->reset();
  } else {
    *value = it->second.row->value;
  }
  return true;
}

absl::StatusOr<std::optional<std::string>> SqliteStore::LoadRow(
    const Overlay& overlay, int statement, std::string_view key) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    RETURN_IF_ERROR(failed_);
    std::optional<std::string> value;
    if (FromOverlay(overlay, key, &value)) {
      return value;
    }
  }
  // Committed before the overlay let go of it, so the file has it.
  return QueryOne(statement, key);
}

absl::StatusOr<std::optional<std::string>> SqliteStore::QueryOne(
    int statement, std::string_view key) {
  absl::StatusOr<bool> row;
  std::optional<std::string> value;
  {
    // The connection goes back before a failure is reported.
    ReaderLease c(this);
    Statement& s = c->at(statement).Reset();
    s.Bind(1, key);
    row = s.Step();
    if (row.ok() && *row) {
      value.emplace(s.Blob(0));
    }
    s.Reset();
  }
  if (!row.ok()) {
    return FailReads(row.status());
  }
  return value;
}

absl::StatusOr<std::optional<std::string>> SqliteStore::LoadDevice(
    std::string_view key) {
  return LoadRow(devices_overlay_, kLoadDevice, key);
}

absl::StatusOr<std::optional<std::string>> SqliteStore::LoadLedgerEntry(
    std::string_view key) {
  return LoadRow(ledger_overlay_, kLoadLedger, key);
}

absl::StatusOr<std::optional<std::string>> SqliteStore::LoadEngineDevice(
    std::string_view key) {
  return LoadRow(history_overlay_, kLoadHistory, key);
}

absl::StatusOr<std::optional<std::string>> SqliteStore::FindDeviceByIndex(
    std::string_view index) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    RETURN_IF_ERROR(failed_);
    for (const auto& [key, row] : devices_overlay_) {
      if (!row.row->erase && row.row->index == index) {
        return std::optional<std::string>(key);
      }
    }
  }
  return QueryOne(kFindDeviceByIndex, index);
}

absl::Status SqliteStore::LoadEvents(std::string_view prefix,
                                     std::string_view from,
                                     std::vector<std::string>* values) {
  // The overlay first, then the file (as LoadRow): a row committed in
  // between has left the overlay only after it reached the file.
  std::map<std::string, std::string, std::less<>> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    RETURN_IF_ERROR(failed_);
    for (auto it = events_overlay_.lower_bound(from);
         it != events_overlay_.end() && it->first.starts_with(prefix); ++it) {
      pending.emplace(it->first, it->second.row->value);
    }
  }
  std::map<std::string, std::string, std::less<>> merged;
  absl::Status status;
  {
    // The connection goes back before a failure is reported or the rows
    // are merged.
    ReaderLease c(this);
    std::string end(prefix);
    end.append(9, '\xFF');  // past every 8-byte id
    Statement& s = c->at(kLoadEvents).Reset();
    s.Bind(1, from).Bind(2, end);
    while (true) {
      absl::StatusOr<bool> row = s.Step();
      if (!row.ok()) {
        status = row.status();
        break;
      }
      if (!*row) break;
      merged.emplace(std::string(s.Blob(0)), std::string(s.Blob(1)));
    }
    s.Reset();
  }
  if (!status.ok()) {
    return FailReads(status);
  }
  for (auto& [key, value] : pending) {
    merged.insert_or_assign(key, std::move(value));  // the newer
  }
  values->reserve(values->size() + merged.size());
  for (auto& [key, value] : merged) {
    values->push_back(std::move(value));
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::LoadAllPending(
    std::vector<std::pair<std::string, std::string>>* rows) {
  ReaderLease c(this);
  ASSIGN_OR_RETURN(
      Statement s,
      c->db.Prepare("SELECT key, value FROM pending ORDER BY key"));
  absl::Status status;
  while (true) {
    absl::StatusOr<bool> row = s.Step();
    if (!row.ok()) {
      status = row.status();
      break;
    }
    if (!*row) break;
    rows->emplace_back(std::string(s.Blob(0)), std::string(s.Blob(1)));
  }
  return status;
}

absl::StatusOr<detector::DetectorCounters> SqliteStore::LoadCounters() {
  // Reader connections only: the writer's belongs to its thread.
  ReaderLease c(this);
  detector::DetectorCounters counters;
  absl::Status status;
  for (auto [name, out] :
       {std::pair{"ledger_version", &counters.ledger_version},
        std::pair{"event_id", &counters.event_id}}) {
    auto text = c->db.QueryText(
        StrCat("SELECT value FROM meta WHERE name = '", name, "'"));
    if (!text.ok()) {
      status = text.status();
      break;
    }
    if (!text->empty() && !absl::SimpleAtoi(*text, out)) {
      status = absl::DataLossError(StrCat("state database ", options_.path,
                                          ": meta row ", name, " is \"", *text,
                                          "\", not a number"));
      break;
    }
  }
  RETURN_IF_ERROR(status);
  return counters;
}

absl::StatusOr<std::vector<policy::Exemption>> SqliteStore::LoadExemptions() {
  ReaderLease c(this);
  return ReadExemptions(c->db);
}

absl::StatusOr<std::vector<policy::Exemption>> SqliteStore::ReadExemptions(
    Database& db) const {
  ASSIGN_OR_RETURN(Statement s,
                   db.Prepare("SELECT id, tenant, kind, value, reason, "
                              "expires_us FROM exemptions ORDER BY id"));
  std::vector<policy::Exemption> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    policy::Exemption e;
    e.id = std::string(s.Blob(0));
    e.tenant_id = std::string(s.Blob(1));
    auto kind = policy::ParseExemptionKind(s.Blob(2));
    if (!kind) {
      return absl::DataLossError(StrCat("state database ", options_.path,
                                        ": exemption ", e.id, " has kind \"",
                                        s.Blob(2), "\""));
    }
    e.kind = *kind;
    e.value = std::string(s.Blob(3));
    e.reason = std::string(s.Blob(4));
    e.expires = FromUs(s.Int(5));
    e.source = "api";
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<std::optional<policy::AppliedPolicy>> SqliteStore::LatestPolicy(
    std::string_view origin_prefix) {
  ReaderLease c(this);
  return ReadLatestPolicy(c->db, origin_prefix);
}

absl::StatusOr<std::optional<policy::AppliedPolicy>>
SqliteStore::ReadLatestPolicy(Database& db, std::string_view origin_prefix) {
  ASSIGN_OR_RETURN(
      Statement s,
      db.Prepare("SELECT revision, origin, applied_us, document FROM "
                 "policies WHERE substr(origin, 1, length(?1)) = ?1 "
                 "ORDER BY seq DESC LIMIT 1"));
  s.BindText(1, origin_prefix);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) {
    return std::optional<policy::AppliedPolicy>();
  }
  policy::AppliedPolicy p;
  p.revision = std::string(s.Blob(0));
  p.origin = std::string(s.Blob(1));
  p.applied_at = FromUs(s.Int(2));
  p.document = std::string(s.Blob(3));
  return std::optional<policy::AppliedPolicy>(std::move(p));
}

// ---------------------------------------------------------------------------
// Retention

}  // namespace hijackguard::plugin
