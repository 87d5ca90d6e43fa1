// The clock seam: production code asks a Clock for the time so tests can inject
// a fake one.
#pragma once

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hijackguard {

// A source of the current time. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // Returns the current time.
  virtual absl::Time Now() const = 0;
};

// Returns the process-wide wall clock. Never null; lives for the whole program.
Clock& RealClock();

// A manually advanced clock for tests. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start) : now_(start) {}
  absl::Time Now() const override;
  void Set(absl::Time t);
  void Advance(absl::Duration d);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hijackguard
