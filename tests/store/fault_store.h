// A state store for tests that wraps a real one and injects its failures:
// reads that fail, commits that fail or that do not finish until healed.
// Everything else goes to the wrapped store, so what was submitted while
// commits "failed" is still committed, as the real store does once it can
// write again (it keeps and retries what it could not commit).
//
// Read failures here are transient, as a network store's may be; the SQLite
// store instead stops for good after a failed read (its health then says
// so). Commits fail in ticket order, as a real store's do: from the first
// ticket submitted after FailCommits on, every ticket fails until Heal.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "policy/state_store.h"

namespace hijackguard::testing {

class FaultStore final : public policy::StateStore {
 public:
  using StoreTicket = policy::StoreTicket;

  // `inner` must outlive this (or be replaced by Wrap before use).
  explicit FaultStore(policy::StateStore* inner = nullptr) : inner_(inner) {}
  // Wraps `inner` (for ServerOptions::wrap_store_for_testing).
  policy::StateStore* Wrap(policy::StateStore* inner) {
    inner_ = inner;
    return this;
  }

  // Reads fail with `why` from the one after the next `skip` on, until Heal.
  void FailReads(absl::Status why, int skip = 0) {
    std::lock_guard<std::mutex> lock(mu_);
    read_failure_ = std::move(why);
    reads_to_skip_ = skip;
  }
  // What is submitted from now on, until Heal, is reported not durable with
  // `why`, though the wrapped store commits it. `unhealthy`: health() says
  // so too (the real store's state once its writer saw a failure); false:
  // the moment before, when the failure is not known yet.
  void FailCommits(absl::Status why, bool unhealthy = true) {
    std::lock_guard<std::mutex> lock(mu_);
    commit_failure_ = std::move(why);
    unhealthy_ = unhealthy;
  }
  // What is submitted from now on is not reported durable before Heal.
  void BlockCommits() {
    std::lock_guard<std::mutex> lock(mu_);
    blocking_ = true;
  }
  // Ends every fault, once what was submitted while commits failed is
  // committed (as the real store's recovery does); callbacks held by
  // BlockCommits run now.
  void Heal() {
    std::vector<std::pair<StoreTicket, std::function<void(absl::Status)>>> run;
    StoreTicket newest_failed = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      newest_failed = fail_through_;
    }
    if (newest_failed != 0) {
      (void)inner_->WaitDurable(newest_failed);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      read_failure_.reset();
      commit_failure_.reset();
      blocking_ = false;
      block_from_ = 0;
      // What failed is kept and committed once the store can write.
      fail_from_ = 0;
      fail_through_ = 0;
      run.swap(held_);
      cv_.notify_all();
    }
    for (auto& [ticket, done] : run) {
      inner_->WhenDurable(ticket, std::move(done));
    }
  }

  int failed_reads() const {
    std::lock_guard<std::mutex> lock(mu_);
    return failed_reads_;
  }
  int submissions() const {
    std::lock_guard<std::mutex> lock(mu_);
    return submissions_;
  }

  // detector::DetectorStore
  absl::StatusOr<std::optional<std::string>> LoadDevice(
      std::string_view key) override {
    if (auto fault = ReadFault()) return *fault;
    return inner_->LoadDevice(key);
  }
  absl::StatusOr<std::optional<std::string>> FindDeviceByIndex(
      std::string_view index) override {
    if (auto fault = ReadFault()) return *fault;
    return inner_->FindDeviceByIndex(index);
  }
  [[nodiscard]] absl::Status LoadEvents(
      std::string_view prefix, std::string_view from,
      std::vector<std::string>* values) override {
    if (auto fault = ReadFault()) return *fault;
    return inner_->LoadEvents(prefix, from, values);
  }
  absl::Status LoadEventsAfter(
      std::string_view prefix, std::string_view after, std::size_t limit,
      std::vector<std::pair<std::string, std::string>>* rows) override {
    if (auto fault = ReadFault()) return *fault;
    return inner_->LoadEventsAfter(prefix, after, limit, rows);
  }
  absl::StatusOr<std::vector<detector::EventDay>> CountEventsByDay(
      std::string_view prefix, std::int64_t since_ms) override {
    if (auto fault = ReadFault()) return *fault;
    return inner_->CountEventsByDay(prefix, since_ms);
  }
  absl::StatusOr<std::optional<std::string>> LoadLedgerEntry(
      std::string_view key) override {
    if (auto fault = ReadFault()) return *fault;
    return inner_->LoadLedgerEntry(key);
  }
  [[nodiscard]] absl::Status LoadAllPending(
      std::vector<std::pair<std::string, std::string>>* rows) override {
    if (auto fault = ReadFault()) return *fault;
    return inner_->LoadAllPending(rows);
  }
  absl::StatusOr<detector::DetectorCounters> LoadCounters() override {
    if (auto fault = ReadFault()) return *fault;
    return inner_->LoadCounters();
  }
  StoreTicket Submit(detector::DetectorChanges changes) override {
    return Note(inner_->Submit(std::move(changes)));
  }

