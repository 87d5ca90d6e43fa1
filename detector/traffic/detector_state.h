// The detector's per-device and per-meeting bookkeeping and the keys it is
// found by, shared by the detector's parts (traffic_detector.cc, the device
// cache, the rules, the queue of reordered changes and the row codec), so
// that they need not include each other. Internal to the detector library.
#pragma once

#include <cstdint>
#include <deque>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "common/sha256.h"
#include "detector/eas/settings.h"
#include "detector/eas/sync_calendar.h"
#include "detector/traffic/traffic_detector.h"

namespace hijackguard::detector {

struct MeetingResponseRecord {
  std::string collection_id;
  std::string request_id;
  std::string calendar_id;
  std::optional<int> user_response;
  absl::Time at;
};

struct ClientAddRecord {
  std::string mailbox;
  std::string collection_id;
  std::string client_id;
  std::string uid;
  std::string organizer_email;
  std::string organizer_name;
  std::optional<int> meeting_status;
  int attendee_count = 0;
};

struct AffectedState {
  AffectedMeeting meeting;
  std::uint32_t ledger_version = 0;
  std::uint32_t reported = 0;  // bit per EventKind for ledger_version
};

// How often an unchanged device's row is written again (retention prunes
// rows by that time).
inline constexpr absl::Duration kRowRefresh = absl::Hours(24);

// Whether a device's row, written at `seen_at`, is due to be written again
// at `now`: unknown, a day old, or ahead of the clock (a clock that went
// back, or a row written while it was ahead).
inline bool RowTimeDue(absl::Time seen_at, absl::Time now) {
  return seen_at == absl::InfinitePast() || seen_at > now ||
         now - seen_at >= kRowRefresh;
}

// Mailbox addresses kept per device (from Settings).
inline constexpr std::size_t kMaxDeviceAddresses = 16;

// Parts joined with NUL separators: a key of the in-memory maps.
std::string JoinKey(std::initializer_list<std::string_view> parts);
// Store keys are length-prefixed (prefix-free): an event key is its device's
// key followed by the event id, big-endian, so a device's events are one key
// range in id order.
std::string DeviceStoreKey(std::string_view tenant, std::string_view id);
std::string EventStoreKey(std::string_view device_key, std::uint64_t id);
// The store key prefix of a tenant's devices and events (DeviceStoreKey's
// first part); "" for every tenant.
std::string TenantPrefix(std::string_view tenant);

struct TrackedDevice {
  std::string tenant;
  std::string eas_device_id;
  CheckInFacts facts;
  bool checked_in = false;
  std::vector<std::string> mailboxes;
  // The mailbox owner's addresses, normalized, from the server's Settings
  // answer (UserInformation); at most kMaxDeviceAddresses.
  std::vector<std::string> addresses;
  // Confirmed events (quarantining) are kept apart from the rest, so that a
  // flood of informational events can never push them out.
  std::deque<DetectionEvent> confirmed;
  std::deque<DetectionEvent> events;  // the other kinds
  std::uint64_t events_dropped = 0;
  absl::Time last_active = absl::InfinitePast();
  // When hijackguard last received something from the device (traffic or a
  // check-in): its row's time, which retention prunes by. Kept in the row's
  // value too (as activity), so that a device paged in knows it; rows from
  // before it was kept, and times ahead of the clock, count as unknown: the
  // device's next check-in writes its row again.
  absl::Time seen_at = absl::InfinitePast();
  std::map<std::string, AffectedState> meetings;  // mailbox\0collection\0sid\0
  absl::flat_hash_set<std::string> weak_reported;
  // Short bounded lists: vectors, because libstdc++'s std::deque allocates
  // over 500 bytes even when empty, and most devices never fill these.
  std::vector<MeetingResponseRecord> responses;
  std::vector<ClientAddRecord> client_adds;
  int hijack_fingerprint = -1;  // cached; -1 = unknown
  std::uint64_t observations = 0;
  std::string store_key;  // the device's row key when a store is attached
  // With a store: the digest of the row as last written or read, without
  // its activity (observations, last_active, seen_at). A change that leaves
  // it equal touched only the activity, which waits (activity_unwritten) for
  // the device's next real change, its eviction or WriteActivity: nobody
  // waits for a commit of counters.
  Sha256Digest content{};
  // The row as last written or read (shared stores: a row read again that
  // is the same was changed by no one else).
  Sha256Digest row_hash{};
  bool stored = false;  // `content` is the row the store holds
  bool activity_unwritten = false;
  // seen_at as last written (the row's time; read back from rows that keep
  // it, unknown in older ones).
  absl::Time row_seen_at = absl::InfinitePast();
  // The use order (most recent first), for choosing what leaves memory.
  TrackedDevice* lru_prev = nullptr;
  TrackedDevice* lru_next = nullptr;
};

// A client change seen before the server state it refers to (a reordered
// report), kept until that state arrives.
struct PendingChange {
  std::string device_id;
  std::string request_user;
  eas::CalendarItem::Operation op = eas::CalendarItem::Operation::kChange;
  std::string collection_id;
  std::string server_id;
  std::string uid;
  std::string organizer_email;
  std::string organizer_name;
  std::optional<int> meeting_status;
  int attendee_count = 0;
  bool has_calendar_data = false;
  std::uint64_t sequence = 0;
  absl::Time at;
};

// A client command on a calendar item, as the rules judge it (views into the
// observation, or into a PendingChange).
struct ClientItem {
  eas::CalendarItem::Operation op = eas::CalendarItem::Operation::kChange;
  std::string_view collection_id;
  std::string_view server_id;
  std::string_view uid;
  std::string_view organizer_email;
  std::string_view organizer_name;
  std::string_view subject;  // "" where the report carries none
  std::optional<int> meeting_status;
  int attendee_count = 0;
  bool has_calendar_data = false;
  bool attendee_emails_known = false;
  std::span<const std::string_view> attendee_emails;
  bool server_refused = false;  // the same exchange's response undid it
  std::uint64_t sequence = 0;
  absl::Time at;
};

// Whose mailbox a command ran in, and on which device.
struct ItemContext {
  std::string_view tenant;
  std::string mailbox;       // normalized request User
  std::string request_user;  // normalized, as an address
  TrackedDevice* device = nullptr;
};

// Whether two check-ins say the same.
bool SameFacts(const CheckInFacts& a, const CheckInFacts& b);
// Remembers a mailbox seen in the device's traffic (at most 16).
void NoteMailbox(TrackedDevice* device, const std::string& mailbox);
// Keeps the mailbox's addresses from a Settings answer.
void LearnAddresses(TrackedDevice* device,
                    const eas::MailboxAddresses& learned);
// Keeps traffic's description of the client where no check-in gave one;
// true when something changed.
bool NoteClient(TrackedDevice* device, std::string_view user_agent,
                std::string_view device_type,
                std::string_view protocol_version);

}  // namespace hijackguard::detector
