// The repair list: every meeting a device's detection events show it
// changed against the server's state (rewrote the organizer, claimed it,
// cancelled it for everyone), with the organizer the server knows, the
// device and mailbox that did it, when, and how many attendees it reaches.
// Built from the events themselves, a device at a time, so that it pages
// through a fleet of any size with memory bounded by one device's events.
#pragma once

#include <string>
#include <vector>

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

}  // namespace hijackguard::detector
