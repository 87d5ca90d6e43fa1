// What a gateway or an MDM reports about ActiveSync traffic, and what the
// detector makes of it. Transport-free: the plugin converts the
// ReportTrafficRequest protobuf into these views.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace hijackguard::detector {

// One HTTP exchange a gateway saw: the request, the response, or both.
// Empty bodies mean "not reported".
struct EasExchangeView {
  std::string_view method;
  std::string_view target;  // path and query, plain or base64 form
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  std::string_view request_body;   // WBXML
  int response_status = 0;         // HTTP status; 0 when no response was seen
  std::string_view response_body;  // WBXML
};

// A client calendar command an MDM has already parsed. The "before" values are
// what the server last sent the device; when they are all empty the
// detector's own ledger supplies them.
struct CalendarChangeView {
  std::string_view eas_device_id;
  std::string_view user;
  std::string_view collection_id;
  std::string_view server_id;
  std::string_view uid;
  std::string_view organizer_email_before;
  std::string_view organizer_email_after;
  std::string_view organizer_name_before;
  std::string_view organizer_name_after;
  std::optional<int> meeting_status_before;
  std::optional<int> meeting_status_after;
  int attendee_count = 0;    // attendees the client's item lists
  std::string_view command;  // "Add", "Change" or "Delete"
};

struct ObservationView {
  std::string_view tenant_id;
  std::uint64_t sequence = 0;
  absl::Time observed_at;
  // When hijackguard received it; InfinitePast = observed_at.
  absl::Time received_at = absl::InfinitePast();
  // Exactly one is set.
  const EasExchangeView* eas_exchange = nullptr;
  const CalendarChangeView* calendar_change = nullptr;
};

enum class EventKind {
  kOrganizerRewrite,        // client Change names another organizer
  kOwnershipClaim,          // MeetingStatus moved from received to organizer
  kAttendeeCancel,          // a non-organizer cancels or deletes the meeting
  kSuspectedSelfOrganizer,  // no ledger entry; weak
  kOrganizerNameChange,     // same address, other display name: information
};
inline constexpr std::size_t kEventKindCount = 5;

// "ORGANIZER_REWRITE", "OWNERSHIP_CLAIM", "ATTENDEE_CANCEL",
// "SUSPECTED_SELF_ORGANIZER", "ORGANIZER_NAME_CHANGE".
std::string_view EventKindName(EventKind kind);

// The kinds that on their own put a device in quarantine.
bool IsConfirmedHijackEvent(EventKind kind);

// A detection event as risk scoring needs it.
struct EventEvidence {
  EventKind kind = EventKind::kOrganizerRewrite;
  int attendee_count = 0;
  absl::Time observed_at;
  absl::Time recorded_at;
};

// The newest event of a kind, cited in a decision's reasons.
struct EventCitation {
  EventKind kind = EventKind::kOrganizerRewrite;
  std::string uid;
  std::string mailbox;
  std::string organizer_email_before;
  std::string organizer_email_after;
};

// The most of a meeting's subject an event keeps.
inline constexpr std::size_t kMaxSubjectBytes = 256;

struct DetectionEvent {
  EventKind kind = EventKind::kOrganizerRewrite;
  std::string tenant_id;
  std::string eas_device_id;
  std::string mailbox;
  std::string collection_id;
  std::string server_id;
  std::string uid;
  std::string command;                 // the client command: "Change", "Delete"
  std::string organizer_email_before;  // per the ledger (the true organizer)
  std::string organizer_email_after;   // as the client sent it
  std::string organizer_name_before;
  std::string organizer_name_after;
  std::optional<int> meeting_status_before;
  std::optional<int> meeting_status_after;
  int attendee_count = 0;
  // A MeetingResponse from this device for the same meeting came before it.
  bool meeting_response_preceded = false;
  absl::Duration meeting_response_age;  // how long before; 0 when none
  std::optional<int> meeting_response;  // its UserResponse: 1, 2 or 3
  std::uint64_t sequence = 0;           // of the observation with the command
  absl::Time observed_at;
  absl::Time recorded_at;   // when hijackguard received that observation
  std::string explanation;  // one sentence for admins
  // The meeting's subject as the client sent it (at most kMaxSubjectBytes,
  // cut at a character), kept only when the
  // detector keeps subjects (DetectorOptions::keep_subjects): personal data.
  std::string subject;
  // The detector's durable id for the event: increasing in the order events
  // were recorded, never reused (0 when the detector has no store).
  std::uint64_t store_id = 0;
};

// A problem with one reported item. The item is skipped (or partly used, as
// the message says); the stream goes on.
struct ItemError {
  std::string code;     // "INVALID_TARGET", "MISSING_DEVICE_ID", ...
  std::string field;    // "eas_exchange.request_body"
  std::string message;  // with the byte offset where there is one
};

struct ObserveResult {
  std::vector<DetectionEvent> events;  // at most 256 per observation
  std::size_t events_dropped = 0;      // beyond that (still recorded)
  std::vector<ItemError> errors;
  // The state store's ticket for what this observation changed (0 when the
  // detector has no store or nothing changed); see DetectorStore.
  std::uint64_t ticket = 0;
  void Clear() {
    events.clear();
    events_dropped = 0;
    errors.clear();
    ticket = 0;
  }
};

// Lower-cased, trimmed, without an "SMTP:" prefix: how addresses compare.
std::string NormalizeAddress(std::string_view address);

}  // namespace hijackguard::detector
