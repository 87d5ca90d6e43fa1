#include "plugin/console_routes.h"

#include <atomic>

#include "absl/strings/str_split.h"
#include "common/strings.h"
#include "common/url_form.h"
#include "common/utf8.h"
#include "nlohmann/json.hpp"
#include "plugin/console/assets.h"
#include "plugin/console/device_pages.h"
#include "plugin/console/fleet_page.h"
#include "plugin/console/html.h"
#include "plugin/console/policy_page.h"
#include "plugin/console/repair_page.h"
#include "plugin/convert.h"
#include "plugin/proto_json.h"

namespace hijackguard::plugin {
namespace {

using console::Section;
using console::Viewer;

// The headers every console answer carries. Connection: close, because a
// browser's idle keep-alive connection would hold one of the listener's
// threads, which the gateway needs.
HttpResponse WithHeaders(HttpResponse r) {
  r.headers.emplace_back("Content-Security-Policy", std::string(kConsoleCsp));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  // same-origin, not no-referrer: with no-referrer a browser posts forms
  // with "Origin: null", which would hide where they come from.
  r.headers.emplace_back("Referrer-Policy", "same-origin");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Connection", "close");
  return r;
}

HttpResponse Html(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::move(body);
  return WithHeaders(std::move(r));
}

HttpResponse Redirect(std::string location) {
  HttpResponse r;
  r.status = 303;
  r.headers.emplace_back("Location", std::move(location));
  r.content_type = "text/plain; charset=utf-8";
  r.body = "See Other\n";
  return WithHeaders(std::move(r));
}

HttpResponse MessagePage(int status, std::string_view title,
                         std::string_view message, const Viewer* viewer) {
  return Html(status,
              console::RenderPage({std::string(title), Section::kNone, viewer},
                                  console::RenderMessage(message)));
}

HttpResponse SignInPage(int status, std::string_view message) {
  return Html(status, console::RenderPage({"Sign in", Section::kNone, nullptr},
                                          console::RenderSignIn(message)));
}

std::string_view Message(const absl::Status& s) {
  return {s.message().data(), s.message().size()};
}

bool LoopbackPeer(std::string_view peer) {
  return peer.starts_with("ipv4:127.") || peer == "ipv6:::1" ||
         peer.starts_with("ipv6:::ffff:127.");
}

// A form posted from another site is refused (the cookie is SameSite
// Strict too; this also covers the sign-in form, which has no cookie yet).
// Browsers say where a request comes from in Sec-Fetch-Site, older ones in
// Origin; a request with neither is not a browser's cross-site form.
bool SameOrigin(const HttpRequest& r) {
  if (const auto site = r.Header("Sec-Fetch-Site")) {
    return *site == "same-origin" || *site == "none";
  }
  const std::optional<std::string_view> origin = r.Header("Origin");
  if (!origin) return true;
  const std::string_view host = r.Header("Host").value_or("");
  return *origin == StrCat("http://", host) ||
         *origin == StrCat("https://", host);
}

// In development mode every caller is an administrator: a page is served
// only under a loopback name, so that a web site the developer visits
// cannot rebind its own name to 127.0.0.1 and read the console.
constexpr std::string_view kNotLoopbackHost =
    "in development mode the console answers only at a loopback address or "
    "localhost";

bool LoopbackHost(const HttpRequest& r) {
  std::string_view host = r.Header("Host").value_or("");
  if (host.starts_with("[")) {
    host = host.substr(0, host.find(']') + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  if (host == "localhost" || host == "[::1]") return true;
  if (!host.starts_with("127.")) return false;
  return host.find_first_not_of("0123456789.") == std::string_view::npos;
}

class Console {
 public:
  explicit Console(ConsoleDeps deps) : d_(deps) {}

  HttpResponse Get(const HttpRequest& r) const;
  HttpResponse SignIn(const HttpRequest& r) const;
  HttpResponse SignOut(const HttpRequest& r) const;
  HttpResponse Simulate(const HttpRequest& r) const;

 private:
  struct Admitted {
    Caller caller;
    Viewer viewer;
  };
  // The viewer of a page, or the answer that refuses it (a redirect to the
  // sign-in page for a browser without a session).
  std::variant<Admitted, HttpResponse> Admit(const HttpRequest& r) const;
  // OK when the viewer may see `tenant` ("" = every tenant); the refusal is
  // recorded in the audit log.
  absl::Status CheckTenant(const Admitted& a, std::string_view tenant) const;

  HttpResponse Fleet(const HttpRequest& r, const Admitted& a) const;
  HttpResponse Devices(const HttpRequest& r, const Admitted& a) const;
  HttpResponse Device(const HttpRequest& r, const Admitted& a) const;
  HttpResponse Repairs(const HttpRequest& r, const Admitted& a) const;
  HttpResponse Policy(const Admitted& a, console::PolicyView view,
                      int status) const;
  HttpResponse RepairCsv(const HttpRequest& r, const Admitted& a) const;
  // The tenant a list page shows: the one asked for, else the viewer's
  // first (every tenant for a viewer of all); the refusal is audited.
  absl::StatusOr<std::string> ListTenant(const HttpRequest& r,
                                         const Admitted& a) const;

  ConsoleDeps d_;
  // CSV exports running now (each reads a tenant's whole list).
  mutable std::atomic<int> csv_exports_{0};
};

std::variant<Console::Admitted, HttpResponse> Console::Admit(
    const HttpRequest& r) const {
  if (d_.access->development() && !LoopbackHost(r)) {
    return MessagePage(421, "Not allowed", kNotLoopbackHost, nullptr);
  }
  absl::StatusOr<Caller> caller;
  bool session = false;
  const std::string_view cookie =
      SessionCookieValue(r.Header("Cookie").value_or(""));
  if (d_.access->development() || r.cert) {
    Credentials c;
    c.peer = r.peer;
    c.cert = r.cert;
    c.token_hint = "the console's sign-in page";
    caller = d_.access->Admit(c, Rpc::kConsole);
  }
  // A certificate that names no principal counts as none: the session, if
  // any, decides (browsers present certificates on their own).
  if (!d_.access->development() && (!r.cert || !caller.ok()) &&
      !cookie.empty()) {
    caller = d_.sessions->Resume(cookie);
    session = true;
  } else if (!d_.access->development() && !r.cert) {
    return Redirect("/ui/login");
  }
  if (!caller.ok()) {
    if (caller.status().code() == absl::StatusCode::kUnauthenticated) {
      return SignInPage(401, Message(caller.status()));
    }
    return MessagePage(403, "Not allowed", Message(caller.status()), nullptr);
  }
  Admitted a{*caller, {}};
  a.viewer.session = session;
  if (d_.access->development() || caller->principal == nullptr) {
    a.viewer.principal = caller->actor.principal;
    a.viewer.all_tenants = true;
  } else {
    a.viewer.principal = caller->principal->id;
    a.viewer.all_tenants = caller->principal->all_tenants;
    a.viewer.tenants = caller->principal->tenants;
  }
  return a;
}

absl::Status Console::CheckTenant(const Admitted& a,
                                  std::string_view tenant) const {
  return d_.access->CheckTenant(a.caller, Rpc::kConsole, tenant);
}

HttpResponse Console::Get(const HttpRequest& r) const {
  if (r.path.starts_with("/ui/assets/")) {
    std::optional<console::Asset> asset =
        console::FindAsset(std::string_view(r.path).substr(11));
    if (!asset) return MessagePage(404, "Not found", "no such asset", nullptr);
    HttpResponse out;
    out.content_type = std::string(asset->content_type);
    out.body = std::string(asset->body);
    return WithHeaders(std::move(out));
  }
  if (r.path == "/ui/login") return SignInPage(200, "");
  auto admitted = Admit(r);
  if (auto* refused = std::get_if<HttpResponse>(&admitted)) {
    return std::move(*refused);
  }
  const Admitted& a = std::get<Admitted>(admitted);
  if (!r.query_error.ok()) {
    return MessagePage(400, "Bad request", Message(r.query_error), &a.viewer);
  }
  if (r.path == "/ui/") return Fleet(r, a);
  if (r.path == "/ui/devices") return Devices(r, a);
  if (r.path == "/ui/device") return Device(r, a);
  if (r.path == "/ui/repair") return Repairs(r, a);
  if (r.path == "/ui/policy") return Policy(a, {}, 200);
  if (r.path == "/ui/repair.csv") return RepairCsv(r, a);
  return MessagePage(404, "Not found", "There is no such console page.",
                     &a.viewer);
}

HttpResponse Console::SignIn(const HttpRequest& r) const {
  if (!SameOrigin(r)) {
    return SignInPage(403, "the sign-in form was posted from another site");
  }
  if (d_.access->development() && !LoopbackHost(r)) {
    return SignInPage(421, kNotLoopbackHost);
  }
  if (!d_.tls && !LoopbackPeer(r.peer)) {
    return SignInPage(403,
                      "token sign-in over plaintext HTTP is allowed only from "
                      "loopback: serve the console over TLS (http.tls)");
  }
  absl::StatusOr<FormFields> form = ParseForm(r.body);
  if (!form.ok()) {
    return SignInPage(400, StrCat("the form: ", Message(form.status())));
  }
  const std::string_view token = FormValue(*form, "token");
  if (token.empty()) return SignInPage(400, "enter a token");
  Credentials c;
  c.peer = r.peer;
  c.token = std::string(token);
  c.token_hint = "the console's sign-in page";
  absl::StatusOr<Caller> caller = d_.access->Admit(c, Rpc::kConsole);
  if (!caller.ok()) {
    const bool unauthenticated =
        caller.status().code() == absl::StatusCode::kUnauthenticated;
    return SignInPage(unauthenticated ? 401 : 403,
                      unauthenticated ? std::string_view("that token is not "
                                                         "known")
                                      : Message(caller.status()));
  }
  if (d_.access->development()) {
    // Development mode needs no session.
    return Redirect("/ui/");
  }
  // A sign-in replaces the browser's session: the old one ends now.
  if (const std::string_view old =
          SessionCookieValue(r.Header("Cookie").value_or(""));
      !old.empty()) {
    d_.sessions->End(old);
  }
  absl::StatusOr<std::string> id = d_.sessions->Create(*std::move(caller));
  if (!id.ok()) return SignInPage(429, Message(id.status()));
  HttpResponse out = Redirect("/ui/");
  out.headers.emplace_back(
      "Set-Cookie", StrCat(kSessionCookie, "=", *id, "; Path=/; Max-Age=",
                           absl::ToInt64Seconds(d_.sessions->ttl()),
                           "; HttpOnly; Secure; SameSite=Strict"));
  return out;
}

HttpResponse Console::SignOut(const HttpRequest& r) const {
  if (!SameOrigin(r)) {
    return SignInPage(403, "the sign-out form was posted from another site");
  }
  const std::string_view cookie =
      SessionCookieValue(r.Header("Cookie").value_or(""));
  if (!cookie.empty()) d_.sessions->End(cookie);
  HttpResponse out = Redirect("/ui/login");
  out.headers.emplace_back("Set-Cookie",
                           StrCat(kSessionCookie,
                                  "=; Path=/; Max-Age=0; HttpOnly; Secure; "
                                  "SameSite=Strict"));
  return out;
}

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
  return Html(200, console::RenderPage({"Fleet", Section::kFleet, &a.viewer},
                                       console::RenderFleet(fleet)));
}

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

absl::StatusOr<std::string> Console::ListTenant(const HttpRequest& r,
                                                const Admitted& a) const {
  std::string tenant(r.Param("tenant").value_or(""));
  if (tenant.empty() && !a.viewer.all_tenants && !a.viewer.tenants.empty()) {
    tenant = a.viewer.tenants.front();
  }
  if (absl::Status s = CheckTenant(a, tenant); !s.ok()) return s;
  return tenant;
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
  if (csv_exports_.fetch_add(1) >= 2) {
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

// The history rows from the audit log's policy records.
std::vector<console::PolicyHistoryRow> PolicyHistory(
    const std::vector<policy::AuditEntry>& rows) {
  std::vector<console::PolicyHistoryRow> out;
  for (const policy::AuditEntry& row : rows) {
    const nlohmann::json j = nlohmann::json::parse(row.record, nullptr, false);
    if (!j.is_object()) continue;
    console::PolicyHistoryRow& h = out.emplace_back();
    h.seq = row.seq;
    h.at = row.at;
    h.revision = j.value("revision", "");
    h.previous_revision = j.value("previous_revision", "");
    h.origin = j.value("origin", "");
    h.mode = j.value("mode", "");
    if (const auto a = j.find("actor"); a != j.end() && a->is_object()) {
      h.principal = a->value("principal", "");
      h.auth = a->value("auth", "");
      h.peer = a->value("peer", "");
    }
  }
  return out;
}

HttpResponse Console::Policy(const Admitted& a, console::PolicyView view,
                             int status) const {
  // The policy concerns every tenant, as GetPolicy does.
  if (absl::Status s = CheckTenant(a, ""); !s.ok()) {
    return MessagePage(403, "Policy",
                       StrCat(Message(s),
                              ": the policy concerns every "
                              "tenant; ask a principal of every "
                              "tenant (\"*\")"),
                       &a.viewer);
  }
  const policy::PolicyEngine::PolicyInfo info = d_.engine->policy_info();
  view.document = info.policy->source().empty() ? info.policy->canonical()
                                                : info.policy->source();
  view.revision = info.policy->revision();
  view.origin = info.origin;
  view.mode = std::string(policy::ModeName(info.policy->For("").mode.value));
  view.applied_at = info.applied_at;
  view.audited = d_.store != nullptr;
  if (d_.store != nullptr) {
    absl::StatusOr<std::vector<policy::AuditEntry>> rows =
        d_.store->ReadAudit("policy", 0, 50);
    if (!rows.ok()) {
      return MessagePage(503, "Policy", Message(rows.status()), &a.viewer);
    }
    view.history = PolicyHistory(*rows);
  }
  return Html(status,
              console::RenderPage({"Policy", Section::kPolicy, &a.viewer},
                                  console::RenderPolicy(view)));
}

// The simulate form's largest body.
constexpr std::size_t kMaxSimulateForm = 1 << 20;

// A SimulateDecision request from the form; errors name the field.
absl::Status SimulateRequest(const console::SimulateForm& f,
                             v1::SimulateDecisionRequest* request) {
  v1::CheckInRequest* c = request->mutable_check_in();
  c->set_tenant_id(f.tenant);
  c->mutable_device()->set_eas_device_id(f.device_id.empty() ? "SIMULATED"
                                                             : f.device_id);
  c->mutable_device()->set_user_principal(f.user);
  c->mutable_eas()->set_user_agent(f.user_agent);
  for (const auto& [name, value, out] :
       {std::tuple{"now", &f.now, request->mutable_now()},
        std::tuple{"warn_since", &f.warn_since,
                   request->mutable_warn_since()}}) {
    if (value->empty()) {
      continue;
    }
    absl::Time t;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, *value, &t, &error)) {
      return absl::InvalidArgumentError(
          StrCat(name, ": ", QuoteInput(*value),
                 " is not an RFC 3339 time such as 2026-12-01T09:00:00Z"));
    }
    ToProto(t, out);
  }
  if (f.now.empty()) request->clear_now();
  if (f.warn_since.empty()) request->clear_warn_since();
  std::size_t line_no = 0;
  for (const absl::string_view raw : absl::StrSplit(f.events, '\n')) {
    ++line_no;
    const std::string_view line(raw.data(), raw.size());
    const std::size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string_view::npos || line[first] == '#') continue;
    if (absl::Status s = FromJson(line, request->add_events()); !s.ok()) {
      return absl::InvalidArgumentError(
          StrCat("events, line ", line_no, ": ", Message(s)));
    }
  }
  return absl::OkStatus();
}

console::SimulationView SimulationOf(const v1::CheckInResponse& d) {
  console::SimulationView v;
  auto action = [](v1::Action a) {
    std::string name = v1::Action_Name(a);
    return name.starts_with("ACTION_") ? name.substr(7) : name;
  };
  v.enforced_action = action(d.enforced_action());
  v.evaluated_action = action(d.evaluated_action());
  std::string level = v1::RiskLevel_Name(d.level());
  v.level = level.starts_with("RISK_LEVEL_") ? level.substr(11) : level;
  v.mode = d.mode() == v1::POLICY_MODE_ENFORCE ? "enforce" : "monitor";
  v.score = d.score();
  for (const v1::Reason& r : d.reasons()) {
    v.reasons.push_back(
        {r.code(), r.message(), r.known_issue_id(), r.contribution()});
  }
  v.matched_rules.assign(d.matched_rules().begin(), d.matched_rules().end());
  if (d.has_deadline()) v.deadline = FromProto(d.deadline());
  v.decided_at = FromProto(d.decided_at());
  v.policy_revision = d.policy_revision();
  v.alert_title = d.user_alert().title();
  v.alert_message = d.user_alert().message();
  v.admin_remediation = d.admin_remediation();
  return v;
}

HttpResponse Console::Simulate(const HttpRequest& r) const {
  if (!SameOrigin(r)) {
    return MessagePage(403, "Policy", "the form was posted from another site",
                       nullptr);
  }
  auto admitted = Admit(r);
  if (auto* refused = std::get_if<HttpResponse>(&admitted)) {
    return std::move(*refused);
  }
  const Admitted& a = std::get<Admitted>(admitted);
  console::PolicyView view;
  if (r.body.size() > kMaxSimulateForm) {
    view.error = StrCat("the form is over ", kMaxSimulateForm, " bytes");
    return Policy(a, std::move(view), 413);
  }
  absl::StatusOr<FormFields> form = ParseForm(r.body);
  if (!form.ok()) {
    view.error = StrCat("the form: ", Message(form.status()));
    return Policy(a, std::move(view), 400);
  }
  console::SimulateForm& f = view.form;
  f.tenant = std::string(FormValue(*form, "tenant"));
  f.device_id = std::string(FormValue(*form, "device_id"));
  f.user = std::string(FormValue(*form, "user"));
  f.user_agent = std::string(FormValue(*form, "user_agent"));
  f.now = std::string(FormValue(*form, "now"));
  f.warn_since = std::string(FormValue(*form, "warn_since"));
  // Browsers send a textarea's line breaks as CRLF.
  for (const char c : FormValue(*form, "events")) {
    if (c != '\r') f.events += c;
  }
  // The simulation concerns every tenant's policy, as SimulateDecision.
  if (absl::Status s = CheckTenant(a, ""); !s.ok()) {
    return MessagePage(403, "Policy", Message(s), &a.viewer);
  }
  v1::SimulateDecisionRequest request;
  absl::Status status = SimulateRequest(f, &request);
  v1::SimulateDecisionResponse response;
  if (status.ok()) status = d_.admin->DoSimulate(request, &response);
  if (!status.ok()) {
    view.error = std::string(Message(status));
    return Policy(a, std::move(view), 400);
  }
  view.result = SimulationOf(response.decision());
  return Policy(a, std::move(view), 200);
}

}  // namespace

// A gate that refuses a form body over `max` bytes, or of no announced
// length, before any of it is read (the console's forms are small; the
// listener's own limit is for the gateway's bodies).
HttpGate FormAtMost(std::size_t max) {
  return [max](const HttpRequest& r) -> absl::Status {
    const std::string_view length = r.Header("Content-Length").value_or("");
    std::size_t n = 0;
    if (length.empty() || length.size() > 12 ||
        length.find_first_not_of("0123456789") != std::string_view::npos ||
        (n = std::stoull(std::string(length))) > max) {
      return absl::InvalidArgumentError(
          StrCat("a console form is at most ", max,
                 " bytes, sent with a Content-Length"));
    }
    return absl::OkStatus();
  };
}

void AddConsoleRoutes(HttpRouter* router, ConsoleDeps deps) {
  auto console = std::make_shared<const Console>(deps);
  router->Add("GET", "/ui",
              [](const HttpRequest&) { return Redirect("/ui/"); });
  router->AddPrefix("GET", "/ui/", [console](const HttpRequest& r) {
    return console->Get(r);
  });
  // An exact path answers for every method it has: GET here too.
  router->Add("GET", "/ui/login",
              [console](const HttpRequest& r) { return console->Get(r); });
  router->Add(
      "POST", "/ui/login",
      [console](const HttpRequest& r) { return console->SignIn(r); },
      FormAtMost(4096));
  router->Add(
      "POST", "/ui/logout",
      [console](const HttpRequest& r) { return console->SignOut(r); },
      FormAtMost(4096));
  router->Add(
      "POST", "/ui/simulate",
      [console](const HttpRequest& r) { return console->Simulate(r); },
      FormAtMost(kMaxSimulateForm));
}

}  // namespace hijackguard::plugin
