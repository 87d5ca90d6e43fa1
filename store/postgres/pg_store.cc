// The PostgreSQL store: opening (schema, the replica's row, the audit key
// and the chain's tail), the connection pool, and closing.
#include "store/postgres/pg_store.h"

#include <unistd.h>

#include <optional>

#include "absl/strings/numbers.h"
#include "common/hmac.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "store/audit_key.h"
#include "store/audit_log.h"
#include "store/audit_walker.h"
#include "store/postgres/pg_internal.h"

namespace hijackguard::store {

using pg::Params;

namespace {

// What the database records of the audit key: enough to tell two keys
// apart, nothing that helps find the key.
std::string KeyId(std::string_view key) {
  return HmacSha256Hex(key, "hijackguard audit key id v1").substr(0, 16);
}

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

}  // namespace

PostgresStore::PostgresStore(PostgresStoreOptions options)
    : options_(std::move(options)),
      health_callback_(options_.on_health_change) {}

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(
    PostgresStoreOptions options) {
  if (options.audit_key_file.empty()) {
    return absl::InvalidArgumentError(
        "the PostgreSQL store needs an audit key file (audit.key_file)");
  }
  RETURN_IF_ERROR(pg::CheckNoPassword(options.dsn, "postgres.dsn"));
  std::unique_ptr<PostgresStore> store(new PostgresStore(std::move(options)));
  RETURN_IF_ERROR(store->Start());
  return store;
}

absl::StatusOr<std::unique_ptr<pg::Connection>> PostgresStore::Connect() const {
  return pg::Connection::Open(options_.dsn, options_.password);
}

absl::Status PostgresStore::Start() {
  ASSIGN_OR_RETURN(writer_, Connect());
  if (writer_->server_version() < 120000) {
    return absl::FailedPreconditionError(
        StrCat("PostgreSQL ", writer_->server_version() / 10000,
               " is too old: hijackguard needs 12 or newer"));
  }
  {
    // Keys, values and records are stored as bytes, but the audit records
    // and the names are text: the database must hold UTF-8.
    ASSIGN_OR_RETURN(
        pg::Result encoding,
        writer_->Query("SELECT current_setting('server_encoding')"));
    if (encoding.Bytes(0, 0) != "UTF8") {
      return absl::FailedPreconditionError(StrCat(
          "the database's encoding is ", encoding.Bytes(0, 0),
          "; hijackguard needs UTF8 (CREATE DATABASE ... ENCODING 'UTF8' "
          "TEMPLATE template0)"));
    }
  }
  ASSIGN_OR_RETURN(int before,
                   pg::Migrate(*writer_, options_.migrate, "the database"));
  if (before == 0) {
    LogInfo(StrCat("state: created hijackguard's tables (schema ",
                   pg::kSchemaVersion, ") in the PostgreSQL database"));
  }
  replica_id_ = StrCat(HexEncode(RandomBytes(8)));
  const std::int64_t now_us = ToUs(options_.clock->Now());
  RETURN_IF_ERROR(
      writer_
          ->Query("INSERT INTO replicas(id, host, started_us, seen_us, "
                  "last_batch) VALUES($1, $2, $3, $3, 0)",
                  Params()
                      .Text(replica_id_)
                      .Text(StrCat(HostName(), " pid ", ::getpid()))
                      .Int(now_us))
          .status());
  RETURN_IF_ERROR(OpenAudit(*writer_));
  {
    // Alerts from now on go to this replica's subscribers.
    ASSIGN_OR_RETURN(pg::Result r,
                     writer_->Query("SELECT value FROM counters WHERE name = "
                                    "'alert_seq'"));
    alert_seen_ = r.rows() == 1 ? static_cast<std::uint64_t>(r.Int(0, 0)) : 0;
  }
  {
    absl::MutexLock lock(&pool_mu_);
    readers_.resize(static_cast<std::size_t>(options_.readers));
    list_readers_.resize(static_cast<std::size_t>(options_.list_readers));
  }
  queue_ = std::make_unique<CommitQueue>(
      CommitQueueOptions{
          .max_batch = options_.max_batch,
          .max_queued = options_.max_queued,
          .on_health_change = [this](const absl::Status&) { ReportHealth(); },
          .on_commit = options_.on_commit},
      [this](const Batch& batch) { return Commit(batch); });
  // After the queue: the listener reports health, which asks it.
  listen_thread_ = std::thread([this] { Listen(); });
  return absl::OkStatus();
}

PostgresStore::~PostgresStore() {
  {
    absl::MutexLock lock(&stop_mu_);
    stopping_ = true;
    stop_cv_.SignalAll();
  }
  if (listen_thread_.joinable()) listen_thread_.join();
  if (queue_ != nullptr) queue_->Close();
  if (writer_ != nullptr && writer_->ok()) {
    // Leaves the row (a replica that died leaves one too): it says which
    // replicas wrote, and when last.
    (void)writer_->Query(
        "UPDATE replicas SET seen_us = $2 WHERE id = $1",
        Params().Text(replica_id_).Int(ToUs(options_.clock->Now())));
  }
}

// ---------------------------------------------------------------------------
// The audit key and the chain's tail

absl::Status PostgresStore::OpenAudit(pg::Connection& conn) {
  // One replica at a time: the first one to open an empty database records
  // its key's id, and every later one must hold the same key.
  RETURN_IF_ERROR(conn.Exec(
      StrCat("BEGIN; SELECT pg_advisory_xact_lock(", pg::kAppendLock, ")")));
  auto open = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(
        pg::Result r,
        conn.Query("SELECT (SELECT value FROM meta WHERE name = "
                   "'audit_key_id'), (SELECT count(*) FROM audit)"));
    const bool recorded = !r.IsNull(0, 0);
    const std::string recorded_id(r.Bytes(0, 0));
    const std::int64_t rows = r.Int(0, 1);
    const std::string& file = options_.audit_key_file;
    if (recorded) {
      absl::StatusOr<std::string> key = ReadAuditKey(file);
      if (absl::IsNotFound(key.status())) {
        return absl::FailedPreconditionError(
            StrCat("the database's audit log is keyed, and ", file,
                   " does not exist: copy the audit key from another replica "
                   "(docs/state.md, \"Keys on every replica\")"));
      }
      RETURN_IF_ERROR(key.status());
      if (KeyId(*key) != recorded_id) {
        return absl::FailedPreconditionError(StrCat(
            "the audit key in ", file,
            " is not the one the database's audit log is kept with (key id ",
            KeyId(*key), ", the database's ", recorded_id,
            "): copy the key from another replica; a replica with another "
            "key would fork the chain"));
      }
      audit_key_ = *std::move(key);
      return absl::OkStatus();
    }
    if (rows > 0) {
      return absl::FailedPreconditionError(
          "the database's audit log has rows but no recorded key id: the "
          "meta table was altered; run hijackguard audit verify");
    }
    ASSIGN_OR_RETURN(audit_key_, LoadOrCreateAuditKey(file, 0));
    return conn
        .Query("INSERT INTO meta(name, value) VALUES('audit_key_id', $1)",
               Params().Bytes(KeyId(audit_key_)))
        .status();
  };
  absl::Status status = open();
  if (status.ok()) status = CheckAuditTail(conn);
  if (status.ok()) status = conn.Exec("COMMIT");
  if (!status.ok()) (void)conn.Exec("ROLLBACK");
  return status;
}

