// The audit chain's status as the console shows it: the whole chain is
// verified (DurableStore::VerifyAuditLog, on a connection of its own) on a
// background thread when the server starts and every `interval`, and pages
// read the last result. On a log of millions of rows a verification takes
// seconds; no page waits for one.
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "store/durable_store.h"

namespace hijackguard::plugin {

struct AuditWatchResult {
  bool verified = false;  // a verification has finished
  absl::Time at;          // when the last one finished
  absl::Duration took;
  store::AuditVerification chain;
  std::string error;  // the log could not be read at all
};

class AuditWatch {
 public:
  // Starts verifying `store`'s log (which must outlive the watch).
  AuditWatch(store::DurableStore* store, absl::Duration interval);
  ~AuditWatch();
  AuditWatch(const AuditWatch&) = delete;
  AuditWatch& operator=(const AuditWatch&) = delete;

  AuditWatchResult last() const;
  absl::Duration interval() const { return interval_; }
  // Stops the thread (a verification under way is cut short).
  void Stop();

 private:
  void Loop();

  store::DurableStore* const store_;
  const absl::Duration interval_;
  std::atomic<bool> stopping_{false};  // ends a verification under way
  mutable absl::Mutex mu_;
  absl::CondVar wake_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  AuditWatchResult last_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace hijackguard::plugin
