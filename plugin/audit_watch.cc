#include "plugin/audit_watch.h"

#include <utility>

#include "common/log.h"
#include "common/strings.h"

namespace hijackguard::plugin {

AuditWatch::AuditWatch(store::DurableStore* store, absl::Duration interval)
    : store_(store), interval_(interval), thread_([this] { Loop(); }) {}

AuditWatch::~AuditWatch() { Stop(); }

void AuditWatch::Stop() {
  stopping_.store(true);
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    wake_.Signal();
  }
  if (thread_.joinable()) thread_.join();
}

AuditWatchResult AuditWatch::last() const {
  absl::MutexLock lock(&mu_);
  return last_;
}

void AuditWatch::Loop() {
  while (true) {
    const absl::Time started = absl::Now();
    absl::StatusOr<store::AuditVerification> v =
        store_->VerifyAuditLog(nullptr, &stopping_);
    if (v.status().code() == absl::StatusCode::kCancelled) return;
    AuditWatchResult result;
    result.at = absl::Now();
    result.took = result.at - started;
    if (v.ok()) {
      result.verified = true;
      result.chain = *std::move(v);
      if (!result.chain.ok) {
        LogError(StrCat("the audit chain is broken at row ",
                        result.chain.bad_seq, ": ", result.chain.problem));
      }
    } else {
      result.error = std::string(ToStd(v.status().message()));
      LogWarning(
          StrCat("the audit chain could not be verified: ", result.error));
    }
    absl::MutexLock lock(&mu_);
    last_ = std::move(result);
    const absl::Time next = absl::Now() + interval_;
    while (!stop_) {
      if (wake_.WaitWithDeadline(&mu_, next)) break;
    }
    if (stop_) return;
  }
}

}  // namespace hijackguard::plugin
