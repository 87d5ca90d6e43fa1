// The shared state store: PostgreSQL, for any number of replicas on one
// database (docs/state.md, "PostgreSQL").
//
// Writes: as the SQLite store, callers submit ordered batches and get a
// ticket at once; the group-commit queue (store/commit_queue.h) hands what
// has queued to Commit, one transaction per batch, its statements sent as
// one pipeline (one round trip; two when the batch appends audit or outbox
// rows, whose sequence numbers are read under kAppendLock first). A batch
// whose COMMIT's answer was lost with the connection is not written twice:
// each commit records the replica's batch number (table replicas), and the
// retry looks for it first.
//
// Reads: a pool of connections, rows submitted and not yet committed first
// (read your writes). A read that fails because the database is unreachable
// answers UNAVAILABLE and the connection is made anew on the next read; the
// store is not stopped by it (the database comes back).
//
// The audit chain is one chain whatever the number of replicas: appends
// take kAppendLock in their transaction, read the head, and link to it.
// Every replica must hold the same audit key: the database records the
// key's id (an HMAC of a fixed string under the key), and a replica with
// another key refuses to start.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "store/commit_queue.h"
#include "store/durable_store.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/pg_schema.h"

namespace hijackguard::store {

// Verifies the audit log of the database `conn` is connected to (one
// snapshot; `audit verify --config` and the server's audit watch).
absl::StatusOr<AuditVerification> VerifyPostgresAudit(
    pg::Connection& conn, std::string_view key,
    const AuditCheckpoint* checkpoint, const std::atomic<bool>* cancel);

// Writes the audit rows recorded at or after `since` as JSON Lines
// (WriteAuditLine), from one snapshot; returns how many.
absl::StatusOr<std::uint64_t> ExportPostgresAudit(
    pg::Connection& conn, absl::Time since, std::ostream& out,
    const Pseudonymizer* pseudonymize);

// The SIEM outbox's head, oldest entry and sink cursors (`alerts backlog
// --config`), as LoadOutboxState reads them.
absl::StatusOr<policy::OutboxState> ReadPostgresOutboxState(
    pg::Connection& conn);

struct AppendState;  // pg_internal.h
class AuditRows;

struct PostgresStoreOptions {
  // A libpq connection string without a password, and the password (from
  // postgres.password_file; "" leaves it to libpq: PGPASSWORD, PGPASSFILE,
  // ~/.pgpass).
  std::string dsn;
  std::string password;
  pg::MigrateMode migrate = pg::MigrateMode::kCreateOnly;
  // Connections: one for the writer, `readers` for the loads decisions wait
  // on, `list_readers` for the console's listings.
  int readers = 4;
  int list_readers = 2;
  std::size_t max_batch = 8192;
  std::size_t max_queued = 65536;
  absl::Duration ledger_ttl = absl::Hours(24 * 30);
  RetentionOptions retention;
  const Clock* clock = &RealClock();
  // The audit key's file (store/audit_key.h): the same key on every replica.
  std::string audit_key_file;
  bool accept_broken_audit = false;
  std::function<void(const absl::Status&)> on_health_change;
  std::function<void(absl::Duration, std::size_t)> on_commit;
};

class PostgresStore final : public DurableStore {
 public:
  // Connects, checks (or creates) the schema and opens the audit chain.
  // FAILED_PRECONDITION for a schema this build cannot run on, another
  // audit key, or a broken chain; UNAVAILABLE when the database cannot be
  // reached; PERMISSION_DENIED when it refuses the login.
  static absl::StatusOr<std::unique_ptr<PostgresStore>> Open(
      PostgresStoreOptions options);
  ~PostgresStore() override;

  // detector::DetectorStore
  absl::StatusOr<std::optional<std::string>> LoadDevice(
      std::string_view key) override;
  absl::StatusOr<std::optional<std::string>> FindDeviceByIndex(
      std::string_view index) override;
  [[nodiscard]] absl::Status LoadEvents(
      std::string_view prefix, std::string_view from,
      std::vector<std::string>* values) override;
  [[nodiscard]] absl::Status LoadEventsAfter(
      std::string_view prefix, std::string_view after, std::size_t limit,
      std::vector<std::pair<std::string, std::string>>* rows) override;
  absl::StatusOr<std::vector<detector::EventDay>> CountEventsByDay(
      std::string_view prefix, std::int64_t since_ms) override;
  absl::StatusOr<std::optional<std::string>> LoadLedgerEntry(
      std::string_view key) override;
  [[nodiscard]] absl::Status LoadAllPending(
      std::vector<std::pair<std::string, std::string>>* rows) override;
  absl::StatusOr<detector::DetectorCounters> LoadCounters() override;
  StoreTicket Submit(detector::DetectorChanges changes) override;
  absl::StatusOr<std::optional<std::string>> LoadPendingList(
      std::string_view key) override;
  // Replicas share the rows.
  bool shared() const override { return true; }

