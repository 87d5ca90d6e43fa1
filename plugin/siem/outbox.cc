#include "plugin/siem/outbox.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"

namespace hijackguard::plugin::siem {

absl::StatusOr<std::vector<policy::OutboxEntry>> StoreOutbox::Read(
    std::uint64_t after_seq, std::size_t limit) {
  return store_->ReadOutbox(after_seq, limit);
}

absl::StatusOr<policy::OutboxState> StoreOutbox::State() {
  return store_->LoadOutboxState();
}

void StoreOutbox::SaveCursor(const policy::SinkCursor& cursor,
                             std::optional<policy::SiemDropAudit> dropped) {
  policy::EngineChanges changes;
  changes.sink_cursors.push_back(cursor);
  if (dropped) {
    changes.audit.push_back({absl::Now(), std::move(*dropped)});
  }
  (void)store_->SubmitEngine(std::move(changes));
}

void StoreOutbox::Prune(std::uint64_t seq) {
  policy::EngineChanges changes;
  changes.outbox_prune_through = seq;
  (void)store_->SubmitEngine(std::move(changes));
}

void MemoryOutbox::Append(std::string payload) {
  auto entry = std::make_shared<policy::OutboxEntry>();
  entry->payload = std::move(payload);
  absl::MutexLock lock(&mu_);
  entry->seq = ++head_;
  entries_.push_back(std::move(entry));
  while (entries_.size() > max_entries_) {
    entries_.pop_front();
  }
}

absl::StatusOr<std::vector<policy::OutboxEntry>> MemoryOutbox::Read(
    std::uint64_t after_seq, std::size_t limit) {
  std::vector<std::shared_ptr<const policy::OutboxEntry>> found;
  {
    absl::MutexLock lock(&mu_);
    auto it = std::upper_bound(
        entries_.begin(), entries_.end(), after_seq,
        [](std::uint64_t seq,
           const std::shared_ptr<const policy::OutboxEntry>& e) {
          return seq < e->seq;
        });
    for (; it != entries_.end() && found.size() < limit; ++it) {
      found.push_back(*it);
    }
  }
  std::vector<policy::OutboxEntry> out;
  out.reserve(found.size());
  for (const auto& e : found) out.push_back(*e);
  return out;
}

absl::StatusOr<policy::OutboxState> MemoryOutbox::State() {
  absl::MutexLock lock(&mu_);
  policy::OutboxState state;
  state.head = head_;
  state.oldest = entries_.empty() ? 0 : entries_.front()->seq;
  for (const auto& [name, cursor] : cursors_) {
    state.cursors.push_back(cursor);
  }
  return state;
}

void MemoryOutbox::SaveCursor(const policy::SinkCursor& cursor,
                              std::optional<policy::SiemDropAudit> dropped) {
  (void)dropped;  // no audit log in memory: the sink logs the drop
  absl::MutexLock lock(&mu_);
  cursors_[cursor.sink] = cursor;
}

void MemoryOutbox::Prune(std::uint64_t seq) {
  absl::MutexLock lock(&mu_);
  while (!entries_.empty() && entries_.front()->seq <= seq) {
    entries_.pop_front();
  }
}

}  // namespace hijackguard::plugin::siem
