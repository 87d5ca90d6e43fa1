#include "detector/eas/sync_calendar.h"

namespace hijackguard::detector::eas {
namespace {

// Tokens (activesync.md §1.5).
constexpr std::uint8_t kAirSync = 0;
constexpr std::uint8_t kCalendar = 4;

namespace airsync {
constexpr std::uint8_t kSync = 0x05;
constexpr std::uint8_t kResponses = 0x06;
constexpr std::uint8_t kAdd = 0x07;
constexpr std::uint8_t kChange = 0x08;
constexpr std::uint8_t kDelete = 0x09;
constexpr std::uint8_t kFetch = 0x0A;
constexpr std::uint8_t kClientId = 0x0C;
constexpr std::uint8_t kServerId = 0x0D;
constexpr std::uint8_t kStatus = 0x0E;
constexpr std::uint8_t kCollection = 0x0F;
constexpr std::uint8_t kCollectionId = 0x12;
constexpr std::uint8_t kApplicationData = 0x1D;
}  // namespace airsync

namespace calendar {
constexpr std::uint8_t kAttendees = 0x07;
constexpr std::uint8_t kAttendee = 0x08;
constexpr std::uint8_t kEmail = 0x09;
constexpr std::uint8_t kExceptions = 0x14;
constexpr std::uint8_t kMeetingStatus = 0x18;
constexpr std::uint8_t kOrganizerEmail = 0x19;
constexpr std::uint8_t kOrganizerName = 0x1A;
constexpr std::uint8_t kSubject = 0x26;
constexpr std::uint8_t kStartTime = 0x27;
constexpr std::uint8_t kUid = 0x28;
}  // namespace calendar

std::optional<int> SmallNumber(std::string_view text) {
  if (text.empty() || text.size() > 3) {
    return std::nullopt;
  }
  int v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

void ScanSyncCalendar(std::string_view body, SyncCalendarScan* out,
                      const wbxml::ReaderOptions& options) {
  out->items.clear();
  out->attendee_emails.clear();
  out->issues.clear();
  out->is_sync = false;

  wbxml::Reader reader(body, options);
  wbxml::Event e;
  // Where we are, by depth of the element that opened each context.
  int responses_depth = 0;
  int item_depth = 0;        // depth of the current Add/Change/Delete/Fetch
  int appdata_depth = 0;     // depth of its ApplicationData
  int exceptions_depth = 0;  // inside Exceptions: not the item's own fields
  int attendee_depth = 0;
  std::string_view collection_id;
  CalendarItem* item = nullptr;
  // The element whose text we want next, as (page, token), and its depth.
  std::uint8_t want_page = 0xFF;
  std::uint8_t want_token = 0;
  int want_depth = 0;

  while (reader.Next(&e)) {
    switch (e.type) {
      case wbxml::Event::Type::kStartElement: {
        if (e.depth == 1) {
          out->is_sync = e.page == kAirSync && e.token == airsync::kSync;
          if (!out->is_sync) {
            // Not a Sync body: nothing to collect.
            while (reader.Next(&e)) {
            }
            out->issues = reader.issues();
            return;
          }
          continue;
        }
        want_page = 0xFF;
        if (e.page == kAirSync) {
          switch (e.token) {
            case airsync::kCollection:
              collection_id = {};
              break;
            case airsync::kResponses:
              responses_depth = e.depth;
              break;
            case airsync::kAdd:
            case airsync::kChange:
            case airsync::kDelete:
            case airsync::kFetch:
              if (item_depth == 0) {
                item_depth = e.depth;
                item = &out->items.emplace_back();
                item->operation = e.token == airsync::kAdd
                                      ? CalendarItem::Operation::kAdd
                                  : e.token == airsync::kChange
                                      ? CalendarItem::Operation::kChange
                                  : e.token == airsync::kDelete
                                      ? CalendarItem::Operation::kDelete
                                      : CalendarItem::Operation::kFetch;
                item->in_responses = responses_depth > 0;
                item->collection_id = collection_id;
                item->attendees_begin = out->attendee_emails.size();
                item->attendees_end = item->attendees_begin;
              }
              break;
            case airsync::kApplicationData:
              if (item != nullptr && appdata_depth == 0) {
                appdata_depth = e.depth;
              }
              break;
            case airsync::kCollectionId:
            case airsync::kServerId:
            case airsync::kClientId:
            case airsync::kStatus:
              want_page = kAirSync;
              want_token = e.token;
              want_depth = e.depth;
              break;
            default:
              break;
          }
        } else if (e.page == kCalendar && appdata_depth > 0 &&
                   item != nullptr) {
          item->has_calendar_data = true;
          if (exceptions_depth > 0) {
            break;
          }
          switch (e.token) {
            case calendar::kExceptions:
              exceptions_depth = e.depth;
              break;
            case calendar::kAttendees:
              item->has_attendees = true;
              break;
            case calendar::kAttendee:
              ++item->attendee_count;
              attendee_depth = e.depth;
              break;
            case calendar::kEmail:
            case calendar::kMeetingStatus:
            case calendar::kOrganizerEmail:
            case calendar::kOrganizerName:
            case calendar::kSubject:
            case calendar::kStartTime:
            case calendar::kUid:
              // Direct children of ApplicationData, or Attendee/Email.
              if (e.depth == appdata_depth + 1 ||
                  (e.token == calendar::kEmail && attendee_depth > 0)) {
                want_page = kCalendar;
                want_token = e.token;
                want_depth = e.depth;
              }
              break;
            default:
              break;
          }
        }
        break;
      }
      case wbxml::Event::Type::kText: {
        if (want_page == 0xFF || e.depth != want_depth) {
          break;
        }
        const std::string_view text = e.data;
        if (want_page == kAirSync) {
          switch (want_token) {
            case airsync::kCollectionId:
              if (item == nullptr) {
                collection_id = text;
              } else {
                item->collection_id = text;
              }
              break;
            case airsync::kServerId:
              if (item != nullptr) {
                item->server_id = text;
              }
              break;
            case airsync::kClientId:
              if (item != nullptr) {
                item->client_id = text;
              }
              break;
            case airsync::kStatus:
              if (item != nullptr) {
                item->status = text;
              }
              break;
            default:
              break;
          }
        } else if (item != nullptr) {
          switch (want_token) {
            case calendar::kEmail:
              out->attendee_emails.push_back(text);
              item->attendees_end = out->attendee_emails.size();
              break;
            case calendar::kMeetingStatus:
              item->meeting_status = SmallNumber(text);
              break;
            case calendar::kOrganizerEmail:
              item->organizer_email = text;
              break;
            case calendar::kOrganizerName:
              item->organizer_name = text;
              break;
            case calendar::kSubject:
              item->subject = text;
              break;
            case calendar::kStartTime:
              item->start_time = text;
              break;
            case calendar::kUid:
              item->uid = text;
              break;
            default:
              break;
          }
        }
        want_page = 0xFF;
        break;
      }
      case wbxml::Event::Type::kEndElement:
        if (e.depth == want_depth) {
          want_page = 0xFF;
        }
        if (e.depth == attendee_depth) {
          attendee_depth = 0;
        }
        if (e.depth == exceptions_depth) {
          exceptions_depth = 0;
        }
        if (e.depth == appdata_depth) {
          appdata_depth = 0;
        }
        if (e.depth == item_depth) {
          item_depth = 0;
          item = nullptr;
        }
        if (e.depth == responses_depth) {
          responses_depth = 0;
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
