#include "plugin/console/fleet_page.h"

#include <algorithm>
#include <array>
#include <map>

#include "absl/time/time.h"
#include "common/strings.h"
#include "detector/ios_build.h"
#include "detector/version.h"
#include "plugin/console/svg.h"

namespace hijackguard::console {
namespace {

using policy::Action;
using policy::Level;

constexpr std::array<Action, 4> kActions = {
    Action::kAllow, Action::kWarn, Action::kQuarantine, Action::kBlock};
constexpr std::array<Level, 4> kLevels = {Level::kLow, Level::kElevated,
                                          Level::kHigh, Level::kCritical};

// Bars from a map, largest first (ties by label), at most `limit`, the rest
// summed into "other".
std::vector<Bar> TopBars(const std::map<std::string, std::uint64_t>& counts,
                         std::size_t limit) {
  std::vector<Bar> bars;
  bars.reserve(counts.size());
  for (const auto& [label, n] : counts) bars.push_back({label, n, ""});
  std::stable_sort(bars.begin(), bars.end(), [](const Bar& a, const Bar& b) {
    return a.value > b.value;
  });
  if (bars.size() > limit) {
    std::uint64_t rest = 0;
    for (std::size_t i = limit - 1; i < bars.size(); ++i) rest += bars[i].value;
    bars.resize(limit - 1);
    bars.push_back(
        {StrCat("other (", counts.size() - (limit - 1), ")"), rest, "other"});
  }
  return bars;
}

detector::Platform PlatformOf(std::string_view name) {
  for (int p = 0; p <= static_cast<int>(detector::Platform::kOther); ++p) {
    const auto platform = static_cast<detector::Platform>(p);
    if (detector::PlatformName(platform) == name) return platform;
  }
  return detector::Platform::kUnknown;
}

// The catalog's issues each count affects, from its platform, OS version and
// build (what the device list keeps of a fingerprint).
std::vector<std::uint64_t> AffectedByIssue(const FleetView& fleet) {
  const auto& issues = fleet.catalog->issues();
  std::vector<std::uint64_t> affected(issues.size(), 0);
  std::map<std::string, std::vector<std::size_t>> matched;  // by os/build
  for (const policy::DeviceCount& c : fleet.counts) {
    const std::string key = StrCat(c.platform, "/", c.os_version, "/", c.build);
    auto it = matched.find(key);
    if (it == matched.end()) {
      detector::Fingerprint fp;
      fp.platform = PlatformOf(c.platform);
      if (auto v = detector::Version::Parse(c.os_version); v.ok()) {
        fp.os_version = *v;
      }
      if (auto b = detector::ParseIosBuild(c.build); b.ok()) fp.build = *b;
      std::vector<std::size_t> hits;
      for (const detector::KnownIssueMatch& m : fleet.catalog->Match(fp)) {
        for (std::size_t i = 0; i < issues.size(); ++i) {
          if (&issues[i] == m.issue) hits.push_back(i);
        }
      }
      it = matched.emplace(key, std::move(hits)).first;
    }
    for (std::size_t i : it->second) affected[i] += c.devices;
  }
  return affected;
}

void AppendSummary(const FleetView& fleet, std::string* out) {
  std::uint64_t total = 0;
  std::array<std::uint64_t, 4> enforced{};
  std::array<std::uint64_t, 4> evaluated{};
  for (const policy::DeviceCount& c : fleet.counts) {
    total += c.devices;
    enforced[static_cast<std::size_t>(c.enforced_action)] += c.devices;
    evaluated[static_cast<std::size_t>(c.evaluated_action)] += c.devices;
  }
  const bool monitor = fleet.mode == policy::Mode::kMonitor;
  StrAppend(out, "<section aria-labelledby=\"summary\"><h2 id=\"summary\">",
            "Summary</h2><dl class=\"figures\"><div><dt>Devices</dt><dd "
            "id=\"devices-total\">",
            total, "</dd></div><div><dt>Policy</dt><dd>",
            Escape(policy::ModeName(fleet.mode)), " mode, revision <code>",
            Escape(fleet.policy_revision.substr(0, 12)), "</code></dd></div>");
  for (Action a : {Action::kQuarantine, Action::kBlock}) {
    const auto i = static_cast<std::size_t>(a);
    StrAppend(out, "<div><dt>", policy::ActionName(a), " now</dt><dd id=\"",
              LowerAscii(policy::ActionName(a)), "-enforced\">", enforced[i],
              "</dd></div>");
    StrAppend(out, "<div><dt>", policy::ActionName(a),
              monitor ? " in enforce mode" : " evaluated", "</dt><dd id=\"",
              LowerAscii(policy::ActionName(a)), "-evaluated\">", evaluated[i],
              "</dd></div>");
  }
  *out += "</dl></section>";
}

void AppendEnforceTable(const FleetView& fleet, std::string* out) {
  // tenant -> [enforced by action, evaluated by action]
  std::map<std::string, std::array<std::array<std::uint64_t, 4>, 2>> rows;
  for (const policy::DeviceCount& c : fleet.counts) {
    auto& r = rows[c.tenant_id];
    r[0][static_cast<std::size_t>(c.enforced_action)] += c.devices;
    r[1][static_cast<std::size_t>(c.evaluated_action)] += c.devices;
  }
  *out +=
      "<section aria-labelledby=\"enforce\"><h2 id=\"enforce\">Enforced now "
      "and in enforce mode, per tenant</h2><p>Evaluated is what the policy "
      "decides; enforced is what callers are told (the same in enforce mode, "
      "ALLOW or WARN in monitor mode).</p><table class=\"data\"><caption "
      "class=\"visually-hidden\">Devices per tenant and action</caption>"
      "<thead><tr><th scope=\"col\">Tenant</th><th scope=\"col\">Action</th>"
      "<th scope=\"col\" class=\"num\">Enforced now</th><th scope=\"col\" "
      "class=\"num\">Evaluated (enforce mode)</th><th scope=\"col\" "
      "class=\"num\">Change</th></tr></thead><tbody>";
  if (rows.empty()) {
    *out += "<tr><td colspan=\"5\">No device has been decided.</td></tr>";
  }
  for (const auto& [tenant, r] : rows) {
    for (Action a : kActions) {
      const auto i = static_cast<std::size_t>(a);
      if (r[0][i] == 0 && r[1][i] == 0) continue;
      const long long change =
          static_cast<long long>(r[1][i]) - static_cast<long long>(r[0][i]);
      const std::string badge = StrCat("<span class=\"badge action-",
                                       LowerAscii(policy::ActionName(a)), "\">",
                                       policy::ActionName(a), "</span>");
      const std::string tenant_cell =
          fleet.links
              ? StrCat("<a href=\"",
                       Escape(Link("/ui/devices", {{"tenant", tenant}})), "\">",
                       Escape(tenant), "</a>")
              : Escape(tenant);
      const std::string action_cell =
          fleet.links
              ? StrCat("<a href=\"",
                       Escape(Link("/ui/devices",
                                   {{"tenant", tenant},
                                    {"evaluated",
                                     std::string(policy::ActionName(a))}})),
                       "\">", badge, "</a>")
              : badge;
      StrAppend(out, "<tr><th scope=\"row\">", tenant_cell, "</th><td>",
                action_cell, "</td><td class=\"num\">", r[0][i],
                "</td><td class=\"num\">", r[1][i], "</td><td class=\"num\">",
                change > 0 ? "+" : "", change, "</td></tr>");
    }
  }
  *out += "</tbody></table></section>";
}

void AppendCharts(const FleetView& fleet, std::string* out) {
  std::map<std::string, std::uint64_t> trains;
  std::map<std::string, std::uint64_t> builds;
  std::array<std::uint64_t, 4> levels{};
  for (const policy::DeviceCount& c : fleet.counts) {
    trains[TrainLabel(c.platform, c.os_version)] += c.devices;
    builds[c.build.empty()
               ? StrCat(PlatformLabel(c.platform), " (no build)")
               : StrCat(PlatformLabel(c.platform), " ", c.build,
                        c.os_version.empty() ? "" : " (", c.os_version,
                        c.os_version.empty() ? "" : ")")] += c.devices;
    levels[static_cast<std::size_t>(c.level)] += c.devices;
  }
  std::vector<Bar> level_bars;
  level_bars.reserve(kLevels.size());
  for (Level l : kLevels) {
    level_bars.push_back({std::string(policy::LevelName(l)),
                          levels[static_cast<std::size_t>(l)],
                          StrCat("level-", LowerAscii(policy::LevelName(l)))});
  }
  *out += "<section aria-labelledby=\"charts\"><h2 id=\"charts\">Devices</h2>";
  *out += BarChart("Devices by platform and OS train", TopBars(trains, 12));
  *out +=
      BarChart("Devices by build (the 20 most common)", TopBars(builds, 20));
  *out += BarChart("Devices by risk level", level_bars);
  *out += "</section>";
}

void AppendEvents(const FleetView& fleet, std::string* out) {
  *out +=
      "<section aria-labelledby=\"events\"><h2 id=\"events\">Detection "
      "events</h2>";
  if (!fleet.events_error.empty()) {
    StrAppend(out, "<p class=\"error\">", Escape(fleet.events_error),
              "</p></section>");
    return;
  }
  std::map<std::int64_t, std::uint64_t> by_day;
  std::uint64_t total = 0;
  const std::int64_t first = fleet.today - fleet.days + 1;
  for (const detector::EventDay& d : fleet.event_days) {
    if (d.day < first || d.day > fleet.today) continue;
    by_day[d.day] += d.events;
    total += d.events;
  }
  std::vector<Bar> columns;
  columns.reserve(static_cast<std::size_t>(fleet.days));
  for (std::int64_t day = first; day <= fleet.today; ++day) {
    const absl::Time t = absl::FromUnixSeconds(day * 86400);
    const auto found = by_day.find(day);
    columns.push_back({absl::FormatTime("%b %d", t, absl::UTCTimeZone()),
                       found == by_day.end() ? 0 : found->second, ""});
  }
  StrAppend(out, "<p id=\"events-total\">", total,
            total == 1 ? " detection event was" : " detection events were",
            " recorded in the last ", fleet.days,
            " days (UTC days; retention may have removed older ones).</p>",
            ColumnChart(
                StrCat("Detection events per day, last ", fleet.days, " days"),
                columns, 7),
            "</section>");
}

void AppendKnownIssues(const FleetView& fleet, std::string* out) {
  if (fleet.catalog == nullptr) return;
  const std::vector<std::uint64_t> affected = AffectedByIssue(fleet);
  StrAppend(out,
            "<section aria-labelledby=\"issues\"><h2 id=\"issues\">Known "
            "issues</h2><p>From the catalog, version ",
            Escape(fleet.catalog->catalog_version()),
            "; a device counts for an issue its platform, OS version and "
            "build match.</p><table class=\"data\"><caption "
            "class=\"visually-hidden\">Known issues and the devices they "
            "affect</caption><thead><tr><th scope=\"col\">Issue</th><th "
            "scope=\"col\">Category</th><th scope=\"col\">Fixed in</th><th "
            "scope=\"col\" class=\"num\">Devices</th></tr></thead><tbody>");
  const auto& issues = fleet.catalog->issues();
  for (std::size_t i = 0; i < issues.size(); ++i) {
    const detector::KnownIssue& issue = issues[i];
    StrAppend(out, "<tr><th scope=\"row\">", Escape(issue.title), "<br><code>",
              Escape(issue.id), "</code></th><td>", Escape(issue.category),
              "</td><td>",
              issue.fixed_in ? Escape(issue.fixed_in->ToString())
                             : std::string("not known"),
              "</td><td class=\"num\">", affected[i], "</td></tr>");
  }
  *out += "</tbody></table></section>";
}

}  // namespace

std::string PlatformLabel(std::string_view platform) {
  if (platform == "ios") return "iOS";
  if (platform == "android") return "Android";
  if (platform == "windows-phone") return "Windows Phone";
  if (platform == "outlook-mobile") return "Outlook mobile";
  if (platform == "other") return "Other";
  return "Unknown platform";
}

std::string TrainLabel(std::string_view platform, std::string_view os_version) {
  const std::string name = PlatformLabel(platform);
  if (os_version.empty()) return StrCat(name, " (version unknown)");
  return StrCat(name, " ", os_version.substr(0, os_version.find('.')));
}

std::string RenderFleet(const FleetView& fleet) {
  std::string out;
  AppendSummary(fleet, &out);
  AppendEnforceTable(fleet, &out);
  AppendCharts(fleet, &out);
  AppendEvents(fleet, &out);
  AppendKnownIssues(fleet, &out);
  return out;
}

}  // namespace hijackguard::console
