#include "detector/traffic/repair_list.h"

#include <algorithm>
#include <map>

#include "common/status_macros.h"
#include "common/strings.h"
#include "detector/traffic/detector_rows.h"
#include "detector/traffic/detector_state.h"

namespace hijackguard::detector {

bool NeedsRepair(const DetectionEvent& e) {
  return e.kind != EventKind::kOrganizerNameChange &&
         !e.organizer_email_before.empty();
}

void AddRepairItems(const std::vector<DetectionEvent>& events,
                    std::vector<RepairItem>* out) {
  std::vector<const DetectionEvent*> sorted;
  for (const DetectionEvent& e : events) {
    if (NeedsRepair(e)) sorted.push_back(&e);
  }
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const DetectionEvent* a, const DetectionEvent* b) {
                     return a->observed_at < b->observed_at;
                   });
  std::map<std::string, RepairItem> by_meeting;
  for (const DetectionEvent* e : sorted) {
    RepairItem& item =
        by_meeting[JoinKey({e->mailbox, e->collection_id, e->server_id})];
    if (item.kinds.empty()) {
      item.tenant_id = e->tenant_id;
      item.eas_device_id = e->eas_device_id;
      item.mailbox = e->mailbox;
      item.collection_id = e->collection_id;
      item.server_id = e->server_id;
      item.first_seen = e->observed_at;
    }
    // The newest event says what the server's state was last.
    item.uid = e->uid;
    item.true_organizer_email = e->organizer_email_before;
    item.true_organizer_name = e->organizer_name_before;
    if (!e->organizer_email_after.empty() &&
        e->organizer_email_after != e->organizer_email_before) {
      item.claimed_organizer_email = e->organizer_email_after;
    }
    if (!e->subject.empty()) item.subject = e->subject;
    if (std::find(item.kinds.begin(), item.kinds.end(), e->kind) ==
        item.kinds.end()) {
      item.kinds.push_back(e->kind);
    }
    item.last_seen = std::max(item.last_seen, e->observed_at);
    item.attendee_count = std::max(item.attendee_count, e->attendee_count);
  }
  const std::size_t first = out->size();
  for (auto& [key, item] : by_meeting) out->push_back(std::move(item));
  std::stable_sort(out->begin() + static_cast<std::ptrdiff_t>(first),
                   out->end(), [](const RepairItem& a, const RepairItem& b) {
                     return a.first_seen < b.first_seen;
                   });
}

namespace {

// Event rows read per store page, and at most per list page: a fleet whose
// events need no repair is not read whole for one page.
constexpr std::size_t kEventsPerRead = 512;
constexpr std::size_t kMaxEventsPerPage = 20'000;

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    out += kDigits[u >> 4];
    out += kDigits[u & 15];
  }
  return out;
}

absl::StatusOr<std::string> Unhex(std::string_view text) {
  auto digit = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
    const int hi = digit(text[i]);
    const int lo = digit(text[i + 1]);
    if (hi < 0 || lo < 0) break;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  if (out.size() * 2 != text.size() || out.empty()) {
    return absl::InvalidArgumentError(
        "page_token: not a token the repair list gave");
  }
  return out;
}

}  // namespace

absl::StatusOr<RepairCursor> StartRepairPage(std::string_view tenant_id,
                                             std::string_view page_token,
                                             std::size_t page_size) {
  if (page_size > kMaxRepairPageSize) {
    return absl::InvalidArgumentError(StrCat(
        "page_size ", page_size, " is over the limit of ", kMaxRepairPageSize));
  }
  RepairCursor cursor;
  cursor.page_size = page_size == 0 ? kDefaultRepairPageSize : page_size;
  cursor.prefix = TenantPrefix(tenant_id);
  if (!page_token.empty()) {
    ASSIGN_OR_RETURN(cursor.after, Unhex(page_token));
    if (!cursor.after.starts_with(cursor.prefix)) {
      return absl::InvalidArgumentError(
          "page_token: a token of another tenant's repair list");
    }
  }
  return cursor;
}

std::string RepairPageToken(std::string_view last) { return Hex(last); }

absl::StatusOr<RepairPage> ReadRepairs(const LoadEventRows& load,
                                       std::string_view tenant_id,
                                       std::string_view page_token,
                                       std::size_t page_size) {
  ASSIGN_OR_RETURN(RepairCursor cursor,
                   StartRepairPage(tenant_id, page_token, page_size));
  RepairPage page;
  std::string& after = cursor.after;
  std::string from =
      after.empty() ? std::string() : after + std::string(8, '\xFF');
  std::string device;  // the key of the device whose events are in `events`
  std::vector<DetectionEvent> events;
  std::size_t read = 0;
  while (true) {
    std::vector<std::pair<std::string, std::string>> rows;
    if (absl::Status s = load(cursor.prefix, from, kEventsPerRead, &rows);
        !s.ok()) {
      return s;
    }
    for (auto& [key, value] : rows) {
      if (key.size() < 8) continue;
      const std::string_view owner = std::string_view(key).substr(
          0, key.size() - 8);  // the device key, without the event id
      if (owner != device) {
        if (!device.empty()) {
          AddRepairItems(events, &page.items);
          events.clear();
          after = device;
          if (page.items.size() >= cursor.page_size ||
              read >= kMaxEventsPerPage) {
            page.next_page_token = Hex(after);
            return page;
          }
        }
        device = std::string(owner);
      }
      DetectionEvent& e = events.emplace_back();
      if (absl::Status s = DecodeEvent(value, &e); !s.ok()) {
        return absl::DataLossError(
            StrCat("an event row cannot be read: ",
                   std::string_view(s.message().data(), s.message().size())));
      }
      ++read;
    }
    if (rows.size() < kEventsPerRead) break;
    from = rows.back().first;
  }
  if (!device.empty()) AddRepairItems(events, &page.items);
  return page;
}

}  // namespace hijackguard::detector
