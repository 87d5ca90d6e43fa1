// Decisions: a pure function of (policy, fingerprint, evidence, exemptions,
// device history, now). No clock, no I/O, no shared state: the same input
// always gives the same decision.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "detector/fingerprint.h"
#include "detector/traffic/observation.h"
#include "policy/decision.h"
#include "policy/exemptions.h"
#include "policy/policy.h"

namespace hijackguard::policy {

// One detection event as scoring sees it. Evidence decays from recorded_at,
// when hijackguard received it: a gateway's backlog counts in full when it is
// reported, not from when it happened.
using EvidenceEvent = detector::EventEvidence;

// What the decision remembers about the device between check-ins.
struct DeviceHistory {
  // Since when the device's score has been at or above the WARN threshold
  // while not exempt; InfiniteFuture when it is not.
  absl::Time warn_since = absl::InfiniteFuture();
};

struct EvaluationInput {
  const Policy* policy = nullptr;
  // With known_issues matched against the catalog the policy was validated
  // with.
  const detector::Fingerprint* fingerprint = nullptr;
  std::span<const EvidenceEvent> events;
  std::size_t events_dropped = 0;  // evidence no longer kept (counted)
  // The newest event of each kind, cited in the reasons (may be empty).
  std::span<const detector::EventCitation> citations;
  Subject subject;
  DeviceHistory history;
  // Exemptions made through the admin API (may be null).
  const ExemptionIndex* exemptions = nullptr;
  absl::Time now;
};

struct Evaluation {
  // What the MDM is told to do (ALLOW in monitor mode and for exempt
  // devices), and what the policy concluded.
  Action enforced_action = Action::kAllow;
  Action evaluated_action = Action::kAllow;
  Scope scope = Scope::kNone;  // of the enforced action
  Mode mode = Mode::kMonitor;
  double score = 0;  // 0-100
  Level level = Level::kLow;
  // The reason that set the action first; each with its score contribution.
  std::vector<Reason> reasons;
  // Pointers of the policy members that decided (thresholds, weights...).
  // matched_rules and policy_revision are views into the policy and the
  // exemption index of the input: keep those alive while using them (the
  // engine stores them in the owners below).
  std::vector<std::string_view> matched_rules;
  std::optional<UserAlert> user_alert;  // when enforced_action > ALLOW
  std::optional<absl::Time> deadline;   // while a grace period runs
  // The Exchange Management Shell command that enforces (or releases) the
  // evaluated action for the EAS device id; "" without a device id.
  std::string admin_remediation;
  std::string_view policy_revision;
  std::shared_ptr<const Policy> policy_owner;
  std::shared_ptr<const ExemptionIndex> exemptions_owner;
  std::optional<Exemption> exemption;  // the one that applied
  DeviceHistory history;               // to keep for the next evaluation
};

Evaluation Evaluate(const EvaluationInput& input);

// `raw` as a PowerShell single-quoted string ('it''s'): every single quote
// PowerShell knows (U+0027, U+2018-U+201B) doubled, control characters
// dropped, bytes that are not UTF-8 as U+FFFD. Safe to paste into the
// Exchange Management Shell.
std::string PsQuote(std::string_view raw);

// "iOS 6.0 (10A403)", "iOS build 10A999", "Android", "an unidentified OS".
std::string DescribeOs(const detector::Fingerprint& fp);
// "iPhone 4S", "iPhone", "device".
std::string DescribeDevice(const detector::Fingerprint& fp);

}  // namespace hijackguard::policy
