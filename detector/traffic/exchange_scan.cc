#include "detector/traffic/exchange_scan.h"

#include "common/strings.h"

namespace hijackguard::detector {
namespace {

using eas::CalendarItem;
using Operation = CalendarItem::Operation;

// Scan buffers larger than this are released after use.
constexpr std::size_t kMaxKeptScanItems = 4096;

// Per-thread scan buffers.
struct Scratch {
  eas::SyncCalendarScan request;
  eas::SyncCalendarScan response;
  eas::MeetingResponseScan mr_request;
  eas::MeetingResponseScan mr_response;
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

std::string WbxmlError(std::string_view body_name,
                       const std::vector<wbxml::Issue>& issues) {
  const wbxml::Issue& first = issues.front();
  return StrCat(body_name,
                " does not decode: ", wbxml::IssueCodeName(first.code),
                " at byte ", first.offset, ": ", first.message);
}

// Scans one body into the scan of its command; false (with an item error)
// when it does not decode.
bool ScanBody(std::string_view body, const char* name,
              const wbxml::ReaderOptions& reader, bool is_sync,
              eas::SyncCalendarScan* sync, eas::MeetingResponseScan* mr,
              std::vector<ItemError>* errors) {
  if (is_sync) {
    eas::ScanSyncCalendar(body, sync, reader);
  } else {
    eas::ScanMeetingResponse(body, mr, reader);
  }
  const auto& issues = is_sync ? sync->issues : mr->issues;
  if (issues.empty()) {
    return true;
  }
  errors->push_back(
      {"UNDECODABLE_BODY", StrCat("eas_exchange.", name),
       StrCat(WbxmlError(name, issues), "; the ", name, " is ignored")});
  return false;
}

}  // namespace

ScannedExchange ScanExchange(const EasExchangeView& ex,
                             const wbxml::ReaderOptions& reader,
                             std::size_t max_addresses) {
  ScannedExchange out;
  std::vector<eas::Header> headers;
  headers.reserve(ex.headers.size());
  for (const auto& [name, value] : ex.headers) {
    headers.emplace_back(name, value);
  }
  out.parsed = eas::ParseEasRequest(ex.target, headers,
                                    ex.method.empty() ? "POST" : ex.method);
  const eas::EasRequest& req = out.parsed.request;
  for (const eas::RequestIssue& issue : out.parsed.issues) {
    out.errors.push_back(
        {"INVALID_TARGET",
         issue.where == "target" || issue.where == "base64 query"
             ? "eas_exchange.target"
             : "eas_exchange.headers",
         StrCat(eas::RequestIssueCodeName(issue.code), " in ", issue.where,
                " at byte ", issue.position, ": ", issue.message)});
  }
  out.is_sync = req.command == eas::Command::kSync;
  out.is_meeting_response = req.command == eas::Command::kMeetingResponse;
  const bool response_ok =
      ex.response_status == 0 ||
      (ex.response_status >= 200 && ex.response_status < 300);
  Scratch& scratch = ThreadScratch();
  out.request = &scratch.request;
  out.response = &scratch.response;
  out.mr_request = &scratch.mr_request;
  const bool scanned = out.is_sync || out.is_meeting_response;
  out.request_ok =
      scanned && !ex.request_body.empty() &&
      ScanBody(ex.request_body, "request_body", reader, out.is_sync,
               &scratch.request, &scratch.mr_request, &out.errors);
  out.response_usable =
      scanned && !ex.response_body.empty() && response_ok &&
      ScanBody(ex.response_body, "response_body", reader, out.is_sync,
               &scratch.response, &scratch.mr_response, &out.errors);
  if (req.command == eas::Command::kSettings && response_ok &&
      !ex.response_body.empty()) {
    out.settings =
        eas::ReadMailboxAddresses(ex.response_body, max_addresses, reader);
  }
  // Built before the lock, so that matching stays linear.
  if (out.is_sync && out.response_usable && scratch.response.is_sync) {
    for (const CalendarItem& r : scratch.response.items) {
      if ((r.in_responses && r.status != "1" && !r.status.empty()) ||
          (!r.in_responses && (r.operation == Operation::kAdd ||
                               r.operation == Operation::kChange))) {
        out.server_touched.emplace(r.collection_id, r.server_id);
      }
    }
  }
  if (out.is_meeting_response && out.response_usable) {
    for (const eas::MeetingResponseItem& r : scratch.mr_response.items) {
      out.calendar_ids[r.request_id] = r.calendar_id;
    }
  }
  return out;
}

void TrimScanBuffers() {
  Scratch& scratch = ThreadScratch();
  if (scratch.request.items.capacity() > kMaxKeptScanItems ||
      scratch.response.items.capacity() > kMaxKeptScanItems ||
      scratch.request.attendee_emails.capacity() > kMaxKeptScanItems ||
      scratch.response.attendee_emails.capacity() > kMaxKeptScanItems ||
      scratch.mr_request.items.capacity() > kMaxKeptScanItems ||
      scratch.mr_response.items.capacity() > kMaxKeptScanItems) {
    scratch = Scratch();
  }
}

}  // namespace hijackguard::detector
