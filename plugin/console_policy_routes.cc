// The console's policy page and its simulate form.
#include "absl/strings/str_split.h"
#include "common/strings.h"
#include "common/url_form.h"
#include "common/utf8.h"
#include "nlohmann/json.hpp"
#include "plugin/console/html.h"
#include "plugin/console/policy_page.h"
#include "plugin/console_app.h"
#include "plugin/convert.h"
#include "plugin/proto_json.h"

namespace hijackguard::plugin::console_web {

using console::Section;

namespace {

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

}  // namespace

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

namespace {

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

}  // namespace

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

}  // namespace hijackguard::plugin::console_web
