// The engine on a shared store (replicas): what the others committed is
// adopted (policy, exemptions) or passed on (alerts, changed devices).
#include <algorithm>

#include "common/log.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "policy/engine.h"

namespace hijackguard::policy {

namespace {

// The same exemptions, whatever their order: then the engine keeps the
// index it has (the gateway's kept decisions name it).
bool SameExemptions(const ExemptionIndex& a, const ExemptionIndex& b) {
  if (a.size() != b.size()) return false;
  auto sorted = [](const ExemptionIndex& index) {
    std::vector<const Exemption*> list = index.List();
    std::sort(
        list.begin(), list.end(),
        [](const Exemption* x, const Exemption* y) { return x->id < y->id; });
    return list;
  };
  const std::vector<const Exemption*> x = sorted(a);
  const std::vector<const Exemption*> y = sorted(b);
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (x[i]->id != y[i]->id || x[i]->kind != y[i]->kind ||
        x[i]->value != y[i]->value || x[i]->reason != y[i]->reason ||
        x[i]->expires != y[i]->expires || x[i]->tenant_id != y[i]->tenant_id ||
        x[i]->source != y[i]->source || x[i]->rule != y[i]->rule) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::Status PolicyEngine::AdoptStoredPolicy() {
  ASSIGN_OR_RETURN(std::optional<AppliedPolicy> latest,
                   store_->LatestPolicy(""));
  if (!latest || latest->revision == policy()->revision()) {
    return absl::OkStatus();
  }
  // Parsed outside the lock; a policy this build cannot parse stays out
  // (the replica keeps deciding with the one it has, and says so).
  absl::StatusOr<std::shared_ptr<const Policy>> parsed =
      Policy::Parse(latest->document, *catalog_, nullptr);
  if (!parsed.ok()) {
    return absl::DataLossError(StrCat(
        "the policy another replica applied (revision ", latest->revision,
        ") does not parse here: ", parsed.status().message()));
  }
  absl::MutexLock lock(&policy_mu_);
  policy_ = *std::move(parsed);
  policy_origin_ = latest->origin;
  policy_applied_at_ = latest->applied_at;
  policy_swaps_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status PolicyEngine::AdoptStoredExemptions() {
  ASSIGN_OR_RETURN(std::vector<Exemption> list, store_->LoadExemptions());
  auto index = std::make_shared<const ExemptionIndex>(std::move(list));
  absl::MutexLock lock(&policy_mu_);
  if (exemptions_ == nullptr || !SameExemptions(*exemptions_, *index)) {
    exemptions_ = std::move(index);
  }
  return absl::OkStatus();
}

void PolicyEngine::OnSharedChange(StateStore::SharedChange change,
                                  std::string_view payload) {
  using Change = StateStore::SharedChange;
  if (change == Change::kAlert) {
    PublishSharedAlert(payload);
    return;
  }
  if (change == Change::kDevices || change == Change::kResync) {
    absl::MutexLock lock(&replica_devices_mu_);
    if (replica_devices_) {
      replica_devices_(change == Change::kResync, payload);
    }
    if (change == Change::kDevices) return;
  }
  absl::Status status;
  if (change != Change::kExemptions) {
    status = AdoptStoredPolicy();
  }
  if (status.ok() && change != Change::kPolicy) {
    status = AdoptStoredExemptions();
  }
  if (!status.ok()) {
    LogError(StrCat("state: ", status.message()));
  }
}

void PolicyEngine::PublishSharedAlert(std::string_view json) {
  absl::StatusOr<ComplianceAlert> alert = ParseAlertJson(json);
  if (!alert.ok()) {
    // The message names a field, never a value.
    LogError(StrCat("alerts: another replica's alert cannot be read (",
                    alert.status().message(), "); not delivered"));
    return;
  }
  const absl::Time at = alert->emitted_at;
  for (const auto& sub : alerts_.Publish(*std::move(alert), at)) {
    sub->Notify();
  }
}

}  // namespace hijackguard::policy
