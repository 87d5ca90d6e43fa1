// The devices a TrafficDetector keeps in memory. Without a store they are
// all the devices it knows; with one, memory is a cache of the store's rows:
// a device is paged in when first needed and leaves memory (least recently
// used first) once what changed in it was submitted.
//
// The cache also keeps the set of devices the running operation changed
// ("held"), which decides what the operation submits and what may not leave
// memory before it does. Not thread-safe: the detector's mutex covers every
// call. Internal to the detector library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "detector/traffic/detector_rows.h"
#include "detector/traffic/detector_state.h"
#include "detector/traffic/detector_store.h"

namespace hijackguard::detector {

class DeviceCache {
 public:
  // Takes device rows that must reach the store now: those of devices whose
  // only unwritten change is activity, as they leave memory.
  using SubmitRows = std::function<void(std::vector<StoreRow>)>;

  // `max_devices`: the table size without a store, the cache size with one.
  DeviceCache(std::size_t max_devices, std::size_t max_events_per_device);
  DeviceCache(const DeviceCache&) = delete;
  DeviceCache& operator=(const DeviceCache&) = delete;

  // From now on devices are rows of `store` (which outlives the cache).
  void AttachStore(DetectorStore* store, SubmitRows submit);
  // A shared store (DetectorStore::shared): a device in memory is read again
  // the first time an operation uses it, and replaced when another replica
  // changed its row; BeginOperation starts the next operation.
  void BeginOperation() { fresh_.clear(); }

  // The device, paged in when it is not in memory; nullptr when it is
  // unknown. An error when its row cannot be read.
  absl::StatusOr<TrackedDevice*> Find(std::string_view tenant,
                                      std::string_view device_id);
  // As Find, adding a device not known yet, and held. Without a store,
  // RESOURCE_EXHAUSTED when the table is full and no device may leave it.
  absl::StatusOr<TrackedDevice*> Hold(std::string_view tenant,
                                      std::string_view device_id);
  // The running operation changed `device` (with a store: it is submitted at
  // the operation's end, and stays in memory until then).
  void MarkHeld(TrackedDevice* device);
  // The running operation changed nothing in `device` after all.
  void Release(TrackedDevice* device);

  // The EAS device id of the device a check-in linked to `mdm_device_id`.
  absl::StatusOr<std::optional<std::string>> FindByMdmId(
      std::string_view tenant, std::string_view mdm_device_id);
  // `device` is now linked to `mdm_device_id` instead of `old_mdm_device_id`.
  void IndexMdmId(const TrackedDevice& device,
                  std::string_view old_mdm_device_id,
                  std::string_view mdm_device_id);

  // The rows of the held devices whose content changed, appended to `*rows`;
  // the others changed only their activity, which is left for later
  // (TakeUnwrittenActivity, or their eviction). No device is held after.
  void TakeHeldRows(std::vector<StoreRow>* rows);
  // The operation failed: the held devices leave memory (they are read again
  // when next needed), so that memory never holds what the store does not.
  void DropHeld();
  // Evicts until at most max_devices are in memory, or none may go.
  void Trim() { TrimTo(max_devices_); }
  // Rows of at most `max` devices whose activity is not written yet.
  std::vector<StoreRow> TakeUnwrittenActivity(std::size_t max);

  std::size_t size() const { return devices_.size(); }
  // Every device in memory (without a store: every device tracked).
  std::vector<const TrackedDevice*> InMemory() const;
  std::uint64_t evicted() const { return evicted_; }

 private:
  absl::StatusOr<TrackedDevice*> PageIn(std::string_view tenant,
                                        std::string_view device_id);
  // Shared stores: `device` as the store has it now (itself, when no one
  // else changed its row since this replica wrote or read it).
  absl::StatusOr<TrackedDevice*> Refresh(TrackedDevice* device);
  [[nodiscard]] absl::Status LoadEvents(const EventFloors& floors,
                                        TrackedDevice* device);
  TrackedDevice* Insert(std::string key, std::unique_ptr<TrackedDevice> d);
  void EvictOne();
  void TrimTo(std::size_t limit);
  void Forget(TrackedDevice* device);
  void AppendRow(TrackedDevice* device, std::vector<StoreRow>* rows);
  void PushFront(TrackedDevice* device);
  void Unlink(TrackedDevice* device);
  void Touch(TrackedDevice* device);

  const std::size_t max_devices_;
  const std::size_t max_events_per_device_;
  DetectorStore* store_ = nullptr;
  SubmitRows submit_;
  absl::flat_hash_map<std::string, std::unique_ptr<TrackedDevice>> devices_;
  absl::flat_hash_map<std::string, std::string> mdm_index_;  // -> device id
  TrackedDevice* lru_head_ = nullptr;  // most recently used
  TrackedDevice* lru_tail_ = nullptr;
  absl::flat_hash_set<TrackedDevice*> held_;
  // Shared stores: the devices read in the running operation.
  absl::flat_hash_set<TrackedDevice*> fresh_;
  // Devices whose activity is not written yet (activity_unwritten).
  absl::flat_hash_set<TrackedDevice*> unwritten_activity_;
  std::uint64_t evicted_ = 0;
};

}  // namespace hijackguard::detector
