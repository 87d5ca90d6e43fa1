// TrafficDetector::ListRepairs: the repair list a device at a time, from the
// store's event rows (ReadRepairs, repair_list.cc), or from memory without a
// store; and CountEventsByDay, the fleet page's events over time.
#include <algorithm>
#include <map>

#include "common/status_macros.h"
#include "detector/traffic/detector_rows.h"
#include "detector/traffic/detector_state.h"
#include "detector/traffic/device_cache.h"
#include "detector/traffic/traffic_detector.h"

namespace hijackguard::detector {

absl::StatusOr<RepairPage> TrafficDetector::ListRepairs(
    std::string_view tenant_id, std::string_view page_token,
    std::size_t page_size) const {
  ASSIGN_OR_RETURN(RepairCursor cursor,
                   StartRepairPage(tenant_id, page_token, page_size));
  DetectorStore* store = nullptr;
  {
    absl::MutexLock lock(&mu_);
    BeginOperation();
    store = store_;
    if (store == nullptr) {
      // Every device is in memory: those of the tenant, in key order.
      RepairPage page;
      std::vector<std::pair<std::string, const TrackedDevice*>> devices;
      // Most devices have no events: they are passed over before a key is
      // made.
      for (const TrackedDevice* d : devices_->InMemory()) {
        if (d->confirmed.empty() && d->events.empty()) continue;
        std::string key = DeviceStoreKey(d->tenant, d->eas_device_id);
        if (key.starts_with(cursor.prefix) && key > cursor.after) {
          devices.emplace_back(std::move(key), d);
        }
      }
      std::sort(devices.begin(), devices.end());
      for (const auto& [key, d] : devices) {
        if (page.items.size() >= cursor.page_size) {
          page.next_page_token = RepairPageToken(cursor.after);
          break;
        }
        std::vector<DetectionEvent> events(d->confirmed.begin(),
                                           d->confirmed.end());
        events.insert(events.end(), d->events.begin(), d->events.end());
        AddRepairItems(events, &page.items);
        cursor.after = key;
      }
      return page;
    }
  }
  // The store is attached once, before serving, and outlives the detector:
  // it is read outside the detector's lock.
  return ReadRepairs(
      [store](std::string_view prefix, std::string_view after,
              std::size_t limit,
              std::vector<std::pair<std::string, std::string>>* rows) {
        return store->LoadEventsAfter(prefix, after, limit, rows);
      },
      tenant_id, page_token, page_size);
}

absl::StatusOr<std::vector<EventDay>> TrafficDetector::CountEventsByDay(
    std::string_view tenant_id, absl::Time since) const {
  DetectorStore* store = nullptr;
  {
    absl::MutexLock lock(&mu_);
    BeginOperation();
    store = store_;
    if (store == nullptr) {
      std::map<std::int64_t, std::uint64_t> days;
      for (const TrackedDevice* d : devices_->InMemory()) {
        if (!tenant_id.empty() && d->tenant != tenant_id) continue;
        for (const auto* list : {&d->confirmed, &d->events}) {
          for (const DetectionEvent& e : *list) {
            if (e.recorded_at < since) continue;
            ++days[absl::ToUnixSeconds(e.recorded_at) / 86400];
          }
        }
      }
      std::vector<EventDay> out;
      out.reserve(days.size());
      for (const auto& [day, n] : days) out.push_back({day, n});
      return out;
    }
  }
  return store->CountEventsByDay(TenantPrefix(tenant_id),
                                 absl::ToUnixMillis(since));
}

}  // namespace hijackguard::detector
