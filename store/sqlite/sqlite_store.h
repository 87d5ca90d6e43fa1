// The embedded state store: one SQLite database file (hijackguard.db) in the
// state directory, in WAL mode, synchronous=FULL unless configured otherwise.
//
// Writes: callers submit ordered batches (DetectorChanges, EngineChanges)
// and get a ticket at once; one writer thread commits whatever has queued in
// a single transaction (group commit), so that durability costs one fsync
// per batch, not per item, and then reports the tickets durable. Until then
// the submitted rows stay in an in-memory overlay that every load reads
// first, so callers read their own writes.
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
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "policy/state_store.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/state_tools.h"

namespace hijackguard::store {

using detector::StoreRow;
using detector::StoreTicket;

// The tables retention prunes (StoreStats::pruned, in this order).
enum PruneTable {
  kPrunedEvents,
  kPrunedLedger,
  kPrunedDevices,
  kPrunedHistory,
  kPrunedPending,
  kPrunedAudit,
  kPruneTables
};

// How long rows are kept; zero = forever. Events follow the policy's
// horizon (event_horizon) and the ledger its TTL.
struct RetentionOptions {
  absl::Duration devices = absl::Hours(24 * 180);  // not seen since
  absl::Duration history = absl::Hours(24 * 180);  // not decided since
  absl::Duration pending = absl::Hours(24 * 30);   // waiting since
  absl::Duration audit = absl::ZeroDuration();     // forever
};

struct SqliteStoreOptions {
  std::string path;  // the database file
  // PRAGMA synchronous: "full" (default: a commit survives power loss),
  // "normal" (survives a crash of the process, not of the machine) or "off".
  std::string synchronous = "full";
  // Most submissions committed in one transaction, and most waiting (beyond
  // it submitting blocks until the writer catches up).
  std::size_t max_batch = 8192;
  std::size_t max_queued = 65536;
  // Retention, run in the background in small transactions: events received
  // longer ago than event_horizon(), ledger rows not updated for ledger_ttl,
  // and the rows `retention` names are deleted. Zero interval = never
  // (tests call Prune).
  absl::Duration retention_interval = absl::Minutes(10);
  absl::Duration ledger_ttl = absl::Hours(24 * 30);
  std::function<absl::Duration()> event_horizon;
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
};

struct StoreStats {
  std::uint64_t submissions = 0;
  std::uint64_t commits = 0;  // transactions
  std::uint64_t durable_ticket = 0;
  std::uint64_t audit_rows = 0;
  std::array<std::uint64_t, kPruneTables> pruned{};
  std::size_t overlay_rows = 0;
  std::size_t idle_readers = 0;  // reader connections not in use
};

class SqliteStore final : public policy::StateStore {
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
  absl::StatusOr<std::optional<policy::AppliedPolicy>> LatestPolicy(
      std::string_view origin_prefix) override;
  StoreTicket SubmitEngine(policy::EngineChanges changes) override;
  bool IsDurable(StoreTicket ticket) const override;
  [[nodiscard]] absl::Status WaitDurable(StoreTicket ticket) override;
  void WhenDurable(StoreTicket ticket,
                   std::function<void(absl::Status)> done) override;

  // Deletes expired events and ledger rows as of `now` (what the background
  // retention does), in transactions of at most `chunk` rows each.
  [[nodiscard]] absl::Status Prune(absl::Time now, std::size_t chunk = 2000);
  // Stops the background retention (before what event_horizon reads goes
  // away). Idempotent.
  void StopRetention();
  // OK, or why the store cannot write now: UNAVAILABLE while commits fail
  // (they are retried with backoff, and nothing new is acknowledged until
  // one succeeds), or the error that stopped it for good (a failed read).
  absl::Status health() const override;
  StoreStats stats() const;
  const std::string& path() const { return options_.path; }
  // The audit key (32 bytes).
  const std::string& audit_key() const { return audit_key_; }
  // The last committed audit row and its hash (for checkpoints).
  std::pair<std::uint64_t, std::string> audit_head() const;
  // Replaces the callback of options.on_health_change (null: none; the
  // server clears it before what it calls goes away).
  void SetHealthCallback(std::function<void(const absl::Status&)> callback);
  // Tests: caps the file at its current size (PRAGMA max_page_count) from the
  // next commit on, so that commits which need a new page fail as on a full
  // disk; false lifts the cap.
  void CapFileForTesting(bool cap) { cap_file_ = cap; }

  struct Connection;  // a database handle with its prepared statements

