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

// One pass over a Sync body: what each event opens, fills or closes.
class SyncScanner {
 public:
  explicit SyncScanner(SyncCalendarScan* out) : out_(out) {}

  void Start(const wbxml::Event& e) {
    want_page_ = kNone;
    if (e.page == kAirSync) {
      StartAirSync(e);
    } else if (e.page == kCalendar && appdata_depth_ > 0 && item_ != nullptr) {
      StartCalendar(e);
    }
  }

  void Text(const wbxml::Event& e) {
    if (want_page_ == kNone || e.depth != want_depth_) {
      return;
    }
    if (want_page_ == kAirSync) {
      AirSyncText(e.data);
    } else if (item_ != nullptr) {
      CalendarText(e.data);
    }
    want_page_ = kNone;
  }

  void End(const wbxml::Event& e) {
    if (e.depth == want_depth_) want_page_ = kNone;
    if (e.depth == attendee_depth_) attendee_depth_ = 0;
    if (e.depth == exceptions_depth_) exceptions_depth_ = 0;
    if (e.depth == appdata_depth_) appdata_depth_ = 0;
    if (e.depth == item_depth_) {
      item_depth_ = 0;
      item_ = nullptr;
    }
    if (e.depth == responses_depth_) responses_depth_ = 0;
  }

 private:
  static constexpr std::uint8_t kNone = 0xFF;

  void Want(const wbxml::Event& e) {
    want_page_ = e.page;
    want_token_ = e.token;
    want_depth_ = e.depth;
  }

  void StartItem(const wbxml::Event& e) {
    if (item_depth_ != 0) {
      return;
    }
    item_depth_ = e.depth;
    item_ = &out_->items.emplace_back();
    item_->operation =
        e.token == airsync::kAdd      ? CalendarItem::Operation::kAdd
        : e.token == airsync::kChange ? CalendarItem::Operation::kChange
        : e.token == airsync::kDelete ? CalendarItem::Operation::kDelete
                                      : CalendarItem::Operation::kFetch;
    item_->in_responses = responses_depth_ > 0;
    item_->collection_id = collection_id_;
    item_->attendees_begin = out_->attendee_emails.size();
    item_->attendees_end = item_->attendees_begin;
  }

  void StartAirSync(const wbxml::Event& e) {
    switch (e.token) {
      case airsync::kCollection:
        collection_id_ = {};
        break;
      case airsync::kResponses:
        responses_depth_ = e.depth;
        break;
      case airsync::kAdd:
      case airsync::kChange:
      case airsync::kDelete:
      case airsync::kFetch:
        StartItem(e);
        break;
      case airsync::kApplicationData:
        if (item_ != nullptr && appdata_depth_ == 0) {
          appdata_depth_ = e.depth;
        }
        break;
      case airsync::kCollectionId:
      case airsync::kServerId:
      case airsync::kClientId:
      case airsync::kStatus:
        Want(e);
        break;
      default:
        break;
    }
  }

  void StartCalendar(const wbxml::Event& e) {
    item_->has_calendar_data = true;
    if (exceptions_depth_ > 0) {
      return;  // an exception's fields are not the item's own
    }
    switch (e.token) {
      case calendar::kExceptions:
        exceptions_depth_ = e.depth;
        break;
      case calendar::kAttendees:
        item_->has_attendees = true;
        break;
      case calendar::kAttendee:
        ++item_->attendee_count;
        attendee_depth_ = e.depth;
        break;
      case calendar::kEmail:
      case calendar::kMeetingStatus:
      case calendar::kOrganizerEmail:
      case calendar::kOrganizerName:
      case calendar::kSubject:
      case calendar::kStartTime:
      case calendar::kUid:
        // Direct children of ApplicationData, or Attendee/Email.
        if (e.depth == appdata_depth_ + 1 ||
            (e.token == calendar::kEmail && attendee_depth_ > 0)) {
          Want(e);
        }
        break;
      default:
        break;
    }
  }

  void AirSyncText(std::string_view text) {
    if (want_token_ == airsync::kCollectionId) {
      (item_ == nullptr ? collection_id_ : item_->collection_id) = text;
      return;
    }
    if (item_ == nullptr) {
      return;
    }
    switch (want_token_) {
      case airsync::kServerId:
        item_->server_id = text;
        break;
      case airsync::kClientId:
        item_->client_id = text;
        break;
      case airsync::kStatus:
        item_->status = text;
        break;
      default:
        break;
    }
  }

  void CalendarText(std::string_view text) {
    switch (want_token_) {
      case calendar::kEmail:
        out_->attendee_emails.push_back(text);
        item_->attendees_end = out_->attendee_emails.size();
        break;
      case calendar::kMeetingStatus:
        item_->meeting_status = SmallNumber(text);
        break;
      case calendar::kOrganizerEmail:
        item_->organizer_email = text;
        break;
      case calendar::kOrganizerName:
        item_->organizer_name = text;
        break;
      case calendar::kSubject:
        item_->subject = text;
        break;
      case calendar::kStartTime:
        item_->start_time = text;
        break;
      case calendar::kUid:
        item_->uid = text;
        break;
      default:
        break;
    }
  }

  SyncCalendarScan* out_;
  // Where we are, by depth of the element that opened each context.
  int responses_depth_ = 0;
  int item_depth_ = 0;        // the current Add/Change/Delete/Fetch
  int appdata_depth_ = 0;     // its ApplicationData
  int exceptions_depth_ = 0;  // inside Exceptions
  int attendee_depth_ = 0;
  std::string_view collection_id_;
  CalendarItem* item_ = nullptr;
  // The element whose text we want next, as (page, token), and its depth.
  std::uint8_t want_page_ = kNone;
  std::uint8_t want_token_ = 0;
  int want_depth_ = 0;
};

}  // namespace

void ScanSyncCalendar(std::string_view body, SyncCalendarScan* out,
                      const wbxml::ReaderOptions& options) {
  out->items.clear();
  out->attendee_emails.clear();
  out->issues.clear();
  out->is_sync = false;

  wbxml::Reader reader(body, options);
  wbxml::Event e;
  SyncScanner scanner(out);
  while (reader.Next(&e)) {
    switch (e.type) {
      case wbxml::Event::Type::kStartElement:
        if (e.depth == 1) {
          out->is_sync = e.page == kAirSync && e.token == airsync::kSync;
          if (!out->is_sync) {
            // Not a Sync body: nothing to collect.
            while (reader.Next(&e)) {
            }
            out->issues = reader.issues();
            return;
          }
        } else {
          scanner.Start(e);
        }
        break;
      case wbxml::Event::Type::kText:
        scanner.Text(e);
        break;
      case wbxml::Event::Type::kEndElement:
        scanner.End(e);
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
