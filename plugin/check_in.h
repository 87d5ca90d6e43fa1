// Check-in handling without the transport: validate, fingerprint, match known
// issues, decide. The gRPC service and the CLI both call it.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "detector/known_issues.h"
#include "detector/traffic/traffic_detector.h"
#include "hijackguard/v1/compliance_plugin.pb.h"
#include "policy/engine.h"

namespace hijackguard::plugin {

struct CheckInOptions {
  // How long the MDM may reuse a decision (valid_until - decided_at). Default 1
  // hour.
  absl::Duration decision_validity = absl::Hours(1);
};

// Fingerprints the eas and inventory parts of `request` and matches the
// catalog (no validation, no decision).
void FingerprintCheckIn(const detector::KnownIssueCatalog& catalog,
                        const v1::CheckInRequest& request,
                        v1::Fingerprint* fingerprint);

// Thread-safe; shared by all RPC threads. `catalog` is shared ownership;
// `clock` and `engine` must outlive the handler.
class CheckInHandler {
 public:
  // `traffic` (may be null) learns the device's identity from each check-in;
  // `engine` decides (with the evidence it gets from the same detector). Both
  // must outlive the handler.
  CheckInHandler(std::shared_ptr<const detector::KnownIssueCatalog> catalog,
                 const Clock* clock, CheckInOptions options,
                 policy::PolicyEngine* engine,
                 detector::TrafficDetector* traffic = nullptr);

  // Fills `response` for a valid request. UNAVAILABLE when the device's
  // stored state cannot be read. INVALID_ARGUMENT naming the field
  // otherwise (and `response` is left untouched). With a state store,
  // `*ticket` (when not null) gets the commit to wait for before answering
  // (0: none; see PolicyEngine::DecideCheckIn).
  [[nodiscard]] absl::Status CheckIn(
      const v1::CheckInRequest& request, v1::CheckInResponse* response,
      policy::StoreTicket* ticket = nullptr) const;

  const detector::KnownIssueCatalog& catalog() const { return *catalog_; }

  // Called with (tenant, device id, whether the check-in submitted a change
  // of the device's rows) after each check-in with an EAS device id (the
  // gateway forgets its decision; other replicas are told of a change). Set
  // before serving.
  using DeviceListener =
      std::function<void(std::string_view, std::string_view, bool)>;
  void SetDeviceListener(DeviceListener listener) {
    listener_ = std::move(listener);
  }

 private:
  std::shared_ptr<const detector::KnownIssueCatalog> catalog_;
  const Clock* clock_;
  CheckInOptions options_;
  policy::PolicyEngine* engine_;
  detector::TrafficDetector* traffic_;
  DeviceListener listener_;
};

}  // namespace hijackguard::plugin
