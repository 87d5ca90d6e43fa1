#include "plugin/console/device_pages.h"

#include <algorithm>

#include "common/strings.h"
#include "plugin/console/fleet_page.h"
#include "plugin/console/svg.h"

namespace hijackguard::console {
namespace {

using policy::Action;
using policy::Level;

std::string ActionBadge(Action a) {
  return StrCat("<span class=\"badge action-",
                LowerAscii(policy::ActionName(a)), "\">", policy::ActionName(a),
                "</span>");
}

std::string LevelBadge(Level l) {
  return StrCat("<span class=\"badge level-", LowerAscii(policy::LevelName(l)),
                "\">", policy::LevelName(l), "</span>");
}

std::string_view FilterValue(const DeviceListView& list,
                             std::string_view name) {
  for (const auto& [k, v] : list.filters) {
    if (k == name) return v;
  }
  return {};
}

void AppendSelect(std::string_view name, std::string_view label,
                  const std::vector<std::pair<std::string, std::string>>& opts,
                  std::string_view selected, std::string* out) {
  StrAppend(out, "<label>", label, " <select name=\"", name, "\">");
  for (const auto& [value, text] : opts) {
    StrAppend(out, "<option value=\"", Escape(value), "\"",
              value == selected ? " selected" : "", ">", Escape(text),
              "</option>");
  }
  *out += "</select></label>";
}

std::vector<std::pair<std::string, std::string>> ActionOptions() {
  std::vector<std::pair<std::string, std::string>> opts = {{"", "any"}};
  for (Action a :
       {Action::kAllow, Action::kWarn, Action::kQuarantine, Action::kBlock}) {
    opts.emplace_back(policy::ActionName(a), policy::ActionName(a));
  }
  return opts;
}

void AppendFilters(const DeviceListView& list, std::string* out) {
  *out +=
      "<form class=\"filters\" method=\"get\" action=\"/ui/devices\" "
      "role=\"search\" aria-label=\"Device filters\">";
  if (list.tenant_choices.empty()) {
    StrAppend(out,
              "<label>Tenant <input name=\"tenant\" size=\"14\" "
              "placeholder=\"every tenant\" value=\"",
              Escape(list.query.tenant_id), "\"></label>");
  } else {
    std::vector<std::pair<std::string, std::string>> tenants;
    for (const std::string& t : list.tenant_choices) tenants.emplace_back(t, t);
    AppendSelect("tenant", "Tenant", tenants, list.query.tenant_id, out);
  }
  AppendSelect("enforced", "Enforced", ActionOptions(),
               FilterValue(list, "enforced"), out);
  AppendSelect("evaluated", "Evaluated", ActionOptions(),
               FilterValue(list, "evaluated"), out);
  std::vector<std::pair<std::string, std::string>> levels = {{"", "any"}};
  for (Level l :
       {Level::kLow, Level::kElevated, Level::kHigh, Level::kCritical}) {
    levels.emplace_back(policy::LevelName(l), policy::LevelName(l));
  }
  AppendSelect("level", "Level", levels, FilterValue(list, "level"), out);
  StrAppend(out,
            "<label>Build <input name=\"build\" size=\"10\" "
            "placeholder=\"10A*\" value=\"",
            Escape(FilterValue(list, "build")),
            "\"></label><label>User <input name=\"user\" type=\"search\" "
            "size=\"24\" value=\"",
            Escape(FilterValue(list, "user")),
            "\"></label><button type=\"submit\">Filter</button> <a "
            "href=\"/ui/devices\">Clear</a></form>");
}

}  // namespace

std::string DeviceLink(std::string_view tenant, std::string_view eas_device_id,
                       std::string_view mdm_device_id) {
  return Link("/ui/device",
              {{"tenant", std::string(tenant)},
               {"eas", std::string(eas_device_id)},
               {"mdm", eas_device_id.empty() ? std::string(mdm_device_id)
                                             : std::string()}});
}

std::string RenderDeviceList(const DeviceListView& list) {
  std::string out;
  AppendFilters(list, &out);
  if (!list.error.empty()) {
    StrAppend(&out, "<p class=\"error\" role=\"alert\">", Escape(list.error),
              "</p>");
    return out;
  }
  out +=
      "<table class=\"data sortable\" id=\"devices\"><caption "
      "class=\"visually-hidden\">Devices, highest score first</caption>"
      "<thead><tr><th scope=\"col\">Device</th><th scope=\"col\">Tenant</th>"
      "<th scope=\"col\">User</th><th scope=\"col\">Platform and model</th>"
      "<th scope=\"col\">Build</th><th scope=\"col\">Level</th><th "
      "scope=\"col\" class=\"num\">Score</th><th scope=\"col\">Enforced</th>"
      "<th scope=\"col\">Evaluated</th><th scope=\"col\">Last decided</th>"
      "</tr></thead><tbody>";
  if (list.devices.empty()) {
    out += "<tr><td colspan=\"10\">No device matches.</td></tr>";
  }
  for (const policy::DeviceListing& d : list.devices) {
    const std::string& id =
        d.eas_device_id.empty() ? d.mdm_device_id : d.eas_device_id;
    StrAppend(&out, "<tr><td><a href=\"",
              Escape(DeviceLink(d.tenant_id, d.eas_device_id, d.mdm_device_id)),
              "\">", Escape(id), "</a></td><td>", Escape(d.tenant_id),
              "</td><td>", Escape(d.user_principal), "</td><td>",
              PlatformLabel(d.platform), " ", Escape(d.model_name), "</td><td>",
              Escape(d.build), d.os_version.empty() ? "" : " (",
              Escape(d.os_version), d.os_version.empty() ? "" : ")",
              "</td><td data-sort=\"", static_cast<int>(d.level), "\">",
              LevelBadge(d.level), "</td><td class=\"num\">",
              FormatFixed(d.score, 1), "</td><td>",
              ActionBadge(d.enforced_action), "</td><td>",
              ActionBadge(d.evaluated_action), "</td><td>",
              TimeHtml(d.recorded_at), "</td></tr>");
  }
  out += "</tbody></table>";
  out += "<nav class=\"pages\" aria-label=\"Pages\">";
  if (list.query.after_score) {
    std::vector<std::pair<std::string, std::string>> first = list.filters;
    std::erase_if(first, [](const auto& kv) { return kv.first == "page"; });
    StrAppend(&out, "<a href=\"", Escape(Link("/ui/devices", first)),
              "\">First page</a> ");
  }
  if (!list.next_page_token.empty()) {
    std::vector<std::pair<std::string, std::string>> next = list.filters;
    std::erase_if(next, [](const auto& kv) { return kv.first == "page"; });
    next.emplace_back("page", list.next_page_token);
    StrAppend(&out, "<a href=\"", Escape(Link("/ui/devices", next)),
              "\" rel=\"next\">Next page</a>");
  }
  out += "</nav>";
  return out;
}

namespace {

void AppendFingerprint(const DeviceDetailView& v, std::string* out) {
  const detector::Fingerprint& fp = v.fingerprint;
  StrAppend(
      out,
      "<section aria-labelledby=\"fp\"><h2 id=\"fp\">Fingerprint</h2>"
      "<dl class=\"facts\"><dt>Tenant</dt><dd>",
      Escape(v.risk.tenant_id), "</dd><dt>EAS DeviceId</dt><dd><code>",
      Escape(v.risk.eas_device_id), "</code></dd><dt>MDM id</dt><dd>",
      Escape(v.risk.mdm_device_id), "</dd><dt>User</dt><dd>",
      Escape(v.risk.facts.user_principal), "</dd><dt>Platform</dt><dd>",
      PlatformLabel(detector::PlatformName(fp.platform)),
      "</dd><dt>Model</dt><dd>", Escape(fp.model_name),
      fp.model_code.empty() ? "" : " (", Escape(fp.model_code),
      fp.model_code.empty() ? "" : ")", "</dd><dt>OS</dt><dd>",
      fp.os_version ? Escape(fp.os_version->ToString()) : "unknown",
      "</dd><dt>Build</dt><dd>",
      fp.build ? Escape(fp.build->ToString()) : "unknown",
      fp.build && !fp.build_in_catalog ? " (not in the release catalog)" : "",
      "</dd><dt>User-Agent</dt><dd><code>", Escape(fp.raw_user_agent),
      "</code></dd><dt>Mailboxes</dt><dd>",
      Escape(StrJoin(v.risk.mailboxes, ", ")), "</dd><dt>Observations</dt><dd>",
      v.risk.observations, "</dd></dl>");
  if (!fp.known_issues.empty()) {
    *out += "<h3>Known issues</h3><ul>";
    for (const detector::KnownIssueMatch& m : fp.known_issues) {
      StrAppend(out, "<li><code>", Escape(m.issue->id),
                "</code>: ", Escape(m.issue->title), " (", Escape(m.matched_by),
                ")</li>");
    }
    *out += "</ul>";
  }
  if (fp.disagreements.empty()) {
    *out += "<p>Every source agrees.</p>";
  } else {
    *out +=
        "<h3>Disagreements</h3><table class=\"data\"><thead><tr><th "
        "scope=\"col\">Fact</th><th scope=\"col\">Values</th><th "
        "scope=\"col\">What it usually means</th></tr></thead><tbody>";
    for (const detector::Disagreement& d : fp.disagreements) {
      std::vector<std::string> values;
      for (const detector::SourcedValue& sv : d.values) {
        values.push_back(
            StrCat(detector::FingerprintSourceName(sv.source), ": ", sv.value));
      }
      StrAppend(out, "<tr><th scope=\"row\">", Escape(d.field), "</th><td>",
                Escape(StrJoin(values, "; ")), "</td><td>",
                Escape(d.explanation), "</td></tr>");
    }
    *out += "</tbody></table>";
  }
  *out += "</section>";
}

void AppendDecision(const DeviceDetailView& v, std::string* out) {
  if (!v.decision) return;
  const policy::Evaluation& e = *v.decision;
  StrAppend(out,
            "<section aria-labelledby=\"decision\"><h2 id=\"decision\">"
            "Decision at its next check-in</h2><dl class=\"facts\">"
            "<dt>Enforced</dt><dd id=\"enforced\">",
            ActionBadge(e.enforced_action),
            "</dd><dt>Evaluated</dt><dd "
            "id=\"evaluated\">",
            ActionBadge(e.evaluated_action), "</dd><dt>Last recorded</dt><dd>",
            ActionBadge(v.last_action), "</dd><dt>Mode</dt><dd>",
            policy::ModeName(e.mode), "</dd><dt>Score</dt><dd>",
            FormatFixed(e.score, 1), " ", LevelBadge(e.level),
            "</dd><dt>Policy revision</dt><dd><code>",
            Escape(e.policy_revision), "</code></dd><dt>Grace clock</dt><dd>",
            e.history.warn_since == absl::InfiniteFuture()
                ? std::string("not running")
                : StrCat("running since ", TimeHtml(e.history.warn_since)),
            "</dd><dt>Deadline</dt><dd>",
            e.deadline ? TimeHtml(*e.deadline) : std::string("none"),
            "</dd><dt>Exemption</dt><dd>",
            e.exemption ? StrCat("<code>", Escape(e.exemption->id),
                                 "</code>: ", Escape(e.exemption->reason),
                                 ", until ", TimeHtml(e.exemption->expires))
                        : std::string("none"),
            "</dd></dl>");
  std::vector<Segment> segments;
  double points = 0;
  for (const policy::Reason& r : e.reasons) {
    if (r.contribution > 0) {
      segments.push_back({std::string(r.code), r.contribution, ""});
      points += r.contribution;
    }
  }
  // The score is capped at 100: contributions beyond it are drawn on a
  // longer scale, so that each keeps its share.
  *out += StackedBar(
      points > 100 ? StrCat("Score contributions: ", FormatFixed(points, 1),
                            " points, of which the score counts 100")
                   : std::string("Score contributions (out of 100)"),
      segments, std::max(100.0, points));
  *out +=
      "<table class=\"data\"><caption>Reasons</caption><thead><tr><th "
      "scope=\"col\">Reason</th><th scope=\"col\" class=\"num\">Points</th>"
      "<th scope=\"col\">Known issue</th><th scope=\"col\">Message</th></tr>"
      "</thead><tbody>";
  for (const policy::Reason& r : e.reasons) {
    StrAppend(out, "<tr><th scope=\"row\"><code>", Escape(r.code),
              "</code></th><td class=\"num\">", FormatFixed(r.contribution, 1),
              "</td><td>", Escape(r.known_issue_id), "</td><td>",
              Escape(r.message), "</td></tr>");
  }
  *out += "</tbody></table><h3>Policy members that decided</h3><ul>";
  for (std::string_view rule : e.matched_rules) {
    StrAppend(out, "<li><code>", Escape(rule), "</code></li>");
  }
  *out += "</ul>";
  if (!e.admin_remediation.empty()) {
    StrAppend(out,
              "<h3>In Exchange</h3><p>The Exchange Management Shell command "
              "that enforces the evaluated action:</p><pre "
              "id=\"admin-remediation\" tabindex=\"0\"><code>",
              Escape(e.admin_remediation), "</code></pre>");
  }
  *out += "</section>";
}

void AppendEvents(const DeviceDetailView& v, std::string* out) {
  StrAppend(out,
            "<section aria-labelledby=\"events\"><h2 id=\"events\">Events "
            "(",
            v.risk.events.size(), ")</h2>");
  if (v.risk.events_dropped > 0) {
    StrAppend(out, "<p>", v.risk.events_dropped,
              " older events are no longer kept.</p>");
  }
  *out +=
      "<table class=\"data\" id=\"event-table\"><thead><tr><th "
      "scope=\"col\">Observed</th><th scope=\"col\">Kind</th><th "
      "scope=\"col\">Meeting UID</th><th scope=\"col\">Organizer before</th>"
      "<th scope=\"col\">Organizer after</th><th scope=\"col\">Command</th>"
      "<th scope=\"col\" class=\"num\">Attendees</th><th "
      "scope=\"col\">Evidence</th></tr></thead><tbody>";
  if (v.risk.events.empty()) {
    *out += "<tr><td colspan=\"8\">No events.</td></tr>";
  }
  for (const detector::DetectionEvent& e : v.risk.events) {
    StrAppend(out, "<tr><td>", TimeHtml(e.observed_at), "</td><td><code>",
              detector::EventKindName(e.kind), "</code></td><td><code>",
              Escape(e.uid), "</code></td><td>",
              Escape(e.organizer_email_before), "</td><td>",
              Escape(e.organizer_email_after), "</td><td>", Escape(e.command),
              "</td><td class=\"num\">", e.attendee_count, "</td><td>",
              Escape(e.explanation), "</td></tr>");
  }
  *out += "</tbody></table></section>";
}

void AppendMeetings(const DeviceDetailView& v, std::string* out) {
  *out +=
      "<section aria-labelledby=\"meetings\"><h2 id=\"meetings\">Affected "
      "meetings</h2><table class=\"data\" id=\"meeting-table\"><thead><tr>"
      "<th scope=\"col\">Meeting UID</th><th scope=\"col\">Mailbox</th><th "
      "scope=\"col\">True organizer</th><th scope=\"col\">Claimed "
      "organizer</th><th scope=\"col\">First seen</th><th scope=\"col\">Last "
      "seen</th></tr></thead><tbody>";
  if (v.risk.meetings.empty()) {
    *out += "<tr><td colspan=\"6\">None.</td></tr>";
  }
  for (const detector::AffectedMeeting& m : v.risk.meetings) {
    StrAppend(out, "<tr><td><code>", Escape(m.uid), "</code></td><td>",
              Escape(m.mailbox), "</td><td>", Escape(m.true_organizer_name),
              m.true_organizer_name.empty() ? "" : " ",
              m.true_organizer_name.empty() ? "" : "&lt;",
              Escape(m.true_organizer_email),
              m.true_organizer_name.empty() ? "" : "&gt;", "</td><td>",
              Escape(m.claimed_organizer_email), "</td><td>",
              TimeHtml(m.first_seen), "</td><td>", TimeHtml(m.last_seen),
              "</td></tr>");
  }
  *out += "</tbody></table></section>";
}

}  // namespace

std::string RenderDevice(const DeviceDetailView& device) {
  std::string out;
  AppendDecision(device, &out);
  AppendEvents(device, &out);
  AppendMeetings(device, &out);
  AppendFingerprint(device, &out);
  return out;
}

}  // namespace hijackguard::console
