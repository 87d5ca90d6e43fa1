#include "plugin/state_retention.h"

#include <string>

#include "common/log.h"
#include "common/strings.h"
#include "policy/policy.h"

namespace hijackguard {

namespace {

constexpr absl::Duration kFirstPass = absl::Seconds(30);
// Rows per table and transaction: short enough not to hold up commits.
constexpr std::size_t kStepRows = 2000;

}  // namespace

StateRetention::StateRetention(store::DurableStore* store,
                               const policy::PolicyEngine* engine,
                               const Clock* clock, absl::Duration interval)
    : store_(store), engine_(engine), clock_(clock), interval_(interval) {
  if (interval_ > absl::ZeroDuration()) {
    thread_ = std::thread([this] { Loop(); });
  }
}

StateRetention::~StateRetention() { Stop(); }

void StateRetention::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.SignalAll();
  if (thread_.joinable()) {
    thread_.join();
  }
}

bool StateRetention::WaitFor(absl::Duration wait) {
  absl::MutexLock lock(&mu_);
  const absl::Time deadline = absl::Now() + wait;
  while (!stop_ && !cv_.WaitWithDeadline(&mu_, deadline)) {
  }
  return !stop_;
}

bool StateRetention::stopping() const {
  absl::MutexLock lock(&mu_);
  return stop_;
}

void StateRetention::Loop() {
  for (absl::Duration wait = kFirstPass; WaitFor(wait); wait = interval_) {
    const absl::Time now = clock_->Now();
    const absl::Duration horizon = policy::EventHorizon(*engine_->policy());
    while (!stopping()) {
      absl::StatusOr<std::int64_t> pruned =
          store_->PruneStep(now, horizon, kStepRows);
      if (!pruned.ok()) {
        LogWarning(StrCat("state retention: ",
                          std::string(pruned.status().message())));
        break;
      }
      if (*pruned < static_cast<std::int64_t>(kStepRows)) break;
    }
  }
}

}  // namespace hijackguard
