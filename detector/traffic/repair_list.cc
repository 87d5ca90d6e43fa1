#include "detector/traffic/repair_list.h"

#include <algorithm>
#include <map>

#include "detector/traffic/detector_state.h"

namespace hijackguard::detector {

bool NeedsRepair(const DetectionEvent& e) {
  return e.kind != EventKind::kOrganizerNameChange &&
         !e.organizer_email_before.empty();
}

void AddRepairItems(const std::vector<DetectionEvent>& events,
                    std::vector<RepairItem>* out) {
  std::vector<const DetectionEvent*> sorted;
  for (const DetectionEvent& e : events) {
    if (NeedsRepair(e)) sorted.push_back(&e);
  }
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const DetectionEvent* a, const DetectionEvent* b) {
                     return a->observed_at < b->observed_at;
                   });
  std::map<std::string, RepairItem> by_meeting;
  for (const DetectionEvent* e : sorted) {
    RepairItem& item =
        by_meeting[JoinKey({e->mailbox, e->collection_id, e->server_id})];
    if (item.kinds.empty()) {
      item.tenant_id = e->tenant_id;
      item.eas_device_id = e->eas_device_id;
      item.mailbox = e->mailbox;
      item.collection_id = e->collection_id;
      item.server_id = e->server_id;
      item.first_seen = e->observed_at;
    }
    // The newest event says what the server's state was last.
    item.uid = e->uid;
    item.true_organizer_email = e->organizer_email_before;
    item.true_organizer_name = e->organizer_name_before;
    if (!e->organizer_email_after.empty() &&
        e->organizer_email_after != e->organizer_email_before) {
      item.claimed_organizer_email = e->organizer_email_after;
    }
    if (!e->subject.empty()) item.subject = e->subject;
    if (std::find(item.kinds.begin(), item.kinds.end(), e->kind) ==
        item.kinds.end()) {
      item.kinds.push_back(e->kind);
    }
    item.last_seen = std::max(item.last_seen, e->observed_at);
    item.attendee_count = std::max(item.attendee_count, e->attendee_count);
  }
  const std::size_t first = out->size();
  for (auto& [key, item] : by_meeting) out->push_back(std::move(item));
  std::stable_sort(out->begin() + static_cast<std::ptrdiff_t>(first),
                   out->end(), [](const RepairItem& a, const RepairItem& b) {
                     return a.first_seen < b.first_seen;
                   });
}

}  // namespace hijackguard::detector