  // policy::StateStore
  absl::StatusOr<std::optional<std::string>> LoadEngineDevice(
      std::string_view key) override;
  absl::StatusOr<std::vector<policy::Exemption>> LoadExemptions() override;
  absl::StatusOr<policy::DevicePage> ListDevices(
      const policy::DeviceQuery& query) override;
  absl::StatusOr<std::vector<policy::DeviceCount>> CountDevices(
      std::string_view tenant_id) override;
  absl::StatusOr<std::optional<policy::AppliedPolicy>> LatestPolicy(
      std::string_view origin_prefix) override;
  StoreTicket SubmitEngine(policy::EngineChanges changes) override;
  absl::StatusOr<std::vector<policy::AuditEntry>> ReadAudit(
      std::string_view kind, std::uint64_t before_seq,
      std::size_t limit) override;
  absl::StatusOr<std::vector<policy::OutboxEntry>> ReadOutbox(
      std::uint64_t after_seq, std::size_t limit) override;
  absl::StatusOr<policy::OutboxState> LoadOutboxState() override;
  bool IsDurable(StoreTicket ticket) const override;
  [[nodiscard]] absl::Status WaitDurable(StoreTicket ticket) override;
  void WhenDurable(StoreTicket ticket,
                   std::function<void(absl::Status)> done) override;
  absl::Status health() const override;

  // DurableStore
  std::string_view kind() const override { return "postgres"; }
  absl::StatusOr<std::int64_t> PruneStep(absl::Time now,
                                         absl::Duration event_horizon,
                                         std::size_t chunk) override;
  StoreStats stats() const override;
  const std::string& audit_key() const override { return audit_key_; }
  std::pair<std::uint64_t, std::string> audit_head() const override;
  void SetHealthCallback(
      std::function<void(const absl::Status&)> callback) override;
  absl::StatusOr<AuditVerification> VerifyAuditLog(
      const AuditCheckpoint* checkpoint,
      const std::atomic<bool>* cancel) override;

  void SetSharedListener(SharedListener listener) override;
  // Kept until what was submitted before the call is durable, then sent by
  // the listener thread, a few times a second at most, as NOTIFYs on
  // hijackguard_devices of their own (a data commit never waits for the
  // notification queue's lock, nor fails with it): this replica's id, then
  // the lines, each once, in payloads under PostgreSQL's 8000 bytes.
  void AnnounceDevices(std::vector<std::string> lines) override;
  // A session-level advisory lock (kOutboxLease) on the listener's
  // connection: released when the replica's session ends, for whatever
  // reason, and taken by the next replica that asks within two seconds.
  void WantOutboxLease() override { want_lease_ = true; }
  bool HoldsOutboxLease() const override { return holds_lease_.load(); }

  // This replica's id in the replicas table.
  const std::string& replica_id() const { return replica_id_; }

 private:
  explicit PostgresStore(PostgresStoreOptions options);
  [[nodiscard]] absl::Status Start();
  absl::StatusOr<std::unique_ptr<pg::Connection>> Connect() const;
  // Reads (or on a new database records) the audit key and checks the
  // chain's tail.
  [[nodiscard]] absl::Status OpenAudit(pg::Connection& conn);
  // The last rows verify and link to the recorded head (else refused,
  // unless accept_broken_audit: then the log continues after the damage).
  [[nodiscard]] absl::Status CheckAuditTail(pg::Connection& conn);
  // Records `head` as the chain's signed head (meta audit_head).
  pg::Statement HeadStatement(const AppendState& head) const;

  // A pooled connection for one scope, made anew when the last use found it
  // broken; given back on every path out.
  class Lease {
   public:
    Lease(PostgresStore* store, bool list);
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    // The connection, connecting first if needed.
    absl::StatusOr<pg::Connection*> get();
    // Closes a connection found broken (the next get() makes another).
    void Drop();

   private:
    PostgresStore* store_;
    bool list_;
    std::unique_ptr<pg::Connection> connection_;
  };
  // A query on a pooled connection; UNAVAILABLE (logged) when it fails.
  absl::StatusOr<pg::Result> Read(std::string_view what, std::string_view sql,
                                  const pg::Params& params, bool list = false);
  absl::StatusOr<std::optional<std::string>> LoadRow(RowTable table,
                                                     std::string_view sql,
                                                     std::string_view key);

