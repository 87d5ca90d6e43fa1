// The detector's operations: each decodes outside the lock, then, under it,
// applies what it read to the devices (DeviceCache), the ledger and the queue
// of reordered changes (PendingChanges), judges client commands with the
// rules (detection_rules.h) and, with a store, submits what it changed.
#include "detector/traffic/traffic_detector.h"

#include <algorithm>
#include <utility>

#include "common/strings.h"
#include "common/utf8.h"
#include "detector/traffic/detection_rules.h"
#include "detector/traffic/detector_rows.h"
#include "detector/traffic/detector_state.h"
#include "detector/traffic/device_cache.h"
#include "detector/traffic/exchange_scan.h"
#include "detector/traffic/pending_changes.h"

namespace hijackguard::detector {
namespace {

using eas::CalendarItem;
using Operation = CalendarItem::Operation;

// Bounds of a device's dedup memory.
constexpr std::size_t kMaxDedupKeysPerDevice = 4096;
constexpr std::size_t kMaxMeetingsPerDevice = 4096;
// Most events one observation reports (the rest are counted in an error).
constexpr std::size_t kMaxEventsPerObservation = 256;
// Client Adds remembered per device until the server names their items.
constexpr std::size_t kMaxClientAddsPerDevice = 256;

bool HasNul(std::string_view s) {
  return s.find('\0') != std::string_view::npos;
}

ItemContext MakeContext(std::string_view tenant, std::string_view user,
                        TrackedDevice* device) {
  ItemContext ctx;
  ctx.tenant = tenant;
  ctx.mailbox = NormalizeAddress(user);
  ctx.request_user = ctx.mailbox;
  ctx.device = device;
  return ctx;
}

}  // namespace

// ---------------------------------------------------------------------------

TrafficDetector::TrafficDetector(
    std::shared_ptr<const KnownIssueCatalog> catalog, DetectorOptions options)
    : catalog_(std::move(catalog)),
      options_(std::move(options)),
      ledger_(options_.ledger),
      devices_(std::make_unique<DeviceCache>(options_.max_devices,
                                             options_.max_events_per_device)),
      pending_(std::make_unique<PendingChanges>(options_.max_pending,
                                                options_.pending_ttl)) {}

TrafficDetector::~TrafficDetector() = default;

void TrafficDetector::Observe(const ObservationView& obs, ObserveResult* out) {
  if (obs.eas_exchange != nullptr) {
    // Decoded outside the lock.
    const ScannedExchange scan =
        ScanExchange(*obs.eas_exchange, options_.reader, kMaxDeviceAddresses);
    {
      absl::MutexLock lock(&mu_);
      BeginOperation();
      ApplyExchange(obs, scan, out);
      out->ticket = Flush(out, /*cover_earlier=*/true);
    }
    TrimScanBuffers();
  } else if (obs.calendar_change != nullptr) {
    absl::MutexLock lock(&mu_);
    BeginOperation();
    ApplyCalendarChange(obs, out);
    out->ticket = Flush(out, /*cover_earlier=*/true);
  } else {
    absl::MutexLock lock(&mu_);
    BeginOperation();
    ++observations_;
    AddItemError(out, {"MISSING_OBSERVATION", "observation",
                       "neither eas_exchange nor calendar_change is set"});
  }
}

void TrafficDetector::AddItemError(ObserveResult* out, ItemError error) {
  ++item_errors_;
  out->errors.push_back(std::move(error));
}

TrackedDevice* TrafficDetector::HoldDevice(std::string_view tenant,
                                           std::string_view device_id,
                                           ObserveResult* out,
                                           std::string_view field) {
  absl::StatusOr<TrackedDevice*> device = devices_->Hold(tenant, device_id);
  if (device.ok()) {
    return *device;
  }
  if (store_ == nullptr) {  // the table is full
    AddItemError(out, {"DEVICE_TABLE_FULL", std::string(field),
                       std::string(device.status().message())});
  } else {
    NoteStoreError(device.status());
  }
  return nullptr;
}

absl::StatusOr<const TrackedDevice*> TrafficDetector::ReadDevice(
    std::string_view tenant, std::string_view device_id) const {
  // Paging in changes what memory holds, not the detector's state.
  return devices_->Find(tenant, device_id);
}

void TrafficDetector::NoteStoreError(const absl::Status& status) {
  if (store_error_.ok()) {
    store_error_ = status;
  }
}

bool TrafficDetector::HasHijackFingerprint(TrackedDevice* device) const {
  if (device->hijack_fingerprint < 0) {
    const Fingerprint fp =
        IdentifyDevice(ToFingerprintInput(device->facts), *catalog_);
    bool hijack = false;
    for (const KnownIssueMatch& m : fp.known_issues) {
      hijack |= m.issue->category == kCategoryOrganizerHijack;
    }
    device->hijack_fingerprint = hijack ? 1 : 0;
  }
  return device->hijack_fingerprint == 1;
}

// ---------------------------------------------------------------------------
// EAS exchanges (decoded by ScanExchange outside the lock).

void TrafficDetector::ApplyExchange(const ObservationView& obs,
                                    const ScannedExchange& scan,
                                    ObserveResult* out) {
  ItemContext ctx;
  if (!NoteExchange(obs, scan, &ctx, out)) {
    return;
  }
  if (scan.is_meeting_response) {
    if (scan.request_ok) {
      ApplyMeetingResponses(ctx.device, scan, obs.observed_at);
    }
    return;
  }
  if (!scan.is_sync) {
    return;
  }
  // 1. The client's commands, against what the server sent before.
  if (scan.request_ok && scan.request->is_sync) {
    ApplyClientCommands(ctx, scan, obs, out);
  }
  // 2. What the server sent back.
  if (scan.response_usable && scan.response->is_sync) {
    ApplyServerCommands(ctx, scan, obs.observed_at, out);
  }
}

bool TrafficDetector::NoteExchange(const ObservationView& obs,
                                   const ScannedExchange& scan,
                                   ItemContext* ctx, ObserveResult* out) {
  const eas::EasRequest& req = scan.parsed.request;
  recording_at_ = obs.received_at == absl::InfinitePast() ? obs.observed_at
                                                          : obs.received_at;
  ++observations_;
  item_errors_ += scan.errors.size();
  out->errors.insert(out->errors.end(), scan.errors.begin(), scan.errors.end());
  if (HasNul(req.device_id) || HasNul(req.user)) {
    AddItemError(out, {"INVALID_TARGET", "eas_exchange.target",
                       "DeviceId or User contains a NUL character"});
    return false;
  }
  if (req.device_id.empty()) {
    AddItemError(out, {"MISSING_DEVICE_ID", "eas_exchange.target",
                       "the request names no DeviceId; the exchange "
                       "cannot be attributed to a device"});
    return false;
  }
  if (req.user.empty()) {
    AddItemError(out, {"MISSING_USER", "eas_exchange.target",
                       "the request names no User; the exchange cannot "
                       "be attributed to a mailbox"});
    return false;
  }
  TrackedDevice* device =
      HoldDevice(obs.tenant_id, req.device_id, out, "eas_exchange.target");
  if (device == nullptr) {
    return false;
  }
  ++device->observations;
  device->last_active = std::max(device->last_active, obs.observed_at);
  device->seen_at = std::max(device->seen_at, recording_at_);
  NoteClient(device, req.user_agent, req.device_type, req.protocol_version);
  *ctx = MakeContext(obs.tenant_id, req.user, device);
  NoteMailbox(device, ctx->mailbox);
  if (scan.settings.found) {
    LearnAddresses(device, scan.settings);
  }
  return true;
}

void TrafficDetector::ApplyMeetingResponses(TrackedDevice* device,
                                            const ScannedExchange& scan,
                                            absl::Time at) const {
  // Only the newest ones can be remembered.
  const auto& items = scan.mr_request->items;
  const std::size_t keep = options_.max_meeting_responses;
  const std::size_t first = items.size() > keep ? items.size() - keep : 0;
  for (std::size_t i = first; i < items.size(); ++i) {
    const eas::MeetingResponseItem& r = items[i];
    if (r.collection_id.size() > MeetingLedger::kMaxIdBytes ||
        r.request_id.size() > MeetingLedger::kMaxIdBytes) {
      continue;
    }
    MeetingResponseRecord rec;
    rec.collection_id = std::string(r.collection_id);
    rec.request_id = std::string(r.request_id);
    rec.user_response = r.user_response;
    rec.at = at;
    if (auto c = scan.calendar_ids.find(r.request_id);
        c != scan.calendar_ids.end() &&
        c->second.size() <= MeetingLedger::kMaxIdBytes) {
      rec.calendar_id = std::string(c->second);
    }
    device->responses.push_back(std::move(rec));
    if (device->responses.size() > keep) {
      device->responses.erase(
          device->responses.begin(),
          device->responses.end() - static_cast<std::ptrdiff_t>(keep));
    }
  }
}

void TrafficDetector::ApplyClientCommands(ItemContext& ctx,
                                          const ScannedExchange& scan,
                                          const ObservationView& obs,
                                          ObserveResult* out) {
  TrackedDevice* device = ctx.device;
  const eas::SyncCalendarScan& rq = *scan.request;
  for (const CalendarItem& it : rq.items) {
    if (it.in_responses) {
      continue;
    }
    if (it.operation == Operation::kAdd) {
      // Remembered until the server answers with the item's id.
      if (it.has_calendar_data && !it.client_id.empty() &&
          it.client_id.size() <= MeetingLedger::kMaxIdBytes &&
          it.uid.size() <= MeetingLedger::kMaxUidBytes &&
          it.organizer_email.size() + it.organizer_name.size() <=
              MeetingLedger::kMaxOrganizerBytes) {
        ClientAddRecord add;
        add.mailbox = ctx.mailbox;
        add.collection_id = std::string(it.collection_id);
        add.client_id = std::string(it.client_id);
        add.uid = std::string(it.uid);
        add.organizer_email = std::string(it.organizer_email);
        add.organizer_name = std::string(it.organizer_name);
        add.meeting_status = it.meeting_status;
        add.attendee_count = it.attendee_count;
        device->client_adds.push_back(std::move(add));
        if (device->client_adds.size() > kMaxClientAddsPerDevice) {
          device->client_adds.erase(device->client_adds.begin());
        }
      }
      continue;
    }
    if (it.operation != Operation::kChange &&
        it.operation != Operation::kDelete) {
      continue;
    }
    ClientItem item;
    item.op = it.operation;
    item.collection_id = it.collection_id;
    item.server_id = it.server_id;
    item.uid = it.uid;
    item.organizer_email = it.organizer_email;
    item.organizer_name = it.organizer_name;
    item.subject = it.subject;
    item.meeting_status = it.meeting_status;
    item.attendee_count = it.attendee_count;
    item.has_calendar_data = it.has_calendar_data;
    item.attendee_emails_known = true;
    item.attendee_emails = rq.AttendeeEmails(it);
    item.sequence = obs.sequence;
    item.at = obs.observed_at;
    // Refused (a failing Status for it) or sent back by the server.
    item.server_refused =
        scan.server_touched.contains({it.collection_id, it.server_id});
    EvaluateClientItem(ctx, item, out);
  }
}

void TrafficDetector::ApplyServerCommands(ItemContext& ctx,
                                          const ScannedExchange& scan,
                                          absl::Time at, ObserveResult* out) {
  TrackedDevice* device = ctx.device;
  const eas::SyncCalendarScan& rs = *scan.response;
  // The ids the server gave the client's Adds.
  for (const CalendarItem& r : rs.items) {
    if (!r.in_responses || r.operation != Operation::kAdd ||
        r.client_id.empty() || r.server_id.empty() ||
        (!r.status.empty() && r.status != "1")) {
      continue;
    }
    for (auto a = device->client_adds.rbegin(); a != device->client_adds.rend();
         ++a) {
      if (a->client_id != r.client_id || a->mailbox != ctx.mailbox) {
        continue;
      }
      const std::string_view collection =
          r.collection_id.empty() ? std::string_view(a->collection_id)
                                  : r.collection_id;
      const LedgerKey key{ctx.tenant, ctx.mailbox, collection, r.server_id};
      const MeetingFacts facts{a->uid, a->organizer_email, a->organizer_name,
                               a->meeting_status, a->attendee_count};
      LedgerPut(key, facts, at, /*client_added=*/true);
      device->client_adds.erase(std::next(a).base());
      break;
    }
  }
  // The server's own commands: the state the ledger keeps.
  for (const CalendarItem& r : rs.items) {
    if (r.in_responses || r.server_id.empty()) {
      continue;
    }
    const LedgerKey key{ctx.tenant, ctx.mailbox, r.collection_id, r.server_id};
    if (r.operation == Operation::kDelete) {
      LedgerRemove(key);
      continue;
    }
    if ((r.operation != Operation::kAdd && r.operation != Operation::kChange) ||
        !r.has_calendar_data) {
      continue;
    }
    MeetingFacts facts{r.uid, r.organizer_email, r.organizer_name,
                       r.meeting_status, r.attendee_count};
    std::optional<MeetingSnapshot> old;  // `facts` may view into it
    if (r.operation == Operation::kChange) {
      // A Change carries what changed; omitted fields keep their value.
      old = LedgerFind(key, at);
      if (old) {
        if (facts.uid.empty()) facts.uid = old->uid;
        if (facts.organizer_email.empty() && facts.organizer_name.empty()) {
          facts.organizer_email = old->organizer_email;
          facts.organizer_name = old->organizer_name;
        }
        if (!facts.meeting_status) facts.meeting_status = old->meeting_status;
        if (!r.has_attendees) facts.attendee_count = old->attendee_count;
      }
    }
    const MeetingLedger::PutResult put = LedgerPut(key, facts, at);
    if (put == MeetingLedger::PutResult::kTooLarge) {
      AddItemError(
          out, {"FIELD_TOO_LONG", "eas_exchange.response_body",
                StrCat("calendar item ", r.server_id,
                       ": an id, UID or organizer is over the ledger's limits; "
                       "the item is not tracked")});
      continue;
    }
    if (put == MeetingLedger::PutResult::kInserted ||
        put == MeetingLedger::PutResult::kUpdated) {
      RunPending(ctx.tenant, ctx.mailbox, r.collection_id, r.server_id, at,
                 out);
    }
  }
}

// ---------------------------------------------------------------------------
// Parsed calendar changes.

void TrafficDetector::ApplyCalendarChange(const ObservationView& obs,
                                          ObserveResult* out) {
  const CalendarChangeView& c = *obs.calendar_change;
  recording_at_ = obs.received_at == absl::InfinitePast() ? obs.observed_at
                                                          : obs.received_at;
  ++observations_;
  auto error = [&](std::string code, std::string field,
                   std::string message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    AddItemError(out, {std::move(code), std::move(field), std::move(message)});
  };
  if (c.eas_device_id.empty()) {
    error("MISSING_DEVICE_ID", "calendar_change.eas_device_id",
          "eas_device_id is required");
    return;
  }
  if (c.user.empty()) {
    error("MISSING_USER", "calendar_change.user", "user is required");
    return;
  }
  if (c.server_id.empty()) {
    error("MISSING_SERVER_ID", "calendar_change.server_id",
          "server_id is required");
    return;
  }
  for (std::string_view v :
       {c.eas_device_id, c.user, c.collection_id, c.server_id, c.uid,
        c.organizer_email_before, c.organizer_email_after,
        c.organizer_name_before, c.organizer_name_after}) {
    if (HasNul(v)) {
      error("INVALID_ARGUMENT", "calendar_change",
            "a field contains a NUL character");
      return;
    }
  }
  Operation op;
  if (c.command == "Change") {
    op = Operation::kChange;
  } else if (c.command == "Delete") {
    op = Operation::kDelete;
  } else if (c.command == "Add") {
    op = Operation::kAdd;
  } else {
    error("INVALID_COMMAND", "calendar_change.command",
          StrCat("command must be \"Add\", \"Change\" or \"Delete\", not \"",
                 c.command, "\""));
    return;
  }
  for (const auto& status : {c.meeting_status_before, c.meeting_status_after}) {
    if (status && (*status < 0 || *status > 15)) {
      error("INVALID_MEETING_STATUS", "calendar_change.meeting_status",
            StrCat("meeting status ", *status, " is not 0..15"));
      return;
    }
  }
  TrackedDevice* device = HoldDevice(obs.tenant_id, c.eas_device_id, out,
                                     "calendar_change.eas_device_id");
  if (device == nullptr) {
    return;
  }
  ++device->observations;
  ItemContext ctx = MakeContext(obs.tenant_id, c.user, device);
  NoteMailbox(device, ctx.mailbox);
  const LedgerKey key{ctx.tenant, ctx.mailbox, c.collection_id, c.server_id};
  device->last_active = std::max(device->last_active, obs.observed_at);
  device->seen_at = std::max(device->seen_at, recording_at_);
  if (op == Operation::kAdd) {
    // The device's own new meeting: it organizes it. An item the server
    // already sent stays the server's.
    if (LedgerFind(key, obs.observed_at)) {
      return;
    }
    const auto put = LedgerPut(
        key,
        MeetingFacts{c.uid, c.organizer_email_after, c.organizer_name_after,
                     c.meeting_status_after, c.attendee_count},
        obs.observed_at, /*client_added=*/true);
    if (put == MeetingLedger::PutResult::kTooLarge) {
      error("FIELD_TOO_LONG", "calendar_change",
            "an id, UID or organizer is over the ledger's limits");
    }
    return;
  }
  const bool has_before = !c.organizer_email_before.empty() ||
                          !c.organizer_name_before.empty() ||
                          c.meeting_status_before.has_value();
  if (has_before) {
    // The MDM's record of what the server sent; the ledger keeps it.
    const auto put = LedgerPut(
        key,
        MeetingFacts{c.uid, c.organizer_email_before, c.organizer_name_before,
                     c.meeting_status_before, c.attendee_count},
        obs.observed_at);
    if (put == MeetingLedger::PutResult::kTooLarge) {
      error("FIELD_TOO_LONG", "calendar_change",
            "an id, UID or organizer is over the ledger's limits");
      return;
    }
    if (put == MeetingLedger::PutResult::kInserted ||
        put == MeetingLedger::PutResult::kUpdated) {
      RunPending(ctx.tenant, ctx.mailbox, c.collection_id, c.server_id,
                 obs.observed_at, out);
    }
  }
  ClientItem item;
  item.op = op;
  item.collection_id = c.collection_id;
  item.server_id = c.server_id;
  item.uid = c.uid;
  item.organizer_email = c.organizer_email_after;
  item.organizer_name = c.organizer_name_after;
  item.meeting_status = c.meeting_status_after;
  item.attendee_count = c.attendee_count;
  item.has_calendar_data = true;
  item.attendee_emails_known = false;
  item.sequence = obs.sequence;
  item.at = obs.observed_at;
  EvaluateClientItem(ctx, item, out);
}

// ---------------------------------------------------------------------------
// Judging client commands, and recording what they are.

void TrafficDetector::EvaluateClientItem(ItemContext& ctx,
                                         const ClientItem& item,
                                         ObserveResult* out) {
  if (!NeedsJudging(item)) {
    return;
  }
  const LedgerKey key{ctx.tenant, ctx.mailbox, item.collection_id,
                      item.server_id};
  const std::optional<MeetingSnapshot> before = LedgerFind(key, item.at);
  const TenantAliases* aliases = nullptr;
  if (!options_.aliases.empty()) {
    auto it = options_.aliases.find(std::string(ctx.tenant));
    if (it != options_.aliases.end()) {
      aliases = &it->second;
    }
  }
  const Mailbox mailbox{ctx.request_user, ctx.device, aliases};
  Judgement judgement =
      JudgeClientItem(item, before, mailbox, ctx.device->responses,
                      [&] { return HasHijackFingerprint(ctx.device); });
  for (Finding& f : judgement.findings) {
    Emit(ctx, item, f.kind, before ? &*before : nullptr,
         std::move(f.explanation), out);
  }
  if (judgement.wait_for_server) {
    RefreshPending(ctx.tenant, ctx.mailbox, item.collection_id, item.server_id);
    pending_->Add(ctx, item);
  }
}

void TrafficDetector::Emit(ItemContext& ctx, const ClientItem& item,
                           EventKind kind, const MeetingSnapshot* before,
                           std::string explanation, ObserveResult* out) {
  TrackedDevice& device = *ctx.device;
  const std::string meeting_key =
      JoinKey({ctx.mailbox, item.collection_id, item.server_id});
  AffectedState* state = nullptr;
  // Dedup memory is bounded per device: past the bound the oldest
  // meeting's state (and the weak-event keys) are forgotten, which at worst
  // reports an old event again.
  if (device.weak_reported.size() >= kMaxDedupKeysPerDevice) {
    device.weak_reported.clear();
  }
  if (before == nullptr) {
    if (!device.weak_reported.insert(StrCat(meeting_key, EventKindName(kind)))
             .second) {
      return;  // reported already
    }
  } else if (kind != EventKind::kOrganizerNameChange) {
    if (device.meetings.size() >= kMaxMeetingsPerDevice &&
        !device.meetings.contains(meeting_key)) {
      auto oldest = device.meetings.begin();
      for (auto it = device.meetings.begin(); it != device.meetings.end();
           ++it) {
        if (it->second.meeting.last_seen < oldest->second.meeting.last_seen) {
          oldest = it;
        }
      }
      device.meetings.erase(oldest);
    }
    state = &device.meetings[meeting_key];
    if (state->ledger_version != before->version) {
      state->ledger_version = before->version;
      state->reported = 0;
    }
    const std::uint32_t bit = 1u << static_cast<int>(kind);
    if ((state->reported & bit) != 0) {
      return;
    }
    state->reported |= bit;
  } else if (!device.weak_reported
                  .insert(StrCat(meeting_key, EventKindName(kind),
                                 before->version, std::string_view("\0", 1),
                                 item.organizer_name))
                  .second) {
    return;
  }
  DetectionEvent e = MakeEvent(ctx, item, kind, before, std::move(explanation),
                               options_.meeting_response_window);
  e.recorded_at = recording_at_;
  if (options_.keep_subjects) {
    e.subject = TruncateUtf8(SanitizeText(item.subject), kMaxSubjectBytes);
  }
  if (state != nullptr) {
    AffectedMeeting& m = state->meeting;
    if (m.server_id.empty()) {
      m.mailbox = ctx.mailbox;
      m.collection_id = e.collection_id;
      m.server_id = e.server_id;
      m.first_seen = item.at;
    }
    m.uid = e.uid;
    m.true_organizer_email = e.organizer_email_before;
    m.true_organizer_name = e.organizer_name_before;
    if (!item.organizer_email.empty() &&
        NormalizeAddress(item.organizer_email) !=
            NormalizeAddress(e.organizer_email_before)) {
      m.claimed_organizer_email = e.organizer_email_after;
    }
    if (std::find(m.kinds.begin(), m.kinds.end(), kind) == m.kinds.end()) {
      m.kinds.push_back(kind);
    }
    m.last_seen = std::max(m.last_seen, item.at);
    if (kind == EventKind::kOrganizerRewrite ||
        kind == EventKind::kOwnershipClaim) {
      LedgerMarkDisputed(LedgerKey{ctx.tenant, ctx.mailbox, item.collection_id,
                                   item.server_id});
    }
  }
  ++events_;
  ++events_by_kind_[static_cast<std::size_t>(e.kind)];
  // Above every id of this device's (ids key its event rows, in order):
  // with a shared store another replica may have numbered its latest ones.
  std::uint64_t newest = 0;
  for (const auto* list : {&device.confirmed, &device.events}) {
    if (!list->empty()) newest = std::max(newest, list->back().store_id);
  }
  last_event_id_ = std::max(last_event_id_, newest) + 1;
  e.store_id = last_event_id_;
  if (store_ != nullptr) {
    StoreRow& row = new_events_.emplace_back();
    row.key = EventStoreKey(device.store_key, e.store_id);
    EncodeEvent(e, &row.value);
    row.time_ms = absl::ToUnixMillis(e.recorded_at);
  }
  if (out->events.size() < kMaxEventsPerObservation) {
    out->events.push_back(e);
  } else {
    ++out->events_dropped;
  }
  auto& list = IsConfirmedHijackEvent(kind) ? device.confirmed : device.events;
  list.push_back(std::move(e));
  while (list.size() > options_.max_events_per_device) {
    list.pop_front();
    ++device.events_dropped;
  }
}

void TrafficDetector::RunPending(std::string_view tenant,
                                 std::string_view mailbox,
                                 std::string_view collection_id,
                                 std::string_view server_id,
                                 absl::Time server_at, ObserveResult* out) {
  RefreshPending(tenant, mailbox, collection_id, server_id);
  const std::vector<PendingChange> list =
      pending_->Take(tenant, mailbox, collection_id, server_id);
  for (const PendingChange& p : list) {
    if (p.at < server_at || p.at - server_at > pending_->ttl()) {
      continue;  // made before this state, or waited too long
    }
    absl::StatusOr<TrackedDevice*> device = devices_->Find(tenant, p.device_id);
    if (!device.ok()) {
      NoteStoreError(device.status());
      continue;
    }
    if (*device == nullptr) {
      continue;
    }
    devices_->MarkHeld(*device);
    ItemContext ctx;
    ctx.tenant = tenant;
    ctx.mailbox = std::string(mailbox);
    ctx.request_user = p.request_user;
    ctx.device = *device;
    ClientItem item;
    item.op = p.op;
    item.collection_id = p.collection_id;
    item.server_id = p.server_id;
    item.uid = p.uid;
    item.organizer_email = p.organizer_email;
    item.organizer_name = p.organizer_name;
    item.meeting_status = p.meeting_status;
    item.attendee_count = p.attendee_count;
    item.has_calendar_data = p.has_calendar_data;
    // The weak rule ran when the command arrived; with the server's state
    // now known, attendees are not needed.
    item.sequence = p.sequence;
    item.at = p.at;
    EvaluateClientItem(ctx, item, out);
  }
}

}  // namespace hijackguard::detector