 private:
  struct Submission;
  struct OverlayRow {
    std::shared_ptr<const Submission> owner;
    const StoreRow* row = nullptr;
  };
  using Overlay = std::map<std::string, OverlayRow, std::less<>>;

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
  StoreTicket Enqueue(std::shared_ptr<Submission> submission);
  void WriterLoop();
  // After a failed commit: answers every waiter, reports the store
  // unhealthy, and says whether to try the batch again, drop it (a failure
  // that would repeat: the store stops for good) or stop the writer.
  enum class AfterFailure { kRetry, kDrop, kExit };
  AfterFailure WriteFailed(const absl::Status& status, int attempts);
  // Calls the health callback when health() changed since the last call.
  void ReportHealth();
  // After a successful commit: the tickets are durable.
  void Committed(const std::vector<std::shared_ptr<Submission>>& batch);
  void RetentionLoop();
  [[nodiscard]] absl::Status Commit(
      const std::vector<std::shared_ptr<Submission>>& batch);
  [[nodiscard]] absl::Status ApplyAudit(const policy::AuditRecord& record);
  // Deletes what a retention submission asks for (in the writer's
  // transaction); the audit log's oldest rows go behind a signed anchor.
  [[nodiscard]] absl::Status ApplyPrune(const Submission& sub);
  [[nodiscard]] absl::Status PruneAudit(std::int64_t before_us,
                                        std::int64_t limit,
                                        std::int64_t* pruned);
  // A row of `overlay` for `key` (true when there is one; erased rows give
  // an empty optional).
  bool FromOverlay(const Overlay& overlay, std::string_view key,
                   std::optional<std::string>* value) const;
  // `overlay`: which of the overlays (read under mu_).
  absl::StatusOr<std::optional<std::string>> LoadRow(
      Overlay SqliteStore::*overlay, int statement, std::string_view key);
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
  std::unique_ptr<Connection> writer_;

  mutable absl::Mutex mu_;
  absl::CondVar queued_cv_;
  absl::CondVar durable_cv_;
  absl::CondVar space_cv_;  // the queue has room
  std::deque<std::shared_ptr<Submission>> queue_ ABSL_GUARDED_BY(mu_);
  StoreTicket next_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  // Written under mu_; read without it by IsDurable.
  std::atomic<StoreTicket> durable_{0};
  absl::Status failed_ ABSL_GUARDED_BY(mu_);       // for good (a failed read)
  absl::Status write_error_ ABSL_GUARDED_BY(mu_);  // commits fail now; retried
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The writer thread has exited.
  bool writer_done_ ABSL_GUARDED_BY(mu_) = false;
  std::multimap<StoreTicket, std::function<void(absl::Status)>> waiters_
      ABSL_GUARDED_BY(mu_);
  Overlay devices_overlay_ ABSL_GUARDED_BY(mu_);
  Overlay ledger_overlay_ ABSL_GUARDED_BY(mu_);
  Overlay events_overlay_ ABSL_GUARDED_BY(mu_);
  Overlay pending_overlay_ ABSL_GUARDED_BY(mu_);
  Overlay history_overlay_ ABSL_GUARDED_BY(mu_);
  StoreStats stats_ ABSL_GUARDED_BY(mu_);

  mutable absl::Mutex readers_mu_;
  absl::CondVar readers_cv_;
  std::vector<std::unique_ptr<Connection>> readers_
      ABSL_GUARDED_BY(readers_mu_);

  std::string audit_key_;
  // The committed head, for checkpoints.
  std::uint64_t durable_audit_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::string durable_audit_head_ ABSL_GUARDED_BY(mu_);
  // Writer-thread state.
  std::uint64_t audit_seq_ = 0;
  std::string audit_head_;
  std::uint64_t committed_audit_rows_ = 0;  // by the last Commit
  std::array<std::uint64_t, kPruneTables> committed_pruned_{};
  std::atomic<bool> cap_file_{false};
  absl::Mutex health_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // orders health reports
  std::function<void(const absl::Status&)> on_health_
      ABSL_GUARDED_BY(health_mu_);
  bool health_reported_ok_ ABSL_GUARDED_BY(health_mu_) = true;
  bool file_capped_ = false;  // writer thread

  absl::Mutex retention_mu_;
  absl::CondVar retention_cv_;
  bool retention_stop_ ABSL_GUARDED_BY(retention_mu_) = false;
  std::thread writer_thread_;
  std::thread retention_thread_;
};

}  // namespace hijackguard::store
