// TrafficDetector: what check-ins and gateways say about devices, and the
// queries about them.
#include <algorithm>
#include <array>
#include <utility>

#include "common/status_macros.h"
#include "detector/traffic/detector_state.h"
#include "detector/traffic/device_cache.h"
#include "detector/traffic/pending_changes.h"
#include "detector/traffic/traffic_detector.h"

namespace hijackguard::detector {

FingerprintInput ToFingerprintInput(const CheckInFacts& f) {
  FingerprintInput in;
  in.user_agent = f.user_agent;
  in.device_type = f.device_type;
  in.device_os = f.device_os;
  in.device_model = f.device_model;
  in.protocol_version = f.protocol_version;
  in.inventory_product_name = f.inventory_product_name;
  in.inventory_os_version = f.inventory_os_version;
  in.inventory_build_version = f.inventory_build_version;
  in.inventory_model_name = f.inventory_model_name;
  return in;
}

StoreTicket TrafficDetector::RecordSighting(const CheckInFacts& seen,
                                            absl::Time now,
                                            CheckInFacts* known) {
  if (seen.eas_device_id.empty()) {
    return 0;
  }
  absl::MutexLock lock(&mu_);
  BeginOperation();
  ObserveResult ignored;
  TrackedDevice* device =
      HoldDevice(seen.tenant_id, seen.eas_device_id, &ignored, "eas_device_id");
  if (device == nullptr) {
    return Flush(nullptr);  // clears a read error: it is this call's
  }
  const bool changed = NoteClient(device, seen.user_agent, seen.device_type,
                                  seen.protocol_version);
  if (known != nullptr) {
    *known = device->facts;
  }
  if (!changed && !RowTimeDue(device->seen_at, now)) {
    devices_->Release(device);
    return 0;
  }
  device->seen_at = now;  // (a time ahead of the clock is corrected)
  return Flush(nullptr);
}

StoreTicket TrafficDetector::RecordCheckIn(const CheckInFacts& facts,
                                           absl::Time now) {
  if (facts.eas_device_id.empty()) {
    return 0;
  }
  absl::MutexLock lock(&mu_);
  BeginOperation();
  UpdateCheckIn(facts, now);
  return Flush(nullptr);
}

void TrafficDetector::UpdateCheckIn(const CheckInFacts& facts, absl::Time now) {
  ObserveResult ignored;
  TrackedDevice* device = HoldDevice(facts.tenant_id, facts.eas_device_id,
                                     &ignored, "device.eas_device_id");
  if (device == nullptr) {
    return;
  }
  CheckInFacts merged = facts;
  // Keep what traffic told us where the check-in is silent.
  if (merged.user_agent.empty()) merged.user_agent = device->facts.user_agent;
  if (merged.device_type.empty()) {
    merged.device_type = device->facts.device_type;
  }
  if (merged.protocol_version.empty()) {
    merged.protocol_version = device->facts.protocol_version;
  }
  devices_->IndexMdmId(*device, device->facts.mdm_device_id,
                       merged.mdm_device_id);
  // The usual check-in has nothing new to keep; its row is written again
  // once a day all the same, so that its time says the device is alive (a
  // device read back from the store knows when its row was written).
  if (device->checked_in && SameFacts(device->facts, merged) &&
      (now == absl::InfinitePast() || !RowTimeDue(device->seen_at, now))) {
    devices_->Release(device);
    return;
  }
  if (now != absl::InfinitePast()) {
    device->seen_at = now;  // (a time ahead of the clock is corrected)
  }
  device->facts = std::move(merged);
  device->checked_in = true;
  device->hijack_fingerprint = -1;
}

// ---------------------------------------------------------------------------
// Queries.

absl::StatusOr<TrafficDetector::ConfirmedList> TrafficDetector::ConfirmedEvents(
    std::string_view tenant_id, std::string_view eas_device_id,
    std::size_t limit) const {
  ConfirmedList out;
  absl::MutexLock lock(&mu_);
  BeginOperation();
  ASSIGN_OR_RETURN(const TrackedDevice* device,
                   ReadDevice(tenant_id, eas_device_id));
  if (device == nullptr) {
    return out;
  }
  out.total = device->confirmed.size();
  for (const DetectionEvent& e : device->confirmed) {
    if (out.events.size() >= limit) {
      break;
    }
    out.events.push_back(e);
  }
  return out;
}

absl::StatusOr<std::optional<CheckInFacts>> TrafficDetector::Facts(
    std::string_view tenant_id, std::string_view eas_device_id) const {
  absl::MutexLock lock(&mu_);
  BeginOperation();
  ASSIGN_OR_RETURN(const TrackedDevice* device,
                   ReadDevice(tenant_id, eas_device_id));
  if (device == nullptr) {
    return std::nullopt;
  }
  return device->facts;
}

absl::StatusOr<bool> TrafficDetector::Evidence(std::string_view tenant_id,
                                               std::string_view eas_device_id,
                                               DeviceEvidence* out) const {
  out->events.clear();
  out->newest.clear();
  out->dropped = 0;
  absl::MutexLock lock(&mu_);
  BeginOperation();
  ASSIGN_OR_RETURN(const TrackedDevice* found,
                   ReadDevice(tenant_id, eas_device_id));
  if (found == nullptr) {
    return false;
  }
  const TrackedDevice& device = *found;
  out->dropped = device.events_dropped;
  out->events.reserve(device.confirmed.size() + device.events.size());
  // Events are appended in arrival order: the last of a kind is its newest.
  std::array<const DetectionEvent*, 8> last{};
  for (const auto* list : {&device.confirmed, &device.events}) {
    for (const DetectionEvent& e : *list) {
      out->events.push_back(
          {e.kind, e.attendee_count, e.observed_at, e.recorded_at});
      const auto k = static_cast<std::size_t>(e.kind);
      if (k < last.size()) {
        last[k] = &e;
      }
    }
  }
  for (const DetectionEvent* e : last) {
    if (e != nullptr) {
      out->newest.push_back({e->kind, e->uid, e->mailbox,
                             e->organizer_email_before,
                             e->organizer_email_after});
    }
  }
  return true;
}

absl::StatusOr<std::optional<DeviceRisk>> TrafficDetector::GetDeviceRisk(
    std::string_view tenant_id, std::string_view eas_device_id,
    std::string_view mdm_device_id) const {
  absl::MutexLock lock(&mu_);
  BeginOperation();
  std::string device_id(eas_device_id);
  if (device_id.empty()) {
    ASSIGN_OR_RETURN(std::optional<std::string> by_mdm,
                     devices_->FindByMdmId(tenant_id, mdm_device_id));
    if (!by_mdm.has_value()) {
      return std::nullopt;
    }
    device_id = std::move(*by_mdm);
  }
  ASSIGN_OR_RETURN(const TrackedDevice* found,
                   ReadDevice(tenant_id, device_id));
  if (found == nullptr) {
    return std::nullopt;
  }
  const TrackedDevice& device = *found;
  DeviceRisk risk;
  risk.tenant_id = device.tenant;
  risk.eas_device_id = device.eas_device_id;
  risk.mdm_device_id = device.facts.mdm_device_id;
  risk.mailboxes = device.mailboxes;
  risk.facts = device.facts;
  risk.events.assign(device.confirmed.begin(), device.confirmed.end());
  risk.events.insert(risk.events.end(), device.events.begin(),
                     device.events.end());
  std::stable_sort(risk.events.begin(), risk.events.end(),
                   [](const DetectionEvent& a, const DetectionEvent& b) {
                     return a.observed_at < b.observed_at;
                   });
  risk.events_dropped = device.events_dropped;
  for (const auto& [key, state] : device.meetings) {
    risk.meetings.push_back(state.meeting);
  }
  std::sort(risk.meetings.begin(), risk.meetings.end(),
            [](const AffectedMeeting& a, const AffectedMeeting& b) {
              return a.first_seen < b.first_seen;
            });
  risk.observations = device.observations;
  return risk;
}

DetectorStats TrafficDetector::stats() const {
  absl::MutexLock lock(&mu_);
  DetectorStats s;
  s.observations = observations_;
  s.item_errors = item_errors_;
  s.events = events_;
  s.events_by_kind = events_by_kind_;
  s.devices = devices_->size();
  s.ledger_entries = ledger_.size();
  s.ledger_evictions = ledger_.evictions();
  s.ledger_expirations = ledger_.expirations();
  s.pending = pending_->count();
  s.pending_dropped = pending_->dropped();
  s.devices_evicted = devices_->evicted();
  return s;
}

}  // namespace hijackguard::detector
