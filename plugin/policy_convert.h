// Conversion between the policy API messages and policy/ types.
#pragma once

#include "absl/status/statusor.h"
#include "hijackguard/v1/compliance_plugin.pb.h"
#include "hijackguard/v1/policy_admin.pb.h"
#include "policy/engine.h"
#include "policy/evaluate.h"

namespace hijackguard::plugin {

// Sets every decision field of `out` (action, reasons, user_alert, score,
// level, matched_rules, enforced/evaluated action, policy_revision, deadline,
// admin_remediation, scope, mode); not decision_id, fingerprint or times.
void ToProto(const policy::Evaluation& evaluation, v1::CheckInResponse* out);
// A device's decision as of `as_of` (GetDeviceRiskResponse.decision).
void ToProto(const policy::PolicyEngine::DeviceView& view, absl::Time as_of,
             v1::DeviceDecision* out);

void ToProto(const policy::Reason& reason, v1::Reason* out);
void ToProto(const policy::UserAlert& alert, v1::UserAlert* out);
void ToProto(const policy::ComplianceAlert& alert, v1::ComplianceAlert* out);
void ToProto(const policy::PolicyProblem& problem, v1::PolicyProblem* out);
void ToProto(const policy::Exemption& exemption, v1::Exemption* out);
v1::PolicyMode ToProto(policy::Mode mode);

// ListDevices: the request as a query, checked (INVALID_ARGUMENT naming the
// field, the page token decoded), and a listed device.
absl::StatusOr<policy::DeviceQuery> FromProto(
    const v1::ListDevicesRequest& request);
void ToProto(const policy::DeviceListing& device, v1::DeviceSummary* out);

// An exemption from the API, checked: INVALID_ARGUMENT naming the field
// ("exemption.reason is required").
absl::StatusOr<policy::Exemption> FromProto(const v1::Exemption& exemption);

}  // namespace hijackguard::plugin
