// The repair list: every meeting a device's detection events show it
// changed against the server's state (rewrote the organizer, claimed it,
// cancelled it for everyone), with the organizer the server knows, the
// device and mailbox that did it, when, and how many attendees it reaches.
// Built from the events themselves, a device at a time, so that it pages
// through a fleet of any size with memory bounded by one device's events.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "detector/traffic/observation.h"

namespace hijackguard::detector {

struct RepairItem {
  std::string tenant_id;
  std::string eas_device_id;
  std::string mailbox;  // whose calendar the device changed: its user's
  std::string collection_id;
  std::string server_id;
  std::string uid;
  std::string true_organizer_email;  // per the server (the ledger)
  std::string true_organizer_name;
  std::string claimed_organizer_email;  // what the device sent, if different
  std::string subject;           // only where subjects are kept (keep_subjects)
  std::vector<EventKind> kinds;  // in first-seen order, distinct
  absl::Time first_seen;
  absl::Time last_seen;
  int attendee_count = 0;
};

struct RepairPage {
  std::vector<RepairItem> items;
  std::string next_page_token;  // "" on the last page
};

inline constexpr std::size_t kDefaultRepairPageSize = 100;
inline constexpr std::size_t kMaxRepairPageSize = 1000;

// Whether an event concerns a meeting the server's state was known for, so
// that it needs repair (every kind but an organizer's display name change).
bool NeedsRepair(const DetectionEvent& e);

// Appends the repair items of one device's events (any order), one per
// meeting (mailbox, collection and server id), ordered by first seen.
void AddRepairItems(const std::vector<DetectionEvent>& events,
                    std::vector<RepairItem>* out);

// Reads up to `limit` event rows (key, value) with keys starting with
// `prefix` after `after`, in key order (DetectorStore::LoadEventsAfter).
using LoadEventRows = std::function<absl::Status(
    std::string_view prefix, std::string_view after, std::size_t limit,
    std::vector<std::pair<std::string, std::string>>* rows)>;

// A page of the repair list read from stored event rows (the detector's
// format), as TrafficDetector::ListRepairs documents it; for readers of a
// state database without a detector (`hijackguard report`).
absl::StatusOr<RepairPage> ReadRepairs(const LoadEventRows& load,
                                       std::string_view tenant_id,
                                       std::string_view page_token,
                                       std::size_t page_size);

// ListRepairs' checks, shared: the page size (0 becomes the default), and
// the token decoded to the last device key of the page before ("" for the
// first page). INVALID_ARGUMENT naming page_size or page_token.
struct RepairCursor {
  std::size_t page_size = 0;
  std::string prefix;  // the tenant's device keys' prefix ("" for all)
  std::string after;   // the last device key of the page before
};
absl::StatusOr<RepairCursor> StartRepairPage(std::string_view tenant_id,
                                             std::string_view page_token,
                                             std::size_t page_size);
// The token of a page that ends after device key `last`.
std::string RepairPageToken(std::string_view last);

}  // namespace hijackguard::detector
