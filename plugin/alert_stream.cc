#include "plugin/alert_stream.h"

#include <malloc.h>

#include <atomic>

#include "plugin/policy_convert.h"
#include "plugin/raw_call.h"
#include "plugin/status.h"

namespace hijackguard::plugin {

AlertStream::AlertStream(policy::PolicyEngine* engine, std::string owner,
                         std::string tenant_filter,
                         std::function<absl::Status()> allowed)
    : allowed_(std::move(allowed)) {
  // Subscribe before the first Pump so no alert decided from now on is
  // missed; the callback may run at once on another thread, hence the lock.
  absl::MutexLock lock(&mu_);
  auto subscribed = engine->Subscribe(
      std::move(owner), std::move(tenant_filter), [this] { Pump(); });
  if (!subscribed.ok()) {
    finished_ = true;
    Finish(ToGrpcStatus(subscribed.status()));
    return;
  }
  subscription_ = *std::move(subscribed);
  // Headers now, so a client knows it is subscribed before any alert comes.
  StartSendInitialMetadata();
  // An already ended subscription (the server is stopping) finishes here.
  if (subscription_->ended()) {
    finished_ = true;
    Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "the server is shutting down"));
  }
}

// Runs on the deciding thread that queued an alert (or on gRPC's after a
// write). StartWrite and Finish under mu_ are safe: the callback API never
// runs OnWriteDone or OnDone inline for these reactors.
void AlertStream::Pump() {
  absl::MutexLock lock(&mu_);
  if (writing_ || finished_ || subscription_ == nullptr) {
    return;
  }
  if (allowed_) {
    if (absl::Status s = allowed_(); !s.ok()) {
      finished_ = true;
      Finish(ToGrpcStatus(s));
      return;
    }
  }
  if (std::optional<policy::ComplianceAlert> alert = subscription_->Pop()) {
    message_.Clear();
    ToProto(*alert, &message_);
    out_.Clear();
    if (absl::Status s = EncodeMessage(message_, &out_); !s.ok()) {
      finished_ = true;
      Finish(ToGrpcStatus(s));
      return;
    }
    writing_ = true;
    StartWrite(&out_);
    return;
  }
  if (subscription_->ended()) {
    finished_ = true;
    Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "the server is shutting down"));
  }
}

void AlertStream::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      if (!finished_) {
        finished_ = true;
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
      }
      return;
    }
  }
  Pump();
}

void AlertStream::OnCancel() {
  absl::MutexLock lock(&mu_);
  if (!finished_) {
    finished_ = true;
    Finish(grpc::Status::CANCELLED);
  }
}

void AlertStream::OnDone() {
  std::shared_ptr<policy::AlertSubscription> subscription;
  {
    absl::MutexLock lock(&mu_);
    subscription = subscription_;
  }
  if (subscription != nullptr) {
    subscription->Close();  // no Pump runs after this returns
  }
  const std::size_t freed =
      subscription != nullptr ? subscription->queued_bytes() : 0;
  delete this;
  if (freed >= (1 << 20)) {
    // A stalled subscriber's queue: the server's housekeeping hands the
    // pages back to the system once its alerts are freed (the last queue
    // holding them may close later).
    TrimMemorySoon();
  }
}

namespace {
std::atomic<bool> trim_pending{false};
}  // namespace

void TrimMemorySoon() { trim_pending = true; }

void TrimMemoryIfPending() {
  if (trim_pending.exchange(false)) {
    malloc_trim(0);
  }
}

}  // namespace hijackguard::plugin
