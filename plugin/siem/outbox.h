// Where the SIEM sinks read what to deliver: the state store's outbox
// (entries committed with the decisions that raised them), or, with the
// memory store, a bounded queue in memory that a restart empties.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "policy/state_store.h"

namespace hijackguard::plugin::siem {

class Outbox {
 public:
  virtual ~Outbox() = default;
  // Entries after `after_seq`, in order, at most `limit`.
  virtual absl::StatusOr<std::vector<policy::OutboxEntry>> Read(
      std::uint64_t after_seq, std::size_t limit) = 0;
  virtual absl::StatusOr<policy::OutboxState> State() = 0;
  // Records how far a sink got, with the audit of what was dropped for it
  // when anything was. Asynchronous: a crash before it is committed means
  // those entries are delivered again (at least once).
  virtual void SaveCursor(const policy::SinkCursor& cursor,
                          std::optional<policy::SiemDropAudit> dropped) = 0;
  // Deletes the entries through `seq` (every sink has them).
  virtual void Prune(std::uint64_t seq) = 0;
  // Whether entries survive a restart (the docs and `alerts backlog` say).
  virtual bool durable() const = 0;
};

// The state store's outbox (StateStore::ReadOutbox and SubmitEngine).
class StoreOutbox final : public Outbox {
 public:
  explicit StoreOutbox(policy::StateStore* store) : store_(store) {}
  absl::StatusOr<std::vector<policy::OutboxEntry>> Read(
      std::uint64_t after_seq, std::size_t limit) override;
  absl::StatusOr<policy::OutboxState> State() override;
  void SaveCursor(const policy::SinkCursor& cursor,
                  std::optional<policy::SiemDropAudit> dropped) override;
  void Prune(std::uint64_t seq) override;
  bool durable() const override { return true; }

 private:
  policy::StateStore* const store_;
};

// The most entries the memory outbox keeps, whatever siem.max_backlog says.
inline constexpr std::uint64_t kMaxMemoryOutbox = 1'000'000;

// In memory, at most `max_entries` (beyond them the oldest go: the sinks see
// the gap and count it as dropped). Thread-safe; Append never blocks on a
// sink.
class MemoryOutbox final : public Outbox {
 public:
  explicit MemoryOutbox(std::size_t max_entries) : max_entries_(max_entries) {}
  void Append(std::string payload);
  absl::StatusOr<std::vector<policy::OutboxEntry>> Read(
      std::uint64_t after_seq, std::size_t limit) override;
  absl::StatusOr<policy::OutboxState> State() override;
  void SaveCursor(const policy::SinkCursor& cursor,
                  std::optional<policy::SiemDropAudit> dropped) override;
  void Prune(std::uint64_t seq) override;
  bool durable() const override { return false; }

 private:
  const std::size_t max_entries_;
  absl::Mutex mu_;
  // Shared, so that Read copies pointers under the lock, not payloads (Append
  // runs under a device's lock).
  std::deque<std::shared_ptr<const policy::OutboxEntry>> entries_
      ABSL_GUARDED_BY(mu_);
  std::uint64_t head_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, policy::SinkCursor> cursors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hijackguard::plugin::siem