  // policy::StateStore
  absl::StatusOr<std::optional<std::string>> LoadEngineDevice(
      std::string_view key) override {
    if (auto fault = ReadFault()) return *fault;
    return inner_->LoadEngineDevice(key);
  }
  absl::StatusOr<std::vector<policy::Exemption>> LoadExemptions() override {
    if (auto fault = ReadFault()) return *fault;
    return inner_->LoadExemptions();
  }
  absl::StatusOr<std::optional<policy::AppliedPolicy>> LatestPolicy(
      std::string_view origin_prefix) override {
    if (auto fault = ReadFault()) return *fault;
    return inner_->LatestPolicy(origin_prefix);
  }
  StoreTicket SubmitEngine(policy::EngineChanges changes) override {
    return Note(inner_->SubmitEngine(std::move(changes)));
  }
  absl::StatusOr<policy::DevicePage> ListDevices(
      const policy::DeviceQuery& query) override {
    if (auto fault = ReadFault()) return *fault;
    return inner_->ListDevices(query);
  }
  absl::StatusOr<std::vector<policy::DeviceCount>> CountDevices(
      std::string_view tenant_id) override {
    if (auto fault = ReadFault()) return *fault;
    return inner_->CountDevices(tenant_id);
  }
  absl::StatusOr<std::vector<policy::AuditEntry>> ReadAudit(
      std::string_view kind, std::uint64_t before_seq,
      std::size_t limit) override {
    if (auto fault = ReadFault()) return *fault;
    return inner_->ReadAudit(kind, before_seq, limit);
  }
  absl::StatusOr<std::vector<policy::OutboxEntry>> ReadOutbox(
      std::uint64_t after_seq, std::size_t limit) override {
    if (auto fault = ReadFault()) return *fault;
    return inner_->ReadOutbox(after_seq, limit);
  }
  absl::StatusOr<policy::OutboxState> LoadOutboxState() override {
    if (auto fault = ReadFault()) return *fault;
    return inner_->LoadOutboxState();
  }
  bool IsDurable(StoreTicket ticket) const override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (FailureOf(ticket) || Blocked(ticket)) {
        return false;
      }
    }
    return inner_->IsDurable(ticket);
  }
  [[nodiscard]] absl::Status WaitDurable(StoreTicket ticket) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !Blocked(ticket); });
      if (std::optional<absl::Status> why = FailureOf(ticket)) {
        return *why;
      }
    }
    return inner_->WaitDurable(ticket);
  }
  void WhenDurable(StoreTicket ticket,
                   std::function<void(absl::Status)> done) override {
    std::optional<absl::Status> failed;
    {
      std::lock_guard<std::mutex> lock(mu_);
      failed = FailureOf(ticket);
      if (!failed && Blocked(ticket)) {
        held_.emplace_back(ticket, std::move(done));
        return;
      }
    }
    if (failed) {
      done(*failed);
      return;
    }
    inner_->WhenDurable(ticket, std::move(done));
  }
  absl::Status health() const override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (commit_failure_ && unhealthy_) {
        return *commit_failure_;
      }
    }
    return inner_->health();
  }

 private:
  // The injected read failure, if one is due now.
  std::optional<absl::Status> ReadFault() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!read_failure_) {
      return std::nullopt;
    }
    if (reads_to_skip_ > 0) {
      --reads_to_skip_;
      return std::nullopt;
    }
    ++failed_reads_;
    return *read_failure_;
  }
  StoreTicket Note(StoreTicket ticket) {
    std::lock_guard<std::mutex> lock(mu_);
    ++submissions_;
    // Every ticket from the first faulted one on (in ticket order, whatever
    // order concurrent submitters get here in).
    if (commit_failure_) {
      fail_from_ = fail_from_ == 0 ? ticket : std::min(fail_from_, ticket);
      fail_through_ = std::max(fail_through_, ticket);
    }
    if (blocking_) {
      block_from_ = block_from_ == 0 ? ticket : std::min(block_from_, ticket);
    }
    return ticket;
  }
  // Under mu_: why `ticket` fails now, if it does.
  std::optional<absl::Status> FailureOf(StoreTicket ticket) const {
    if (fail_from_ == 0 || ticket < fail_from_ || !commit_failure_) {
      return std::nullopt;
    }
    return *commit_failure_;
  }
  bool Blocked(StoreTicket ticket) const {
    return block_from_ != 0 && ticket >= block_from_;
  }

  policy::StateStore* inner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<absl::Status> read_failure_;
  int reads_to_skip_ = 0;
  int failed_reads_ = 0;
  int submissions_ = 0;
  std::optional<absl::Status> commit_failure_;
  bool unhealthy_ = false;
  bool blocking_ = false;
  StoreTicket fail_from_ = 0;     // 0: none fails
  StoreTicket fail_through_ = 0;  // the newest that failed
  StoreTicket block_from_ = 0;    // 0: none is held
  std::vector<std::pair<StoreTicket, std::function<void(absl::Status)>>> held_;
};

}  // namespace hijackguard::testing
