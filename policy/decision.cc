#include "policy/decision.h"

namespace hijackguard::policy {

std::string_view ActionName(Action action) {
  switch (action) {
    case Action::kAllow:
      return "ALLOW";
    case Action::kWarn:
      return "WARN";
    case Action::kQuarantine:
      return "QUARANTINE";
    case Action::kBlock:
      return "BLOCK";
  }
  return "ALLOW";
}

std::optional<Action> ParseAction(std::string_view name) {
  for (Action a :
       {Action::kAllow, Action::kWarn, Action::kQuarantine, Action::kBlock}) {
    if (ActionName(a) == name) {
      return a;
    }
  }
  return std::nullopt;
}

std::string_view ScopeName(Scope scope) {
  switch (scope) {
    case Scope::kNone:
      return "none";
    case Scope::kCalendar:
      return "calendar";
    case Scope::kDevice:
      return "device";
  }
  return "none";
}

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kLow:
      return "LOW";
    case Level::kElevated:
      return "ELEVATED";
    case Level::kHigh:
      return "HIGH";
    case Level::kCritical:
      return "CRITICAL";
  }
  return "LOW";
}

std::optional<Level> ParseLevel(std::string_view name) {
  for (Level l :
       {Level::kLow, Level::kElevated, Level::kHigh, Level::kCritical}) {
    if (LevelName(l) == name) {
      return l;
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> ParseReasonCode(std::string_view code) {
  static constexpr std::string_view kCodes[] = {
      kReasonConfirmedHijackBuild,
      kReasonNoConfirmedHijackIssue,
      kReasonKnownIssueInformational,
      kReasonFingerprintInconsistent,
      kReasonBuildNotInCatalog,
      kReasonClientUnidentified,
      kReasonObservedOrganizerRewrite,
      kReasonObservedOwnershipClaim,
      kReasonObservedAttendeeCancel,
      kReasonObservedSuspectedSelfOrganizer,
      kReasonObservedOrganizerNameChange,
      kReasonKnownIssuePrior,
      kReasonGraceExpired,
      kReasonGracePeriod,
      kReasonExempt,
      kReasonMonitorMode,
      kReasonBelowThreshold};
  for (std::string_view c : kCodes) {
    if (c == code) return c;
  }
  return std::nullopt;
}

}  // namespace hijackguard::policy