  // The queue's commit function (writer thread): CommitOnce, unless the
  // same batch's last attempt is found to have committed after all.
  [[nodiscard]] absl::Status Commit(const Batch& batch);
  [[nodiscard]] absl::Status CommitOnce(const Batch& batch, StoreTicket id);
  // The audit head as committed (after a commit in doubt).
  [[nodiscard]] absl::Status ReadDurableHead(pg::Connection& conn);
  // A retention submission's deletes, appended to `writes` (their counts
  // are read once the pipeline ran: `counted`); the audit log's oldest rows
  // are verified and deleted behind a signed anchor at once (the append
  // lock is held), with the prune row in `rows`.
  struct PruneCount {
    const Submission* submission;
    PruneTable table;
    std::size_t statement;
  };
  [[nodiscard]] absl::Status ApplyPrune(
      const Submission& sub, AppendState* head, AuditRows* rows,
      std::vector<pg::Statement>* writes, std::vector<PruneCount>* counted,
      std::array<std::uint64_t, kPruneTables>* pruned);

  // The listener thread: a session connection that LISTENs for other
  // replicas' policy, exemption changes and alerts, and finds out when the
  // database cannot be reached (health), reconnecting with backoff.
  void Listen();
  void CallListener(SharedChange change, std::string_view payload = {});
  // Hands the other replicas' alerts committed after alert_seen_ to the
  // listener, in order (on the listener thread).
  [[nodiscard]] absl::Status ReadAlertFeed(pg::Connection& conn);
  // Sends the announcements whose commits are durable (listener thread);
  // what could not be sent waits for the next connection.
  [[nodiscard]] absl::Status SendAnnouncements(pg::Connection& conn);
  bool AnnouncementsWaiting();
  // Tells the health callback what health() says now (the writer's commits
  // and the listener's reachability together).
  void ReportHealth();

  const PostgresStoreOptions options_;
  std::string replica_id_;
  std::atomic<bool> reachable_{true};
  std::atomic<bool> want_lease_{false};
  std::atomic<bool> holds_lease_{false};
  absl::Mutex health_mu_;
  std::function<void(const absl::Status&)> health_callback_
      ABSL_GUARDED_BY(health_mu_);
  absl::Mutex listener_mu_;  // held while the listener runs
  SharedListener listener_ ABSL_GUARDED_BY(listener_mu_);
  // AnnounceDevices' lines, each with the ticket that must be durable
  // first; at most kMaxAnnouncements (beyond, one "*": forget everything).
  static constexpr std::size_t kMaxAnnouncements = 65'536;
  absl::Mutex announce_mu_;
  std::vector<std::pair<StoreTicket, std::string>> announce_
      ABSL_GUARDED_BY(announce_mu_);
  // The alert feed's newest seq this replica has read (the listener
  // thread's; from Start).
  std::uint64_t alert_seen_ = 0;
  bool missed_ ABSL_GUARDED_BY(listener_mu_) = false;
  absl::Mutex stop_mu_;
  absl::CondVar stop_cv_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread listen_thread_;
  std::string audit_key_;
  std::unique_ptr<CommitQueue> queue_;

  mutable absl::Mutex pool_mu_;
  absl::CondVar pool_cv_;
  std::vector<std::unique_ptr<pg::Connection>> readers_
      ABSL_GUARDED_BY(pool_mu_);
  int readers_out_ ABSL_GUARDED_BY(pool_mu_) = 0;
  std::vector<std::unique_ptr<pg::Connection>> list_readers_
      ABSL_GUARDED_BY(pool_mu_);
  int list_out_ ABSL_GUARDED_BY(pool_mu_) = 0;

  // Writer-thread state: its connection, and the first ticket of a batch
  // whose last attempt may have committed (0: none).
  std::unique_ptr<pg::Connection> writer_;
  StoreTicket in_doubt_ = 0;

  mutable absl::Mutex committed_mu_;
  std::uint64_t durable_audit_seq_ ABSL_GUARDED_BY(committed_mu_) = 0;
  std::string durable_audit_head_ ABSL_GUARDED_BY(committed_mu_);
  std::uint64_t audit_rows_ ABSL_GUARDED_BY(committed_mu_) = 0;
  std::array<std::uint64_t, kPruneTables> pruned_
      ABSL_GUARDED_BY(committed_mu_){};
};

}  // namespace hijackguard::store
