#include "detector/traffic/observation.h"

namespace hijackguard::detector {

std::string_view EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kOrganizerRewrite:
      return "ORGANIZER_REWRITE";
    case EventKind::kOwnershipClaim:
      return "OWNERSHIP_CLAIM";
    case EventKind::kAttendeeCancel:
      return "ATTENDEE_CANCEL";
    case EventKind::kSuspectedSelfOrganizer:
      return "SUSPECTED_SELF_ORGANIZER";
    case EventKind::kOrganizerNameChange:
      return "ORGANIZER_NAME_CHANGE";
  }
  return "";
}

bool IsConfirmedHijackEvent(EventKind kind) {
  return kind == EventKind::kOrganizerRewrite ||
         kind == EventKind::kOwnershipClaim ||
         kind == EventKind::kAttendeeCancel;
}

std::string NormalizeAddress(std::string_view address) {
  while (!address.empty() &&
         (address.front() == ' ' || address.front() == '\t' ||
          address.front() == '\r' || address.front() == '\n')) {
    address.remove_prefix(1);
  }
  while (!address.empty() &&
         (address.back() == ' ' || address.back() == '\t' ||
          address.back() == '\r' || address.back() == '\n')) {
    address.remove_suffix(1);
  }
  if (address.size() >= 5 && (address[0] | 0x20) == 's' &&
      (address[1] | 0x20) == 'm' && (address[2] | 0x20) == 't' &&
      (address[3] | 0x20) == 'p' && address[4] == ':') {
    address.remove_prefix(5);
  }
  std::string out(address);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

}  // namespace hijackguard::detector
