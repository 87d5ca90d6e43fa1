// Calendar items in an ActiveSync Sync body (request or response), read in one
// pass of the WBXML pull reader: for every Add, Change, Delete and Fetch in a
// collection's Commands (and the server's Responses), the fields that say who
// organizes a meeting and whether the user owns it. Strings are views into
// the body.
#pragma once

#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "detector/wbxml/reader.h"

namespace hijackguard::detector::eas {

struct CalendarItem {
  enum class Operation { kAdd, kChange, kDelete, kFetch };
  Operation operation = Operation::kAdd;
  bool in_responses = false;       // under Responses (server status replies)
  std::string_view collection_id;  // of the enclosing Collection
  std::string_view server_id;
  std::string_view client_id;
  std::string_view status;         // Responses carry a Status
  bool has_calendar_data = false;  // ApplicationData held Calendar elements
  std::string_view uid;
  std::string_view organizer_email;
  std::string_view organizer_name;
  std::string_view subject;
  std::string_view start_time;
  std::optional<int> meeting_status;  // top-level MeetingStatus, 0..15
  bool has_attendees = false;         // an Attendees element was sent
  int attendee_count = 0;
  // This item's attendee e-mails: SyncCalendarScan::attendee_emails
  // [attendees_begin, attendees_end).
  std::size_t attendees_begin = 0;
  std::size_t attendees_end = 0;
};

struct SyncCalendarScan {
  std::vector<CalendarItem> items;                // in body order
  std::vector<std::string_view> attendee_emails;  // of all items, in order
  std::vector<wbxml::Issue> issues;
  bool is_sync = false;  // the root element is AirSync:Sync

  // The attendee e-mails of `item` (one of `items`).
  std::span<const std::string_view> AttendeeEmails(
      const CalendarItem& item) const {
    return std::span<const std::string_view>(attendee_emails)
        .subspan(item.attendees_begin,
                 item.attendees_end - item.attendees_begin);
  }
};

// Scans `body`. Reuses the storage of `*out` (cleared, capacity kept: a
// scanner reused across bodies allocates nothing once warm). Items
// outside a calendar collection (no Calendar-page fields, Delete/Fetch aside)
// are still listed with has_calendar_data false. Thread-compatible; the body
// must outlive `*out`.
void ScanSyncCalendar(std::string_view body, SyncCalendarScan* out,
                      const wbxml::ReaderOptions& options = {});

}  // namespace hijackguard::detector::eas
