// `hijackguard report --html`: the fleet page and the whole repair list as
// one self-contained HTML file to mail to management. Its stylesheet is
// inline and it loads nothing (its own Content-Security-Policy says so), so
// it opens without a network or a server.
#pragma once

#include <string>

#include "absl/time/time.h"
#include "plugin/console/fleet_page.h"
#include "plugin/console/repair_page.h"

namespace hijackguard::console {

struct ReportView {
  FleetView fleet;     // links off
  RepairView repair;   // standalone
  std::string tenant;  // "" for every tenant
  absl::Time generated_at;
};

std::string RenderReport(const ReportView& report);

}  // namespace hijackguard::console
