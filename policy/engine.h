// The policy engine: the current policy (swapped atomically), the exemptions
// made through the admin API, each device's decision history, and the alerts
// emitted when a device's action changes. No gRPC here; plugin/ exposes it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "detector/known_issues.h"
#include "policy/alerts.h"
#include "policy/device_list.h"
#include "policy/evaluate.h"
#include "policy/evidence.h"
#include "policy/state_store.h"

namespace hijackguard::policy {

struct EngineOptions {
  // Devices whose history (grace start, last action) is kept; beyond it the
  // least recently decided are forgotten.
  std::size_t max_devices = 500'000;
  // WatchAlerts queues and subscribers (policy/alerts.h).
  AlertLimits alerts;
  // Exemptions made through the admin API.
  std::size_t max_api_exemptions = 100'000;
  // Alerts also go to the SIEM outbox (AlertJson): with a store in the
  // commit of the decision that raised them; without one to
  // `memory_outbox`, called under the device's lock (so in order per
  // device) and so it must not block.
  bool outbox = false;
  std::function<void(std::string payload)> memory_outbox;
};

// Decisions are counted by what they enforced and evaluated, and the mode.
inline constexpr std::size_t kDecisionOutcomes = std::size_t{4} * 4 * 2;
inline std::size_t DecisionOutcomeIndex(Action enforced, Action evaluated,
                                        Mode mode) {
  return (static_cast<std::size_t>(enforced) * 4 +
          static_cast<std::size_t>(evaluated)) *
             2 +
         static_cast<std::size_t>(mode);
}

struct EngineStats {
  std::uint64_t decisions = 0;
  // By DecisionOutcomeIndex (simulations are not decisions).
  std::array<std::uint64_t, kDecisionOutcomes> decisions_by_outcome{};
  std::size_t alert_subscribers = 0;
  std::uint64_t alerts_dropped = 0;  // by subscribers that fell behind
  std::uint64_t alerts = 0;
  std::uint64_t policy_swaps = 0;
  std::size_t devices = 0;
  std::uint64_t devices_forgotten = 0;
};

// What the engine tells its decision listener of each decision.
struct DecisionNote {
  std::string_view decision_id;
  std::string_view trigger;  // "CHECK_IN", "GATEWAY", "TRAFFIC"
  std::string_view tenant_id;
  std::string_view eas_device_id;
  std::string_view user_principal;
  Action enforced_action = Action::kAllow;
  Action evaluated_action = Action::kAllow;
  // The device's evaluated action before; differs from evaluated_action when
  // the decision raised an alert.
  Action previous_action = Action::kAllow;
  Mode mode = Mode::kMonitor;
  double score = 0;
  std::string_view policy_revision;
  // What it was decided from and the whole result (valid during the call).
  const detector::Fingerprint* fingerprint = nullptr;
  const Evaluation* evaluation = nullptr;
};

// What a check-in adds to the detector's facts.
struct CheckInExtras {
  std::span<const std::string> groups;
  std::string_view locale;
};

// Thread-safe.
class PolicyEngine {
 public:
  // `evidence` (may be null) supplies the devices' traffic; `clock` and
  // `evidence` must outlive the engine.
  // `policy_origin` names where `policy` came from ("default", "file:<path>").
  PolicyEngine(std::shared_ptr<const detector::KnownIssueCatalog> catalog,
               std::shared_ptr<const Policy> policy, const Clock* clock,
               const EvidenceSource* evidence, EngineOptions options = {},
               std::string policy_origin = "default");
  ~PolicyEngine();

  const detector::KnownIssueCatalog& catalog() const { return *catalog_; }
  std::shared_ptr<const Policy> policy() const;

  struct PolicyInfo {
    std::shared_ptr<const Policy> policy;
    std::string origin;  // "default", "file:<path>", "api"
    absl::Time applied_at;
  };
  PolicyInfo policy_info() const;

  // Replaces the policy when `expected_revision` is empty or equals the
  // current revision (ABORTED otherwise, naming both). Decisions already
  // running finish under the policy they started with.
  // `actor` is recorded in the audit log.
  [[nodiscard]] absl::Status Apply(std::shared_ptr<const Policy> policy,
                                   std::string_view expected_revision,
                                   std::string origin = "api",
                                   Actor actor = {});

  // Admin-API exemptions (source "api"). Put replaces one with the same id.
  std::shared_ptr<const ExemptionIndex> exemptions() const;
  // Returns the exemption as stored (normalized value, id, source "api").
  absl::StatusOr<Exemption> PutExemption(Exemption exemption, Actor actor = {});
  [[nodiscard]] absl::Status DeleteExemption(std::string_view id,
                                             Actor actor = {});  // NOT_FOUND

