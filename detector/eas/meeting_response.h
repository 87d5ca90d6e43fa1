// MeetingResponse bodies (MS-ASCMD 2.2.1.11): the attendee's legitimate way to
// accept, tentatively accept or decline. Read in one pass of the WBXML pull
// reader; strings are views into the body.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "detector/wbxml/reader.h"

namespace hijackguard::detector::eas {

// One Request (client) or Result (server) element.
struct MeetingResponseItem {
  std::string_view collection_id;  // request: folder holding the item
  std::string_view request_id;     // server id of the meeting request or item
  std::string_view instance_id;    // request: one occurrence (14.1+)
  std::optional<int>
      user_response;             // request: 1 accept, 2 tentative, 3 decline
  std::string_view status;       // result
  std::string_view calendar_id;  // result: the calendar item (not on decline)
};

struct MeetingResponseScan {
  bool is_meeting_response =
      false;  // the root is MeetingResponse:MeetingResponse
  std::vector<MeetingResponseItem> items;  // Requests or Results, in order
  std::vector<wbxml::Issue> issues;
};

// Scans a MeetingResponse request or response body. Reuses `*out`'s storage.
// The body must outlive `*out`.
void ScanMeetingResponse(std::string_view body, MeetingResponseScan* out,
                         const wbxml::ReaderOptions& options = {});

}  // namespace hijackguard::detector::eas
