#include "policy/engine.h"

#include <algorithm>
#include <cmath>

#include "absl/hash/hash.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "common/uuid.h"
#include "detector/fingerprint.h"

namespace hijackguard::policy {

// ---------------------------------------------------------------------------
// PolicyEngine

PolicyEngine::PolicyEngine(
    std::shared_ptr<const detector::KnownIssueCatalog> catalog,
    std::shared_ptr<const Policy> policy, const Clock* clock,
    const EvidenceSource* evidence, EngineOptions options,
    std::string policy_origin)
    : catalog_(std::move(catalog)),
      clock_(clock),
      evidence_(evidence),
      options_(std::move(options)),
      policy_(std::move(policy)),
      policy_origin_(std::move(policy_origin)),
      policy_applied_at_(absl::Now()),
      exemptions_(std::make_shared<const ExemptionIndex>()),
      alerts_(options_.alerts) {}

PolicyEngine::~PolicyEngine() {
  if (shared_listener_) {
    store_->SetSharedListener(nullptr);  // waits for a call under way
  }
  EndSubscriptions();
}

std::shared_ptr<const Policy> PolicyEngine::policy() const {
  absl::MutexLock lock(&policy_mu_);
  return policy_;
}

PolicyEngine::PolicyInfo PolicyEngine::policy_info() const {
  absl::MutexLock lock(&policy_mu_);
  return {policy_, policy_origin_, policy_applied_at_};
}

absl::Status PolicyEngine::Writable() const {
  return policy::Writable(store_, "not changed: ");
}

absl::Status PolicyEngine::Apply(std::shared_ptr<const Policy> policy,
                                 std::string_view expected_revision,
                                 std::string origin, Actor actor) {
  RETURN_IF_ERROR(Writable());
  StoreTicket ticket = 0;
  {
    absl::MutexLock lock(&policy_mu_);
    if (!expected_revision.empty() &&
        expected_revision != policy_->revision()) {
      return absl::AbortedError(StrCat("the current policy revision is ",
                                       policy_->revision(),
                                       ", not the expected ", expected_revision,
                                       "; fetch the policy again and reapply"));
    }
    const std::string previous = policy_->revision();
    policy_ = std::move(policy);
    policy_origin_ = std::move(origin);
    policy_applied_at_ = absl::Now();  // for people: the wall clock
    policy_swaps_.fetch_add(1, std::memory_order_relaxed);
    // Submitted under the lock, so that the store's order is the swaps'.
    ticket = RecordPolicyLocked(previous, std::move(actor));
  }
  return store_ == nullptr ? absl::OkStatus() : store_->WaitDurable(ticket);
}

StoreTicket PolicyEngine::RecordPolicyLocked(std::string_view previous,
                                             Actor actor) {
  if (store_ == nullptr) {
    return 0;
  }
  EngineChanges changes;
  AppliedPolicy& applied = changes.policy.emplace();
  applied.revision = policy_->revision();
  applied.origin = policy_origin_;
  applied.applied_at = policy_applied_at_;
  applied.document =
      policy_->source().empty() ? policy_->canonical() : policy_->source();
  PolicyAudit audit;
  audit.revision = policy_->revision();
  audit.previous_revision = std::string(previous);
  audit.origin = policy_origin_;
  audit.mode = policy_->global().mode.value;
  audit.actor = std::move(actor);
  changes.audit.push_back({clock_->Now(), std::move(audit)});
  return store_->SubmitEngine(std::move(changes));
}

absl::Status PolicyEngine::AttachStore(StateStore* store) {
  auto exemptions = store->LoadExemptions();
  if (!exemptions.ok()) {
    return exemptions.status();
  }
  {
    absl::MutexLock lock(&policy_mu_);
    if (store_ != nullptr) {
      return absl::FailedPreconditionError("the engine has a store already");
    }
    exemptions_ =
        std::make_shared<const ExemptionIndex>(std::move(*exemptions));
    store_ = store;
  }
  if (store->shared()) {
    shared_listener_ = true;
    // Outside policy_mu_: the listener takes it (under the store's lock).
    store->SetSharedListener(
        [this](StateStore::SharedChange change, std::string_view payload) {
          OnSharedChange(change, payload);
        });
  }
  return absl::OkStatus();
}

absl::Status PolicyEngine::RecordStartPolicy() {
  StoreTicket ticket = 0;
  {
    absl::MutexLock lock(&policy_mu_);
    ticket = RecordPolicyLocked("");
  }
  return store_ == nullptr ? absl::OkStatus() : store_->WaitDurable(ticket);
}

std::shared_ptr<const ExemptionIndex> PolicyEngine::exemptions() const {
  absl::MutexLock lock(&policy_mu_);
  return exemptions_;
}

absl::StatusOr<Exemption> PolicyEngine::PutExemption(Exemption exemption,
                                                     Actor actor) {
  RETURN_IF_ERROR(Writable());
  exemption.value = NormalizeExemptionValue(exemption.kind, exemption.value);
  exemption.source = "api";
  exemption.id =
      ExemptionId(exemption.tenant_id, exemption.kind, exemption.value);
  absl::ReleasableMutexLock lock(&policy_mu_);
  const std::vector<const Exemption*> current = exemptions_->List();
  const bool replaces =
      std::any_of(current.begin(), current.end(),
                  [&](const Exemption* e) { return e->id == exemption.id; });
  if (!replaces && exemptions_->size() >= options_.max_api_exemptions) {
    return absl::ResourceExhaustedError(
        StrCat("there are ", exemptions_->size(),
               " exemptions made through the API already, the most allowed; "
               "delete expired ones or put long-lived ones in the policy"));
  }
  std::vector<Exemption> list;
  list.reserve(current.size() + 1);
  for (const Exemption* e : current) {
    list.push_back(*e);
  }
  list.push_back(exemption);
  exemptions_ = std::make_shared<const ExemptionIndex>(std::move(list));
  exemption.rule = StrCat("exemption:", exemption.id);
  if (store_ != nullptr) {
    EngineChanges changes;
    changes.put_exemptions.push_back(exemption);
    changes.audit.push_back(
        {clock_->Now(), ExemptionAudit{false, exemption, std::move(actor)}});
    const StoreTicket ticket = store_->SubmitEngine(std::move(changes));
    lock.Release();
    RETURN_IF_ERROR(store_->WaitDurable(ticket));
  }
  return exemption;
}

absl::Status PolicyEngine::DeleteExemption(std::string_view id, Actor actor) {
  RETURN_IF_ERROR(Writable());
  absl::ReleasableMutexLock lock(&policy_mu_);
  std::vector<Exemption> list;
  bool found = false;
  std::string tenant;
  for (const Exemption* e : exemptions_->List()) {
    if (e->id == id) {
      found = true;
      tenant = e->tenant_id;
    } else {
      list.push_back(*e);
    }
  }
  if (!found) {
    return absl::NotFoundError(StrCat("no exemption with id ", QuoteInput(id)));
  }
  exemptions_ = std::make_shared<const ExemptionIndex>(std::move(list));
  if (store_ == nullptr) {
    return absl::OkStatus();
  }
  EngineChanges changes;
  changes.deleted_exemptions.emplace_back(id);
  ExemptionAudit audit;
  audit.deleted = true;
  audit.exemption.id = std::string(id);
  audit.exemption.tenant_id = std::move(tenant);
  audit.actor = std::move(actor);
  changes.audit.push_back({clock_->Now(), std::move(audit)});
  const StoreTicket ticket = store_->SubmitEngine(std::move(changes));
  lock.Release();
  return store_->WaitDurable(ticket);
}

namespace {
// A history row is written at least this often while the device is decided,
// so that its time says when the device was last seen (retention prunes by
// it).
constexpr absl::Duration kHistoryRefresh = absl::Hours(24);

// With a shared store, a device's unchanged decisions are counted in memory
// and written with the row at the device's first decision this long after
// the first of them (the count is then in the row other replicas read for
// the device's next audit row; a replica that stops or dies loses what it
// counted since).
constexpr absl::Duration kSharedRepeatsWrite = absl::Minutes(1);

// The hash ReadDevice compares; never 0 (no row).
std::uint64_t RowHash(std::string_view row) {
  const std::uint64_t h = absl::Hash<std::string_view>()(row);
  return h == 0 ? 1 : h;
}

// What makes a decision worth an audit row of its own: the actions, level,
// scope, the set of reasons (codes and known issues), the exemption, the
// policy revision, the grace deadline and who the device belongs to (not the
// score: contributions that merely decay are not a change). FNV-1a, so that
// it is the same in every build (it is stored); never 0.
std::uint64_t DecisionSignature(const Evaluation& eval,
                                const Subject& subject) {
  std::uint64_t h = 14695981039346656037ULL;
  auto mix = [&](std::string_view bytes) {
    for (const char c : bytes) {
      h ^= static_cast<unsigned char>(c);
      h *= 1099511628211ULL;
    }
    h ^= 0xFF;  // a separator no UTF-8 text contains
    h *= 1099511628211ULL;
  };
  const char fixed[] = {
      static_cast<char>(eval.enforced_action),
      static_cast<char>(eval.evaluated_action), static_cast<char>(eval.level),
      static_cast<char>(eval.scope), static_cast<char>(eval.mode)};
  mix(std::string_view(fixed, sizeof(fixed)));
  mix(eval.policy_revision);
  mix(eval.exemption ? std::string_view(eval.exemption->id) : "");
  mix(subject.user_principal);
  mix(subject.mdm_device_id);
  mix(eval.deadline ? std::to_string(absl::ToUnixSeconds(*eval.deadline))
                    : std::string());
  std::vector<std::string> codes;
  codes.reserve(eval.reasons.size());
  for (const Reason& r : eval.reasons) {
    codes.push_back(StrCat(r.code, "/", r.known_issue_id));
  }
  std::sort(codes.begin(), codes.end());
  codes.erase(std::unique(codes.begin(), codes.end()), codes.end());
  for (const std::string& code : codes) {
    mix(code);
  }
  return h == 0 ? 1 : h;
}
}  // namespace

DecisionAudit PolicyEngine::MakeDecisionAudit(const Evaluation& eval,
                                              const Subject& subject,
                                              std::string_view trigger,
                                              std::string_view decision_id,
                                              Action previous) {
  DecisionAudit a;
  a.decision_id = std::string(decision_id);
  a.trigger = std::string(trigger);
  a.tenant_id = std::string(subject.tenant_id);
  a.eas_device_id = std::string(subject.eas_device_id);
  a.mdm_device_id = std::string(subject.mdm_device_id);
  a.user_principal = std::string(subject.user_principal);
  a.evaluated_action = eval.evaluated_action;
  a.enforced_action = eval.enforced_action;
  a.previous_action = previous;
  a.mode = eval.mode;
  a.score = eval.score;
  a.level = eval.level;
  a.scope = eval.scope;
  a.policy_revision = std::string(eval.policy_revision);
  if (eval.exemption) {
    a.exemption_id = eval.exemption->id;
  }
  a.deadline = eval.deadline;
  a.reasons.reserve(eval.reasons.size());
  for (const Reason& r : eval.reasons) {
    a.reasons.push_back(
        {r.code, r.contribution, std::string(r.known_issue_id)});
  }
  return a;
}

const PolicyEngine::DeviceState* PolicyEngine::MergeUnwritten(
    const std::string& key, const DeviceState& state, DeviceState* merged) {
  // (A failed read drops the count: the store says why to whoever reads
  // next.)
  absl::StatusOr<std::optional<std::string>> row =
      store_->LoadEngineDevice(key);
  if (!row.ok() || !row->has_value()) {
    return nullptr;
  }
  if (RowHash(**row) == state.row_hash) {
    return &state;  // as this replica left it
  }
  // Another replica wrote it since: the count goes into its row when that
  // is for the same audited decision, else it is lost.
  if (!DecodeDeviceState(**row, merged).ok() ||
      merged->audited != state.audited) {
    return nullptr;
  }
  merged->repeats += state.unwritten;
  return merged;
}

void PolicyEngine::EvictOne(Shard& shard) {
  // Second chance in insertion order: a device decided since it was queued
  // goes to the back with its new stamp; the first one not decided since
  // goes. Each device is requeued at most once per decision, so this is O(1)
  // amortized (sampling the hash map from its start is not: erasing there
  // leaves ever longer runs of empty slots to skip).
  for (std::size_t tries = shard.order.size(); tries > 0; --tries) {
    auto [key, stamp] = std::move(shard.order.front());
    shard.order.pop_front();
    auto it = shard.devices.find(key);
    if (it == shard.devices.end()) {
      continue;
    }
    if (it->second.last_decision != stamp && tries > 1) {
      shard.order.emplace_back(std::move(key), it->second.last_decision);
      continue;
    }
    // The count of unchanged decisions lives only here since the row was
    // last written: write it, so that the device's next audit row, after it
    // is paged in again, carries it. A shared store's only when this replica
    // counted some since it wrote the row, into the row as it reads now
    // (MergeUnwritten).
    const DeviceState* to_write =
        store_ != nullptr && it->second.repeats > 0 ? &it->second : nullptr;
    DeviceState merged;
    if (to_write != nullptr && store_->shared()) {
      to_write = it->second.unwritten > 0
                     ? MergeUnwritten(it->first, it->second, &merged)
                     : nullptr;
    }
    if (to_write != nullptr) {
      EngineChanges changes;
      AddHistoryRow(it->first, *to_write, to_write->written, &changes);
      store_->SubmitEngine(std::move(changes));
    }
    shard.devices.erase(it);
    forgotten_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
}

std::string PolicyEngine::DeviceKey(const detector::CheckInFacts& facts) {
  const std::string_view device_id =
      facts.eas_device_id.empty() ? std::string_view(facts.mdm_device_id)
                                  : std::string_view(facts.eas_device_id);
  return StrCat(facts.tenant_id, "\n",
                facts.eas_device_id.empty() ? "m:" : "e:", device_id);
}

PolicyEngine::Shard& PolicyEngine::ShardFor(std::string_view key) {
  return shards_[std::hash<std::string_view>()(key) % kShards];
}

absl::StatusOr<PolicyEngine::Decision> PolicyEngine::DecideCheckIn(
    const detector::Fingerprint& fp, const detector::CheckInFacts& facts,
    const CheckInExtras& extras, std::string_view decision_id,
    std::optional<absl::Time> now) {
  return Decide(fp, facts, &extras, "CHECK_IN", decision_id,
                now ? *now : clock_->Now());
}

absl::StatusOr<PolicyEngine::Decision> PolicyEngine::DecideAtGateway(
    const detector::Fingerprint& fp, const detector::CheckInFacts& facts,
    std::string_view decision_id, absl::Time now) {
  return Decide(fp, facts, nullptr, "GATEWAY", decision_id, now);
}

absl::StatusOr<StoreTicket> PolicyEngine::DecideAfterTraffic(
    std::string_view tenant_id, std::string_view eas_device_id) {
  if (evidence_ == nullptr) {
    return 0;
  }
  // Only the facts: Decide reads the events.
  absl::StatusOr<std::optional<detector::CheckInFacts>> known =
      evidence_->Facts(tenant_id, eas_device_id);
  if (!known.ok()) {
    return absl::UnavailableError(StrCat("the device's state cannot be read: ",
                                         known.status().message()));
  }
  if (!known->has_value()) {
    return 0;
  }
  detector::CheckInFacts& facts = **known;
  facts.tenant_id = std::string(tenant_id);
  facts.eas_device_id = std::string(eas_device_id);
  const detector::Fingerprint fp =
      detector::IdentifyDevice(detector::ToFingerprintInput(facts), *catalog_);
  const absl::Time now = clock_->Now();
  const std::string decision_id = NewUuidV7(now);
  ASSIGN_OR_RETURN(Decision decision,
                   Decide(fp, facts, nullptr, "TRAFFIC", decision_id, now));
  return decision.ticket;
}

Evaluation PolicyEngine::Simulate(const detector::Fingerprint& fp,
                                  const Subject& subject,
                                  std::span<const EvidenceEvent> events,
                                  const DeviceHistory& history, absl::Time now,
                                  const Policy* candidate) const {
  std::shared_ptr<const Policy> policy;
  std::shared_ptr<const ExemptionIndex> exemptions;
  {
    absl::MutexLock lock(&policy_mu_);
    policy = policy_;
    exemptions = exemptions_;
  }
  EvaluationInput in;
  in.policy = candidate != nullptr ? candidate : policy.get();
  in.fingerprint = &fp;
  in.events = events;
  in.subject = subject;
  in.history = history;
  in.exemptions = exemptions.get();
  in.now = now;
  Evaluation eval = Evaluate(in);
  eval.policy_owner = candidate != nullptr ? nullptr : std::move(policy);
  eval.exemptions_owner = std::move(exemptions);
  return eval;
}

absl::Status PolicyEngine::ReadDevice(const detector::CheckInFacts& facts,
                                      const std::string& key, bool known,
                                      std::uint64_t cached_hash,
                                      detector::DeviceEvidence* evidence,
                                      DeviceState* loaded) const {
  evidence->events.clear();
  evidence->newest.clear();
  evidence->dropped = 0;
  if (evidence_ != nullptr && !facts.eas_device_id.empty()) {
    RETURN_IF_ERROR(
        evidence_->Evidence(facts.tenant_id, facts.eas_device_id, evidence)
            .status());
  }
  if (known || store_ == nullptr) {
    return absl::OkStatus();
  }
  // Memory is a cache of the store's history rows.
  ASSIGN_OR_RETURN(std::optional<std::string> row,
                   store_->LoadEngineDevice(key));
  if (!row.has_value()) {
    return absl::OkStatus();
  }
  const std::uint64_t hash = RowHash(*row);
  if (hash != cached_hash) {
    RETURN_IF_ERROR(DecodeDeviceState(*row, loaded));
  }
  loaded->row_hash = hash;
  return absl::OkStatus();
}

void PolicyEngine::NoteExtras(const CheckInExtras* extras,
                              const detector::CheckInFacts& facts,
                              DeviceState* state) {
  if (extras == nullptr) {
    return;
  }
  state->groups.assign(extras->groups.begin(), extras->groups.end());
  state->locale = std::string(extras->locale);
  if (!facts.mdm_device_id.empty()) {
    state->mdm_device_id = facts.mdm_device_id;
  }
  if (!facts.user_principal.empty()) {
    state->user_principal = facts.user_principal;
  }
}

EvaluationInput PolicyEngine::InputFor(const Policy& policy,
                                       const detector::Fingerprint& fp,
                                       const detector::DeviceEvidence& evidence,
                                       const detector::CheckInFacts& facts,
                                       const DeviceState& state,
                                       const ExemptionIndex* exemptions,
                                       absl::Time now) {
  EvaluationInput in;
  in.policy = &policy;
  in.fingerprint = &fp;
  in.events = evidence.events;
  in.events_dropped = evidence.dropped;
  in.citations = evidence.newest;
  in.subject = SubjectOf(facts, state);
  in.history = state.history;
  in.exemptions = exemptions;
  in.now = now;
  return in;
}

Subject PolicyEngine::SubjectOf(const detector::CheckInFacts& facts,
                                const DeviceState& state) {
  Subject subject;
  subject.tenant_id = facts.tenant_id;
  subject.eas_device_id = facts.eas_device_id;
  subject.mdm_device_id = facts.mdm_device_id.empty()
                              ? std::string_view(state.mdm_device_id)
                              : std::string_view(facts.mdm_device_id);
  subject.user_principal = facts.user_principal.empty()
                               ? std::string_view(state.user_principal)
                               : std::string_view(facts.user_principal);
  subject.primary_smtp_address = facts.primary_smtp_address;
  subject.groups = state.groups;
  subject.locale = state.locale;
  return subject;
}

ComplianceAlert PolicyEngine::MakeAlert(const Evaluation& eval,
                                        const Subject& subject,
                                        std::string_view trigger,
                                        std::string_view decision_id,
                                        Action old_action) {
  ComplianceAlert alert;
  alert.trigger = std::string(trigger);
  alert.tenant_id = std::string(subject.tenant_id);
  alert.eas_device_id = std::string(subject.eas_device_id);
  alert.mdm_device_id = std::string(subject.mdm_device_id);
  alert.user_principal = std::string(subject.user_principal);
  alert.old_action = old_action;
  alert.new_action = eval.evaluated_action;
  alert.enforced_action = eval.enforced_action;
  alert.mode = eval.mode;
  alert.score = eval.score;
  alert.reasons = eval.reasons;
  alert.user_alert = eval.user_alert;
  alert.policy_revision = std::string(eval.policy_revision);
  alert.decision_id = std::string(decision_id);
  return alert;
}

PolicyEngine::Recorded PolicyEngine::Record(
    const Evaluation& eval, const Subject& subject,
    const DecisionContext& context, const DeviceState& before,
    std::string outbox, std::string feed, DeviceState* state) {
  EngineChanges changes;
  if (!outbox.empty()) {
    changes.outbox.push_back(std::move(outbox));
  }
  if (!feed.empty()) {
    changes.alerts.push_back(std::move(feed));
  }
  // An audit row only for a decision that differs from the device's
  // previous row; the repeats in between are counted into the next.
  const std::uint64_t signature = DecisionSignature(eval, subject);
  const bool audit = signature != state->audited;
  if (audit) {
    DecisionAudit record =
        MakeDecisionAudit(eval, subject, context.trigger, context.decision_id,
                          before.last_action);
    record.repeats = state->repeats;
    changes.audit.push_back({context.now, std::move(record)});
    state->audited = signature;
    state->repeats = 0;
    state->unwritten = 0;
  } else {
    ++state->repeats;
    if (state->unwritten++ == 0) {
      state->unwritten_since = context.now;
    }
  }
  // Repeats alone are written (with a shared store) about each minute:
  // another replica reads the row for the device's next audit row. That
  // write alone changes no decision: it is not `submitted` for the others.
  const bool count_due =
      store_->shared() && state->unwritten > 0 &&
      context.now - state->unwritten_since >= kSharedRepeatsWrite;
  const bool record_changed =
      (audit || before.history.warn_since != state->history.warn_since ||
       before.last_action != state->last_action ||
       before.mdm_device_id != state->mdm_device_id ||
       before.user_principal != state->user_principal ||
       before.groups != state->groups || before.locale != state->locale ||
       std::abs(state->written_score - state->score) >= kListedScoreStep ||
       before.listed_user != state->listed_user ||
       before.platform != state->platform || before.build != state->build ||
       before.os_version != state->os_version ||
       before.model_name != state->model_name ||
       context.now - state->written >= kHistoryRefresh ||
       state->written > context.now);  // a clock that went back
  const bool changed = record_changed || count_due;
  if (changed) {
    state->written = context.now;
    state->written_score = state->score;
    AddHistoryRow(context.key, *state, context.now, &changes);
    state->row_hash = RowHash(changes.devices.back().value);
    state->unwritten = 0;
  }
  const StoreTicket submitted =
      changes.empty() ? 0 : store_->SubmitEngine(std::move(changes));
  if (changed) {
    state->history_ticket = submitted;
  }
  // Only a changed history is waited for (its own change, or one a
  // concurrent decision of the device made and that is not committed yet):
  // the audit row of an unchanged decision is group-committed behind it.
  return {.wait = state->history_ticket != 0 &&
                          !store_->IsDurable(state->history_ticket)
                      ? state->history_ticket
                      : 0,
          .submitted = submitted != 0 && (record_changed || !count_due)};
}

void PolicyEngine::Remember(Shard& shard, std::string&& key,
                            DeviceState&& state) {
  const std::size_t per_shard = options_.max_devices / kShards + 1;
  if (shard.devices.size() >= per_shard) {
    EvictOne(shard);
  }
  shard.order.emplace_back(key, state.last_decision);
  shard.devices.emplace(std::move(key), std::move(state));
}

absl::StatusOr<PolicyEngine::Decision> PolicyEngine::Decide(
    const detector::Fingerprint& fp, const detector::CheckInFacts& facts,
    const CheckInExtras* extras, std::string_view trigger,
    std::string_view decision_id, absl::Time now) {
  std::shared_ptr<const Policy> policy;
  std::shared_ptr<const ExemptionIndex> exemptions;
  {
    absl::MutexLock lock(&policy_mu_);
    policy = policy_;
    exemptions = exemptions_;
  }
  DecisionContext context{DeviceKey(facts), trigger, decision_id, now};
  Shard& shard = ShardFor(context.key);
  Decision decision;
  Evaluation& eval = decision.evaluation;
  std::vector<std::shared_ptr<AlertSubscription>> to_notify;
  Action previous_action = Action::kAllow;
  {
    absl::MutexLock lock(&shard.mu);
    // Evidence under the device's shard lock (then the detector's own; the
    // detector never calls back), so that a check-in and a traffic-triggered
    // decision of one device cannot overtake each other with stale evidence.
    thread_local detector::DeviceEvidence evidence;
    auto it = shard.devices.find(context.key);
    // With a shared store (replicas) the row is read again every time:
    // another replica may have decided the device since. Read back as this
    // replica last wrote or read it, memory is the newer (repeats).
    const bool cached = it != shard.devices.end();
    const bool shared = store_ != nullptr && store_->shared();
    const bool known = cached && !shared;
    DeviceState scratch;
    if (absl::Status read =
            ReadDevice(facts, context.key, known,
                       cached ? it->second.row_hash : 0, &evidence, &scratch);
        !read.ok()) {
      // Without its evidence or history the device cannot be decided: no
      // answer, nothing cached, recorded or alerted.
      return absl::UnavailableError(
          StrCat("the device's state cannot be read: ", read.message()));
    }
    const bool in_memory = known || (cached && scratch.row_hash != 0 &&
                                     scratch.row_hash == it->second.row_hash);
    if (cached && !in_memory && scratch.audited == it->second.audited) {
      // Another replica wrote the row since, for the same audited decision:
      // what this one counted and did not write yet is added to its count.
      scratch.repeats += it->second.unwritten;
      scratch.unwritten = it->second.unwritten;
      scratch.unwritten_since = it->second.unwritten_since;
    }
    DeviceState& state = in_memory ? it->second : scratch;
    const DeviceState before = store_ != nullptr ? state : DeviceState();
    NoteExtras(extras, facts, &state);
    const EvaluationInput in =
        InputFor(*policy, fp, evidence, facts, state, exemptions.get(), now);
    eval = Evaluate(in);
    eval.policy_owner = policy;
    eval.exemptions_owner = exemptions;

    const Action old_action = state.last_action;
    previous_action = old_action;
    state.history = eval.history;
    state.last_action = eval.evaluated_action;
    NoteListing(eval, fp, in.subject.user_principal, now, &state);
    state.last_decision = decisions_.fetch_add(1, std::memory_order_relaxed);
    outcomes_[DecisionOutcomeIndex(eval.enforced_action, eval.evaluated_action,
                                   eval.mode)]
        .fetch_add(1, std::memory_order_relaxed);
    std::optional<ComplianceAlert> alert;
    if (old_action != eval.evaluated_action) {
      alert = MakeAlert(eval, in.subject, trigger, decision_id, old_action);
    }
    std::string outbox;
    std::string feed;  // for other replicas' subscribers
    if (alert && (options_.outbox || shared)) {
      // The id and time the outbox entry, other replicas and the
      // subscribers all carry.
      alert->emitted_at = now;
      alert->alert_id = NewUuidV7(now);
      if (options_.outbox) outbox = AlertJson(*alert);
      if (shared) feed = ReplicaAlertJson(*alert);
    }
    if (store_ != nullptr) {
      const Recorded recorded =
          Record(eval, in.subject, context, before, std::move(outbox),
                 std::move(feed), &state);
      decision.ticket = recorded.wait;
      decision.submitted = recorded.submitted;
    } else if (!outbox.empty() && options_.memory_outbox) {
      options_.memory_outbox(std::move(outbox));
    }
    if (cached && !in_memory) {
      it->second = std::move(scratch);
    } else if (!cached) {
      Remember(shard, std::move(context.key), std::move(scratch));
    }
    if (alert) {
      // Sequenced and queued while the device's lock is held, so that one
      // device's alerts can never be delivered out of order.
      to_notify = alerts_.Publish(std::move(*alert), now);
    }
  }
  for (const auto& sub : to_notify) {
    sub->Notify();
  }
  if (decision_listener_) {
    decision_listener_(DecisionNote{.decision_id = decision_id,
                                    .trigger = trigger,
                                    .tenant_id = facts.tenant_id,
                                    .eas_device_id = facts.eas_device_id,
                                    .user_principal = facts.user_principal,
                                    .enforced_action = eval.enforced_action,
                                    .evaluated_action = eval.evaluated_action,
                                    .previous_action = previous_action,
                                    .mode = eval.mode,
                                    .score = eval.score,
                                    .policy_revision = eval.policy_revision,
                                    .fingerprint = &fp,
                                    .evaluation = &eval});
  }
  return decision;
}

absl::StatusOr<std::shared_ptr<AlertSubscription>> PolicyEngine::Subscribe(
    std::string owner, std::string tenant_filter,
    std::function<void()> notify) {
  return alerts_.Subscribe(std::move(owner), std::move(tenant_filter),
                           std::move(notify));
}

void PolicyEngine::EndSubscriptions() { alerts_.End(); }

void PolicyEngine::WakeSubscriptions() { alerts_.Wake(); }

EngineStats PolicyEngine::stats() const {
  EngineStats s;
  s.decisions = decisions_.load(std::memory_order_relaxed);
  s.policy_swaps = policy_swaps_.load(std::memory_order_relaxed);
  s.devices_forgotten = forgotten_.load(std::memory_order_relaxed);
  s.alerts = alerts_.sequence();
  s.alert_subscribers = alerts_.subscribers();
  s.alerts_dropped = alerts_.dropped();
  for (std::size_t i = 0; i < kDecisionOutcomes; ++i) {
    s.decisions_by_outcome[i] = outcomes_[i].load(std::memory_order_relaxed);
  }
  for (const Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    s.devices += shard.devices.size();
  }
  return s;
}

}  // namespace hijackguard::policy
