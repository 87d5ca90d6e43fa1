// The organizer-change rules (docs/detection.md) as pure functions: given a
// client command, the server's state of its meeting as the ledger holds it
// and who owns the mailbox, which events the command is. The detector does
// the bookkeeping around them (the ledger, reports once per meeting, the
// queue of reordered changes). Internal to the detector library.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "detector/traffic/detector_state.h"
#include "detector/traffic/meeting_ledger.h"

namespace hijackguard::detector {

// A tenant's extra addresses of mailbox owners: address -> aliases.
using TenantAliases = std::map<std::string, std::vector<std::string>>;

// Whose mailbox a command ran in: the normalized request User and what the
// device knows of its user (check-in addresses, Settings' addresses).
struct Mailbox {
  std::string_view request_user;
  const TrackedDevice* device = nullptr;   // may be null
  const TenantAliases* aliases = nullptr;  // may be null
};

// Whether `normalized` (see NormalizeAddress) is an address of the
// mailbox's owner.
bool IsOwner(const Mailbox& mailbox, std::string_view normalized);

struct Finding {
  EventKind kind;
  std::string explanation;
};

struct Judgement {
  // Against `before` (the ledger's state), or, for the weak rule, against
  // nothing. At most three (a rewrite, an ownership claim and a cancel);
  // kept inline: judging allocates nothing but the explanations.
  absl::InlinedVector<Finding, 3> findings;
  // No server state is known yet: keep the command until it arrives.
  bool wait_for_server = false;
};

// Whether `item` is a command the rules judge at all (a calendar item the
// server did not refuse); the ledger need not be consulted for the others.
bool NeedsJudging(const ClientItem& item);

// Judges `item` against the server's state `before` (nullopt: none known).
// `has_hijack_fingerprint` is asked only when the weak rule needs it.
// `responses`: the device's MeetingResponses, oldest first.
Judgement JudgeClientItem(const ClientItem& item,
                          const std::optional<MeetingSnapshot>& before,
                          const Mailbox& mailbox,
                          std::span<const MeetingResponseRecord> responses,
                          absl::FunctionRef<bool()> has_hijack_fingerprint);

// The event a finding reports. `before`: null for the weak rule.
// MeetingResponses within `response_window` before the command are cited.
DetectionEvent MakeEvent(const ItemContext& ctx, const ClientItem& item,
                         EventKind kind, const MeetingSnapshot* before,
                         std::string explanation,
                         absl::Duration response_window);

}  // namespace hijackguard::detector
