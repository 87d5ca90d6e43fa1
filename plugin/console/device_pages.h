// The device pages: the list (/ui/devices: filters, a page of devices by
// score, the next page's link) and one device (/ui/device: its fingerprint
// and disagreements, its score as a stacked bar of the reasons'
// contributions, the policy members that decided, the grace clock, any
// exemption, its events with their evidence, the meetings it rewrote with
// their true organizers, and the Exchange command that enforces the
// decision).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "detector/fingerprint.h"
#include "detector/traffic/traffic_detector.h"
#include "plugin/console/html.h"
#include "policy/device_list.h"
#include "policy/evaluate.h"

namespace hijackguard::console {

struct DeviceListView {
  // The filters as the viewer sent them (shown back in the form), and the
  // query they became.
  std::vector<std::pair<std::string, std::string>> filters;
  policy::DeviceQuery query;
  // The tenants the viewer may pick; empty for a viewer of every tenant,
  // who types one (or none, for all).
  std::vector<std::string> tenant_choices;
  std::vector<policy::DeviceListing> devices;
  std::string next_page_token;
  std::string error;  // why the filters were refused; no rows then
};

std::string RenderDeviceList(const DeviceListView& list);

struct DeviceDetailView {
  detector::DeviceRisk risk;
  detector::Fingerprint fingerprint;
  // The decision the device's next check-in would get (absent without an
  // engine), and the evaluated action last recorded.
  std::optional<policy::Evaluation> decision;
  policy::Action last_action = policy::Action::kAllow;
  absl::Time now;
};

std::string RenderDevice(const DeviceDetailView& device);

// The device page's address.
std::string DeviceLink(std::string_view tenant, std::string_view eas_device_id,
                       std::string_view mdm_device_id);

}  // namespace hijackguard::console
