// Calls answered, per RPC and outcome: what `serve` logs when it stops, and
// what a load benchmark checks its client's count against (a load generator
// that sees only HTTP/2 cannot tell a failed gRPC call from a good one).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "plugin/access.h"

namespace hijackguard::plugin {

// Thread-safe; counting is one relaxed atomic increment.
class CallCounts {
 public:
  // Told of each finished call (the metrics' request durations). Set before
  // serving.
  using Observer = std::function<void(Rpc, absl::StatusCode, absl::Duration)>;
  void SetObserver(Observer observer) { observer_ = std::move(observer); }

  // A call that began at `started` finished with `code`: counted, and timed
  // when there is an observer.
  void Finish(Rpc rpc, absl::StatusCode code, absl::Time started) {
    slots_[Slot(rpc, code == absl::StatusCode::kOk)].fetch_add(
        1, std::memory_order_relaxed);
    if (observer_) observer_(rpc, code, absl::Now() - started);
  }
  // A StreamTraffic message answered: with item errors or without.
  void CountStreamItem(bool with_errors) {
    (with_errors ? stream_item_errors_ : stream_items_ok_)
        .fetch_add(1, std::memory_order_relaxed);
  }
  std::uint64_t ok(Rpc rpc) const { return Get(rpc, true); }
  std::uint64_t failed(Rpc rpc) const { return Get(rpc, false); }
  // "CheckIn 40000 OK 0 failed, GetDeviceRisk 3 OK 1 failed" for the RPCs
  // that were called ("StreamTraffic 10 OK 0 failed (1000 messages OK, 0
  // with item errors)"); "none" when none was.
  std::string Summary() const;

 private:
  static std::size_t Slot(Rpc rpc, bool ok) {
    return static_cast<std::size_t>(rpc) * 2 + (ok ? 0 : 1);
  }
  std::uint64_t Get(Rpc rpc, bool ok) const {
    return slots_[Slot(rpc, ok)].load(std::memory_order_relaxed);
  }
  std::array<std::atomic<std::uint64_t>, kRpcCount * 2> slots_{};
  std::atomic<std::uint64_t> stream_items_ok_{0};
  std::atomic<std::uint64_t> stream_item_errors_{0};
  Observer observer_;
};

}  // namespace hijackguard::plugin