  // Called after every decision (not simulations), on the deciding thread
  // with no engine lock held. Set before the first decision.
  void SetDecisionListener(std::function<void(const DecisionNote&)> listener) {
    decision_listener_ = std::move(listener);
  }

  // A decision and the store ticket to wait for before answering with it:
  // the commit of a changed history (grace start, last action), else 0. The
  // decision's audit row is always submitted.
  struct Decision {
    Evaluation evaluation;
    StoreTicket ticket = 0;
    // Whether the decision submitted anything (a changed history or audit
    // row, an alert): other replicas' kept answers for the device may be
    // out of date only then.
    bool submitted = false;
  };

  // Decides a check-in: `fp` with known issues matched, `facts` as the
  // detector keeps them. Records the device's history and emits an alert when
  // the evaluated action changed. `now` defaults to the engine's clock.
  // UNAVAILABLE when the device's evidence or history cannot be read
  // (nothing is recorded then).
  absl::StatusOr<Decision> DecideCheckIn(
      const detector::Fingerprint& fp, const detector::CheckInFacts& facts,
      const CheckInExtras& extras, std::string_view decision_id,
      std::optional<absl::Time> now = std::nullopt);

  // Decides a device a gateway saw (GET /v1/activesync/authorize): as
  // DecideCheckIn, with the trigger "GATEWAY", keeping the groups and locale
  // the device's last check-in reported.
  absl::StatusOr<Decision> DecideAtGateway(const detector::Fingerprint& fp,
                                           const detector::CheckInFacts& facts,
                                           std::string_view decision_id,
                                           absl::Time now);

  // Re-decides a device after its traffic produced events (when the
  // evidence source knows the device), so that alerts go out when the
  // behaviour is seen. Returns the store ticket to wait for (see Decision);
  // UNAVAILABLE as for DecideCheckIn.
  absl::StatusOr<StoreTicket> DecideAfterTraffic(
      std::string_view tenant_id, std::string_view eas_device_id);

  // The policy's view of a device now (GetDeviceRisk): the decision its next
  // check-in would get from its evidence and recorded history under the
  // policy in force, with nothing recorded, cached or alerted; and the
  // evaluated action last recorded for it (ALLOW when never decided).
  // UNAVAILABLE as for DecideCheckIn.
  struct DeviceView {
    Evaluation evaluation;
    Action last_action = Action::kAllow;
  };
  absl::StatusOr<DeviceView> ViewDevice(const detector::Fingerprint& fp,
                                        const detector::CheckInFacts& facts,
                                        absl::Time now);

  // Keeps state in `store` from now on (call once, before serving; `store`
  // must outlive the engine): loads the API's exemptions; pages decision
  // history in as devices are decided (max_devices becomes a cache size);
  // records every policy change, exemption change and decision, the
  // decisions in the audit log. Policy and exemption changes return once
  // durable.
  [[nodiscard]] absl::Status AttachStore(StateStore* store);
  // A shared store's replicas: the policy and the exemptions as the store
  // has them now, when they differ from memory's (another replica applied
  // or changed them; StateStore::SetSharedListener calls these). Nothing is
  // recorded: the replica that changed them did.
  [[nodiscard]] absl::Status AdoptStoredPolicy();
  // A shared store: `listener` gets what other replicas announced
  // (StateStore::AnnounceDevices, the lines newline-separated), and `all`
  // after the store lost and regained the database (announcements may have
  // been missed). On the store's thread; null removes it and returns once
  // no call is under way.
  void SetReplicaDeviceListener(
      std::function<void(bool all, std::string_view lines)> listener) {
    absl::MutexLock lock(&replica_devices_mu_);
    replica_devices_ = std::move(listener);
  }
  [[nodiscard]] absl::Status AdoptStoredExemptions();
  // Records the policy in force as applied (at start, after AttachStore).
  [[nodiscard]] absl::Status RecordStartPolicy();

  // Decides without side effects (SimulateDecision): no history read or
  // written, no alert. Under `candidate` when not null, else the policy in
  // force.
  Evaluation Simulate(const detector::Fingerprint& fp, const Subject& subject,
                      std::span<const EvidenceEvent> events,
                      const DeviceHistory& history, absl::Time now,
                      const Policy* candidate = nullptr) const;

