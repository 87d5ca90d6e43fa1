// The PostgreSQL store's writes: a batch of submissions in one transaction,
// each table's rows in one statement (arrays unnested), all of it sent as a
// pipeline.
#include <algorithm>
#include <map>

#include "absl/strings/numbers.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "store/audit_log.h"
#include "store/postgres/pg_internal.h"
#include "store/postgres/pg_store.h"

namespace hijackguard::store {

using pg::Params;
using pg::Statement;

StoreTicket PostgresStore::Submit(detector::DetectorChanges changes) {
  auto sub = std::make_shared<Submission>();
  sub->detector = std::move(changes);
  return queue_->Enqueue(std::move(sub));
}

StoreTicket PostgresStore::SubmitEngine(policy::EngineChanges changes) {
  auto sub = std::make_shared<Submission>();
  sub->engine = std::move(changes);
  return queue_->Enqueue(std::move(sub));
}

void PostgresStore::AnnounceDevices(std::vector<std::string> lines) {
  if (lines.empty()) return;
  // Sent by the listener thread once what was submitted before is durable.
  const StoreTicket after = queue_->last_ticket();
  absl::MutexLock lock(&announce_mu_);
  for (std::string& line : lines) {
    if (announce_.size() >= kMaxAnnouncements) {
      // Too many waiting (commits fail): the others forget everything.
      announce_.clear();
      announce_.emplace_back(after, "*");
    }
    announce_.emplace_back(after, std::move(line));
  }
}

namespace {

// The newest row of each key in a batch (later submissions replace earlier
// ones, as the store's rule says), in key order.
using Newest = std::map<std::string_view, const StoreRow*>;

void Collect(const std::vector<StoreRow>& rows, Newest* out) {
  for (const StoreRow& r : rows) (*out)[r.key] = &r;
}

// An upsert of `rows` (puts only) into a key/time/value table, and a delete
// of its erased keys (when `erasable`; else an erased row is written as a
// put, as the SQLite store does for events).
void KeyTimeValue(const Newest& rows, std::string_view table,
                  std::string_view time_column, bool erasable,
                  std::int64_t now_ms, std::vector<Statement>* out) {
  std::vector<std::string_view> keys;
  std::vector<std::int64_t> times;
  std::vector<std::string_view> values;
  std::vector<std::string_view> erased;
  for (const auto& [key, row] : rows) {
    if (row->erase && erasable) {
      erased.push_back(key);
      continue;
    }
    keys.push_back(key);
    times.push_back(row->time_ms != 0 ? row->time_ms : now_ms);
    values.push_back(row->value);
  }
  if (!keys.empty()) {
    Statement& s = out->emplace_back();
    s.sql = StrCat("INSERT INTO ", table, "(key, ", time_column,
                   ", value) SELECT * FROM unnest($1::bytea[], $2::int8[], "
                   "$3::bytea[]) ON CONFLICT (key) DO UPDATE SET ",
                   time_column, " = excluded.", time_column,
                   ", value = excluded.value");
    s.params.BytesArray(keys).IntArray(times).BytesArray(values);
  }
  if (!erased.empty()) {
    Statement& s = out->emplace_back();
    s.sql = StrCat("DELETE FROM ", table, " WHERE key = ANY($1::bytea[])");
    s.params.BytesArray(erased);
  }
}

}  // namespace

absl::Status PostgresStore::Commit(const Batch& batch) {
  const StoreTicket id = batch.front()->ticket;
  // A lost connection is tried again at once, on a new one: a restart of
  // the database ends every session, and the first commit after it would
  // otherwise fail (and the store report itself unavailable) only to find
  // the database back.
  for (int attempt = 0;; ++attempt) {
    if (writer_ != nullptr && !writer_->ok()) writer_.reset();
    if (writer_ == nullptr) {
      ASSIGN_OR_RETURN(writer_, Connect());
    }
    if (in_doubt_ == id) {
      // The last attempt lost its connection before COMMIT's answer came:
      // it may have committed. The replica's row says.
      ASSIGN_OR_RETURN(pg::Result r,
                       writer_->Query("SELECT last_batch FROM replicas WHERE "
                                      "id = $1",
                                      Params().Text(replica_id_)));
      if (r.rows() == 1 && r.Int(0, 0) == static_cast<std::int64_t>(id)) {
        LogInfo(
            StrCat("state: a commit whose answer was lost had committed "
                   "(batch of ticket ",
                   id, ")"));
        in_doubt_ = 0;
        return ReadDurableHead(*writer_);
      }
    }
    absl::Status status = CommitOnce(batch, id);
    if (status.ok()) {
      in_doubt_ = 0;
      return status;
    }
    if (!writer_->ok()) {
      in_doubt_ = id;
      writer_.reset();
      if (attempt == 0) continue;
    } else if (!writer_->Exec("ROLLBACK").ok()) {
      // A connection left mid-pipeline or mid-transaction would keep its
      // locks (the append lock stalls every replica): it goes, and with it
      // its transaction.
      writer_.reset();
    }
    return status;
  }
}

absl::Status PostgresStore::CommitOnce(const Batch& batch, StoreTicket id) {
  const std::int64_t now_ms = absl::ToUnixMillis(options_.clock->Now());
  Newest devices, ledger, events, pending;
  std::map<std::string_view,
           std::pair<const StoreRow*, const policy::DeviceListing*>>
      history;
  std::map<std::string_view, const policy::Exemption*> exemptions;  // null: del
  std::vector<const policy::AppliedPolicy*> policies;
  std::vector<const policy::AuditRecord*> audit;
  std::vector<std::string_view> outbox;
  std::map<std::string_view, const policy::SinkCursor*> cursors;
  std::uint64_t outbox_prune = 0;
  std::vector<std::string_view> alerts;
  std::uint64_t ledger_version = 0;
  std::uint64_t event_id = 0;
  std::vector<const Submission*> prunes;
  for (const auto& sub : batch) {
    if (sub->detector) {
      const detector::DetectorChanges& d = *sub->detector;
      Collect(d.devices, &devices);
      Collect(d.ledger, &ledger);
      Collect(d.events, &events);
      Collect(d.pending, &pending);
      ledger_version = std::max(ledger_version, d.ledger_version);
      event_id = std::max(event_id, d.event_id);
    }
    if (sub->engine) {
      const policy::EngineChanges& e = *sub->engine;
      for (std::size_t i = 0; i < e.devices.size(); ++i) {
        history[e.devices[i].key] = {
            &e.devices[i], i < e.listings.size() ? &e.listings[i] : nullptr};
      }
      for (const policy::Exemption& x : e.put_exemptions) exemptions[x.id] = &x;
      for (const std::string& x : e.deleted_exemptions) exemptions[x] = nullptr;
      if (e.policy) policies.push_back(&*e.policy);
      for (const policy::AuditRecord& a : e.audit) audit.push_back(&a);
      for (const std::string& o : e.outbox) outbox.push_back(o);
      for (const policy::SinkCursor& c : e.sink_cursors) cursors[c.sink] = &c;
      outbox_prune = std::max(outbox_prune, e.outbox_prune_through);
      for (const std::string& a : e.alerts) alerts.push_back(a);
    }
    if (sub->prune_limit > 0) prunes.push_back(sub.get());
  }

  // Sequence numbers (audit, outbox, policies, alerts) are taken under the
  // append lock, so that they follow the commit order across replicas.
  const bool append = !audit.empty() || !outbox.empty() || !policies.empty() ||
                      !prunes.empty() || !alerts.empty();
  AppendState head;
  if (append) {
    ASSIGN_OR_RETURN(
        std::vector<pg::Result> first,
        writer_->Pipeline(
            {{"BEGIN", {}},
             {StrCat("SELECT pg_advisory_xact_lock(", pg::kAppendLock, ")"),
              {}},
             {"SELECT (SELECT value FROM meta WHERE name = 'audit_head'), "
              "(SELECT value FROM counters WHERE name = 'outbox_seq'), "
              "(SELECT coalesce(max(seq), 0) FROM policies), "
              "(SELECT value FROM counters WHERE name = 'alert_seq')",
              {}}}));
    ASSIGN_OR_RETURN(head, ParseAppendState(first[2], audit_key_));
  }
  const AppendState before = head;
  std::vector<Statement> writes;
  if (!append) {
    writes.push_back({"BEGIN", {}});  // one round trip in all
  }

  {
    std::vector<std::string_view> keys;
    std::vector<std::optional<std::string_view>> idx;
    std::vector<std::int64_t> times;
    std::vector<std::string_view> values;
    for (const auto& [key, row] : devices) {
      keys.push_back(key);
      idx.push_back(row->index.empty()
                        ? std::nullopt
                        : std::optional<std::string_view>(row->index));
      times.push_back(row->time_ms != 0 ? row->time_ms : now_ms);
      values.push_back(row->value);
    }
    if (!keys.empty()) {
      Statement& s = writes.emplace_back();
      s.sql =
          "INSERT INTO devices(key, idx, active_ms, value) SELECT * FROM "
          "unnest($1::bytea[], $2::bytea[], $3::int8[], $4::bytea[]) ON "
          "CONFLICT (key) DO UPDATE SET idx = excluded.idx, active_ms = "
          "excluded.active_ms, value = excluded.value";
      s.params.BytesArray(keys)
          .NullableBytesArray(idx)
          .IntArray(times)
          .BytesArray(values);
    }
  }
  KeyTimeValue(ledger, "ledger", "updated_ms", true, now_ms, &writes);
  KeyTimeValue(events, "events", "recorded_ms", false, now_ms, &writes);
  KeyTimeValue(pending, "pending", "at_ms", true, now_ms, &writes);
  if (!history.empty()) {
    HistoryColumns columns;
    for (const auto& [key, entry] : history) {
      columns.Add(*entry.first, entry.second, now_ms);
    }
    writes.push_back(columns.Upsert());
  }
  for (const auto& [id_key, exemption] : exemptions) {
    Statement& s = writes.emplace_back();
    if (exemption == nullptr) {
      s.sql = "DELETE FROM exemptions WHERE id = $1";
      s.params.Bytes(id_key);
      continue;
    }
    const policy::Exemption& e = *exemption;
    s.sql =
        "INSERT INTO exemptions(id, tenant, kind, value, reason, expires_us) "
        "VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET "
        "tenant = excluded.tenant, kind = excluded.kind, value = "
        "excluded.value, reason = excluded.reason, expires_us = "
        "excluded.expires_us";
    s.params.Bytes(e.id)
        .Bytes(e.tenant_id)
        .Text(policy::ExemptionKindName(e.kind))
        .Bytes(e.value)
        .Bytes(e.reason)
        .Int(ToUs(e.expires));
  }
  for (const policy::AppliedPolicy* p : policies) {
    Statement& s = writes.emplace_back();
    s.sql =
        "INSERT INTO policies(seq, revision, origin, applied_us, document) "
        "VALUES($1, $2, $3, $4, $5)";
    s.params.Int(static_cast<std::int64_t>(++head.policy_seq))
        .Text(p->revision)
        .Bytes(p->origin)
        .Int(ToUs(p->applied_at))
        .Bytes(p->document);
  }
  AuditRows rows;
  for (const policy::AuditRecord* a : audit) {
    rows.Add(MakeAuditRow(head.audit_seq + 1, *a, head.audit_hash, audit_key_),
             ToUs(a->at), &head);
  }
  std::array<std::uint64_t, kPruneTables> pruned{};
  std::vector<PruneCount> counted;
  for (const Submission* p : prunes) {
    RETURN_IF_ERROR(ApplyPrune(*p, &head, &rows, &writes, &counted, &pruned));
  }
  if (!rows.empty()) writes.push_back(rows.Insert());
  if (!outbox.empty()) {
    std::vector<std::int64_t> seqs;
    for (std::size_t i = 0; i < outbox.size(); ++i) {
      seqs.push_back(static_cast<std::int64_t>(++head.outbox_seq));
    }
    Statement& s = writes.emplace_back();
    s.sql =
        "INSERT INTO outbox(seq, payload) SELECT * FROM unnest($1::int8[], "
        "$2::bytea[])";
    s.params.IntArray(seqs).BytesArray(outbox);
  }
  if (!alerts.empty()) {
    std::vector<std::int64_t> seqs;
    seqs.reserve(alerts.size());
    for (std::size_t i = 0; i < alerts.size(); ++i) {
      seqs.push_back(static_cast<std::int64_t>(++head.alert_seq));
    }
    Statement& s = writes.emplace_back();
    s.sql =
        "INSERT INTO alert_feed(seq, origin, at_us, payload) SELECT s, $2, "
        "$3, p FROM unnest($1::int8[], $4::bytea[]) AS t(s, p)";
    s.params.IntArray(seqs)
        .Text(replica_id_)
        .Int(now_ms * 1000)
        .BytesArray(alerts);
    // The feed keeps the newest pg::kAlertFeedRows alerts (a listener that was
    // away reads at most that many); the older go a thousand at a time.
    if (head.alert_seq / 1000 != before.alert_seq / 1000 &&
        head.alert_seq > pg::kAlertFeedRows) {
      Statement& d = writes.emplace_back();
      d.sql = "DELETE FROM alert_feed WHERE seq <= $1";
      d.params.Int(
          static_cast<std::int64_t>(head.alert_seq - pg::kAlertFeedRows));
    }
  }
  for (const auto& [sink, cursor] : cursors) {
    Statement& s = writes.emplace_back();
    s.sql =
        "INSERT INTO sink_cursors(sink, delivered, dropped) VALUES($1, $2, "
        "$3) ON CONFLICT (sink) DO UPDATE SET delivered = excluded.delivered, "
        "dropped = excluded.dropped";
    s.params.Text(sink)
        .Int(static_cast<std::int64_t>(cursor->delivered))
        .Int(static_cast<std::int64_t>(cursor->dropped));
  }
  if (outbox_prune > 0) {
    // At most 10,000 rows a commit (the rest go with the next prunes).
    Statement& s = writes.emplace_back();
    s.sql =
        "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE seq <= "
        "$1 ORDER BY seq LIMIT 10000)";
    s.params.Int(static_cast<std::int64_t>(outbox_prune));
  }
  auto counter = [&](std::string_view name, std::uint64_t value) {
    Statement& s = writes.emplace_back();
    s.sql =
        "INSERT INTO counters(name, value) VALUES($1, $2) ON CONFLICT (name) "
        "DO UPDATE SET value = greatest(counters.value, excluded.value)";
    s.params.Text(name).Int(static_cast<std::int64_t>(value));
  };
  // The detector's high-water marks, one row per replica: a row every
  // replica's commits updated would order them all behind one row lock.
  // (LoadCounters takes the highest.)
  if (ledger_version > 0) {
    counter(StrCat("ledger_version:", replica_id_), ledger_version);
  }
  if (event_id > 0) counter(StrCat("event_id:", replica_id_), event_id);
  if (head.outbox_seq != before.outbox_seq) {
    counter("outbox_seq", head.outbox_seq);
  }
  if (head.alert_seq != before.alert_seq) {
    counter("alert_seq", head.alert_seq);
  }
  if (head.audit_seq != before.audit_seq) {
    writes.push_back(HeadStatement(head));
  }
  // Other replicas hold the policy and the exemptions in memory: they read
  // them again when told (delivered at commit; the payload says who).
  if (!policies.empty()) {
    Statement& s = writes.emplace_back();
    s.sql = "SELECT pg_notify('hijackguard_policy', $1)";
    s.params.Text(replica_id_);
  }
  if (!exemptions.empty()) {
    Statement& s = writes.emplace_back();
    s.sql = "SELECT pg_notify('hijackguard_exemptions', $1)";
    s.params.Text(replica_id_);
  }
  if (!alerts.empty()) {
    Statement& s = writes.emplace_back();
    s.sql = "SELECT pg_notify('hijackguard_alerts', $1)";
    s.params.Text(replica_id_);
  }

  {
    Statement& s = writes.emplace_back();
    s.sql = "UPDATE replicas SET last_batch = $2, seen_us = $3 WHERE id = $1";
    s.params.Text(replica_id_)
        .Int(static_cast<std::int64_t>(id))
        .Int(now_ms * 1000);
  }
  writes.push_back({"COMMIT", {}});
  ASSIGN_OR_RETURN(std::vector<pg::Result> done, writer_->Pipeline(writes));
  for (const PruneCount& p : counted) {
    const std::int64_t n = done[p.statement].Affected();
    p.submission->pruned = std::max(p.submission->pruned, n);
    pruned[p.table] += static_cast<std::uint64_t>(n);
  }
  absl::MutexLock lock(&committed_mu_);
  if (head.audit_seq != before.audit_seq) {
    durable_audit_seq_ = head.audit_seq;
    durable_audit_head_ = head.audit_hash;
  }
  audit_rows_ += head.audit_seq - before.audit_seq;
  for (std::size_t t = 0; t < kPruneTables; ++t) pruned_[t] += pruned[t];
  return absl::OkStatus();
}

absl::Status PostgresStore::ReadDurableHead(pg::Connection& conn) {
  ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Query("SELECT (SELECT value FROM meta WHERE name = 'audit_head'), "
                 "NULL::bigint, 0::bigint, 0::bigint"));
  ASSIGN_OR_RETURN(AppendState head, ParseAppendState(r, audit_key_));
  absl::MutexLock lock(&committed_mu_);
  durable_audit_seq_ = head.audit_seq;
  durable_audit_head_ = head.audit_hash;
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Durability and health: the queue's

bool PostgresStore::IsDurable(StoreTicket ticket) const {
  return queue_->IsDurable(ticket);
}

absl::Status PostgresStore::WaitDurable(StoreTicket ticket) {
  return queue_->WaitDurable(ticket);
}

void PostgresStore::WhenDurable(StoreTicket ticket,
                                std::function<void(absl::Status)> done) {
  queue_->WhenDurable(ticket, std::move(done));
}

absl::Status PostgresStore::health() const {
  absl::Status status = queue_->health();
  if (status.ok() && !reachable_.load()) {
    return absl::UnavailableError(
        "the state database cannot be reached (reconnecting)");
  }
  return status;
}

void PostgresStore::SetHealthCallback(
    std::function<void(const absl::Status&)> callback) {
  absl::MutexLock lock(&health_mu_);
  health_callback_ = std::move(callback);
}

std::pair<std::uint64_t, std::string> PostgresStore::audit_head() const {
  absl::MutexLock lock(&committed_mu_);
  return {durable_audit_seq_, durable_audit_head_};
}

StoreStats PostgresStore::stats() const {
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
  absl::MutexLock lock(&pool_mu_);
  s.idle_readers = static_cast<std::size_t>(options_.readers - readers_out_);
  return s;
}

}  // namespace hijackguard::store
