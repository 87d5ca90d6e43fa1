// Retention of the state store in the background: a first pass soon after
// start, then one every interval. Each pass prunes in small steps, with the
// events' horizon of the policy in force at the time (policy::EventHorizon),
// and stops between steps when asked to.
#pragma once

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "policy/engine.h"
#include "store/durable_store.h"

namespace hijackguard {

class StateRetention {
 public:
  // Starts the thread unless `interval` is zero. `store` and `engine`
  // outlive this object.
  StateRetention(store::DurableStore* store, const policy::PolicyEngine* engine,
                 const Clock* clock, absl::Duration interval);
  ~StateRetention();  // Stop()
  StateRetention(const StateRetention&) = delete;
  StateRetention& operator=(const StateRetention&) = delete;

  // Ends the pass under way after its current step. Idempotent.
  void Stop();

 private:
  void Loop();
  // False once stopped; otherwise waits up to `wait` for a stop.
  bool WaitFor(absl::Duration wait);
  bool stopping() const;

  store::DurableStore* const store_;
  const policy::PolicyEngine* const engine_;
  const Clock* const clock_;
  const absl::Duration interval_;
  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace hijackguard