  // Alerts from now on, for `owner` (a principal's id). `notify` is called
  // (from a deciding thread, without engine locks held) when the
  // subscription has alerts or ended. Empty `tenant_filter` = every tenant.
  // RESOURCE_EXHAUSTED when the slots (or the owner's) are taken; an ended
  // subscription after EndSubscriptions().
  absl::StatusOr<std::shared_ptr<AlertSubscription>> Subscribe(
      std::string owner, std::string tenant_filter,
      std::function<void()> notify);
  // Ends every subscription (server shutdown).
  void EndSubscriptions();
  // Calls every live subscription's `notify`, alerts or not, so that its
  // consumer looks again (the server: whether the subscriber may still read
  // after the principals were reloaded).
  void WakeSubscriptions();

  // Decided devices, as the device list shows them (ListDevices): from the
  // store when there is one (committed rows), else from memory. `query` is
  // normalized here; INVALID_ARGUMENT for a bad filter or page token.
  absl::StatusOr<DevicePage> ListDevices(DeviceQuery query) const;
  // The decided devices of `tenant_id` ("" for all) counted by DeviceCount's
  // columns, from the store when there is one.
  absl::StatusOr<std::vector<DeviceCount>> CountDevices(
      std::string_view tenant_id) const;

  EngineStats stats() const;

 private:
  struct DeviceState {
    DeviceHistory history;
    Action last_action = Action::kAllow;
    std::string mdm_device_id;
    std::string user_principal;
    std::vector<std::string> groups;
    std::string locale;
    std::uint64_t last_decision = 0;  // for forgetting the oldest
    StoreTicket history_ticket = 0;   // of the last history row submitted
    // The signature of the decision in the device's last audit row, and the
    // unchanged decisions since (stored whenever the row is written, at
    // least daily: a crash loses at most the count since).
    std::uint64_t audited = 0;
    std::uint64_t repeats = 0;
    // Shared stores: how many of `repeats` this replica counted since it
    // last wrote the row (memory only; added to a row another replica wrote
    // meanwhile for the same audited decision).
    std::uint64_t unwritten = 0;
    absl::Time unwritten_since;  // the first of them
    // When the history row was last written (kept in the row: a device paged
    // in knows it, and is not written again before the daily refresh).
    absl::Time written = absl::InfinitePast();
    // Shared stores: a hash of the history row as this replica last wrote or
    // read it (0: none). A row read back unchanged leaves what memory holds
    // (the repeats not yet written) in force.
    std::uint64_t row_hash = 0;
    // What the device list shows beyond the fields above (format 4).
    Action enforced_action = Action::kAllow;
    Level level = Level::kLow;
    double score = 0;
    std::string platform;
    std::string build;
    std::string os_version;
    std::string model_name;
    std::string listed_user;
    absl::Time decided_at = absl::InfinitePast();  // the last decision
    double written_score = 0;  // the score the history row holds
  };
  static constexpr std::size_t kShards = 16;
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, DeviceState> devices ABSL_GUARDED_BY(mu);
    // Keys in the order they came in, with the decision stamp they had
    // then (see EvictOne).
    std::deque<std::pair<std::string, std::uint64_t>> order ABSL_GUARDED_BY(mu);
  };
  void EvictOne(Shard& shard) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // What a shared store's row for `key` becomes with the count `state`
  // has not written (`state` itself, or `*merged`: the row as it reads now,
  // when another replica wrote it for the same audited decision); null when
  // nothing is to be written.
  const DeviceState* MergeUnwritten(const std::string& key,
                                    const DeviceState& state,
                                    DeviceState* merged);
  // UNAVAILABLE while the store cannot write (admin changes wait for it).
  [[nodiscard]] absl::Status Writable() const;

