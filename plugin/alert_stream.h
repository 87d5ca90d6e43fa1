// The WatchAlerts stream: writes a subscriber's alerts one at a time as the
// policy engine produces them.
#pragma once

#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "hijackguard/v1/compliance_plugin.pb.h"
#include "policy/engine.h"

namespace hijackguard::plugin {

// Deletes itself when the call is done.
class AlertStream final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  // `owner` counts against the per-principal slots. `allowed` (when set) is
  // asked before each alert; a refusal ends the call with its status.
  AlertStream(policy::PolicyEngine* engine, std::string owner,
              std::string tenant_filter,
              std::function<absl::Status()> allowed = nullptr);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // Starts the next write if none is in flight; finishes the call when the
  // subscription ended.
  void Pump();

  std::function<absl::Status()> allowed_;
  absl::Mutex mu_;
  std::shared_ptr<policy::AlertSubscription> subscription_ ABSL_GUARDED_BY(mu_);
  v1::ComplianceAlert message_ ABSL_GUARDED_BY(mu_);
  // message_, encoded (the method is raw).
  grpc::ByteBuffer out_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// Asks for free memory to be handed back to the system (malloc_trim), and
// does it when asked since the last call (the server's housekeeping, every
// few seconds).
void TrimMemorySoon();
void TrimMemoryIfPending();

}  // namespace hijackguard::plugin
