#include "plugin/alert_stream.h"

#include "plugin/policy_convert.h"

namespace hijackguard::plugin {

AlertStream::AlertStream(policy::PolicyEngine* engine,
                         std::string tenant_filter) {
  // Subscribe before the first Pump so no alert decided from now on is
  // missed; the callback may run at once on another thread, hence the lock.
  std::lock_guard<std::mutex> lock(mu_);
  subscription_ =
      engine->Subscribe(std::move(tenant_filter), [this] { Pump(); });
  // Headers now, so a client knows it is subscribed before any alert comes.
  StartSendInitialMetadata();
}

void AlertStream::Pump() {
  std::lock_guard<std::mutex> lock(mu_);
  if (writing_ || finished_ || subscription_ == nullptr) {
    return;
  }
  if (std::optional<policy::ComplianceAlert> alert = subscription_->Pop()) {
    message_.Clear();
    ToProto(*alert, &message_);
    writing_ = true;
    StartWrite(&message_);
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
    std::lock_guard<std::mutex> lock(mu_);
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
  std::lock_guard<std::mutex> lock(mu_);
  if (!finished_) {
    finished_ = true;
    Finish(grpc::Status::CANCELLED);
  }
}

void AlertStream::OnDone() {
  subscription_->Close();  // no Pump runs after this returns
  delete this;
}

}  // namespace hijackguard::plugin
