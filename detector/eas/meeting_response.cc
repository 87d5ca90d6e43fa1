#include "detector/eas/meeting_response.h"

namespace hijackguard::detector::eas {
namespace {

// Code page 8 (activesync.md §3.3).
constexpr std::uint8_t kPage = 8;
constexpr std::uint8_t kCalendarId = 0x05;
constexpr std::uint8_t kCollectionId = 0x06;
constexpr std::uint8_t kMeetingResponse = 0x07;
constexpr std::uint8_t kRequestId = 0x08;
constexpr std::uint8_t kRequest = 0x09;
constexpr std::uint8_t kResult = 0x0A;
constexpr std::uint8_t kStatus = 0x0B;
constexpr std::uint8_t kUserResponse = 0x0C;
constexpr std::uint8_t kInstanceId = 0x0E;

std::optional<int> Digit(std::string_view text) {
  if (text.size() != 1 || text[0] < '0' || text[0] > '9') {
    return std::nullopt;
  }
  return text[0] - '0';
}

}  // namespace

void ScanMeetingResponse(std::string_view body, MeetingResponseScan* out,
                         const wbxml::ReaderOptions& options) {
  out->is_meeting_response = false;
  out->items.clear();
  out->issues.clear();
  wbxml::Reader reader(body, options);
  wbxml::Event e;
  MeetingResponseItem* item = nullptr;
  int item_depth = 0;
  std::uint8_t want = 0;  // token whose text is wanted, 0 for none
  int want_depth = 0;
  while (reader.Next(&e)) {
    switch (e.type) {
      case wbxml::Event::Type::kStartElement:
        want = 0;
        if (e.depth == 1) {
          out->is_meeting_response =
              e.page == kPage && e.token == kMeetingResponse;
          if (!out->is_meeting_response) {
            while (reader.Next(&e)) {
            }
            out->issues = reader.issues();
            return;
          }
        } else if (e.page != kPage) {
          break;
        } else if ((e.token == kRequest || e.token == kResult) &&
                   item == nullptr && e.depth == 2) {
          item = &out->items.emplace_back();
          item_depth = e.depth;
        } else if (item != nullptr && e.depth == item_depth + 1) {
          switch (e.token) {
            case kCalendarId:
            case kCollectionId:
            case kRequestId:
            case kStatus:
            case kUserResponse:
            case kInstanceId:
              want = e.token;
              want_depth = e.depth;
              break;
            default:
              break;
          }
        }
        break;
      case wbxml::Event::Type::kText:
        if (want == 0 || e.depth != want_depth || item == nullptr) {
          break;
        }
        switch (want) {
          case kCalendarId:
            item->calendar_id = e.data;
            break;
          case kCollectionId:
            item->collection_id = e.data;
            break;
          case kRequestId:
            item->request_id = e.data;
            break;
          case kStatus:
            item->status = e.data;
            break;
          case kUserResponse:
            item->user_response = Digit(e.data);
            break;
          case kInstanceId:
            item->instance_id = e.data;
            break;
          default:
            break;
        }
        want = 0;
        break;
      case wbxml::Event::Type::kEndElement:
        if (e.depth == want_depth) {
          want = 0;
        }
        if (item != nullptr && e.depth == item_depth) {
          item = nullptr;
        }
        break;
      case wbxml::Event::Type::kOpaque:
        break;
    }
  }
  if (!reader.issues().empty()) {
    out->issues = reader.issues();
  }
}

}  // namespace hijackguard::detector::eas