absl::Status PostgresStore::CheckAuditTail(pg::Connection& conn) {
  constexpr int kTailRows = 1000;
  ASSIGN_OR_RETURN(
      pg::Result head_row,
      conn.Query("SELECT (SELECT value FROM meta WHERE name = 'audit_head')"));
  const std::string recorded(head_row.Bytes(0, 0));
  ASSIGN_OR_RETURN(
      pg::Result rows,
      conn.Query(StrCat("SELECT * FROM (SELECT seq, at_us, kind, record, "
                        "prev_hash, hash FROM audit ORDER BY seq DESC LIMIT ",
                        kTailRows, ") t ORDER BY seq")));
  std::optional<AuditChainWalker> walker;
  AuditChainRow last;
  for (int i = 0; i < rows.rows(); ++i) {
    AuditChainRow row{static_cast<std::uint64_t>(rows.Int(i, 0)),
                      rows.Int(i, 1),
                      std::string(rows.Bytes(i, 2)),
                      std::string(rows.Bytes(i, 3)),
                      std::string(rows.Bytes(i, 4)),
                      std::string(rows.Bytes(i, 5))};
    if (!walker) {
      // The tail's first row is trusted to link to what came before it
      // (audit verify walks the whole chain).
      walker.emplace(audit_key_, 0, row.seq, row.prev_hash);
    }
    last = row;
    if (!walker->Add(row)) break;
  }
  if (!walker) walker.emplace(audit_key_, 0, 1, std::string(kAuditGenesis));
  walker->CheckHead(recorded, false);
  {
    absl::MutexLock lock(&committed_mu_);
    durable_audit_seq_ = walker->last_seq();
    durable_audit_head_ = walker->head();
  }
  if (walker->ok()) return absl::OkStatus();
  const std::string problem = walker->problem();
  if (!options_.accept_broken_audit) {
    return absl::FailedPreconditionError(StrCat(
        "the database's audit log is broken: ", problem,
        ". Run hijackguard audit verify and restore a backup; or start with "
        "--accept-broken-audit to continue the log after the damage (that "
        "start is recorded in the log)"));
  }
  LogError(StrCat("the database's audit log is broken (", problem,
                  "); continuing because of --accept-broken-audit"));
  // Continue after the recorded head when it is intact and past the rows
  // (rows cut from the end stay a visible gap), else after the last row.
  AppendState head;
  absl::StatusOr<AppendState> parsed = ParseAppendState(head_row, audit_key_);
  if (parsed.ok() && parsed->audit_seq > last.seq) {
    head = *parsed;
  } else {
    head.audit_seq = last.seq;
    head.audit_hash = last.seq == 0 ? std::string(kAuditGenesis) : last.hash;
  }
  policy::AuditRecord record;
  record.at = options_.clock->Now();
  record.what = policy::AcceptBrokenAudit{problem};
  AuditRows appended;
  appended.Add(
      MakeAuditRow(head.audit_seq + 1, record, head.audit_hash, audit_key_),
      ToUs(record.at), &head);
  ASSIGN_OR_RETURN(std::vector<pg::Result> done,
                   conn.Pipeline({appended.Insert(), HeadStatement(head)}));
  (void)done;
  absl::MutexLock lock(&committed_mu_);
  durable_audit_seq_ = head.audit_seq;
  durable_audit_head_ = head.audit_hash;
  return absl::OkStatus();
}

