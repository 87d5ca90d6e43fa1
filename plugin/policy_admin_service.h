// The hijackguard.v1.PolicyAdmin gRPC service: decodes, calls the policy
// engine, encodes.
#pragma once

#include <atomic>
#include <memory>

#include "common/work_limit.h"
#include "hijackguard/v1/policy_admin.grpc.pb.h"
#include "plugin/access.h"
#include "plugin/call_counts.h"
#include "plugin/wire_decoder.h"
#include "policy/engine.h"
#include "store/audit_key.h"

namespace hijackguard::plugin {

// Every method takes raw bytes (plugin/raw_call.h) so that a malformed
// request is answered with the field and byte offset at fault.
using PolicyAdminBase = v1::PolicyAdmin::WithRawCallbackMethod_GetPolicy<
    v1::PolicyAdmin::WithRawCallbackMethod_ValidatePolicy<
        v1::PolicyAdmin::WithRawCallbackMethod_ApplyPolicy<
            v1::PolicyAdmin::WithRawCallbackMethod_SimulateDecision<
                v1::PolicyAdmin::WithRawCallbackMethod_ListExemptions<
                    v1::PolicyAdmin::WithRawCallbackMethod_PutExemption<
                        v1::PolicyAdmin::WithRawCallbackMethod_DeleteExemption<
                            v1::PolicyAdmin::Service>>>>>>>;

class PolicyAdminService final : public PolicyAdminBase {
 public:
  // `engine`, `clock`, `access` and `pseudonym` must outlive the service.
  // Every call is admitted by `access` first (docs/security.md); log lines
  // name users by `pseudonym`.
  // Policy documents larger than `max_policy_bytes` are refused before they
  // are parsed, and at most kPolicyWorkers are parsed at once.
  PolicyAdminService(policy::PolicyEngine* engine, const Clock* clock,
                     const AccessControl* access,
                     const store::Pseudonymizer* pseudonym,
                     std::size_t max_policy_bytes = policy::Policy::kMaxBytes,
                     CallCounts* calls = nullptr);

  // ValidatePolicy, ApplyPolicy and SimulateDecision running at once; more
  // are RESOURCE_EXHAUSTED, so that policy work cannot starve check-ins.
  static constexpr int kPolicyWorkers = 2;

  grpc::ServerUnaryReactor* GetPolicy(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ValidatePolicy(grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ApplyPolicy(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* SimulateDecision(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListExemptions(grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* PutExemption(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* DeleteExemption(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
      grpc::ByteBuffer* response) override;

  // The domain calls behind the RPCs (also used by tests).
  [[nodiscard]] absl::Status DoApply(const v1::ApplyPolicyRequest& request,
                                     v1::ApplyPolicyResponse* response,
                                     const policy::Actor& actor = {});
  [[nodiscard]] absl::Status DoSimulate(
      const v1::SimulateDecisionRequest& request,
      v1::SimulateDecisionResponse* response) const;

 private:
  // Checks `tenant` for an admitted caller of `rpc` (unless the RPC judges
  // a stored object's tenant).
  [[nodiscard]] absl::Status CheckTenant(const Caller& caller, Rpc rpc,
                                         std::string_view tenant) const;

  std::string LogName(const policy::Exemption& e) const;
  // A slot for policy work (kPolicyWorkers), after checking the document's
  // size; released when the returned guard goes.
  absl::StatusOr<WorkLimit::Slot> PolicyWork(std::string_view rpc,
                                             std::size_t bytes);

  // The typed handlers behind the raw methods.
  [[nodiscard]] absl::Status GetPolicyTyped(const Caller& caller,
                                            const v1::GetPolicyRequest& request,
                                            v1::GetPolicyResponse* response);
  [[nodiscard]] absl::Status ValidatePolicyTyped(
      const Caller& caller, const v1::ValidatePolicyRequest& request,
      v1::ValidatePolicyResponse* response);
  [[nodiscard]] absl::Status ApplyPolicyTyped(
      const Caller& caller, const v1::ApplyPolicyRequest& request,
      v1::ApplyPolicyResponse* response);
  [[nodiscard]] absl::Status SimulateDecisionTyped(
      const Caller& caller, const v1::SimulateDecisionRequest& request,
      v1::SimulateDecisionResponse* response);
  [[nodiscard]] absl::Status ListExemptionsTyped(
      const Caller& caller, const v1::ListExemptionsRequest& request,
      v1::ListExemptionsResponse* response);
  [[nodiscard]] absl::Status PutExemptionTyped(
      const Caller& caller, const v1::PutExemptionRequest& request,
      v1::PutExemptionResponse* response);
  [[nodiscard]] absl::Status DeleteExemptionTyped(
      const Caller& caller, const v1::DeleteExemptionRequest& request,
      v1::DeleteExemptionResponse* response);

  struct Decoders {
    Decoders();
    WireDecoder get_policy, validate_policy, apply_policy, simulate_decision,
        list_exemptions, put_exemption, delete_exemption;
  };

  policy::PolicyEngine* engine_;
  const Clock* clock_;
  const AccessControl* access_;
  const store::Pseudonymizer* pseudonym_;
  CallCounts* calls_;  // may be null
  const Decoders decoders_;
  const std::size_t max_policy_bytes_;
  WorkLimit policy_work_{kPolicyWorkers};
};

}  // namespace hijackguard::plugin
