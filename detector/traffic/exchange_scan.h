// The decode phase of an observed EAS exchange: the request target and both
// bodies read outside the detector's lock. The bodies' scans go into
// per-thread buffers that are reused once warm; the request, its headers and
// the small indexes of one exchange are its own. Internal to the detector
// library.
#pragma once

#include <cstddef>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "detector/eas/meeting_response.h"
#include "detector/eas/request.h"
#include "detector/eas/settings.h"
#include "detector/eas/sync_calendar.h"
#include "detector/traffic/observation.h"
#include "detector/wbxml/reader.h"

namespace hijackguard::detector {

// What an exchange says, with views into the observation and into the
// calling thread's scan buffers (valid until that thread's next scan).
struct ScannedExchange {
  eas::ParsedRequest parsed;
  std::vector<ItemError> errors;  // of the target and the bodies
  bool is_sync = false;
  bool is_meeting_response = false;
  bool request_ok = false;       // the request body decoded
  bool response_usable = false;  // a 2xx (or unknown) answer that decoded
  const eas::SyncCalendarScan* request = nullptr;
  const eas::SyncCalendarScan* response = nullptr;
  const eas::MeetingResponseScan* mr_request = nullptr;
  // A Settings answer's mailbox addresses (UserInformation).
  eas::MailboxAddresses settings;
  // Items the server refused or sent back, by (collection, server id).
  absl::flat_hash_set<std::pair<std::string_view, std::string_view>>
      server_touched;
  // MeetingResponse results: request id -> calendar item id.
  absl::flat_hash_map<std::string_view, std::string_view> calendar_ids;
};

// Reads `ex` (the request target, its headers and both bodies);
// `max_addresses` bounds the addresses read from a Settings answer.
ScannedExchange ScanExchange(const EasExchangeView& ex,
                             const wbxml::ReaderOptions& reader,
                             std::size_t max_addresses);

// Releases what an unusually large body left in this thread's buffers.
void TrimScanBuffers();

}  // namespace hijackguard::detector
