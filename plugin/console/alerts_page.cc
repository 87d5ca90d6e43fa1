#include "plugin/console/alerts_page.h"

#include "common/strings.h"
#include "nlohmann/json.hpp"
#include "plugin/console/device_pages.h"
#include "plugin/console/html.h"

namespace hijackguard::console {
namespace {

std::string DeviceName(const policy::ComplianceAlert& a) {
  return a.eas_device_id.empty() ? a.mdm_device_id : a.eas_device_id;
}

std::string ReasonCodes(const policy::ComplianceAlert& a) {
  std::vector<std::string> codes;
  codes.reserve(a.reasons.size());
  for (const policy::Reason& r : a.reasons) codes.emplace_back(r.code);
  return StrJoin(codes, ", ");
}

// The row's cells; console.js builds the same cells from AlertFeedJson.
void AppendRow(const policy::ComplianceAlert& a, std::string* out) {
  StrAppend(out, "<tr><td>", TimeHtml(a.emitted_at), "</td><td>",
            Escape(a.tenant_id), "</td><td><a href=\"",
            Escape(DeviceLink(a.tenant_id, a.eas_device_id, a.mdm_device_id)),
            "\"><code>", Escape(DeviceName(a)), "</code></a></td><td>",
            Escape(a.user_principal), "</td><td>",
            Badge("action", policy::ActionName(a.old_action)), " &rarr; ",
            Badge("action", policy::ActionName(a.new_action)), "</td><td>",
            Badge("action", policy::ActionName(a.enforced_action)), "</td><td>",
            policy::ModeName(a.mode), "</td><td class=\"num\">",
            FormatFixed(a.score, 1), "</td><td>", Escape(ReasonCodes(a)),
            "</td><td>", Escape(a.trigger), "</td></tr>");
}

void AppendTenantForm(const AlertsView& view, std::string* out) {
  *out +=
      "<form class=\"filters\" method=\"get\" action=\"/ui/alerts\" "
      "aria-label=\"Alerts tenant\">";
  *out += TenantField(view.tenant, view.tenant_choices, "all of mine");
  *out += "<button type=\"submit\">Show</button></form>";
}

}  // namespace

std::string RenderAlerts(const AlertsView& view) {
  std::string out = StrCat(
      "<p>An alert is sent when a device's evaluated action changes. New "
      "ones appear at the top as they happen; the server keeps the newest ",
      view.kept,
      " (a restart empties the list; the SIEM sinks keep them for good).</p>");
  AppendTenantForm(view, &out);
  // The feed's address carries the tenant and the newest alert shown, so
  // that nothing is shown twice or missed in between.
  if (view.live) {
    StrAppend(&out, "<p id=\"live-status\" role=\"status\" data-stream=\"",
              Escape(Link("/ui/alerts/stream",
                          {{"tenant", view.tenant},
                           {"after", std::to_string(view.last)}})),
              "\">The live feed starts when the page has loaded.</p>");
  } else {
    out +=
        "<p id=\"live-status\" role=\"status\">The live feed is off on this "
        "server (console.max_event_streams is 0): reload the page to see new "
        "alerts.</p>";
  }
  out +=
      "<table class=\"data\" id=\"live-alerts\"><caption>Alerts, newest "
      "first</caption><thead><tr><th scope=\"col\">Time</th><th "
      "scope=\"col\">Tenant</th><th scope=\"col\">Device</th><th "
      "scope=\"col\">User</th><th scope=\"col\">Evaluated</th><th "
      "scope=\"col\">Enforced</th><th scope=\"col\">Mode</th><th "
      "scope=\"col\" class=\"num\">Score</th><th scope=\"col\">Reasons</th><th "
      "scope=\"col\">Trigger</th></tr></thead><tbody>";
  for (const auto& a : view.alerts) AppendRow(*a, &out);
  out += "</tbody></table>";
  if (view.alerts.empty()) {
    out += "<p id=\"no-alerts\">No alerts since the server started.</p>";
  }
  return out;
}

std::string AlertFeedJson(const policy::ComplianceAlert& a) {
  const nlohmann::json j = {
      {"seq", a.sequence},
      {"at", std::string(UtcText(a.emitted_at).view())},
      {"at_text", std::string(UtcText(a.emitted_at, false).view())},
      {"tenant", a.tenant_id},
      {"device", DeviceName(a)},
      {"device_url", DeviceLink(a.tenant_id, a.eas_device_id, a.mdm_device_id)},
      {"user", a.user_principal},
      {"old", std::string(policy::ActionName(a.old_action))},
      {"new", std::string(policy::ActionName(a.new_action))},
      {"enforced", std::string(policy::ActionName(a.enforced_action))},
      {"mode", std::string(policy::ModeName(a.mode))},
      {"score", FormatFixed(a.score, 1)},
      {"reasons", ReasonCodes(a)},
      {"trigger", a.trigger}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace hijackguard::console
