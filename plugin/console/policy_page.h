// The policy page (/ui/policy): the document in force with its revision,
// origin and mode; its history from the audit log with who applied each
// revision; and a form that simulates a device's decision under it (the
// same SimulateDecision `hijackguard simulate --server` calls), without side
// effects.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace hijackguard::console {

struct PolicyHistoryRow {
  std::uint64_t seq = 0;
  absl::Time at;
  std::string revision;
  std::string previous_revision;
  std::string origin;  // "default", "file:<path>", "api", "restored"
  std::string mode;
  std::string principal;  // who applied it through the API
  std::string auth;
  std::string peer;
};

// The simulate form's fields, as entered.
struct SimulateForm {
  std::string tenant;
  std::string device_id;
  std::string user;
  std::string user_agent;
  std::string now;         // RFC 3339, or "" for now
  std::string warn_since;  // RFC 3339, or ""
  std::string events;      // JSON Lines of SimulatedEvent
};

struct SimulatedReason {
  std::string code;
  std::string message;
  std::string known_issue_id;
  double contribution = 0;
};

// A simulated decision, as the API answers it.
struct SimulationView {
  std::string enforced_action;  // "QUARANTINE"
  std::string evaluated_action;
  std::string level;  // "HIGH"
  std::string mode;   // "monitor"
  double score = 0;
  std::vector<SimulatedReason> reasons;
  std::vector<std::string> matched_rules;
  std::optional<absl::Time> deadline;
  absl::Time decided_at;
  std::string policy_revision;
  std::string alert_title;
  std::string alert_message;
  std::string admin_remediation;
};

struct PolicyView {
  std::string document;
  std::string revision;
  std::string origin;
  std::string mode;
  absl::Time applied_at;
  bool audited = false;  // there is an audit log (a state store)
  std::vector<PolicyHistoryRow> history;
  SimulateForm form;
  std::optional<SimulationView> result;
  std::string error;  // why the simulation was refused
};

std::string RenderPolicy(const PolicyView& view);

}  // namespace hijackguard::console
