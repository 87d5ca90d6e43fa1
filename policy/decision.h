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
std::optional<Action> ParseAction(std::string_view name);

// What the MDM should cut off: nothing (ALLOW, plain WARN), calendar sync
// only (the policy's `restrict: calendar`), or all of the device's sync.
enum class Scope { kNone, kCalendar, kDevice };
std::string_view ScopeName(Scope scope);  // "none", "calendar", "device"

// The score's band: below the WARN threshold, and at or above each threshold.
enum class Level { kLow, kElevated, kHigh, kCritical };
std::string_view LevelName(Level level);  // "LOW", "ELEVATED", ...
std::optional<Level> ParseLevel(std::string_view name);

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
inline constexpr std::string_view kReasonObservedSuspectedSelfOrganizer =
    "OBSERVED_SUSPECTED_SELF_ORGANIZER";
inline constexpr std::string_view kReasonObservedOrganizerNameChange =
    "OBSERVED_ORGANIZER_NAME_CHANGE";
// A known issue of the build that the policy gives a prior of zero.
inline constexpr std::string_view kReasonKnownIssuePrior = "KNOWN_ISSUE_PRIOR";
// The device stayed at WARN for the grace period and was escalated.
inline constexpr std::string_view kReasonGraceExpired = "GRACE_EXPIRED";
// A grace period runs: the device will be quarantined at the deadline.
inline constexpr std::string_view kReasonGracePeriod = "GRACE_PERIOD";
// An exemption covers the device: ALLOW whatever the score.
inline constexpr std::string_view kReasonExempt = "EXEMPT";
// Monitor mode: the evaluated action is not enforced.
inline constexpr std::string_view kReasonMonitorMode = "MONITOR_MODE";
// The score is under the WARN threshold.
inline constexpr std::string_view kReasonBelowThreshold = "BELOW_THRESHOLD";

// The kReason* constant spelled `code`, or nullopt for a code this build
// does not know.
std::optional<std::string_view> ParseReasonCode(std::string_view code);

struct Reason {
  std::string_view code;  // one of the kReason* codes (static storage)
  std::string message;    // for admins, English
  // The catalog issue this reason is about, if any; a view into the
  // catalog, which outlives every decision (catalogs are never unloaded).
  std::string_view known_issue_id;
  double contribution = 0;  // score points this reason added
};

// The compliance alert an MDM shows the end user.
struct UserAlert {
  std::string title;
  std::string message;
  std::string remediation;
  std::string locale = "en";
};

}  // namespace hijackguard::policy
