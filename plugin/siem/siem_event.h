// What a SIEM sink delivers: an alert (a device's evaluated action changed)
// or an audit checkpoint (the anchor that shows a truncated audit log), read
// back from the JSON the outbox keeps (policy::AlertJson), with user
// principals and device ids pseudonymized unless `siem.pii` is on.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hijackguard::plugin::siem {

struct SiemReason {
  std::string code;
  std::string message;
  std::string known_issue_id;
  double contribution = 0;
};

struct SiemEvent {
  enum class Kind { kAlert, kAuditCheckpoint };
  Kind kind = Kind::kAlert;
  // The alert id, or "checkpoint-<audit seq>-<16 hex digits of the head>".
  std::string id;
  absl::Time at;
  // Alerts.
  std::string trigger;  // "CHECK_IN", "GATEWAY", "TRAFFIC"
  std::string tenant_id;
  std::string device;  // EAS device id, or its pseudonym
  std::string mdm_device_id;
  std::string user;  // user principal, or its pseudonym
  std::string old_action;
  std::string new_action;
  std::string enforced_action;
  std::string mode;
  double score = 0;
  std::vector<SiemReason> reasons;
  std::string policy_revision;
  std::string decision_id;
  // Checkpoints: the audit log's head.
  std::uint64_t audit_seq = 0;
  std::string audit_head;
  std::string checkpoint_line;  // the signed JSON line, as logged
};

// Stands in for a user principal or device id (the log's pseudonym), or
// returns it as is (siem.pii).
using Pseudonym = std::function<std::string(std::string_view)>;

// `text` with every e-mail address in it (local@domain.tld) replaced by
// `pseudonym` of it.
std::string PseudonymizeAddresses(std::string_view text,
                                  const Pseudonym& pseudonym);

// Reads an outbox payload. INVALID_ARGUMENT naming the field when it is not
// a version-1 alert or checkpoint.
absl::StatusOr<SiemEvent> ParseOutboxPayload(std::string_view json,
                                             const Pseudonym& pseudonym);

// The outbox payload of an audit checkpoint (`line` as store::CheckpointLine
// writes it).
std::string CheckpointPayload(std::uint64_t seq, std::string_view head,
                              absl::Time at, std::string_view line);

}  // namespace hijackguard::plugin::siem
