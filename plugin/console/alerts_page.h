// The alerts page (/ui/alerts): the newest compliance alerts the viewer may
// see, and a live feed that adds each new one at the top (Server-Sent Events
// from /ui/alerts/stream, read by console.js).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "policy/alerts.h"

namespace hijackguard::console {

struct AlertsView {
  // Newest first.
  std::vector<std::shared_ptr<const policy::ComplianceAlert>> alerts;
  // The newest sequence the page holds: the feed starts after it.
  std::uint64_t last = 0;
  // The tenant shown ("" = every tenant the viewer may see), and the
  // tenants a limited viewer may pick.
  std::string tenant;
  std::vector<std::string> tenant_choices;
  std::size_t kept = 0;  // how many alerts the server keeps for this page
  bool live = true;      // false: the server has no live feed
};

std::string RenderAlerts(const AlertsView& view);

// One alert as the feed sends it (a JSON object with the cells of a row:
// seq, at, at_text, tenant, device, device_url, user, old, new, enforced,
// mode, score, reasons, trigger).
std::string AlertFeedJson(const policy::ComplianceAlert& alert);

}  // namespace hijackguard::console
