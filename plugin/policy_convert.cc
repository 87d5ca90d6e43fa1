#include "plugin/policy_convert.h"

#include "common/status_macros.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "plugin/convert.h"
#include "plugin/validate.h"

namespace hijackguard::plugin {
namespace {

v1::RiskLevel ToProto(policy::Level level) {
  switch (level) {
    case policy::Level::kLow:
      return v1::RISK_LEVEL_LOW;
    case policy::Level::kElevated:
      return v1::RISK_LEVEL_ELEVATED;
    case policy::Level::kHigh:
      return v1::RISK_LEVEL_HIGH;
    case policy::Level::kCritical:
      return v1::RISK_LEVEL_CRITICAL;
  }
  return v1::RISK_LEVEL_UNSPECIFIED;
}

v1::Scope ToProto(policy::Scope scope) {
  switch (scope) {
    case policy::Scope::kNone:
      return v1::SCOPE_NONE;
    case policy::Scope::kCalendar:
      return v1::SCOPE_CALENDAR;
    case policy::Scope::kDevice:
      return v1::SCOPE_DEVICE;
  }
  return v1::SCOPE_UNSPECIFIED;
}

v1::ExemptionKind ToProto(policy::Exemption::Kind kind) {
  switch (kind) {
    case policy::Exemption::Kind::kUser:
      return v1::EXEMPTION_KIND_USER;
    case policy::Exemption::Kind::kDevice:
      return v1::EXEMPTION_KIND_DEVICE;
    case policy::Exemption::Kind::kGroup:
      return v1::EXEMPTION_KIND_GROUP;
  }
  return v1::EXEMPTION_KIND_UNSPECIFIED;
}

absl::Status FieldError(std::string_view field, std::string_view problem) {
  return absl::InvalidArgumentError(StrCat(field, " ", problem));
}

std::optional<policy::Action> FromProto(v1::Action action) {
  switch (action) {
    case v1::ACTION_ALLOW:
      return policy::Action::kAllow;
    case v1::ACTION_WARN:
      return policy::Action::kWarn;
    case v1::ACTION_QUARANTINE:
      return policy::Action::kQuarantine;
    case v1::ACTION_BLOCK:
      return policy::Action::kBlock;
    default:
      return std::nullopt;
  }
}

std::optional<policy::Level> FromProto(v1::RiskLevel level) {
  switch (level) {
    case v1::RISK_LEVEL_LOW:
      return policy::Level::kLow;
    case v1::RISK_LEVEL_ELEVATED:
      return policy::Level::kElevated;
    case v1::RISK_LEVEL_HIGH:
      return policy::Level::kHigh;
    case v1::RISK_LEVEL_CRITICAL:
      return policy::Level::kCritical;
    default:
      return std::nullopt;
  }
}

// Each of `values` (proto enum numbers) as a policy enum, in `out`.
template <typename Proto, typename T>
absl::Status EnumList(std::string_view field,
                      const google::protobuf::RepeatedField<int>& values,
                      std::vector<T>* out) {
  for (int i = 0; i < values.size(); ++i) {
    std::optional<T> v = FromProto(static_cast<Proto>(values[i]));
    if (!v) {
      return FieldError(StrCat(field, "[", i, "]"),
                        StrCat(values[i], " is not one to filter by"));
    }
    out->push_back(*v);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<policy::DeviceQuery> FromProto(
    const v1::ListDevicesRequest& request) {
  policy::DeviceQuery q;
  if (!request.tenant_id().empty()) {
    RETURN_IF_ERROR(ValidateTenantId(request.tenant_id()));
  }
  q.tenant_id = request.tenant_id();
  RETURN_IF_ERROR(EnumList<v1::Action>(
      "enforced_actions", request.enforced_actions(), &q.enforced_actions));
  RETURN_IF_ERROR(EnumList<v1::Action>(
      "evaluated_actions", request.evaluated_actions(), &q.evaluated_actions));
  RETURN_IF_ERROR(
      EnumList<v1::RiskLevel>("levels", request.levels(), &q.levels));
  q.user_principal = request.user_principal();
  q.build = request.build();
  q.page_size = request.page_size();
  RETURN_IF_ERROR(policy::NormalizeQuery(&q));
  if (!request.page_token().empty()) {
    RETURN_IF_ERROR(policy::DecodePageToken(request.page_token(), &q));
  }
  return q;
}

void ToProto(const policy::DeviceListing& d, v1::DeviceSummary* out) {
  out->set_tenant_id(d.tenant_id);
  out->set_eas_device_id(d.eas_device_id);
  out->set_mdm_device_id(d.mdm_device_id);
  out->set_user_principal(d.user_principal);
  out->set_score(d.score);
  out->set_level(ToProto(d.level));
  out->set_enforced_action(ToProto(d.enforced_action));
  out->set_evaluated_action(ToProto(d.evaluated_action));
  out->set_build(d.build);
  out->set_os_version(d.os_version);
  out->set_model_name(d.model_name);
  ToProto(d.recorded_at, out->mutable_recorded_at());
}

v1::PolicyMode ToProto(policy::Mode mode) {
  return mode == policy::Mode::kEnforce ? v1::POLICY_MODE_ENFORCE
                                        : v1::POLICY_MODE_MONITOR;
}

void ToProto(const policy::Reason& r, v1::Reason* out) {
  out->set_code(r.code.data(), r.code.size());
  out->set_message(r.message);
  out->set_known_issue_id(r.known_issue_id.data(), r.known_issue_id.size());
  out->set_contribution(r.contribution);
}

void ToProto(const policy::UserAlert& alert, v1::UserAlert* out) {
  out->set_title(alert.title);
  out->set_message(alert.message);
  out->set_remediation(alert.remediation);
  out->set_locale(alert.locale);
}

void ToProto(const policy::Evaluation& e, v1::CheckInResponse* out) {
  out->set_action(ToProto(e.enforced_action));
  out->set_enforced_action(ToProto(e.enforced_action));
  out->set_evaluated_action(ToProto(e.evaluated_action));
  out->set_score(e.score);
  out->set_level(ToProto(e.level));
  out->set_scope(ToProto(e.scope));
  out->set_mode(ToProto(e.mode));
  for (const policy::Reason& r : e.reasons) {
    ToProto(r, out->add_reasons());
  }
  for (std::string_view rule : e.matched_rules) {
    out->add_matched_rules(rule.data(), rule.size());
  }
  if (e.user_alert) {
    ToProto(*e.user_alert, out->mutable_user_alert());
  }
  out->set_policy_revision(e.policy_revision.data(), e.policy_revision.size());
  if (e.deadline) {
    ToProto(*e.deadline, out->mutable_deadline());
  }
  out->set_admin_remediation(e.admin_remediation);
}

void ToProto(const policy::PolicyEngine::DeviceView& view, absl::Time as_of,
             v1::DeviceDecision* out) {
  const policy::Evaluation& e = view.evaluation;
  out->set_score(e.score);
  out->set_level(ToProto(e.level));
  out->set_enforced_action(ToProto(e.enforced_action));
  out->set_evaluated_action(ToProto(e.evaluated_action));
  out->set_mode(ToProto(e.mode));
  out->set_scope(ToProto(e.scope));
  for (const policy::Reason& r : e.reasons) {
    ToProto(r, out->add_reasons());
  }
  for (std::string_view rule : e.matched_rules) {
    out->add_matched_rules(rule.data(), rule.size());
  }
  out->set_policy_revision(e.policy_revision.data(), e.policy_revision.size());
  if (e.history.warn_since != absl::InfiniteFuture()) {
    ToProto(e.history.warn_since, out->mutable_warn_since());
  }
  if (e.deadline) {
    ToProto(*e.deadline, out->mutable_deadline());
  }
  out->set_last_evaluated_action(ToProto(view.last_action));
  ToProto(as_of, out->mutable_as_of());
}

void ToProto(const policy::ComplianceAlert& a, v1::ComplianceAlert* out) {
  out->set_alert_id(a.alert_id);
  out->set_sequence(a.sequence);
  ToProto(a.emitted_at, out->mutable_emitted_at());
  out->set_trigger(a.trigger);
  out->set_tenant_id(a.tenant_id);
  out->set_eas_device_id(a.eas_device_id);
  out->set_mdm_device_id(a.mdm_device_id);
  out->set_user_principal(a.user_principal);
  out->set_old_action(ToProto(a.old_action));
  out->set_new_action(ToProto(a.new_action));
  out->set_enforced_action(ToProto(a.enforced_action));
  out->set_mode(ToProto(a.mode));
  out->set_score(a.score);
  for (const policy::Reason& r : a.reasons) {
    ToProto(r, out->add_reasons());
  }
  if (a.user_alert) {
    ToProto(*a.user_alert, out->mutable_user_alert());
  }
  out->set_policy_revision(a.policy_revision);
  out->set_decision_id(a.decision_id);
}

void ToProto(const policy::PolicyProblem& p, v1::PolicyProblem* out) {
  out->set_pointer(p.pointer);
  out->set_line(p.line);
  out->set_column(p.column);
  out->set_message(SanitizeText(p.message));
}

void ToProto(const policy::Exemption& e, v1::Exemption* out) {
  out->set_id(e.id);
  out->set_tenant_id(e.tenant_id);
  out->set_kind(ToProto(e.kind));
  out->set_value(e.value);
  out->set_reason(e.reason);
  if (e.expires != absl::InfiniteFuture()) {
    ToProto(e.expires, out->mutable_expires());
  }
  out->set_source(e.source);
}

absl::StatusOr<policy::Exemption> FromProto(const v1::Exemption& in) {
  policy::Exemption e;
  if (!in.tenant_id().empty()) {
    if (absl::Status s = ValidateTenantId(in.tenant_id()); !s.ok()) {
      return absl::InvalidArgumentError(
          StrCat("exemption.", std::string(s.message())));
    }
  }
  e.tenant_id = in.tenant_id();
  switch (in.kind()) {
    case v1::EXEMPTION_KIND_USER:
      e.kind = policy::Exemption::Kind::kUser;
      break;
    case v1::EXEMPTION_KIND_DEVICE:
      e.kind = policy::Exemption::Kind::kDevice;
      break;
    case v1::EXEMPTION_KIND_GROUP:
      e.kind = policy::Exemption::Kind::kGroup;
      break;
    default:
      return FieldError("exemption.kind",
                        "must be EXEMPTION_KIND_USER, _DEVICE or _GROUP");
  }
  if (in.value().empty() || in.value().size() > 256) {
    return FieldError("exemption.value", "must be 1-256 bytes");
  }
  if (in.reason().empty()) {
    return FieldError("exemption.reason", "is required");
  }
  if (CountUtf8Chars(in.reason()) > 512) {
    return FieldError("exemption.reason", "is longer than 512 characters");
  }
  if (!in.has_expires()) {
    return FieldError("exemption.expires", "is required");
  }
  if (in.expires().nanos() < 0 || in.expires().nanos() > 999999999 ||
      in.expires().seconds() < 0 || in.expires().seconds() > 253402300799) {
    return FieldError("exemption.expires",
                      "is outside 1970-01-01 to 9999-12-31");
  }
  e.value = in.value();
  e.reason = in.reason();
  e.expires = FromProto(in.expires());
  return e;
}

}  // namespace hijackguard::plugin
