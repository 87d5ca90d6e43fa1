#include "store/commit_queue.h"

#include <algorithm>
#include <utility>

#include "common/log.h"
#include "common/strings.h"

namespace hijackguard::store {

namespace {

// Retries of a failed commit: the first soon, then doubling up to the last.
constexpr absl::Duration kFirstRetry = absl::Milliseconds(50);
constexpr absl::Duration kLastRetry = absl::Seconds(5);

// What a caller waiting for a commit is told while commits fail.
absl::Status NotAcknowledged(const absl::Status& write_error) {
  return absl::UnavailableError(
      StrCat("not acknowledged: ", write_error.message(),
             "; what the call changed is kept and committed once the store "
             "can write; try again later"));
}

// Failures a commit may get past later: a full disk, I/O errors, a lock, a
// file made read-only. The rest (a damaged file, a row the database
// refuses) would fail the same way again.
bool Transient(const absl::Status& status) {
  return absl::IsResourceExhausted(status) || absl::IsUnavailable(status) ||
         absl::IsPermissionDenied(status);
}

// The rows of `sub` for each table (null: none).
std::array<const std::vector<StoreRow>*, kRowTables> TablesOf(
    const Submission& sub) {
  std::array<const std::vector<StoreRow>*, kRowTables> tables{};
  if (sub.detector) {
    tables[kDeviceRows] = &sub.detector->devices;
    tables[kLedgerRows] = &sub.detector->ledger;
    tables[kEventRows] = &sub.detector->events;
    tables[kPendingRows] = &sub.detector->pending;
  }
  if (sub.engine) {
    tables[kHistoryRows] = &sub.engine->devices;
  }
  return tables;
}

}  // namespace

// ---------------------------------------------------------------------------
// SubmittedRows

void SubmittedRows::Add(const std::shared_ptr<const Submission>& submission) {
  const auto tables = TablesOf(*submission);
  absl::MutexLock lock(&mu_);
  for (std::size_t t = 0; t < kRowTables; ++t) {
    if (tables[t] == nullptr) continue;
    for (const StoreRow& row : *tables[t]) {
      tables_[t].insert_or_assign(row.key, Row{submission, &row});
    }
  }
}

void SubmittedRows::Remove(const Batch& batch) {
  absl::MutexLock lock(&mu_);
  for (const auto& sub : batch) {
    const auto tables = TablesOf(*sub);
    for (std::size_t t = 0; t < kRowTables; ++t) {
      if (tables[t] == nullptr) continue;
      for (const StoreRow& row : *tables[t]) {
        auto it = tables_[t].find(row.key);
        if (it != tables_[t].end() && it->second.owner == sub) {
          tables_[t].erase(it);
        }
      }
    }
  }
}

std::optional<std::optional<std::string>> SubmittedRows::Find(
    RowTable table, std::string_view key) const {
  absl::MutexLock lock(&mu_);
  auto it = tables_[table].find(key);
  if (it == tables_[table].end()) {
    return std::nullopt;
  }
  if (it->second.row->erase) {
    return std::optional<std::string>();
  }
  return std::optional<std::string>(it->second.row->value);
}

std::optional<std::string> SubmittedRows::FindDeviceByIndex(
    std::string_view index) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [key, row] : tables_[kDeviceRows]) {
    if (!row.row->erase && row.row->index == index) {
      return key;
    }
  }
  return std::nullopt;
}

std::map<std::string, std::string, std::less<>> SubmittedRows::Range(
    RowTable table, std::string_view prefix, std::string_view from) const {
  std::map<std::string, std::string, std::less<>> out;
  absl::MutexLock lock(&mu_);
  const Rows& rows = tables_[table];
  for (auto it = rows.lower_bound(from);
       it != rows.end() && it->first.starts_with(prefix); ++it) {
    out.emplace(it->first, it->second.row->value);
  }
  return out;
}

std::size_t SubmittedRows::size() const {
  absl::MutexLock lock(&mu_);
  std::size_t n = 0;
  for (const Rows& rows : tables_) {
    n += rows.size();
  }
  return n;
}

// ---------------------------------------------------------------------------
// CommitQueue

CommitQueue::CommitQueue(CommitQueueOptions options, CommitFunction commit)
    : options_(std::move(options)),
      commit_(std::move(commit)),
      on_health_(options_.on_health_change) {
  writer_thread_ = std::thread([this] { WriterLoop(); });
}

CommitQueue::~CommitQueue() { Close(); }

