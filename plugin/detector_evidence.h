// The policy engine's evidence (policy/evidence.h), read from the traffic
// detector.
#pragma once

#include <optional>
#include <string_view>

#include "detector/traffic/traffic_detector.h"
#include "policy/evidence.h"

namespace hijackguard::plugin {

class DetectorEvidence : public policy::EvidenceSource {
 public:
  // `detector` must outlive this.
  explicit DetectorEvidence(const detector::TrafficDetector* detector)
      : detector_(detector) {}

  absl::StatusOr<bool> Evidence(std::string_view tenant_id,
                                std::string_view eas_device_id,
                                detector::DeviceEvidence* out) const override {
    return detector_->Evidence(tenant_id, eas_device_id, out);
  }

  absl::StatusOr<std::optional<detector::CheckInFacts>> Facts(
      std::string_view tenant_id,
      std::string_view eas_device_id) const override {
    return detector_->Facts(tenant_id, eas_device_id);
  }

 private:
  const detector::TrafficDetector* detector_;
};

}  // namespace hijackguard::plugin
