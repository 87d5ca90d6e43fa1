// What a decision needs of a device's observed traffic. Declared here, where
// it is used, and implemented over the traffic detector where the server is
// wired (plugin/detector_evidence.h), so that policy/ depends on the
// detector's types only, and detector/ never on policy/.
#pragma once

#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "detector/traffic/traffic_detector.h"

namespace hijackguard::policy {

class EvidenceSource {
 public:
  virtual ~EvidenceSource() = default;

  // The device's events, into `*out` (cleared first; its buffers are
  // reused). False for an unknown device (neither traffic nor a check-in on
  // record); an error when its state cannot be read.
  virtual absl::StatusOr<bool> Evidence(
      std::string_view tenant_id, std::string_view eas_device_id,
      detector::DeviceEvidence* out) const = 0;

  // What is known of the device's client (check-ins and traffic); nullopt
  // for an unknown device; an error as for Evidence.
  virtual absl::StatusOr<std::optional<detector::CheckInFacts>> Facts(
      std::string_view tenant_id, std::string_view eas_device_id) const = 0;
};

}  // namespace hijackguard::policy