void CommitQueue::Close() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  queued_cv_.SignalAll();
  if (writer_thread_.joinable()) {
    writer_thread_.join();
  }
  // A waiter for a ticket that was never committed is answered too.
  std::multimap<StoreTicket, std::function<void(absl::Status)>> waiting;
  absl::Status answer;
  {
    absl::MutexLock lock(&mu_);
    waiting.swap(waiters_);
    answer = NotDurable();
  }
  AnswerAll(waiting, answer);
}

StoreTicket CommitQueue::last_ticket() const {
  absl::MutexLock lock(&mu_);
  return next_ticket_;
}

StoreTicket CommitQueue::Enqueue(std::shared_ptr<Submission> sub) {
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
  // Under mu_, so that the rows' order is the tickets'.
  rows_.Add(sub);
  if (failed_.ok() && !writer_done_) {
    queue_.push_back(std::move(sub));
    queued_cv_.Signal();
  }
  return next_ticket_;
}

bool CommitQueue::TakeBatch(Batch* batch) {
  absl::MutexLock lock(&mu_);
  while (!(stopping_ || !queue_.empty())) {
    queued_cv_.Wait(&mu_);
  }
  if (queue_.empty()) {
    writer_done_ = true;  // stopping, and everything is committed
    durable_cv_.SignalAll();
    space_cv_.SignalAll();
    return false;
  }
  while (!queue_.empty() && batch->size() < options_.max_batch) {
    batch->push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  space_cv_.SignalAll();
  return true;
}

void CommitQueue::WriterLoop() {
  Batch batch;
  absl::Duration backoff = kFirstRetry;
  absl::Time failing_since;
  int attempts = 0;
  while (true) {
    if (batch.empty() && !TakeBatch(&batch)) {
      return;
    }
    if (attempts > 0 && !stopped().ok()) {
      // Stopped for good while the batch waited for its retry (a failed
      // read): it is never committed, as nothing more is acknowledged.
      batch.clear();
      attempts = 0;
      continue;
    }
    const absl::Time started = absl::Now();
    const absl::Status status = commit_(batch);
    if (status.ok()) {
      if (options_.on_commit) {
        options_.on_commit(absl::Now() - started, batch.size());
      }
      if (attempts > 0) {
        Recovered(attempts, failing_since);
        attempts = 0;
        backoff = kFirstRetry;
      }
      Committed(batch);
      batch.clear();
      continue;
    }
    if (++attempts == 1) {
      failing_since = absl::Now();
    }
    switch (WriteFailed(status, attempts)) {
      case AfterFailure::kRetry:
        // Kept, in order, and tried again: the rows are already in the
        // callers' caches, so they must reach the file.
        backoff = WaitToRetry(backoff);
        break;
      case AfterFailure::kDrop:
        batch.clear();
        attempts = 0;
        break;
      case AfterFailure::kExit:
        return;  // stopping: what never committed was never acknowledged
    }
  }
}

absl::Duration CommitQueue::WaitToRetry(absl::Duration backoff) {
  absl::MutexLock lock(&mu_);
  const absl::Time deadline = absl::Now() + backoff;
  while (!stopping_ && !queued_cv_.WaitWithDeadline(&mu_, deadline)) {
  }
  return stopping_ ? absl::ZeroDuration() : std::min(backoff * 2, kLastRetry);
}

void CommitQueue::Recovered(int attempts, absl::Time failing_since) {
  LogInfo(StrCat("the state store writes again after ", attempts,
                 " failed attempts in ",
                 absl::FormatDuration(absl::Trunc(absl::Now() - failing_since,
                                                  absl::Milliseconds(1))),
                 "; acknowledging again"));
  {
    absl::MutexLock lock(&mu_);
    write_error_ = absl::OkStatus();
    healthy_.store(failed_.ok(), std::memory_order_release);
  }
  ReportHealth();
}

CommitQueue::AfterFailure CommitQueue::WriteFailed(const absl::Status& status,
                                                   int attempts) {
  std::multimap<StoreTicket, std::function<void(absl::Status)>> waiting;
  absl::Status answer;
  AfterFailure next = AfterFailure::kRetry;
  {
    absl::MutexLock lock(&mu_);
    if (!failed_.ok()) {
      // Stopped for good meanwhile (a failed read): acknowledge nothing
      // more, and keep the first error.
      next = stopping_ ? AfterFailure::kExit : AfterFailure::kDrop;
      writer_done_ = next == AfterFailure::kExit;
      answer = failed_;
    } else if (!Transient(status) || (stopping_ && attempts > 1)) {
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
      healthy_.store(false, std::memory_order_release);
    } else {
      if (write_error_.ok()) {
        LogError(StrCat("the state store cannot write (", status.message(),
                        "); retrying with backoff, health NOT_SERVING"));
      }
      write_error_ = absl::UnavailableError(
          StrCat("the state store cannot write (", status.message(), ")"));
      healthy_.store(false, std::memory_order_release);
      answer = NotAcknowledged(write_error_);
    }
    // Whoever waits is answered now, in the same step that makes new waiters
    // see the failure: nobody hangs on a full disk.
    waiting.swap(waiters_);
  }
  ReportHealth();
  AnswerAll(waiting, answer);
  return next;
}

void CommitQueue::AnswerAll(
    const std::multimap<StoreTicket, std::function<void(absl::Status)>>&
        waiting,
    const absl::Status& status) {
  durable_cv_.SignalAll();
  space_cv_.SignalAll();
  for (const auto& [ticket, done] : waiting) {
    done(status);
  }
}

void CommitQueue::Committed(const Batch& batch) {
  // The rows are in the file before they leave the overlay, so that a load
  // finds them in one or the other.
  rows_.Remove(batch);
  std::vector<std::function<void(absl::Status)>> ready;
  {
    absl::MutexLock lock(&mu_);
    durable_.store(batch.back()->ticket, std::memory_order_release);
    ++stats_.commits;
    stats_.durable_ticket = batch.back()->ticket;
    auto end = waiters_.upper_bound(stats_.durable_ticket);
    for (auto it = waiters_.begin(); it != end; ++it) {
      ready.push_back(std::move(it->second));
    }
    waiters_.erase(waiters_.begin(), end);
  }
  durable_cv_.SignalAll();
  for (auto& done : ready) {
    done(absl::OkStatus());
  }
}

void CommitQueue::ReportHealth() {
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

void CommitQueue::SetHealthCallback(
    std::function<void(const absl::Status&)> callback) {
  absl::MutexLock lock(&health_mu_);
  on_health_ = std::move(callback);
}

bool CommitQueue::IsDurable(StoreTicket ticket) const {
  return ticket <= durable_.load(std::memory_order_acquire);
}

absl::Status CommitQueue::NotDurable() const {
  return !failed_.ok() ? failed_
         : !write_error_.ok()
             ? NotAcknowledged(write_error_)
             : absl::UnavailableError("the state store is closed");
}

absl::Status CommitQueue::WaitDurable(StoreTicket ticket) {
  absl::MutexLock lock(&mu_);
  while (!(ticket <= durable_.load() || !failed_.ok() || !write_error_.ok() ||
           writer_done_)) {
    durable_cv_.Wait(&mu_);
  }
  return ticket <= durable_.load() ? absl::OkStatus() : NotDurable();
}

void CommitQueue::WhenDurable(StoreTicket ticket,
                              std::function<void(absl::Status)> done) {
  absl::Status result;
  {
    absl::MutexLock lock(&mu_);
    if (ticket > durable_.load() && failed_.ok() && write_error_.ok() &&
        !writer_done_) {
      waiters_.emplace(ticket, std::move(done));
      return;
    }
    result = ticket <= durable_.load() ? absl::OkStatus() : NotDurable();
  }
  done(result);
}

absl::Status CommitQueue::Fail(const absl::Status& status) {
  std::multimap<StoreTicket, std::function<void(absl::Status)>> waiting;
  absl::Status failed;
  {
    absl::MutexLock lock(&mu_);
    if (failed_.ok()) {
      failed_ = absl::Status(status.code(),
                             StrCat("the state store stopped: a read failed: ",
                                    std::string(status.message())));
      LogError(std::string(failed_.message()));
      healthy_.store(false, std::memory_order_release);
      queue_.clear();
      // Tickets already durable were answered; the rest never will be.
      waiting.swap(waiters_);
    }
    failed = failed_;
  }
  AnswerAll(waiting, failed);
  ReportHealth();
  return failed;
}

absl::Status CommitQueue::stopped() const {
  absl::MutexLock lock(&mu_);
  return failed_;
}

absl::Status CommitQueue::health() const {
  if (healthy_.load(std::memory_order_acquire)) {
    return absl::OkStatus();
  }
  absl::MutexLock lock(&mu_);
  return failed_.ok() ? write_error_ : failed_;
}

CommitQueueStats CommitQueue::stats() const {
  absl::MutexLock lock(&mu_);
  CommitQueueStats s = stats_;
  s.queued = queue_.size();
  return s;
}

}  // namespace hijackguard::store
