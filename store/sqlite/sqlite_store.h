// The embedded state store: one SQLite database file (hijackguard.db) in the
// state directory, in WAL mode, synchronous=FULL unless configured otherwise.
//
// Writes: callers submit ordered batches (DetectorChanges, EngineChanges)
// and get a ticket at once; the group-commit queue (store/commit_queue.h)
// hands whatever has queued to Commit, one transaction per batch, so that
// durability costs one fsync per batch, not per item. Until then every load
// reads the submitted rows first, so callers read their own writes.
//
// The audit table is a keyed hash chain: each row stores the HMAC-SHA256,
// under the audit key, of the previous row's hash and its own canonical JSON
// (store/audit_log.h; VerifyAudit). The key is read from, or on an empty
// log created at, audit_key_file; the log's tail is checked on open.
//
// Schema: versioned with PRAGMA user_version and migrated forward on open; a
// database written by a newer version, a file that is not a hijackguard
// state database, or a truncated or damaged one is refused with an error
// that says which and what to do.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "policy/state_store.h"
#include "store/commit_queue.h"
#include "store/durable_store.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/state_tools.h"

namespace hijackguard::store {

struct SqliteStoreOptions {
  std::string path;  // the database file
  // PRAGMA synchronous: "full" (default: a commit survives power loss),
  // "normal" (survives a crash of the process, not of the machine) or "off".
  std::string synchronous = "full";
  // Most submissions committed in one transaction, and most waiting (beyond
  // it submitting blocks until the writer catches up).
  std::size_t max_batch = 8192;
  std::size_t max_queued = 65536;
  // Retention (Prune): ledger rows not updated for ledger_ttl and the rows
  // `retention` names are deleted.
  absl::Duration ledger_ttl = absl::Hours(24 * 30);
  RetentionOptions retention;
  // Files up to this size are checked (PRAGMA quick_check) on open; larger
  // ones are checked page by page as they are read.
  std::int64_t quick_check_max_bytes = 256 << 20;
  // PRAGMA wal_autocheckpoint (pages) and journal_size_limit (bytes).
  int wal_autocheckpoint_pages = 1000;
  std::int64_t journal_size_limit_bytes = 64 << 20;
  const Clock* clock = &RealClock();
  // The audit key's file (store/audit_key.h); "" = audit.key beside the
  // database.
  std::string audit_key_file;
  // Open even when the audit log's tail does not verify, recording that in
  // the log (--accept-broken-audit).
  bool accept_broken_audit = false;
  // Called (from the writer thread) when the store stops being able to
  // write (an error) and when it can again (OK).
  std::function<void(const absl::Status&)> on_health_change;
  // Called (from the writer thread) after each commit with its duration and
  // the submissions it carried (the metrics).
  std::function<void(absl::Duration, std::size_t)> on_commit;
};

class SqliteStore final : public DurableStore {
 public:
  // Opens (creating when missing) and migrates the database. Errors:
  // FAILED_PRECONDITION for a newer schema or a foreign file, DATA_LOSS for
  // a truncated or damaged one, with the path and the remedy.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(
      SqliteStoreOptions options);
  // Commits what is queued, then stops the threads.
  ~SqliteStore() override;

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

  // DurableStore
  std::string_view kind() const override { return "sqlite"; }
  absl::StatusOr<std::int64_t> PruneStep(absl::Time now,
                                         absl::Duration event_horizon,
                                         std::size_t chunk) override;
  // OK, or why the store cannot write now: UNAVAILABLE while commits fail
  // (they are retried with backoff, and nothing new is acknowledged until
  // one succeeds), or the error that stopped it for good (a failed read).
  absl::Status health() const override;
  StoreStats stats() const override;
  const std::string& path() const { return options_.path; }
  // The audit key (32 bytes).
  const std::string& audit_key() const override { return audit_key_; }
  // The last committed audit row and its hash (for checkpoints).
  std::pair<std::uint64_t, std::string> audit_head() const override;
  void SetHealthCallback(
      std::function<void(const absl::Status&)> callback) override;
  absl::StatusOr<AuditVerification> VerifyAuditLog(
      const AuditCheckpoint* checkpoint,
      const std::atomic<bool>* cancel) override {
    // Through SQLite only: this process holds the file's locks.
    return VerifyAudit(options_.path, audit_key_, checkpoint, cancel,
                       /*in_server=*/true);
  }
  // Tests: caps the file at its current size (PRAGMA max_page_count) from the
  // next commit on, so that commits which need a new page fail as on a full
  // disk; false lifts the cap.
  void CapFileForTesting(bool cap) { cap_file_ = cap; }

  struct Connection;  // a database handle with its prepared statements

