// A simulated fleet's check-in facts: device i of ten tenants, with its own
// EAS and MDM ids and user, all on one User-Agent.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

#include "detector/traffic/traffic_detector.h"

namespace hijackguard::bench {

inline detector::CheckInFacts FleetFacts(long i, std::string_view user_agent) {
  detector::CheckInFacts f;
  f.tenant_id = "tenant-" + std::to_string(i % 10);
  char id[32];
  std::snprintf(id, sizeof(id), "Appl%010ld", i);
  f.eas_device_id = id;
  f.mdm_device_id = "mdm-" + std::to_string(i);
  f.user_principal = "user" + std::to_string(i) + "@example.com";
  f.user_agent = std::string(user_agent);
  f.device_type = "iPhone";
  f.protocol_version = "14.1";
  return f;
}

}  // namespace hijackguard::bench