pg::Statement PostgresStore::HeadStatement(const AppendState& head) const {
  pg::Statement s;
  s.sql =
      "INSERT INTO meta(name, value) VALUES('audit_head', $1) ON CONFLICT "
      "(name) DO UPDATE SET value = excluded.value";
  s.params.Bytes(
      StrCat(head.audit_seq, " ", head.audit_hash, " ",
             AuditHeadMac(audit_key_, head.audit_seq, head.audit_hash)));
  return s;
}

// ---------------------------------------------------------------------------
// Notifications and reachability

void PostgresStore::SetSharedListener(SharedListener listener) {
  absl::MutexLock lock(&listener_mu_);
  listener_ = std::move(listener);
  if (listener_ && missed_) {
    // Told of a change before anyone listened (a start).
    missed_ = false;
    listener_(SharedChange::kResync, {});
  }
}

void PostgresStore::ReportHealth() {
  absl::MutexLock lock(&health_mu_);
  if (health_callback_) health_callback_(health());
}

void PostgresStore::CallListener(SharedChange change,
                                 std::string_view payload) {
  absl::MutexLock lock(&listener_mu_);
  if (listener_) {
    listener_(change, payload);
  } else if (change != SharedChange::kAlert &&
             change != SharedChange::kDevices) {
    // (Alerts and device changes before anyone listened concern no one.)
    missed_ = true;
  }
}

bool PostgresStore::AnnouncementsWaiting() {
  absl::MutexLock lock(&announce_mu_);
  return !announce_.empty();
}

absl::Status PostgresStore::SendAnnouncements(pg::Connection& conn) {
  std::vector<std::string> lines;
  {
    absl::MutexLock lock(&announce_mu_);
    std::size_t kept = 0;
    for (std::size_t i = 0; i < announce_.size(); ++i) {
      if (queue_->IsDurable(announce_[i].first)) {
        lines.push_back(std::move(announce_[i].second));
      } else {
        if (kept != i) announce_[kept] = std::move(announce_[i]);
        ++kept;
      }
    }
    announce_.resize(kept);
  }
  if (lines.empty()) return absl::OkStatus();
  std::sort(lines.begin(), lines.end());
  lines.erase(std::unique(lines.begin(), lines.end()), lines.end());
  std::vector<std::string> payloads;
  for (const std::string& line : lines) {
    if (payloads.empty() || payloads.back().size() + line.size() >= 7900) {
      payloads.push_back(replica_id_);
    }
    StrAppend(&payloads.back(), "\n", std::string_view(line).substr(0, 7000));
  }
  for (const std::string& payload : payloads) {
    absl::Status sent =
        conn.Query("SELECT pg_notify('hijackguard_devices', $1)",
                   Params().Text(payload))
            .status();
    if (!sent.ok()) {
      // Sent again on the next connection (ticket 0: nothing to wait for).
      absl::MutexLock lock(&announce_mu_);
      for (std::string& line : lines) {
        announce_.emplace_back(0, std::move(line));
      }
      return sent;
    }
  }
  return absl::OkStatus();
}

