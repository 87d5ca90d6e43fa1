// Row formats of the detector's durable state (detector_rows.cc), for the
// detector's own files only: what other code sees of them is the store's
// rows, never these encodings.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
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

}  // namespace hijackguard::detector
