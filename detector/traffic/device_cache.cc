#include "detector/traffic/device_cache.h"

#include <algorithm>
#include <utility>

#include "common/record.h"
#include "common/strings.h"
#include "detector/traffic/detector_rows.h"

namespace hijackguard::detector {
namespace {

// Devices looked at to pick one to forget when the table is full.
constexpr int kEvictionSample = 32;

}  // namespace

DeviceCache::DeviceCache(std::size_t max_devices,
                         std::size_t max_events_per_device)
    : max_devices_(max_devices),
      max_events_per_device_(max_events_per_device) {}

void DeviceCache::AttachStore(DetectorStore* store, SubmitRows submit) {
  store_ = store;
  submit_ = std::move(submit);
}

absl::StatusOr<TrackedDevice*> DeviceCache::Find(std::string_view tenant,
                                                 std::string_view device_id) {
  auto it = devices_.find(JoinKey({tenant, device_id}));
  if (it != devices_.end()) {
    TrackedDevice* device = it->second.get();
    if (store_ != nullptr && store_->shared() && !fresh_.contains(device) &&
        !held_.contains(device)) {
      return Refresh(device);
    }
    Touch(device);
    return device;
  }
  if (store_ == nullptr) {
    return nullptr;
  }
  absl::StatusOr<TrackedDevice*> paged = PageIn(tenant, device_id);
  if (paged.ok() && *paged != nullptr && store_->shared()) {
    fresh_.insert(*paged);
  }
  return paged;
}

absl::StatusOr<TrackedDevice*> DeviceCache::Refresh(TrackedDevice* device) {
  auto row = store_->LoadDevice(device->store_key);
  if (!row.ok()) {
    return row.status();
  }
  if (!row->has_value() && device->stored) {
    // Deleted since (retention, on any replica): unknown again.
    Forget(device);
    return nullptr;
  }
  if (!row->has_value() || Sha256(**row) == device->row_hash) {
    // Unchanged (or not written anywhere yet): memory is current.
    fresh_.insert(device);
    Touch(device);
    return device;
  }
  // Another replica changed it: its row wins. Activity seen here and not
  // yet written is dropped (the other replica saw the device since).
  const std::string tenant = device->tenant;
  const std::string device_id = device->eas_device_id;
  Forget(device);
  absl::StatusOr<TrackedDevice*> paged = PageIn(tenant, device_id);
  if (paged.ok() && *paged != nullptr) {
    fresh_.insert(*paged);
  }
  return paged;
}

absl::StatusOr<TrackedDevice*> DeviceCache::Hold(std::string_view tenant,
                                                 std::string_view device_id) {
  absl::StatusOr<TrackedDevice*> found = Find(tenant, device_id);
  if (!found.ok()) {
    return found.status();  // never replace a row that could not be read
  }
  if (*found != nullptr) {
    MarkHeld(*found);
    return *found;
  }
  if (store_ == nullptr) {
    if (devices_.size() >= max_devices_) {
      EvictOne();
    }
    if (devices_.size() >= max_devices_) {
      return absl::ResourceExhaustedError(
          StrCat("the detector tracks ", devices_.size(),
                 " devices already (max_devices); this device is not "
                 "tracked"));
    }
  }
  auto device = std::make_unique<TrackedDevice>();
  device->tenant = std::string(tenant);
  device->eas_device_id = std::string(device_id);
  device->facts.tenant_id = device->tenant;
  device->facts.eas_device_id = device->eas_device_id;
  if (store_ != nullptr) {
    device->store_key = DeviceStoreKey(tenant, device_id);
  }
  TrackedDevice* raw = Insert(JoinKey({tenant, device_id}), std::move(device));
  MarkHeld(raw);
  return raw;
}

void DeviceCache::MarkHeld(TrackedDevice* device) {
  if (store_ != nullptr) {
    held_.insert(device);
  }
}

void DeviceCache::Release(TrackedDevice* device) { held_.erase(device); }

absl::StatusOr<TrackedDevice*> DeviceCache::PageIn(std::string_view tenant,
                                                   std::string_view device_id) {
  std::string store_key = DeviceStoreKey(tenant, device_id);
  auto row = store_->LoadDevice(store_key);
  if (!row.ok()) {
    return row.status();
  }
  if (!row->has_value()) {
    return nullptr;
  }
  auto device = std::make_unique<TrackedDevice>();
  EventFloors floors;
  absl::Status status = DecodeDevice(**row, device.get(), &floors);
  if (status.ok()) {
    device->store_key = std::move(store_key);
    status = LoadEvents(floors, device.get());
  }
  if (!status.ok()) {
    return absl::Status(status.code(),
                        StrCat("device ", tenant, "/", device_id,
                               " cannot be read from the state store: ",
                               std::string(status.message())));
  }
  // Make room; never for a device the running operation holds.
  TrimTo(max_devices_ > 0 ? max_devices_ - 1 : 0);
  device->content = DeviceContent(*device);
  device->row_hash = Sha256(**row);
  device->stored = true;
  // The row was written with this time (unknown in rows from before it was
  // kept: their device's next change or check-in writes them again).
  device->row_seen_at = device->seen_at;
  if (!device->facts.mdm_device_id.empty()) {
    mdm_index_[JoinKey({tenant, device->facts.mdm_device_id})] =
        device->eas_device_id;
  }
  return Insert(JoinKey({tenant, device_id}), std::move(device));
}

absl::Status DeviceCache::LoadEvents(const EventFloors& floors,
                                     TrackedDevice* device) {
  const std::uint64_t from =
      floors.confirmed_from == 0 ? floors.events_from
      : floors.events_from == 0
          ? floors.confirmed_from
          : std::min(floors.confirmed_from, floors.events_from);
  if (from == 0) {
    return absl::OkStatus();
  }
  std::vector<std::string> values;
  if (absl::Status s = store_->LoadEvents(
          device->store_key, EventStoreKey(device->store_key, from), &values);
      !s.ok()) {
    return s;
  }
  for (const std::string& value : values) {
    DetectionEvent e;
    if (absl::Status s = DecodeEvent(value, &e); !s.ok()) {
      return s;
    }
    const bool confirmed = IsConfirmedHijackEvent(e.kind);
    const std::uint64_t floor =
        confirmed ? floors.confirmed_from : floors.events_from;
    if (floor == 0 || e.store_id < floor) {
      continue;
    }
    auto& list = confirmed ? device->confirmed : device->events;
    list.push_back(std::move(e));
    if (list.size() > max_events_per_device_) {
      list.pop_front();
    }
  }
  return absl::OkStatus();
}

// NOLINTNEXTLINE(performance-unnecessary-value-param): moved into the map
TrackedDevice* DeviceCache::Insert(std::string key,
                                   std::unique_ptr<TrackedDevice> device) {
  TrackedDevice* raw = device.get();
  devices_.emplace(std::move(key), std::move(device));
  PushFront(raw);
  return raw;
}

absl::StatusOr<std::optional<std::string>> DeviceCache::FindByMdmId(
    std::string_view tenant, std::string_view mdm_device_id) {
  auto it = mdm_index_.find(JoinKey({tenant, mdm_device_id}));
  // (A shared store's index may have moved on another replica.)
  if (it != mdm_index_.end() && (store_ == nullptr || !store_->shared())) {
    return it->second;
  }
  if (store_ == nullptr) {
    return std::nullopt;
  }
  auto key = store_->FindDeviceByIndex(DeviceStoreKey(tenant, mdm_device_id));
  if (!key.ok()) {
    return key.status();
  }
  if (!key->has_value()) {
    return std::nullopt;
  }
  RecordReader r(**key, "device key");
  std::string row_tenant;
  std::string device_id;
  if (!r.Bytes("tenant", &row_tenant) || !r.Bytes("device id", &device_id) ||
      !r.End()) {
    return r.status();
  }
  return device_id;
}

void DeviceCache::IndexMdmId(const TrackedDevice& device,
                             std::string_view old_mdm_device_id,
                             std::string_view mdm_device_id) {
  if (!old_mdm_device_id.empty() && old_mdm_device_id != mdm_device_id) {
    auto m = mdm_index_.find(JoinKey({device.tenant, old_mdm_device_id}));
    if (m != mdm_index_.end() && m->second == device.eas_device_id) {
      mdm_index_.erase(m);
    }
  }
  if (!mdm_device_id.empty()) {
    mdm_index_[JoinKey({device.tenant, mdm_device_id})] = device.eas_device_id;
  }
}

void DeviceCache::TakeHeldRows(std::vector<StoreRow>* rows) {
  rows->reserve(rows->size() + held_.size());
  for (TrackedDevice* d : held_) {
    const Sha256Digest content = DeviceContent(*d);
    // The row's time is rewritten at least daily, so that retention never
    // prunes the row of a device in use.
    // (A shared store's row is written every time: a row left for later
    // would be written over another replica's newer one.)
    if (d->stored && content == d->content &&
        !RowTimeDue(d->row_seen_at, d->seen_at) && !store_->shared()) {
      // Only its activity changed: nothing to wait for.
      d->activity_unwritten = true;
      unwritten_activity_.insert(d);
      continue;
    }
    d->content = content;
    AppendRow(d, rows);
    unwritten_activity_.erase(d);
  }
  held_.clear();
}

void DeviceCache::DropHeld() {
  for (TrackedDevice* d : held_) {
    Forget(d);
  }
  held_.clear();
}

std::vector<StoreRow> DeviceCache::TakeUnwrittenActivity(std::size_t max) {
  std::vector<StoreRow> rows;
  rows.reserve(std::min(max, unwritten_activity_.size()));
  while (!unwritten_activity_.empty() && rows.size() < max) {
    auto it = unwritten_activity_.begin();
    AppendRow(*it, &rows);
    unwritten_activity_.erase(it);
  }
  return rows;
}

void DeviceCache::AppendRow(TrackedDevice* d, std::vector<StoreRow>* rows) {
  StoreRow& row = rows->emplace_back();
  row.key = d->store_key;
  EncodeDevice(*d, &row.value);
  d->row_hash = Sha256(row.value);
  // 0: the store stamps the row with its commit time.
  row.time_ms =
      d->seen_at == absl::InfinitePast() ? 0 : absl::ToUnixMillis(d->seen_at);
  if (!d->facts.mdm_device_id.empty()) {
    row.index = DeviceStoreKey(d->tenant, d->facts.mdm_device_id);
  }
  d->stored = true;
  d->row_seen_at = d->seen_at;
  d->activity_unwritten = false;
}

void DeviceCache::EvictOne() {
  // The least recently used device that may go, looking at most
  // kEvictionSample from the cold end. Without a store a device with
  // confirmed events stays (it is what quarantines); with one, only the
  // devices the running operation holds stay.
  TrackedDevice* victim = nullptr;
  int looked = 0;
  for (TrackedDevice* d = lru_tail_; d != nullptr && looked < kEvictionSample;
       d = d->lru_prev, ++looked) {
    if (store_ != nullptr ? !held_.contains(d) : d->confirmed.empty()) {
      victim = d;
      break;
    }
  }
  if (victim == nullptr) {
    return;
  }
  if (victim->activity_unwritten) {
    // Its row leaves memory: what only it knows goes to the store first
    // (nobody waits for it).
    std::vector<StoreRow> rows;
    AppendRow(victim, &rows);
    submit_(std::move(rows));
  }
  Forget(victim);
  ++evicted_;
}

void DeviceCache::TrimTo(std::size_t limit) {
  while (devices_.size() > limit) {
    const std::size_t before = devices_.size();
    EvictOne();
    if (devices_.size() == before) {
      return;  // none may go now
    }
  }
}

void DeviceCache::Forget(TrackedDevice* d) {
  fresh_.erase(d);
  if (!d->facts.mdm_device_id.empty()) {
    auto m = mdm_index_.find(JoinKey({d->tenant, d->facts.mdm_device_id}));
    if (m != mdm_index_.end() && m->second == d->eas_device_id) {
      mdm_index_.erase(m);
    }
  }
  unwritten_activity_.erase(d);
  Unlink(d);
  devices_.erase(JoinKey({d->tenant, d->eas_device_id}));
}

void DeviceCache::PushFront(TrackedDevice* d) {
  d->lru_prev = nullptr;
  d->lru_next = lru_head_;
  if (lru_head_ != nullptr) {
    lru_head_->lru_prev = d;
  }
  lru_head_ = d;
  if (lru_tail_ == nullptr) {
    lru_tail_ = d;
  }
}

void DeviceCache::Unlink(TrackedDevice* d) {
  (d->lru_prev != nullptr ? d->lru_prev->lru_next : lru_head_) = d->lru_next;
  (d->lru_next != nullptr ? d->lru_next->lru_prev : lru_tail_) = d->lru_prev;
  d->lru_prev = nullptr;
  d->lru_next = nullptr;
}

void DeviceCache::Touch(TrackedDevice* d) {
  if (d != lru_head_) {
    Unlink(d);
    PushFront(d);
  }
}

std::vector<const TrackedDevice*> DeviceCache::InMemory() const {
  std::vector<const TrackedDevice*> out;
  out.reserve(devices_.size());
  for (const auto& [key, device] : devices_) out.push_back(device.get());
  return out;
}

}  // namespace hijackguard::detector
