// Alerts as JSON: the SIEM outbox's form, and the form replicas sharing a
// store pass each other (the same object with the end user's alert).
#include <string>
#include <vector>

#include "common/strings.h"
#include "nlohmann/json.hpp"
#include "policy/alerts.h"

namespace hijackguard::policy {

namespace {

nlohmann::json AlertObject(const ComplianceAlert& alert) {
  nlohmann::json reasons = nlohmann::json::array();
  for (const Reason& r : alert.reasons) {
    reasons.push_back({{"code", std::string(r.code)},
                       {"message", r.message},
                       {"known_issue_id", std::string(r.known_issue_id)},
                       {"contribution", r.contribution}});
  }
  return {{"v", 1},
          {"type", "alert"},
          {"alert_id", alert.alert_id},
          {"emitted_at", absl::FormatTime(absl::RFC3339_full, alert.emitted_at,
                                          absl::UTCTimeZone())},
          {"trigger", alert.trigger},
          {"tenant_id", alert.tenant_id},
          {"eas_device_id", alert.eas_device_id},
          {"mdm_device_id", alert.mdm_device_id},
          {"user_principal", alert.user_principal},
          {"old_action", std::string(ActionName(alert.old_action))},
          {"new_action", std::string(ActionName(alert.new_action))},
          {"enforced_action", std::string(ActionName(alert.enforced_action))},
          {"mode", std::string(ModeName(alert.mode))},
          {"score", alert.score},
          {"reasons", std::move(reasons)},
          {"policy_revision", alert.policy_revision},
          {"decision_id", alert.decision_id}};
}

std::string Dump(const nlohmann::json& doc) {
  // Strings are UTF-8 (validated on the way in); replace rather than throw
  // should one not be.
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Reads one field of an alert object; the error names it.
class Fields {
 public:
  // `prefix` goes before the field names errors give ("reasons[2].").
  Fields(const nlohmann::json& object, std::string prefix)
      : object_(object), prefix_(std::move(prefix)) {}

  absl::Status String(std::string_view name, std::string* out) {
    const nlohmann::json* v = Find(name);
    if (v == nullptr) return Missing(prefix_ + std::string(name));
    if (!v->is_string()) return Wrong(prefix_ + std::string(name), "a string");
    *out = v->get<std::string>();
    return absl::OkStatus();
  }
  absl::Status Number(std::string_view name, double* out) {
    const nlohmann::json* v = Find(name);
    if (v == nullptr) return Missing(prefix_ + std::string(name));
    if (!v->is_number()) return Wrong(prefix_ + std::string(name), "a number");
    *out = v->get<double>();
    return absl::OkStatus();
  }
  absl::Status ActionField(std::string_view name, Action* out) {
    std::string text;
    if (absl::Status s = String(name, &text); !s.ok()) return s;
    std::optional<Action> action = ParseAction(text);
    if (!action) {
      return Wrong(prefix_ + std::string(name),
                   "ALLOW, WARN, QUARANTINE or BLOCK");
    }
    *out = *action;
    return absl::OkStatus();
  }
  const nlohmann::json* Find(std::string_view name) const {
    auto it = object_.find(std::string(name));
    return it == object_.end() ? nullptr : &*it;
  }
  static absl::Status Missing(std::string_view name) {
    return absl::InvalidArgumentError(StrCat("alert: ", name, " is missing"));
  }
  static absl::Status Wrong(std::string_view name, std::string_view want) {
    return absl::InvalidArgumentError(
        StrCat("alert: ", name, " is not ", want));
  }

 private:
  const nlohmann::json& object_;
  const std::string prefix_;
};

using StringFields =
    std::initializer_list<std::pair<std::string_view, std::string*>>;

absl::Status ReadReasons(const nlohmann::json& list, ComplianceAlert* alert,
                         std::vector<std::string>* text) {
  if (!list.is_array()) return Fields::Wrong("reasons", "an array");
  // Views into `text` are taken once it stops growing.
  std::vector<std::pair<std::size_t, std::size_t>> where;  // code, issue
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string at = StrCat("reasons[", i, "]");
    if (!list[i].is_object()) return Fields::Wrong(at, "an object");
    Fields f(list[i], at + ".");
    Reason r;
    std::string code;
    std::string issue;
    for (auto [name, out] : StringFields{{"code", &code},
                                         {"message", &r.message},
                                         {"known_issue_id", &issue}}) {
      if (absl::Status s = f.String(name, out); !s.ok()) return s;
    }
    if (absl::Status s = f.Number("contribution", &r.contribution); !s.ok()) {
      return s;
    }
    std::size_t code_at = std::string::npos;
    if (std::optional<std::string_view> known = ParseReasonCode(code)) {
      r.code = *known;
    } else {
      code_at = text->size();
      text->push_back(std::move(code));
    }
    std::size_t issue_at = std::string::npos;
    if (!issue.empty()) {
      issue_at = text->size();
      text->push_back(std::move(issue));
    }
    alert->reasons.push_back(std::move(r));
    where.emplace_back(code_at, issue_at);
  }
  for (std::size_t i = 0; i < where.size(); ++i) {
    if (where[i].first != std::string::npos) {
      alert->reasons[i].code = (*text)[where[i].first];
    }
    if (where[i].second != std::string::npos) {
      alert->reasons[i].known_issue_id = (*text)[where[i].second];
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string AlertJson(const ComplianceAlert& alert) {
  return Dump(AlertObject(alert));
}

std::string ReplicaAlertJson(const ComplianceAlert& alert) {
  nlohmann::json doc = AlertObject(alert);
  if (alert.user_alert) {
    doc["user_alert"] = {{"title", alert.user_alert->title},
                         {"message", alert.user_alert->message},
                         {"remediation", alert.user_alert->remediation},
                         {"locale", alert.user_alert->locale}};
  }
  return Dump(doc);
}

absl::StatusOr<ComplianceAlert> ParseAlertJson(std::string_view json) {
  const nlohmann::json doc = nlohmann::json::parse(json, nullptr, false);
  if (doc.is_discarded()) {
    return absl::InvalidArgumentError("alert: not JSON");
  }
  if (!doc.is_object()) return Fields::Wrong("the alert", "an object");
  Fields f(doc, "");
  ComplianceAlert alert;
  double version = 0;
  std::string type;
  if (absl::Status s = f.Number("v", &version); !s.ok()) return s;
  if (version != 1) return Fields::Wrong("v", "1");
  if (absl::Status s = f.String("type", &type); !s.ok()) return s;
  if (type != "alert") return Fields::Wrong("type", "\"alert\"");
  std::string emitted;
  std::string mode;
  for (auto [name, out] :
       StringFields{{"alert_id", &alert.alert_id},
                    {"emitted_at", &emitted},
                    {"trigger", &alert.trigger},
                    {"tenant_id", &alert.tenant_id},
                    {"eas_device_id", &alert.eas_device_id},
                    {"mdm_device_id", &alert.mdm_device_id},
                    {"user_principal", &alert.user_principal},
                    {"mode", &mode},
                    {"policy_revision", &alert.policy_revision},
                    {"decision_id", &alert.decision_id}}) {
    if (absl::Status s = f.String(name, out); !s.ok()) return s;
  }
  std::string why;
  if (!absl::ParseTime(absl::RFC3339_full, emitted, &alert.emitted_at, &why)) {
    return Fields::Wrong("emitted_at", "an RFC 3339 time");
  }
  if (mode == ModeName(Mode::kEnforce)) {
    alert.mode = Mode::kEnforce;
  } else if (mode == ModeName(Mode::kMonitor)) {
    alert.mode = Mode::kMonitor;
  } else {
    return Fields::Wrong("mode", "enforce or monitor");
  }
  for (auto [name, out] :
       std::initializer_list<std::pair<std::string_view, Action*>>{
           {"old_action", &alert.old_action},
           {"new_action", &alert.new_action},
           {"enforced_action", &alert.enforced_action}}) {
    if (absl::Status s = f.ActionField(name, out); !s.ok()) return s;
  }
  if (absl::Status s = f.Number("score", &alert.score); !s.ok()) return s;
  const nlohmann::json* reasons = f.Find("reasons");
  if (reasons == nullptr) return Fields::Missing("reasons");
  auto text = std::make_shared<std::vector<std::string>>();
  if (absl::Status s = ReadReasons(*reasons, &alert, text.get()); !s.ok()) {
    return s;
  }
  if (!text->empty()) alert.text = std::move(text);
  if (const nlohmann::json* u = f.Find("user_alert"); u != nullptr) {
    if (!u->is_object()) return Fields::Wrong("user_alert", "an object");
    Fields uf(*u, "user_alert.");
    UserAlert user;
    for (auto [name, out] : StringFields{{"title", &user.title},
                                         {"message", &user.message},
                                         {"remediation", &user.remediation},
                                         {"locale", &user.locale}}) {
      if (absl::Status s = uf.String(name, out); !s.ok()) return s;
    }
    alert.user_alert = std::move(user);
  }
  return alert;
}

}  // namespace hijackguard::policy
