// Group commit, shared by every store implementation: callers submit ordered
// batches of rows and get a ticket at once; one writer thread hands whatever
// has queued to the implementation's commit function as one batch (one
// transaction, one fsync), retries it with backoff while the failure is one
// that may pass (a full disk), and then reports the tickets durable to those
// who wait. Until then the submitted rows stay readable in SubmittedRows, so
// that callers read their own writes.
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
#include "policy/state_store.h"

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

// One caller's batch, committed with its neighbours' in one transaction.
struct Submission {
  StoreTicket ticket = 0;
  std::optional<detector::DetectorChanges> detector;
  std::optional<policy::EngineChanges> engine;
  // Retention: delete at most `prune_limit` rows of each table older than
  // its cut-off (Unix ms; the audit log's in µs; 0 = keep); how many rows
  // the fullest table lost comes back in `pruned`.
  std::array<std::int64_t, kPruneTables> prune_before{};
  std::int64_t prune_limit = 0;
  mutable std::int64_t pruned = 0;
};
using Batch = std::vector<std::shared_ptr<Submission>>;

// The tables whose submitted rows are read back before they are committed.
// kHistoryRows: the engine's (policy::EngineChanges::devices).
enum RowTable {
  kDeviceRows,
  kLedgerRows,
  kEventRows,
  kPendingRows,
  kHistoryRows,
  kRowTables
};

// Rows submitted and not yet committed, newest per key. A row leaves when
// its submission is committed, unless a newer submission replaced it.
class SubmittedRows {
 public:
  void Add(const std::shared_ptr<const Submission>& submission);
  void Remove(const Batch& batch);
  // The newest row of `table` for `key`: nullopt when none is pending, an
  // empty value when the pending row erases it.
  std::optional<std::optional<std::string>> Find(RowTable table,
                                                 std::string_view key) const;
  // The key of a pending device row with this index.
  std::optional<std::string> FindDeviceByIndex(std::string_view index) const;
  // Pending rows of `table` with keys from `from` that start with `prefix`.
  std::map<std::string, std::string, std::less<>> Range(
      RowTable table, std::string_view prefix, std::string_view from) const;
  std::size_t size() const;

 private:
  struct Row {
    std::shared_ptr<const Submission> owner;
    const StoreRow* row = nullptr;
  };
  using Rows = std::map<std::string, Row, std::less<>>;

  mutable absl::Mutex mu_;
  std::array<Rows, kRowTables> tables_ ABSL_GUARDED_BY(mu_);
};

struct CommitQueueOptions {
  // Most submissions committed in one transaction, and most waiting (beyond
  // it submitting blocks until the writer catches up).
  std::size_t max_batch = 8192;
  std::size_t max_queued = 65536;
  // Called (from the writer thread) when the store stops being able to
  // write (an error) and when it can again (OK).
  std::function<void(const absl::Status&)> on_health_change;
  // Called (from the writer thread) after each successful commit: how long
  // the transaction took and how many submissions it carried.
  std::function<void(absl::Duration, std::size_t)> on_commit;
};

struct CommitQueueStats {
  std::uint64_t submissions = 0;
  std::uint64_t commits = 0;  // transactions
  StoreTicket durable_ticket = 0;
  std::size_t queued = 0;  // submitted, not yet taken by the writer
};

class CommitQueue {
 public:
  // Writes one batch in one transaction. An error that may pass
  // (RESOURCE_EXHAUSTED, UNAVAILABLE, PERMISSION_DENIED: a full disk, I/O,
  // a lock, a read-only file) is retried with backoff, the batch kept in
  // order; any other stops the store for good.
  using CommitFunction = std::function<absl::Status(const Batch&)>;

  // Starts the writer thread.
  CommitQueue(CommitQueueOptions options, CommitFunction commit);
  // Close().
  ~CommitQueue();
  CommitQueue(const CommitQueue&) = delete;
  CommitQueue& operator=(const CommitQueue&) = delete;

  // Commits what is queued (unless commits fail), then stops the writer.
  // Idempotent; the commit function is not called after it returns.
  void Close();

  // Queues a submission and returns its ticket; blocks while the queue is
  // full and the writer keeps up. Once the store has stopped, the rows are
  // readable but never committed.
  StoreTicket Enqueue(std::shared_ptr<Submission> submission);
  // The newest ticket Enqueue handed out (0: none yet).
  StoreTicket last_ticket() const;
  bool IsDurable(StoreTicket ticket) const;
  // OK once committed; UNAVAILABLE while commits fail or after Close; the
  // stopping error after a failure for good.
  [[nodiscard]] absl::Status WaitDurable(StoreTicket ticket);
  void WhenDurable(StoreTicket ticket, std::function<void(absl::Status)> done);

  const SubmittedRows& rows() const { return rows_; }
  // Stops the store for good (a failed read: what the caller's cache would
  // be built on is unknown); returns the stopping error.
  [[nodiscard]] absl::Status Fail(const absl::Status& status);
  // The error that stopped the store for good, or OK.
  absl::Status stopped() const;
  // OK, the error that stopped the store, or UNAVAILABLE while commits fail.
  absl::Status health() const;
  void SetHealthCallback(std::function<void(const absl::Status&)> callback);
  CommitQueueStats stats() const;

 private:
  enum class AfterFailure { kRetry, kDrop, kExit };
  void WriterLoop();
  bool TakeBatch(Batch* batch);
  // After a failed commit: answers every waiter, reports the store
  // unhealthy, and says whether to try the batch again, drop it (a failure
  // that would repeat: the store stops for good) or stop the writer.
  AfterFailure WriteFailed(const absl::Status& status, int attempts);
  // Waits `backoff` (less when stopping); returns the next backoff.
  absl::Duration WaitToRetry(absl::Duration backoff);
  void Recovered(int attempts, absl::Time failing_since);
  void Committed(const Batch& batch);
  // Answers every waiter with `status` (outside the lock).
  void AnswerAll(const std::multimap<
                     StoreTicket, std::function<void(absl::Status)>>& waiting,
                 const absl::Status& status);
  // Calls the health callback when health() changed since the last call.
  void ReportHealth();
  absl::Status NotDurable() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const CommitQueueOptions options_;
  const CommitFunction commit_;
  SubmittedRows rows_;

  mutable absl::Mutex mu_;
  absl::CondVar queued_cv_;
  absl::CondVar durable_cv_;
  absl::CondVar space_cv_;  // the queue has room
  std::deque<std::shared_ptr<Submission>> queue_ ABSL_GUARDED_BY(mu_);
  StoreTicket next_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  // Written under mu_; read without it by IsDurable.
  std::atomic<StoreTicket> durable_{0};
  absl::Status failed_ ABSL_GUARDED_BY(mu_);       // for good
  absl::Status write_error_ ABSL_GUARDED_BY(mu_);  // commits fail now; retried
  // failed_ and write_error_ both OK, for health() without the lock (every
  // call asks it): written under mu_ with them.
  std::atomic<bool> healthy_{true};
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool writer_done_ ABSL_GUARDED_BY(mu_) = false;  // the thread has exited
  std::multimap<StoreTicket, std::function<void(absl::Status)>> waiters_
      ABSL_GUARDED_BY(mu_);
  CommitQueueStats stats_ ABSL_GUARDED_BY(mu_);

  absl::Mutex health_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // orders health reports
  std::function<void(const absl::Status&)> on_health_
      ABSL_GUARDED_BY(health_mu_);
  bool health_reported_ok_ ABSL_GUARDED_BY(health_mu_) = true;

  std::thread writer_thread_;
};

}  // namespace hijackguard::store
