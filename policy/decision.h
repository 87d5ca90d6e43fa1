// What hijackguard tells the MDM at check-in: an action, the reasons for it,
// and the alert the MDM shows the device's user.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hijackguard::policy {

// Ordered by severity.
enum class Action { kAllow, kWarn, kQuarantine, kBlock };

// "ALLOW", "WARN", "QUARANTINE", "BLOCK".
std::string_view ActionName(Action action);

// Reason codes are stable strings that MDMs and SIEMs may match on.
inline constexpr std::string_view kReasonConfirmedHijackBuild =
    "CONFIRMED_ORGANIZER_HIJACK_BUILD";
inline constexpr std::string_view kReasonNoConfirmedHijackIssue =
    "NO_CONFIRMED_HIJACK_ISSUE";
inline constexpr std::string_view kReasonKnownIssueInformational =
    "KNOWN_ISSUE_INFORMATIONAL";
inline constexpr std::string_view kReasonFingerprintInconsistent =
    "FINGERPRINT_INCONSISTENT";
inline constexpr std::string_view kReasonBuildNotInCatalog =
    "BUILD_NOT_IN_CATALOG";
inline constexpr std::string_view kReasonClientUnidentified =
    "CLIENT_UNIDENTIFIED";
// A detection event of this kind was observed in the device's traffic.
inline constexpr std::string_view kReasonObservedOrganizerRewrite =
    "OBSERVED_ORGANIZER_REWRITE";
inline constexpr std::string_view kReasonObservedOwnershipClaim =
    "OBSERVED_OWNERSHIP_CLAIM";
inline constexpr std::string_view kReasonObservedAttendeeCancel =
    "OBSERVED_ATTENDEE_CANCEL";
// More events than the reasons list.
inline constexpr std::string_view kReasonMoreObservedEvents =
    "MORE_OBSERVED_EVENTS";

struct Reason {
  std::string code;            // one of the kReason* codes
  std::string message;         // for admins, English
  std::string known_issue_id;  // the catalog issue this reason is about, if any
};

// The compliance alert an MDM shows the end user.
struct UserAlert {
  std::string title;
  std::string message;
  std::string remediation;
  std::string locale = "en";
};

struct Decision {
  Action action = Action::kAllow;
  std::vector<Reason> reasons;  // the reason that set the action comes first
  std::optional<UserAlert> user_alert;  // present when action is above kAllow
};

}  // namespace hijackguard::policy
