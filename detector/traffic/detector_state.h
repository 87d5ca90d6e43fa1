// The detector's per-device and per-meeting bookkeeping, shared by
// traffic_detector.cc and the row codec (detector_rows.cc). Internal to the
// detector library.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "common/sha256.h"
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

struct TrafficDetector::Device {
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
  // check-in): its row's time, which retention prunes by. Not stored in the
  // row's value; a device paged in gets the time of its next write.
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
  // its activity (observations, last_active). A change that leaves it equal
  // touched only the activity, which waits (activity_unwritten) for the
  // device's next real change, its eviction or WriteActivity: nobody waits
  // for a commit of counters.
  Sha256Digest content{};
  bool stored = false;  // `content` is the row the store holds
  bool activity_unwritten = false;
  // seen_at as last written (the row's time); unknown for a row read back.
  absl::Time row_seen_at = absl::InfinitePast();
  // The use order (most recent first), for choosing what leaves memory.
  TrafficDetector::Device* lru_prev = nullptr;
  TrafficDetector::Device* lru_next = nullptr;
};

struct TrafficDetector::Pending {
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

}  // namespace hijackguard::detector
