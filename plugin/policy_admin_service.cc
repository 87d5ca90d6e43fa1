#include "plugin/policy_admin_service.h"

#include <optional>

#include "common/log.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "detector/fingerprint.h"
#include "plugin/convert.h"
#include "plugin/policy_convert.h"
#include "plugin/raw_call.h"
#include "plugin/status.h"
#include "plugin/validate.h"

namespace hijackguard::plugin {
namespace {

constexpr int kMaxSimulatedEvents = 10'000;

std::optional<detector::EventKind> FromProto(v1::EventKind kind) {
  switch (kind) {
    case v1::EVENT_KIND_ORGANIZER_REWRITE:
      return detector::EventKind::kOrganizerRewrite;
    case v1::EVENT_KIND_OWNERSHIP_CLAIM:
      return detector::EventKind::kOwnershipClaim;
    case v1::EVENT_KIND_ATTENDEE_CANCEL:
      return detector::EventKind::kAttendeeCancel;
    case v1::EVENT_KIND_SUSPECTED_SELF_ORGANIZER:
      return detector::EventKind::kSuspectedSelfOrganizer;
    case v1::EVENT_KIND_ORGANIZER_NAME_CHANGE:
      return detector::EventKind::kOrganizerNameChange;
    default:
      return std::nullopt;
  }
}

absl::Status CheckTimestamp(std::string_view field,
                            const google::protobuf::Timestamp& t) {
  if (t.seconds() < 0 || t.seconds() > 253402300799 || t.nanos() < 0 ||
      t.nanos() > 999999999) {
    return absl::InvalidArgumentError(
        StrCat(field, " is outside 1970-01-01 to 9999-12-31"));
  }
  return absl::OkStatus();
}

}  // namespace

// "<tenant>/<kind>/<value>" with a user's address as its pseudonym.
std::string PolicyAdminService::LogName(const policy::Exemption& e) const {
  return StrCat(e.tenant_id, "/", policy::ExemptionKindName(e.kind), "/",
                e.kind == policy::Exemption::Kind::kUser
                    ? (*pseudonym_)(e.value)
                    : e.value);
}

PolicyAdminService::PolicyAdminService(policy::PolicyEngine* engine,
                                       const Clock* clock,
                                       const AccessControl* access,
                                       const store::Pseudonymizer* pseudonym,
                                       std::size_t max_policy_bytes,
                                       CallCounts* calls)
    : engine_(engine),
      clock_(clock),
      access_(access),
      pseudonym_(pseudonym),
      calls_(calls),
      max_policy_bytes_(std::min(max_policy_bytes, policy::Policy::kMaxBytes)) {
}

absl::StatusOr<WorkLimit::Slot> PolicyAdminService::PolicyWork(
    std::string_view rpc, std::size_t bytes) {
  if (bytes > max_policy_bytes_) {
    return absl::InvalidArgumentError(
        StrCat("policy_json is ", bytes, " bytes; at most ", max_policy_bytes_,
               " are accepted (max_policy_bytes)"));
  }
  std::optional<WorkLimit::Slot> slot = policy_work_.TryAcquire();
  if (!slot) {
    return absl::ResourceExhaustedError(
        StrCat(rpc, ": ", kPolicyWorkers,
               " policy documents are being checked already; try again in a "
               "moment"));
  }
  return std::move(*slot);
}

PolicyAdminService::Decoders::Decoders()
    : get_policy(v1::GetPolicyRequest::descriptor()),
      validate_policy(v1::ValidatePolicyRequest::descriptor()),
      apply_policy(v1::ApplyPolicyRequest::descriptor()),
      simulate_decision(v1::SimulateDecisionRequest::descriptor()),
      list_exemptions(v1::ListExemptionsRequest::descriptor()),
      put_exemption(v1::PutExemptionRequest::descriptor()),
      delete_exemption(v1::DeleteExemptionRequest::descriptor()) {}

absl::Status PolicyAdminService::CheckTenant(const Caller& caller, Rpc rpc,
                                             std::string_view tenant) const {
  if (RuleFor(rpc).scope == TenantScope::kStored) {
    return absl::OkStatus();  // judged by the stored object's tenant
  }
  return access_->CheckTenant(caller, rpc, tenant);
}

absl::Status PolicyAdminService::GetPolicyTyped(
    const Caller& caller, const v1::GetPolicyRequest& /*request*/,
    v1::GetPolicyResponse* response) {
  RETURN_IF_ERROR(CheckTenant(caller, Rpc::kGetPolicy, ""));
  const policy::PolicyEngine::PolicyInfo info = engine_->policy_info();
  response->set_policy_json(info.policy->source());
  response->set_revision(info.policy->revision());
  response->set_origin(info.origin);
  ToProto(info.applied_at, response->mutable_applied_at());
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* PolicyAdminService::GetPolicy(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return ServeRawUnary<v1::GetPolicyRequest, v1::GetPolicyResponse>(
      context, request, response, decoders_.get_policy, calls_, Rpc::kGetPolicy,
      [&] { return access_->Admit(*context, Rpc::kGetPolicy); },
      [&](const Caller& caller, const v1::GetPolicyRequest& typed,
          v1::GetPolicyResponse* out) {
        return GetPolicyTyped(caller, typed, out);
      });
}

absl::Status PolicyAdminService::ValidatePolicyTyped(
    const Caller& caller, const v1::ValidatePolicyRequest& request,
    v1::ValidatePolicyResponse* response) {
  RETURN_IF_ERROR(CheckTenant(caller, Rpc::kValidatePolicy, ""));
  ASSIGN_OR_RETURN(WorkLimit::Slot slot,
                   PolicyWork("ValidatePolicy", request.policy_json().size()));
  std::vector<policy::PolicyProblem> problems;
  auto parsed = policy::Policy::Parse(request.policy_json(), engine_->catalog(),
                                      &problems);
  response->set_valid(parsed.ok());
  if (parsed.ok()) {
    response->set_revision((*parsed)->revision());
  }
  for (const policy::PolicyProblem& p : problems) {
    ToProto(p, response->add_problems());
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* PolicyAdminService::ValidatePolicy(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return ServeRawUnary<v1::ValidatePolicyRequest, v1::ValidatePolicyResponse>(
      context, request, response, decoders_.validate_policy, calls_,
      Rpc::kValidatePolicy,
      [&] { return access_->Admit(*context, Rpc::kValidatePolicy); },
      [&](const Caller& caller, const v1::ValidatePolicyRequest& typed,
          v1::ValidatePolicyResponse* out) {
        return ValidatePolicyTyped(caller, typed, out);
      });
}

absl::Status PolicyAdminService::DoApply(const v1::ApplyPolicyRequest& request,
                                         v1::ApplyPolicyResponse* response,
                                         const policy::Actor& actor) {
  std::vector<policy::PolicyProblem> problems;
  auto parsed = policy::Policy::Parse(request.policy_json(), engine_->catalog(),
                                      &problems);
  if (!parsed.ok()) {
    return parsed.status();
  }
  const std::shared_ptr<const policy::Policy> current = engine_->policy();
  response->set_revision((*parsed)->revision());
  response->set_previous_revision(current->revision());
  if (!request.expected_revision().empty() &&
      request.expected_revision() != current->revision()) {
    return absl::AbortedError(StrCat("the revision in force is ",
                                     current->revision(), ", not the expected ",
                                     QuoteInput(request.expected_revision()),
                                     "; fetch the policy again and reapply"));
  }
  if (request.dry_run() || (*parsed)->revision() == current->revision()) {
    response->set_applied(false);
    return absl::OkStatus();
  }
  for (const std::string& line :
       policy::ExpiredExemptions(**parsed, clock_->Now())) {
    LogWarning(StrCat("policy ", (*parsed)->revision(), ": ", line));
  }
  RETURN_IF_ERROR(engine_->Apply(*parsed,
                                 request.expected_revision().empty()
                                     ? std::string_view()
                                     : std::string_view(current->revision()),
                                 "api", actor));
  response->set_applied(true);
  LogInfo(StrCat("policy ", (*parsed)->revision(), " applied through the API (",
                 "was ", current->revision(), ") by \"", actor.principal,
                 "\""));
  return absl::OkStatus();
}

absl::Status PolicyAdminService::ApplyPolicyTyped(
    const Caller& caller, const v1::ApplyPolicyRequest& request,
    v1::ApplyPolicyResponse* response) {
  RETURN_IF_ERROR(CheckTenant(caller, Rpc::kApplyPolicy, ""));
  ASSIGN_OR_RETURN(WorkLimit::Slot slot,
                   PolicyWork("ApplyPolicy", request.policy_json().size()));
  absl::Status status = DoApply(request, response, caller.actor);
  if (absl::IsAborted(status)) {
    access_->Refused(caller.actor, Rpc::kApplyPolicy, status);
  }
  return status;
}

grpc::ServerUnaryReactor* PolicyAdminService::ApplyPolicy(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return ServeRawUnary<v1::ApplyPolicyRequest, v1::ApplyPolicyResponse>(
      context, request, response, decoders_.apply_policy, calls_,
      Rpc::kApplyPolicy,
      [&] { return access_->Admit(*context, Rpc::kApplyPolicy); },
      [&](const Caller& caller, const v1::ApplyPolicyRequest& typed,
          v1::ApplyPolicyResponse* out) {
        return ApplyPolicyTyped(caller, typed, out);
      });
}

absl::Status PolicyAdminService::DoSimulate(
    const v1::SimulateDecisionRequest& request,
    v1::SimulateDecisionResponse* response) const {
  const v1::CheckInRequest& c = request.check_in();
  if (absl::Status s = ValidateCheckInRequest(c); !s.ok()) {
    return absl::InvalidArgumentError(
        StrCat("check_in.", std::string(s.message())));
  }
  if (request.events_size() > kMaxSimulatedEvents) {
    return absl::InvalidArgumentError(
        StrCat("events has ", request.events_size(), " entries; at most ",
               kMaxSimulatedEvents, " are allowed"));
  }
  absl::Time now = clock_->Now();
  if (request.has_now()) {
    RETURN_IF_ERROR(CheckTimestamp("now", request.now()));
    now = plugin::FromProto(request.now());
  }
  policy::DeviceHistory history;
  if (request.has_warn_since()) {
    RETURN_IF_ERROR(CheckTimestamp("warn_since", request.warn_since()));
    history.warn_since = plugin::FromProto(request.warn_since());
  }
  std::vector<policy::EvidenceEvent> events;
  events.reserve(static_cast<std::size_t>(request.events_size()));
  for (int i = 0; i < request.events_size(); ++i) {
    const v1::SimulatedEvent& e = request.events(i);
    const std::optional<detector::EventKind> kind = FromProto(e.kind());
    if (!kind) {
      return absl::InvalidArgumentError(
          StrCat("events[", i, "].kind is not set or unknown"));
    }
    if (e.attendee_count() < 0) {
      return absl::InvalidArgumentError(
          StrCat("events[", i, "].attendee_count must not be negative"));
    }
    absl::Time at = now;
    if (e.has_observed_at()) {
      RETURN_IF_ERROR(CheckTimestamp(StrCat("events[", i, "].observed_at"),
                                     e.observed_at()));
      at = plugin::FromProto(e.observed_at());
    }
    events.push_back({*kind, e.attendee_count(), at, at});
  }
  std::shared_ptr<const policy::Policy> candidate;
  if (!request.policy_json().empty()) {
    auto parsed = policy::Policy::Parse(request.policy_json(),
                                        engine_->catalog(), nullptr);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          StrCat("policy_json: ", std::string(parsed.status().message())));
    }
    candidate = *parsed;
  }

  v1::CheckInResponse* out = response->mutable_decision();
  const detector::CheckInFacts facts = ToCheckInFacts(c);
  const detector::Fingerprint fp = detector::IdentifyDevice(
      detector::ToFingerprintInput(facts), engine_->catalog());
  ToProto(fp, out->mutable_fingerprint());
  const std::vector<std::string> groups(c.device().groups().begin(),
                                        c.device().groups().end());
  policy::Subject subject;
  subject.tenant_id = c.tenant_id();
  subject.eas_device_id = c.device().eas_device_id();
  subject.mdm_device_id = c.device().mdm_device_id();
  subject.user_principal = c.device().user_principal();
  subject.primary_smtp_address = c.device().primary_smtp_address();
  subject.groups = groups;
  subject.locale = c.locale();
  const policy::Evaluation e =
      engine_->Simulate(fp, subject, events, history, now, candidate.get());
  ToProto(e, out);
  ToProto(now, out->mutable_decided_at());
  return absl::OkStatus();
}

absl::Status PolicyAdminService::SimulateDecisionTyped(
    const Caller& caller, const v1::SimulateDecisionRequest& request,
    v1::SimulateDecisionResponse* response) {
  RETURN_IF_ERROR(CheckTenant(caller, Rpc::kSimulateDecision, ""));
  ASSIGN_OR_RETURN(
      WorkLimit::Slot slot,
      PolicyWork("SimulateDecision", request.policy_json().size()));
  return DoSimulate(request, response);
}

grpc::ServerUnaryReactor* PolicyAdminService::SimulateDecision(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return ServeRawUnary<v1::SimulateDecisionRequest,
                       v1::SimulateDecisionResponse>(
      context, request, response, decoders_.simulate_decision, calls_,
      Rpc::kSimulateDecision,
      [&] { return access_->Admit(*context, Rpc::kSimulateDecision); },
      [&](const Caller& caller, const v1::SimulateDecisionRequest& typed,
          v1::SimulateDecisionResponse* out) {
        return SimulateDecisionTyped(caller, typed, out);
      });
}

absl::Status PolicyAdminService::ListExemptionsTyped(
    const Caller& caller, const v1::ListExemptionsRequest& request,
    v1::ListExemptionsResponse* response) {
  RETURN_IF_ERROR(
      CheckTenant(caller, Rpc::kListExemptions, request.tenant_id()));
  // Exemptions for every tenant may name users of other tenants.
  const bool sees_global = caller.principal->all_tenants;
  const absl::Time now = clock_->Now();
  const std::shared_ptr<const policy::Policy> current = engine_->policy();
  const std::shared_ptr<const policy::ExemptionIndex> runtime =
      engine_->exemptions();
  for (const policy::ExemptionIndex* index :
       {&current->exemptions(), runtime.get()}) {
    for (const policy::Exemption* e : index->List()) {
      if (!request.tenant_id().empty() && !e->tenant_id.empty() &&
          e->tenant_id != request.tenant_id()) {
        continue;
      }
      if (e->tenant_id.empty() && !sees_global) {
        continue;
      }
      if (!request.include_expired() && e->expires <= now) {
        continue;
      }
      ToProto(*e, response->add_exemptions());
    }
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* PolicyAdminService::ListExemptions(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return ServeRawUnary<v1::ListExemptionsRequest, v1::ListExemptionsResponse>(
      context, request, response, decoders_.list_exemptions, calls_,
      Rpc::kListExemptions,
      [&] { return access_->Admit(*context, Rpc::kListExemptions); },
      [&](const Caller& caller, const v1::ListExemptionsRequest& typed,
          v1::ListExemptionsResponse* out) {
        return ListExemptionsTyped(caller, typed, out);
      });
}

absl::Status PolicyAdminService::PutExemptionTyped(
    const Caller& caller, const v1::PutExemptionRequest& request,
    v1::PutExemptionResponse* response) {
  RETURN_IF_ERROR(
      CheckTenant(caller, Rpc::kPutExemption, request.exemption().tenant_id()));
  absl::StatusOr<policy::Exemption> e = FromProto(request.exemption());
  if (!e.ok()) {
    return e.status();
  }
  if (const absl::Time now = clock_->Now(); e->expires <= now) {
    return absl::InvalidArgumentError(
        StrCat("exemption.expires: ", FormatUtc(e->expires),
               " has already passed (it is ", FormatUtc(now),
               "); an exemption must end in the future"));
  }
  absl::StatusOr<policy::Exemption> stored =
      engine_->PutExemption(*std::move(e), caller.actor);
  if (stored.ok()) {
    ToProto(*stored, response->mutable_exemption());
    LogInfo(StrCat("exemption ", LogName(*stored), " put until ",
                   FormatUtc(stored->expires), " by \"", caller.actor.principal,
                   "\""));
  }
  return stored.status();
}

grpc::ServerUnaryReactor* PolicyAdminService::PutExemption(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return ServeRawUnary<v1::PutExemptionRequest, v1::PutExemptionResponse>(
      context, request, response, decoders_.put_exemption, calls_,
      Rpc::kPutExemption,
      [&] { return access_->Admit(*context, Rpc::kPutExemption); },
      [&](const Caller& caller, const v1::PutExemptionRequest& typed,
          v1::PutExemptionResponse* out) {
        return PutExemptionTyped(caller, typed, out);
      });
}

absl::Status PolicyAdminService::DeleteExemptionTyped(
    const Caller& caller, const v1::DeleteExemptionRequest& request,
    v1::DeleteExemptionResponse* /*response*/) {
  RETURN_IF_ERROR(CheckTenant(caller, Rpc::kDeleteExemption, ""));
  // Judged by the stored exemption's tenant; an id the caller may not see
  // is refused whether or not it exists.
  std::optional<policy::Exemption> found;
  for (const policy::ExemptionIndex* index :
       {&engine_->policy()->exemptions(), engine_->exemptions().get()}) {
    for (const policy::Exemption* e : index->List()) {
      if (e->id == request.id()) found = *e;
    }
  }
  if (!found || !caller.principal->MayActFor(found->tenant_id)) {
    if (absl::Status denied = access_->CheckTenant(
            caller, Rpc::kDeleteExemption,
            found ? std::string_view(found->tenant_id) : std::string_view());
        !denied.ok()) {
      return (absl::PermissionDeniedError(
          StrCat("principal \"", caller.principal->id,
                 "\" may not delete this exemption: it is not one of "
                 "tenants ",
                 caller.principal->TenantList())));
    }
  }
  absl::Status status = engine_->DeleteExemption(request.id(), caller.actor);
  if (absl::IsNotFound(status)) {
    for (const policy::Exemption* e : engine_->policy()->exemptions().List()) {
      if (e->id == request.id()) {
        return (absl::FailedPreconditionError(StrCat(
            "exemption ", QuoteInput(request.id()), " comes from the policy (",
            e->source, "); change the policy to remove it")));
      }
    }
  }
  if (status.ok() && found) {
    LogInfo(StrCat("exemption ", LogName(*found), " deleted by \"",
                   caller.actor.principal, "\""));
  }
  return status;
}

grpc::ServerUnaryReactor* PolicyAdminService::DeleteExemption(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return ServeRawUnary<v1::DeleteExemptionRequest, v1::DeleteExemptionResponse>(
      context, request, response, decoders_.delete_exemption, calls_,
      Rpc::kDeleteExemption,
      [&] { return access_->Admit(*context, Rpc::kDeleteExemption); },
      [&](const Caller& caller, const v1::DeleteExemptionRequest& typed,
          v1::DeleteExemptionResponse* out) {
        return DeleteExemptionTyped(caller, typed, out);
      });
}

}  // namespace hijackguard::plugin