absl::Status PostgresStore::ReadAlertFeed(pg::Connection& conn) {
  constexpr int kPage = 500;
  while (true) {
    ASSIGN_OR_RETURN(
        pg::Result r,
        conn.Query(
            "SELECT seq, origin, payload FROM alert_feed WHERE seq > "
            "$1 ORDER BY seq LIMIT $2",
            Params().Int(static_cast<std::int64_t>(alert_seen_)).Int(kPage)));
    for (int i = 0; i < r.rows(); ++i) {
      const auto seq = static_cast<std::uint64_t>(r.Int(i, 0));
      if (seq > alert_seen_ + 1) {
        LogWarning(StrCat("alerts: ", seq - alert_seen_ - 1,
                          " alerts of other replicas were dropped from the "
                          "feed before this replica read them (it was away); "
                          "its WatchAlerts subscribers miss them"));
      }
      alert_seen_ = seq;
      if (r.Bytes(i, 1) != replica_id_) {  // its own went out at decision
        CallListener(SharedChange::kAlert, r.Bytes(i, 2));
      }
    }
    if (r.rows() < kPage) return absl::OkStatus();
  }
}

void PostgresStore::Listen() {
  // Plain LISTEN needs a session of its own: a pooler in transaction mode
  // (pgbouncer's) would hand the session to others and lose it.
  constexpr absl::Duration kFirstRetry = absl::Milliseconds(100);
  constexpr absl::Duration kLastRetry = absl::Seconds(5);
  absl::Duration backoff = kFirstRetry;
  std::unique_ptr<pg::Connection> conn;
  constexpr absl::Duration kPing = absl::Seconds(2);
  bool lost = false;     // the database was unreachable since the last resync
  bool first = true;     // no connection yet
  absl::Time next_ping;  // also when the outbox's lease is asked for again
  auto wait = [this](absl::Duration d) {
    absl::MutexLock lock(&stop_mu_);
    const absl::Time deadline = absl::Now() + d;
    while (!stopping_ && !stop_cv_.WaitWithDeadline(&stop_mu_, deadline)) {
    }
    return !stopping_;
  };
  while (true) {
    {
      absl::MutexLock lock(&stop_mu_);
      if (stopping_) return;
    }
    if (conn == nullptr || !conn->ok()) {
      conn.reset();
      absl::StatusOr<std::unique_ptr<pg::Connection>> c = pg::Connection::Open(
          options_.dsn, options_.password, absl::Seconds(2));
      absl::Status status = c.status();
      if (status.ok()) {
        status = (*c)->Exec(
            "LISTEN hijackguard_policy; LISTEN hijackguard_exemptions; "
            "LISTEN hijackguard_alerts; LISTEN hijackguard_devices");
      }
      if (!status.ok()) {
        if (reachable_.exchange(false)) {
          LogError(StrCat("state: the database cannot be reached (",
                          status.message(), "); retrying"));
          ReportHealth();
        }
        lost = true;
        if (!wait(backoff)) return;
        backoff = std::min(backoff * 2, kLastRetry);
        continue;
      }
      conn = *std::move(c);
      backoff = kFirstRetry;
      next_ping = absl::InfinitePast();  // asks for the lease at once
      if (lost) {
        // What other replicas changed meanwhile was never notified here;
        // before health says the store writes again, so nothing is decided
        // from what was kept before the outage once it does.
        CallListener(SharedChange::kResync);
      }
      if (!reachable_.exchange(true)) {
        LogInfo("state: the database can be reached again");
        ReportHealth();
      }
      if (lost || first) {
        // Alerts committed since the last read (or since Start).
        lost = false;
        first = false;
        if (absl::Status read = ReadAlertFeed(*conn); !read.ok()) {
          conn.reset();
          lost = true;
          continue;
        }
      }
    }
    // The outbox's lease, for a replica with SIEM sinks: asked for on
    // connecting and with every ping; announcements whose commits are
    // durable; a ping every two seconds, which finds a database that went
    // away without closing the socket.
    absl::Status status;
    const bool ping = absl::Now() >= next_ping;
    if (ping) {
      next_ping = absl::Now() + kPing;
      status = conn->Exec("SELECT 1");
    }
    if (status.ok() && ping && want_lease_.load() && !holds_lease_.load()) {
      absl::StatusOr<pg::Result> lease = conn->Query(
          StrCat("SELECT pg_try_advisory_lock(", pg::kOutboxLease, ")"));
      if (!lease.ok()) {
        status = lease.status();
      } else if (lease->Bool(0, 0)) {
        holds_lease_ = true;
        LogInfo("siem: this replica delivers the outbox (it holds the lease)");
      }
    }
    if (status.ok()) status = SendAnnouncements(*conn);
    // A short wait (the loop also looks at stopping_), shorter while
    // announcements wait for their commits.
    absl::StatusOr<std::vector<pg::Notification>> got =
        status.ok() ? conn->Notifications(AnnouncementsWaiting()
                                              ? absl::Milliseconds(20)
                                              : absl::Milliseconds(200))
                    : absl::StatusOr<std::vector<pg::Notification>>(status);
    if (!got.ok()) {
      if (holds_lease_.exchange(false)) {
        LogWarning("siem: the outbox lease is lost with the connection");
      }
      conn.reset();
      lost = true;
      continue;
    }
    bool policy = false;
    bool exemptions = false;
    bool alerts = false;
    for (const pg::Notification& n : *got) {
      alerts = alerts || n.channel == "hijackguard_alerts";
      if (n.channel == "hijackguard_devices") {
        const std::size_t nl = n.payload.find('\n');
        if (nl != std::string::npos &&
            n.payload.compare(0, nl, replica_id_) != 0) {
          const std::string_view lines =
              std::string_view(n.payload).substr(nl + 1);
          // "*": that replica could not send all it had.
          const bool all = lines == "*" || lines.starts_with("*\n") ||
                           lines.find("\n*\n") != std::string_view::npos ||
                           lines.ends_with("\n*");
          CallListener(all ? SharedChange::kResync : SharedChange::kDevices,
                       all ? std::string_view() : lines);
        }
      }
      // This replica's own commits too: a change another replica committed
      // just before may have been adopted over this one's in memory; the
      // database's newest is what every replica converges on.
      policy = policy || n.channel == "hijackguard_policy";
      exemptions = exemptions || n.channel == "hijackguard_exemptions";
    }
    if (policy) CallListener(SharedChange::kPolicy);
    if (exemptions) CallListener(SharedChange::kExemptions);
    if (alerts) {
      if (absl::Status read = ReadAlertFeed(*conn); !read.ok()) {
        conn.reset();
        lost = true;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// The pool

PostgresStore::Lease::Lease(PostgresStore* store, bool list)
    : store_(store), list_(list) {
  absl::MutexLock lock(&store_->pool_mu_);
  auto& pool = list ? store_->list_readers_ : store_->readers_;
  while (pool.empty()) store_->pool_cv_.Wait(&store_->pool_mu_);
  connection_ = std::move(pool.back());
  pool.pop_back();
  ++(list ? store_->list_out_ : store_->readers_out_);
}

PostgresStore::Lease::~Lease() {
  {
    absl::MutexLock lock(&store_->pool_mu_);
    if (connection_ != nullptr && !connection_->ok()) connection_.reset();
    (list_ ? store_->list_readers_ : store_->readers_)
        .push_back(std::move(connection_));
    --(list_ ? store_->list_out_ : store_->readers_out_);
  }
  store_->pool_cv_.SignalAll();
}

void PostgresStore::Lease::Drop() { connection_.reset(); }

absl::StatusOr<pg::Connection*> PostgresStore::Lease::get() {
  if (connection_ == nullptr) {
    ASSIGN_OR_RETURN(connection_, store_->Connect());
  }
  return connection_.get();
}

absl::StatusOr<pg::Result> PostgresStore::Read(std::string_view what,
                                               std::string_view sql,
                                               const pg::Params& params,
                                               bool list) {
  absl::StatusOr<pg::Result> result;
  {
    Lease lease(this, list);
    // Once more on a new connection when the pooled one was lost (after a
    // restart or a failover of the database every pooled one is).
    for (int attempt = 0; attempt < 2; ++attempt) {
      absl::StatusOr<pg::Connection*> conn = lease.get();
      result = conn.ok() ? (*conn)->Query(sql, params)
                         : absl::StatusOr<pg::Result>(conn.status());
      if (result.ok() || !conn.ok() || (*conn)->ok()) break;
      lease.Drop();
    }
  }
  if (!result.ok()) {
    // The statement and the server's words are for the log, not the caller.
    LogError(StrCat("state: ", what, ": ", result.status().message()));
    return absl::UnavailableError(
        StrCat("the state database cannot be read now (", what,
               "; the server's log says why)"));
  }
  return result;
}

}  // namespace hijackguard::store
