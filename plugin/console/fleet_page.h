// The fleet page (/ui/, and the first part of `hijackguard report`): the
// decided devices counted by platform and OS train, build, risk level and
// action, what switching to enforce mode would change per tenant, and the
// catalog's known issues with how many devices each affects.
#pragma once

#include <string>
#include <vector>

#include "detector/known_issues.h"
#include "detector/traffic/detector_store.h"
#include "plugin/console/html.h"
#include "policy/device_list.h"
#include "policy/policy.h"

namespace hijackguard::console {

struct FleetView {
  std::vector<policy::DeviceCount> counts;  // the tenants shown only
  const detector::KnownIssueCatalog* catalog = nullptr;
  policy::Mode mode = policy::Mode::kMonitor;
  std::string policy_revision;
  // Tenants and actions link to the device list (false in the static
  // report, which has no server behind it).
  bool links = true;
  // Detection events by the day they were recorded, over the `days` days
  // that end with `today` (days since 1970-01-01, UTC); days without
  // events may be left out. `events_error` says why they could not be
  // counted.
  std::vector<detector::EventDay> event_days;
  std::int64_t today = 0;
  int days = 30;
  std::string events_error;
};

// The page's body (without the frame).
std::string RenderFleet(const FleetView& fleet);

// "iOS", "Android"... for detector::PlatformName's names ("" unknown).
std::string PlatformLabel(std::string_view platform);
// "iOS 6" from the platform and "6.0.1"; "iOS (version unknown)".
std::string TrainLabel(std::string_view platform, std::string_view os_version);

}  // namespace hijackguard::console
