// PolicyEngine::ViewDevice: a device's decision as of now, read-only.
#include "common/strings.h"
#include "policy/engine.h"

namespace hijackguard::policy {

absl::StatusOr<PolicyEngine::DeviceView> PolicyEngine::ViewDevice(
    const detector::Fingerprint& fp, const detector::CheckInFacts& facts,
    absl::Time now) {
  std::shared_ptr<const Policy> policy;
  std::shared_ptr<const ExemptionIndex> exemptions;
  {
    absl::MutexLock lock(&policy_mu_);
    policy = policy_;
    exemptions = exemptions_;
  }
  const std::string key = DeviceKey(facts);
  Shard& shard = ShardFor(key);
  DeviceView view;
  // Under the device's lock, as a decision reads it; nothing is written.
  absl::MutexLock lock(&shard.mu);
  detector::DeviceEvidence evidence;
  auto it = shard.devices.find(key);
  // A shared store's row is read again (another replica may have decided);
  // read back unchanged, memory is the newer.
  const bool cached = it != shard.devices.end();
  const bool known = cached && (store_ == nullptr || !store_->shared());
  DeviceState loaded;
  if (absl::Status read =
          ReadDevice(facts, key, known, cached ? it->second.row_hash : 0,
                     &evidence, &loaded);
      !read.ok()) {
    return absl::UnavailableError(
        StrCat("the device's state cannot be read: ", read.message()));
  }
  const bool in_memory = known || (cached && loaded.row_hash != 0 &&
                                   loaded.row_hash == it->second.row_hash);
  const DeviceState& state = in_memory ? it->second : loaded;
  view.evaluation = Evaluate(
      InputFor(*policy, fp, evidence, facts, state, exemptions.get(), now));
  view.evaluation.policy_owner = std::move(policy);
  view.evaluation.exemptions_owner = std::move(exemptions);
  view.last_action = state.last_action;
  return view;
}

}  // namespace hijackguard::policy
