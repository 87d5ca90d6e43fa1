// At most N pieces of some work at once: a caller gets a slot or is turned
// away at once (no queue), and the slot is given back when its guard goes.
// Thread-safe; lock-free.
#pragma once

#include <atomic>
#include <memory>
#include <optional>

namespace hijackguard {

class WorkLimit {
 public:
  explicit WorkLimit(int max) : max_(max) {}

  // Held while the work runs.
  class Slot {
   public:
    ~Slot() {
      if (limit_ != nullptr) limit_->running_.fetch_sub(1);
    }
    Slot(Slot&& other) noexcept : limit_(other.limit_) {
      other.limit_ = nullptr;
    }
    Slot& operator=(Slot&&) = delete;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    friend class WorkLimit;
    explicit Slot(WorkLimit* limit) : limit_(limit) {}
    WorkLimit* limit_;
  };

  // A slot, or nullopt when `max` are taken.
  std::optional<Slot> TryAcquire() {
    if (running_.fetch_add(1) >= max_) {
      running_.fetch_sub(1);
      return std::nullopt;
    }
    std::optional<Slot> slot;
    slot.emplace(Slot(this));
    return slot;
  }
  int running() const { return running_.load(); }

 private:
  const int max_;
  std::atomic<int> running_{0};
};

}  // namespace hijackguard
