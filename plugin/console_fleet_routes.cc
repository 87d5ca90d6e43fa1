// The console's fleet, device and repair list pages.
#include "common/strings.h"
#include "common/utf8.h"
#include "plugin/console/device_pages.h"
#include "plugin/console/fleet_page.h"
#include "plugin/console/html.h"
#include "plugin/console/repair_page.h"
#include "plugin/console_app.h"

namespace hijackguard::plugin::console_web {

using console::Section;

HttpResponse Console::Fleet(const HttpRequest& r, const Admitted& a) const {
  (void)r;
  console::FleetView fleet;
  fleet.catalog = &d_.detector->catalog();
  const std::shared_ptr<const policy::Policy> policy = d_.engine->policy();
  fleet.mode = policy->For("").mode.value;
  fleet.policy_revision = policy->revision();
  std::vector<std::string> tenants = a.viewer.tenants;
  if (a.viewer.all_tenants) tenants = {""};
  for (const std::string& t : tenants) {
    absl::StatusOr<std::vector<policy::DeviceCount>> counts =
        d_.engine->CountDevices(t);
    if (!counts.ok()) {
      return MessagePage(503, "Fleet", Message(counts.status()), &a.viewer);
    }
    fleet.counts.insert(fleet.counts.end(), counts->begin(), counts->end());
  }
  const absl::Time now = d_.clock->Now();
  fleet.today = absl::ToUnixSeconds(now) / 86400;
  const absl::Time since = absl::FromUnixSeconds(
      (fleet.today - fleet.days + 1) * std::int64_t{86400});
  for (const std::string& t : tenants) {
    absl::StatusOr<std::vector<detector::EventDay>> days =
        d_.detector->CountEventsByDay(t, since);
    if (!days.ok()) {
      fleet.events_error = std::string(Message(days.status()));
      break;
    }
    fleet.event_days.insert(fleet.event_days.end(), days->begin(), days->end());
  }
  return Html(200, console::RenderPage({"Fleet", Section::kFleet, &a.viewer},
                                       console::RenderFleet(fleet)));
}

namespace {

// The list's filters from the query (the tenant `default_tenant` when none
// is asked for); errors name the parameter.
absl::Status ReadDeviceFilters(const HttpRequest& r,
                               std::string_view default_tenant,
                               console::DeviceListView* list) {
  policy::DeviceQuery& q = list->query;
  for (const auto& [name, value] : r.query) {
    if (value.empty()) continue;
    if (name == "tenant") {
      q.tenant_id = value;
    } else if (name == "enforced" || name == "evaluated") {
      const std::optional<policy::Action> action = policy::ParseAction(value);
      if (!action) {
        return absl::InvalidArgumentError(
            StrCat(name, ": ", QuoteInput(value),
                   " is not ALLOW, WARN, QUARANTINE or BLOCK"));
      }
      (name == "enforced" ? q.enforced_actions : q.evaluated_actions)
          .push_back(*action);
    } else if (name == "level") {
      const std::optional<policy::Level> level = policy::ParseLevel(value);
      if (!level) {
        return absl::InvalidArgumentError(
            StrCat("level: ", QuoteInput(value),
                   " is not LOW, ELEVATED, HIGH or CRITICAL"));
      }
      q.levels.push_back(*level);
    } else if (name == "build") {
      q.build = value;
    } else if (name == "user") {
      q.user_principal = value;
    } else if (name != "page") {
      return absl::InvalidArgumentError(
          StrCat("the device list has no filter ", QuoteInput(name)));
    }
    list->filters.emplace_back(name, value);
  }
  if (q.tenant_id.empty() && !default_tenant.empty()) {
    // In the filters too, so that the page links carry it (page tokens
    // are bound to the filters they were made for).
    q.tenant_id = std::string(default_tenant);
    list->filters.emplace_back("tenant", q.tenant_id);
  }
  q.page_size = 50;
  if (absl::Status s = policy::NormalizeQuery(&q); !s.ok()) return s;
  if (auto page = r.Param("page"); page && !page->empty()) {
    return policy::DecodePageToken(*page, &q);
  }
  return absl::OkStatus();
}

}  // namespace

HttpResponse Console::Devices(const HttpRequest& r, const Admitted& a) const {
  console::DeviceListView list;
  if (!a.viewer.all_tenants) list.tenant_choices = a.viewer.tenants;
  const std::string default_tenant =
      a.viewer.all_tenants || a.viewer.tenants.empty()
          ? std::string()
          : a.viewer.tenants.front();
  if (absl::Status s = ReadDeviceFilters(r, default_tenant, &list); !s.ok()) {
    list.error = std::string(Message(s));
  } else {
    if (absl::Status allowed = CheckTenant(a, list.query.tenant_id);
        !allowed.ok()) {
      return MessagePage(403, "Devices", Message(allowed), &a.viewer);
    }
    absl::StatusOr<policy::DevicePage> page =
        d_.engine->ListDevices(list.query);
    if (!page.ok()) {
      list.error = std::string(Message(page.status()));
    } else {
      list.devices = std::move(page->devices);
      list.next_page_token = std::move(page->next_page_token);
    }
  }
  return Html(list.error.empty() ? 200 : 400,
              console::RenderPage({"Devices", Section::kDevices, &a.viewer},
                                  console::RenderDeviceList(list)));
}

HttpResponse Console::Device(const HttpRequest& r, const Admitted& a) const {
  const std::string tenant(r.Param("tenant").value_or(""));
  const std::string eas(r.Param("eas").value_or(""));
  const std::string mdm(r.Param("mdm").value_or(""));
  if (eas.empty() && mdm.empty()) {
    return MessagePage(400, "Device",
                       "eas: name the device by its EAS DeviceId (eas) or "
                       "its MDM id (mdm)",
                       &a.viewer);
  }
  if (tenant.empty()) {
    return MessagePage(400, "Device", "tenant: name the device's tenant",
                       &a.viewer);
  }
  if (absl::Status s = CheckTenant(a, tenant); !s.ok()) {
    return MessagePage(403, "Device", Message(s), &a.viewer);
  }
  absl::StatusOr<std::optional<detector::DeviceRisk>> found =
      d_.detector->GetDeviceRisk(tenant, eas, mdm);
  if (!found.ok()) {
    return MessagePage(
        503, "Device",
        StrCat("the device's state cannot be read: ", Message(found.status())),
        &a.viewer);
  }
  if (!*found) {
    return MessagePage(
        404, "Device",
        StrCat("no device ", eas.empty() ? StrCat("with MDM id ", mdm) : eas,
               " in tenant ", tenant, " has been seen"),
        &a.viewer);
  }
  console::DeviceDetailView view;
  view.risk = **std::move(found);
  view.fingerprint = detector::IdentifyDevice(
      detector::ToFingerprintInput(view.risk.facts), d_.detector->catalog());
  view.now = d_.clock->Now();
  absl::StatusOr<policy::PolicyEngine::DeviceView> decided =
      d_.engine->ViewDevice(view.fingerprint, view.risk.facts, view.now);
  if (!decided.ok()) {
    return MessagePage(503, "Device", Message(decided.status()), &a.viewer);
  }
  view.decision = std::move(decided->evaluation);
  view.last_action = decided->last_action;
  const std::string& id = view.risk.eas_device_id.empty()
                              ? view.risk.mdm_device_id
                              : view.risk.eas_device_id;
  return Html(200, console::RenderPage(
                       {StrCat("Device ", id), Section::kDevices, &a.viewer},
                       console::RenderDevice(view)));
}

HttpResponse Console::Repairs(const HttpRequest& r, const Admitted& a) const {
  absl::StatusOr<std::string> tenant = ListTenant(r, a);
  if (!tenant.ok()) {
    return MessagePage(403, "Repair list", Message(tenant.status()), &a.viewer);
  }
  console::RepairView view;
  view.tenant = *tenant;
  view.subjects = d_.subjects;
  if (!a.viewer.all_tenants) view.tenant_choices = a.viewer.tenants;
  const std::string_view token = r.Param("page").value_or("");
  view.first_page = token.empty();
  absl::StatusOr<detector::RepairPage> page =
      d_.detector->ListRepairs(view.tenant, token, 50);
  if (!page.ok()) {
    view.error = std::string(Message(page.status()));
  } else {
    view.items = std::move(page->items);
    view.next_page_token = std::move(page->next_page_token);
  }
  const int status =
      !page.ok() && page.status().code() == absl::StatusCode::kInvalidArgument
          ? 400
          : (page.ok() ? 200 : 503);
  return Html(status,
              console::RenderPage({"Repair list", Section::kRepair, &a.viewer},
                                  console::RenderRepairList(view)));
}

// The CSV holds the whole list, at most this many meetings (a CSV past it
// is refused rather than cut short unnoticed).
constexpr std::size_t kMaxCsvItems = 200'000;

HttpResponse Console::RepairCsv(const HttpRequest& r, const Admitted& a) const {
  absl::StatusOr<std::string> tenant = ListTenant(r, a);
  if (!tenant.ok()) {
    return MessagePage(403, "Repair list", Message(tenant.status()), &a.viewer);
  }
  // At most two at once: an export holds a listener thread and the list in
  // memory while it runs.
  if (csv_exports_.fetch_add(1) >= kConsoleCsvExports) {
    csv_exports_.fetch_sub(1);
    return MessagePage(503, "Repair list",
                       "two CSV exports are running; try again in a moment",
                       &a.viewer);
  }
  struct Done {
    std::atomic<int>* running;
    ~Done() { running->fetch_sub(1); }
  } done{&csv_exports_};
  std::vector<detector::RepairItem> items;
  std::string token;
  do {
    absl::StatusOr<detector::RepairPage> page =
        d_.detector->ListRepairs(*tenant, token, detector::kMaxRepairPageSize);
    if (!page.ok()) {
      return MessagePage(503, "Repair list", Message(page.status()), &a.viewer);
    }
    for (detector::RepairItem& item : page->items) {
      items.push_back(std::move(item));
    }
    if (items.size() > kMaxCsvItems) {
      return MessagePage(
          413, "Repair list",
          StrCat("the repair list holds more than ", kMaxCsvItems,
                 " meetings: download it a tenant at a time"),
          &a.viewer);
    }
    token = std::move(page->next_page_token);
  } while (!token.empty());
  HttpResponse out;
  out.content_type = "text/csv; charset=utf-8";
  out.body = console::RepairCsv(items, d_.subjects);
  std::string name = tenant->empty() ? "all" : *tenant;
  for (char& c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '_')) {
      c = '_';
    }
  }
  out.headers.emplace_back(
      "Content-Disposition",
      StrCat("attachment; filename=\"hijackguard-repair-", name, ".csv\""));
  return WithHeaders(std::move(out));
}

}  // namespace hijackguard::plugin::console_web
