// The hijackguard.v1.PolicyAdmin gRPC service: decodes, calls the policy
// engine, encodes.
#pragma once

#include "hijackguard/v1/policy_admin.grpc.pb.h"
#include "plugin/access.h"
#include "plugin/audit_key.h"
#include "policy/engine.h"

namespace hijackguard::plugin {

class PolicyAdminService final : public v1::PolicyAdmin::CallbackService {
 public:
  // `engine`, `clock`, `access` and `pseudonym` must outlive the service.
  // Every call is admitted by `access` first (docs/security.md); log lines
  // name users by `pseudonym`.
  PolicyAdminService(policy::PolicyEngine* engine, const Clock* clock,
                     const AccessControl* access,
                     const Pseudonymizer* pseudonym);

  grpc::ServerUnaryReactor* GetPolicy(grpc::CallbackServerContext* context,
                                      const v1::GetPolicyRequest* request,
                                      v1::GetPolicyResponse* response) override;
  grpc::ServerUnaryReactor* ValidatePolicy(
      grpc::CallbackServerContext* context,
      const v1::ValidatePolicyRequest* request,
      v1::ValidatePolicyResponse* response) override;
  grpc::ServerUnaryReactor* ApplyPolicy(
      grpc::CallbackServerContext* context,
      const v1::ApplyPolicyRequest* request,
      v1::ApplyPolicyResponse* response) override;
  grpc::ServerUnaryReactor* SimulateDecision(
      grpc::CallbackServerContext* context,
      const v1::SimulateDecisionRequest* request,
      v1::SimulateDecisionResponse* response) override;
  grpc::ServerUnaryReactor* ListExemptions(
      grpc::CallbackServerContext* context,
      const v1::ListExemptionsRequest* request,
      v1::ListExemptionsResponse* response) override;
  grpc::ServerUnaryReactor* PutExemption(
      grpc::CallbackServerContext* context,
      const v1::PutExemptionRequest* request,
      v1::PutExemptionResponse* response) override;
  grpc::ServerUnaryReactor* DeleteExemption(
      grpc::CallbackServerContext* context,
      const v1::DeleteExemptionRequest* request,
      v1::DeleteExemptionResponse* response) override;

  // The domain calls behind the RPCs (also used by tests).
  absl::Status DoApply(const v1::ApplyPolicyRequest& request,
                       v1::ApplyPolicyResponse* response,
                       const policy::Actor& actor = {});
  absl::Status DoSimulate(const v1::SimulateDecisionRequest& request,
                          v1::SimulateDecisionResponse* response) const;

 private:
  // Admits the caller for `rpc` and checks `tenant` (unless the RPC judges
  // a stored object's tenant).
  absl::StatusOr<Caller> Admit(grpc::CallbackServerContext* context, Rpc rpc,
                               std::string_view tenant = "") const;

  std::string LogName(const policy::Exemption& e) const;

  policy::PolicyEngine* engine_;
  const Clock* clock_;
  const AccessControl* access_;
  const Pseudonymizer* pseudonym_;
};

}  // namespace hijackguard::plugin