  absl::StatusOr<Decision> Decide(const detector::Fingerprint& fp,
                                  const detector::CheckInFacts& facts,
                                  const CheckInExtras* extras,
                                  std::string_view trigger,
                                  std::string_view decision_id, absl::Time now);
  // Decide's steps (under the device's shard lock).
  struct DecisionContext {
    std::string key;  // the device's: tenant, then e:EAS or m:MDM id
    std::string_view trigger;
    std::string_view decision_id;
    absl::Time now;
  };
  // The device's evidence, and its history from the store when it is not
  // `known` in memory.
  // A row whose hash is `cached_hash` is not decoded: `loaded` then holds
  // only that hash, and the caller's own state is the device's.
  [[nodiscard]] absl::Status ReadDevice(const detector::CheckInFacts& facts,
                                        const std::string& key, bool known,
                                        std::uint64_t cached_hash,
                                        detector::DeviceEvidence* evidence,
                                        DeviceState* loaded) const;
  // What a check-in tells of the device beyond its fingerprint.
  static void NoteExtras(const CheckInExtras* extras,
                         const detector::CheckInFacts& facts,
                         DeviceState* state);
  static Subject SubjectOf(const detector::CheckInFacts& facts,
                           const DeviceState& state);
  // What Evaluate reads for a device (views into the arguments).
  static EvaluationInput InputFor(const Policy& policy,
                                  const detector::Fingerprint& fp,
                                  const detector::DeviceEvidence& evidence,
                                  const detector::CheckInFacts& facts,
                                  const DeviceState& state,
                                  const ExemptionIndex* exemptions,
                                  absl::Time now);
  static ComplianceAlert MakeAlert(const Evaluation& eval,
                                   const Subject& subject,
                                   std::string_view trigger,
                                   std::string_view decision_id,
                                   Action old_action);
  // Submits the audit row and the changed history; returns the ticket the
  // answer waits for (0: none) and whether anything was submitted.
  // `outbox`: the alert's outbox entry ("" when none), in the same commit;
  // `feed`: the alert for other replicas (EngineChanges::alerts; "": none).
  struct Recorded {
    StoreTicket wait = 0;
    bool submitted = false;
  };
  Recorded Record(const Evaluation& eval, const Subject& subject,
                  const DecisionContext& context, const DeviceState& before,
                  std::string outbox, std::string feed, DeviceState* state);
  // An alert another replica raised (ReplicaAlertJson), to this replica's
  // subscribers.
  void PublishSharedAlert(std::string_view json);
  // What a shared store's listener is told (StateStore::SetSharedListener).
  void OnSharedChange(StateStore::SharedChange change,
                      std::string_view payload);
  void Remember(Shard& shard, std::string&& key, DeviceState&& state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  StoreTicket RecordPolicyLocked(std::string_view previous, Actor actor = {})
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(policy_mu_);
  // What a decision tells of the device for the list.
  // `user`: the decision's subject's (the MDM's, else a gateway's).
  static void NoteListing(const Evaluation& eval,
                          const detector::Fingerprint& fp,
                          std::string_view user, absl::Time now,
                          DeviceState* state);
  // The device's row in the list: `key` is DeviceKey's.
  static DeviceListing ListingOf(std::string_view key, const DeviceState& state,
                                 absl::Time recorded_at);
  // Appends the device's history row and its listing to `changes`.
  static void AddHistoryRow(std::string_view key, const DeviceState& state,
                            absl::Time written, EngineChanges* changes);
  static void EncodeDeviceState(const DeviceState& state, absl::Time written,
                                std::string* out);
  [[nodiscard]] static absl::Status DecodeDeviceState(std::string_view value,
                                                      DeviceState* state);
  static DecisionAudit MakeDecisionAudit(const Evaluation& eval,
                                         const Subject& subject,
                                         std::string_view trigger,
                                         std::string_view decision_id,
                                         Action previous);
  Shard& ShardFor(std::string_view key);
  // The device's key: tenant, then e:EAS or m:MDM id.
  static std::string DeviceKey(const detector::CheckInFacts& facts);

  std::shared_ptr<const detector::KnownIssueCatalog> catalog_;
  const Clock* clock_;
  const EvidenceSource* evidence_;
  const EngineOptions options_;

  mutable absl::Mutex policy_mu_;  // guards the pointers (swap only)
  std::shared_ptr<const Policy> policy_ ABSL_GUARDED_BY(policy_mu_);
  std::string policy_origin_ ABSL_GUARDED_BY(policy_mu_) = "default";
  absl::Time policy_applied_at_ ABSL_GUARDED_BY(policy_mu_);
  std::shared_ptr<const ExemptionIndex> exemptions_ ABSL_GUARDED_BY(policy_mu_);
  StateStore* store_ = nullptr;  // set once, before serving
  // The store calls AdoptStored* (a shared store; it must outlive the
  // engine then).
  bool shared_listener_ = false;
  absl::Mutex replica_devices_mu_;
  std::function<void(bool, std::string_view)> replica_devices_
      ABSL_GUARDED_BY(replica_devices_mu_);

  std::array<Shard, kShards> shards_;
  std::function<void(const DecisionNote&)> decision_listener_;
  std::atomic<std::uint64_t> decisions_{0};
  std::array<std::atomic<std::uint64_t>, kDecisionOutcomes> outcomes_{};
  std::atomic<std::uint64_t> policy_swaps_{0};
  std::atomic<std::uint64_t> forgotten_{0};

  AlertHub alerts_;
};

}  // namespace hijackguard::policy