 private:
  explicit SqliteStore(SqliteStoreOptions options);
  [[nodiscard]] absl::Status Start();
  // Reads the key, checks the log's tail and the signed head, and rekeys a
  // schema-2 log.
  [[nodiscard]] absl::Status OpenAudit();
  // Why the last rows or the recorded head do not verify ("" when they do).
  absl::StatusOr<std::string> CheckAuditTail(std::string_view recorded_head,
                                             bool pending_rekey);
  // Appends one row in its own transaction (before the writer starts).
  [[nodiscard]] absl::Status AppendNow(const struct AuditRow& row,
                                       absl::Time at);
  [[nodiscard]] absl::Status InsertAudit(const struct AuditRow& row,
                                         absl::Time at);
  std::string HeadValue() const;
  // The queue's commit function: the batch in one transaction (writer
  // thread).
  [[nodiscard]] absl::Status Commit(const Batch& batch);
  // Writes one submission's rows (in Commit's transaction).
  [[nodiscard]] absl::Status WriteDetectorRows(
      const detector::DetectorChanges& changes, std::int64_t now_ms);
  [[nodiscard]] absl::Status WriteEngineRows(
      const policy::EngineChanges& changes, std::int64_t now_ms);
  [[nodiscard]] absl::Status WriteRows(const std::vector<StoreRow>& rows,
                                       int put, int erase, std::int64_t now_ms);
  [[nodiscard]] absl::Status ApplyAudit(const policy::AuditRecord& record);
  // Deletes what a retention submission asks for (in the writer's
  // transaction); the audit log's oldest rows go behind a signed anchor.
  [[nodiscard]] absl::Status ApplyPrune(const Submission& sub);
  [[nodiscard]] absl::Status PruneAudit(std::int64_t before_us,
                                        std::int64_t limit,
                                        std::int64_t* pruned);
  // A submitted row of `table`, else the file's.
  absl::StatusOr<std::optional<std::string>> LoadRow(RowTable table,
                                                     int statement,
                                                     std::string_view key);
  // A reader connection for one scope: given back when the lease ends, on
  // every path out of it (an early error return included).
  class ReaderLease {
   public:
    explicit ReaderLease(SqliteStore* store);
    ~ReaderLease();
    ReaderLease(const ReaderLease&) = delete;
    ReaderLease& operator=(const ReaderLease&) = delete;
    Connection* operator->() const { return connection_.get(); }

   private:
    SqliteStore* store_;
    std::unique_ptr<Connection> connection_;
  };
  // The first column of `statement`'s first row for `key`, from the file.
  absl::StatusOr<std::optional<std::string>> QueryOne(int statement,
                                                      std::string_view key);
  // Stops the store for good after a failed read; returns the status.
  [[nodiscard]] absl::Status FailReads(const absl::Status& status);
  absl::StatusOr<std::vector<policy::Exemption>> ReadExemptions(
      sqlite::Database& db) const;
  static absl::StatusOr<std::optional<policy::AppliedPolicy>> ReadLatestPolicy(
      sqlite::Database& db, std::string_view origin_prefix);

  const SqliteStoreOptions options_;
  std::unique_ptr<Connection> writer_;  // the writer thread's
  std::unique_ptr<CommitQueue> queue_;

  mutable absl::Mutex readers_mu_;
  absl::CondVar readers_cv_;
  std::vector<std::unique_ptr<Connection>> readers_
      ABSL_GUARDED_BY(readers_mu_);
  // The device list's own connections (ListDevices, CountDevices), so that
  // listings never hold up the loads decisions wait for; a listing beyond
  // them is refused (RESOURCE_EXHAUSTED).
  mutable absl::Mutex list_mu_;
  std::vector<sqlite::Database> list_readers_ ABSL_GUARDED_BY(list_mu_);
  absl::StatusOr<sqlite::Database> BorrowListReader();
  void ReturnListReader(sqlite::Database db);

  std::string audit_key_;
  // What the last commit left: the audit head (for checkpoints) and counts.
  mutable absl::Mutex committed_mu_;
  std::uint64_t durable_audit_seq_ ABSL_GUARDED_BY(committed_mu_) = 0;
  std::string durable_audit_head_ ABSL_GUARDED_BY(committed_mu_);
  std::uint64_t audit_rows_ ABSL_GUARDED_BY(committed_mu_) = 0;
  std::array<std::uint64_t, kPruneTables> pruned_
      ABSL_GUARDED_BY(committed_mu_){};
  // Writer-thread state.
  std::uint64_t audit_seq_ = 0;
  std::string audit_head_;
  std::uint64_t committed_audit_rows_ = 0;  // by the last Commit
  std::array<std::uint64_t, kPruneTables> committed_pruned_{};
  std::atomic<bool> cap_file_{false};
  bool file_capped_ = false;
};

}  // namespace hijackguard::store
