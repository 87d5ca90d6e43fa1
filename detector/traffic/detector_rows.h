// Row formats of the detector's durable state (detector_rows.cc), for the
// detector's own files only: what other code sees of them is the store's
// rows, never these encodings.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/sha256.h"
#include "detector/traffic/detector_state.h"
#include "detector/traffic/meeting_ledger.h"
#include "detector/traffic/traffic_detector.h"

namespace hijackguard::detector {

std::string EncodeLedgerKey(const LedgerKey& key);
[[nodiscard]] absl::Status DecodeLedgerKey(std::string_view value,
                                           std::string parts[4]);
void EncodeLedgerEntry(const MeetingSnapshot& entry, std::string* out);
[[nodiscard]] absl::Status DecodeLedgerEntry(std::string_view value,
                                             MeetingSnapshot* entry);
void EncodeEvent(const DetectionEvent& event, std::string* out);
[[nodiscard]] absl::Status DecodeEvent(std::string_view value,
                                       DetectionEvent* event);

// `with_activity` false: the observation count, last activity and the
// row's time (seen_at) are left out (written as none), for comparing what
// else changed.
void EncodeDevice(const TrackedDevice& device, std::string* out,
                  bool with_activity = true);
// The digest of the device's row without its activity.
Sha256Digest DeviceContent(const TrackedDevice& device);
// Where a device's kept events start in the store's event order.
struct EventFloors {
  std::uint64_t confirmed_from = 0;
  std::uint64_t events_from = 0;
  std::uint64_t confirmed_count = 0;
  std::uint64_t events_count = 0;
};
[[nodiscard]] absl::Status DecodeDevice(std::string_view value,
                                        TrackedDevice* device,
                                        EventFloors* floors);
void EncodePending(const std::vector<PendingChange>& list, std::string* out);
[[nodiscard]] absl::Status DecodePending(std::string_view value,
                                         std::vector<PendingChange>* list);

}  // namespace hijackguard::detector
