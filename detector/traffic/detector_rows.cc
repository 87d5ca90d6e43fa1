// Row formats of the detector's durable state. Each value starts with a
// format number so that a later version can read (and migrate) older rows;
// readers refuse a number they do not know rather than guess.
#include "detector/traffic/detector_rows.h"

#include <algorithm>

#include "common/record.h"
#include "common/strings.h"
#include "detector/traffic/detector_state.h"
#include "detector/traffic/traffic_detector.h"

namespace hijackguard::detector {
namespace {

constexpr std::uint64_t kDeviceFormat = 1;
// 1: without the subject; 2: with it (empty unless subjects are kept).
constexpr std::uint64_t kEventFormat = 2;
constexpr std::uint64_t kLedgerFormat = 1;
constexpr std::uint64_t kPendingFormat = 1;
// Bounds on counts read back, so that a damaged row cannot make a reader
// allocate without limit.
constexpr std::uint64_t kMaxListEntries = 1 << 20;

bool Count(RecordReader& r, std::string_view field, std::uint64_t* n) {
  if (!r.U64(field, n)) {
    return false;
  }
  if (*n > kMaxListEntries) {
    return r.Invalid(
        field, StrCat(*n, " entries is over the limit of ", kMaxListEntries));
  }
  return true;
}

void WriteFacts(RecordWriter& w, const CheckInFacts& f) {
  for (const std::string* s :
       {&f.tenant_id, &f.eas_device_id, &f.mdm_device_id, &f.user_principal,
        &f.primary_smtp_address, &f.user_agent, &f.device_type, &f.device_os,
        &f.device_model, &f.protocol_version, &f.inventory_product_name,
        &f.inventory_os_version, &f.inventory_build_version,
        &f.inventory_model_name}) {
    w.Bytes(*s);
  }
}

bool ReadFacts(RecordReader& r, CheckInFacts* f) {
  bool ok = true;
  for (std::string* s :
       {&f->tenant_id, &f->eas_device_id, &f->mdm_device_id, &f->user_principal,
        &f->primary_smtp_address, &f->user_agent, &f->device_type,
        &f->device_os, &f->device_model, &f->protocol_version,
        &f->inventory_product_name, &f->inventory_os_version,
        &f->inventory_build_version, &f->inventory_model_name}) {
    ok = ok && r.Bytes("facts", s);
  }
  return ok;
}

bool ReadKind(RecordReader& r, EventKind* kind) {
  int k = 0;
  if (!r.Int("kind", &k)) {
    return false;
  }
  if (k < 0 || k > static_cast<int>(EventKind::kOrganizerNameChange)) {
    return r.Invalid("kind", StrCat("event kind ", k, " is unknown"));
  }
  *kind = static_cast<EventKind>(k);
  return true;
}

}  // namespace

std::string JoinKey(std::initializer_list<std::string_view> parts) {
  std::string key;
  for (std::string_view p : parts) {
    key.append(p).push_back('\0');
  }
  return key;
}

std::string TenantPrefix(std::string_view tenant) {
  if (tenant.empty()) return {};
  const std::string key = DeviceStoreKey(tenant, "");
  return key.substr(0, key.size() - 1);  // without the empty id's length
}

std::string DeviceStoreKey(std::string_view tenant, std::string_view id) {
  std::string key;
  RecordWriter w(&key);
  w.Bytes(tenant);
  w.Bytes(id);
  return key;
}

std::string EventStoreKey(std::string_view device_key, std::uint64_t id) {
  std::string key(device_key);
  for (int shift = 56; shift >= 0; shift -= 8) {
    key.push_back(static_cast<char>((id >> shift) & 0xFF));
  }
  return key;
}

std::string EncodeLedgerKey(const LedgerKey& key) {
  std::string out;
  RecordWriter w(&out);
  w.Bytes(key.tenant);
  w.Bytes(key.mailbox);
  w.Bytes(key.collection_id);
  w.Bytes(key.server_id);
  return out;
}

absl::Status DecodeLedgerKey(std::string_view value, std::string parts[4]) {
  RecordReader r(value, "ledger key");
  if (r.Bytes("tenant", &parts[0]) && r.Bytes("mailbox", &parts[1]) &&
      r.Bytes("collection_id", &parts[2]) && r.Bytes("server_id", &parts[3]) &&
      r.End()) {
    return absl::OkStatus();
  }
  return r.status();
}

void EncodeLedgerEntry(const MeetingSnapshot& e, std::string* out) {
  RecordWriter w(out);
  w.U64(kLedgerFormat);
  w.Bytes(e.uid);
  w.Bytes(e.organizer_email);
  w.Bytes(e.organizer_name);
  w.OptInt(e.meeting_status);
  w.I64(e.attendee_count);
  w.Time(e.updated_at);
  w.U64(e.version);
  w.Bool(e.client_added);
  w.Bool(e.disputed);
}

absl::Status DecodeLedgerEntry(std::string_view value, MeetingSnapshot* e) {
  RecordReader r(value, "ledger row");
  if (!r.ExpectFormat(kLedgerFormat)) {
    return r.status();
  }
  std::uint64_t version = 0;
  if (r.Bytes("uid", &e->uid) &&
      r.Bytes("organizer_email", &e->organizer_email) &&
      r.Bytes("organizer_name", &e->organizer_name) &&
      r.OptInt("meeting_status", &e->meeting_status) &&
      r.Int("attendee_count", &e->attendee_count) &&
      r.Time("updated_at", &e->updated_at) && r.U64("version", &version) &&
      r.Bool("client_added", &e->client_added) &&
      r.Bool("disputed", &e->disputed) && r.End()) {
    e->version = static_cast<std::uint32_t>(version);
    return absl::OkStatus();
  }
  return r.status();
}

void EncodeEvent(const DetectionEvent& e, std::string* out) {
  RecordWriter w(out);
  w.U64(kEventFormat);
  w.I64(static_cast<int>(e.kind));
  for (const std::string* s :
       {&e.tenant_id, &e.eas_device_id, &e.mailbox, &e.collection_id,
        &e.server_id, &e.uid, &e.command, &e.organizer_email_before,
        &e.organizer_email_after, &e.organizer_name_before,
        &e.organizer_name_after}) {
    w.Bytes(*s);
  }
  w.OptInt(e.meeting_status_before);
  w.OptInt(e.meeting_status_after);
  w.I64(e.attendee_count);
  w.Bool(e.meeting_response_preceded);
  w.I64(absl::ToInt64Microseconds(e.meeting_response_age));
  w.OptInt(e.meeting_response);
  w.U64(e.sequence);
  w.Time(e.observed_at);
  w.Time(e.recorded_at);
  w.Bytes(e.explanation);
  w.U64(e.store_id);
  w.Bytes(e.subject);
}

absl::Status DecodeEvent(std::string_view value, DetectionEvent* e) {
  RecordReader r(value, "event row");
  std::uint64_t format = 0;
  bool ok = r.U64("format", &format);
  if (ok && (format < 1 || format > kEventFormat)) {
    ok = r.Invalid("format", StrCat("format ", format,
                                    " is not one this version reads (1 to ",
                                    kEventFormat, ")"));
  }
  ok = ok && ReadKind(r, &e->kind);
  for (std::string* s : {&e->tenant_id, &e->eas_device_id, &e->mailbox,
                         &e->collection_id, &e->server_id, &e->uid, &e->command,
                         &e->organizer_email_before, &e->organizer_email_after,
                         &e->organizer_name_before, &e->organizer_name_after}) {
    ok = ok && r.Bytes("event text", s);
  }
  std::int64_t age_us = 0;
  ok = ok && r.OptInt("meeting_status_before", &e->meeting_status_before) &&
       r.OptInt("meeting_status_after", &e->meeting_status_after) &&
       r.Int("attendee_count", &e->attendee_count) &&
       r.Bool("meeting_response_preceded", &e->meeting_response_preceded) &&
       r.I64("meeting_response_age", &age_us) &&
       r.OptInt("meeting_response", &e->meeting_response) &&
       r.U64("sequence", &e->sequence) &&
       r.Time("observed_at", &e->observed_at) &&
       r.Time("recorded_at", &e->recorded_at) &&
       r.Bytes("explanation", &e->explanation) &&
       r.U64("store_id", &e->store_id);
  if (ok && format >= 2) {
    ok = r.Bytes("subject", &e->subject);
  }
  ok = ok && r.End();
  if (!ok) {
    return r.status();
  }
  e->meeting_response_age = absl::Microseconds(age_us);
  return absl::OkStatus();
}

void EncodeDevice(const TrackedDevice& d, std::string* out,
                  bool with_activity) {
  RecordWriter w(out);
  w.U64(kDeviceFormat);
  w.Bytes(d.tenant);
  w.Bytes(d.eas_device_id);
  WriteFacts(w, d.facts);
  w.Bool(d.checked_in);
  w.U64(d.mailboxes.size());
  for (const std::string& m : d.mailboxes) {
    w.Bytes(m);
  }
  // The oldest kept event of each list (later ones are loaded with it).
  w.U64(d.confirmed.empty() ? 0 : d.confirmed.front().store_id);
  w.U64(d.events.empty() ? 0 : d.events.front().store_id);
  w.U64(d.confirmed.size());
  w.U64(d.events.size());
  w.U64(d.events_dropped);
  w.Time(with_activity ? d.last_active : absl::InfinitePast());
  w.U64(d.meetings.size());
  for (const auto& [key, state] : d.meetings) {
    const AffectedMeeting& m = state.meeting;
    w.Bytes(key);
    for (const std::string* s :
         {&m.mailbox, &m.collection_id, &m.server_id, &m.uid,
          &m.true_organizer_email, &m.true_organizer_name,
          &m.claimed_organizer_email}) {
      w.Bytes(*s);
    }
    w.U64(m.kinds.size());
    for (EventKind k : m.kinds) {
      w.I64(static_cast<int>(k));
    }
    w.Time(m.first_seen);
    w.Time(m.last_seen);
    w.U64(state.ledger_version);
    w.U64(state.reported);
  }
  w.U64(d.weak_reported.size());
  // Sorted, so that equal devices encode equally.
  std::vector<std::string_view> weak(d.weak_reported.begin(),
                                     d.weak_reported.end());
  std::sort(weak.begin(), weak.end());
  for (std::string_view s : weak) {
    w.Bytes(s);
  }
  w.U64(d.responses.size());
  for (const MeetingResponseRecord& r : d.responses) {
    w.Bytes(r.collection_id);
    w.Bytes(r.request_id);
    w.Bytes(r.calendar_id);
    w.OptInt(r.user_response);
    w.Time(r.at);
  }
  w.U64(d.client_adds.size());
  for (const ClientAddRecord& a : d.client_adds) {
    for (const std::string* s :
         {&a.mailbox, &a.collection_id, &a.client_id, &a.uid,
          &a.organizer_email, &a.organizer_name}) {
      w.Bytes(*s);
    }
    w.OptInt(a.meeting_status);
    w.I64(a.attendee_count);
  }
  w.U64(with_activity ? d.observations : 0);
  // Added after the first rows were written: rows without it have none.
  w.U64(d.addresses.size());
  for (const std::string& a : d.addresses) {
    w.Bytes(a);
  }
  // Added later still: the row's time (when the device was last heard from,
  // as written), so that a device read back is not written again before the
  // daily refresh. Activity, like `observations`.
  w.Time(with_activity ? d.seen_at : absl::InfinitePast());
}

Sha256Digest DeviceContent(const TrackedDevice& device) {
  std::string row;
  EncodeDevice(device, &row, /*with_activity=*/false);
  return Sha256(row);
}

absl::Status DecodeDevice(std::string_view value, TrackedDevice* d,
                          EventFloors* floors) {
  RecordReader r(value, "device row");
  if (!r.ExpectFormat(kDeviceFormat)) {
    return r.status();
  }
  std::uint64_t n = 0;
  bool ok = r.Bytes("tenant", &d->tenant) &&
            r.Bytes("eas_device_id", &d->eas_device_id) &&
            ReadFacts(r, &d->facts) && r.Bool("checked_in", &d->checked_in) &&
            Count(r, "mailboxes", &n);
  for (std::uint64_t i = 0; ok && i < n; ++i) {
    ok = r.Bytes("mailbox", &d->mailboxes.emplace_back());
  }
  std::uint64_t confirmed_from = 0;
  std::uint64_t events_from = 0;
  std::uint64_t confirmed_count = 0;
  std::uint64_t events_count = 0;
  ok = ok && r.U64("confirmed_from", &confirmed_from) &&
       r.U64("events_from", &events_from) &&
       r.U64("confirmed_count", &confirmed_count) &&
       r.U64("events_count", &events_count) &&
       r.U64("events_dropped", &d->events_dropped) &&
       r.Time("last_active", &d->last_active) && Count(r, "meetings", &n);
  for (std::uint64_t i = 0; ok && i < n; ++i) {
    std::string key;
    AffectedState state;
    AffectedMeeting& m = state.meeting;
    ok = r.Bytes("meeting key", &key);
    for (std::string* s : {&m.mailbox, &m.collection_id, &m.server_id, &m.uid,
                           &m.true_organizer_email, &m.true_organizer_name,
                           &m.claimed_organizer_email}) {
      ok = ok && r.Bytes("meeting text", s);
    }
    std::uint64_t kinds = 0;
    ok = ok && Count(r, "meeting kinds", &kinds);
    for (std::uint64_t k = 0; ok && k < kinds; ++k) {
      ok = ReadKind(r, &m.kinds.emplace_back());
    }
    std::uint64_t version = 0;
    std::uint64_t reported = 0;
    ok = ok && r.Time("first_seen", &m.first_seen) &&
         r.Time("last_seen", &m.last_seen) &&
         r.U64("ledger_version", &version) && r.U64("reported", &reported);
    state.ledger_version = static_cast<std::uint32_t>(version);
    state.reported = static_cast<std::uint32_t>(reported);
    if (ok) {
      d->meetings.emplace(std::move(key), std::move(state));
    }
  }
  ok = ok && Count(r, "weak_reported", &n);
  for (std::uint64_t i = 0; ok && i < n; ++i) {
    std::string s;
    ok = r.Bytes("weak_reported", &s);
    d->weak_reported.insert(std::move(s));
  }
  ok = ok && Count(r, "responses", &n);
  for (std::uint64_t i = 0; ok && i < n; ++i) {
    MeetingResponseRecord& rec = d->responses.emplace_back();
    ok = r.Bytes("response", &rec.collection_id) &&
         r.Bytes("response", &rec.request_id) &&
         r.Bytes("response", &rec.calendar_id) &&
         r.OptInt("user_response", &rec.user_response) &&
         r.Time("response at", &rec.at);
  }
  ok = ok && Count(r, "client_adds", &n);
  for (std::uint64_t i = 0; ok && i < n; ++i) {
    ClientAddRecord& a = d->client_adds.emplace_back();
    for (std::string* s : {&a.mailbox, &a.collection_id, &a.client_id, &a.uid,
                           &a.organizer_email, &a.organizer_name}) {
      ok = ok && r.Bytes("client add", s);
    }
    ok = ok && r.OptInt("client add status", &a.meeting_status) &&
         r.Int("client add attendees", &a.attendee_count);
  }
  ok = ok && r.U64("observations", &d->observations);
  if (ok && !r.AtEnd()) {
    ok = Count(r, "addresses", &n);
    for (std::uint64_t i = 0; ok && i < n; ++i) {
      ok = r.Bytes("address", &d->addresses.emplace_back());
    }
    if (d->addresses.size() > kMaxDeviceAddresses) {
      d->addresses.resize(kMaxDeviceAddresses);
    }
  }
  if (ok && !r.AtEnd()) {
    ok = r.Time("seen_at", &d->seen_at);
  }
  ok = ok && r.End();
  if (!ok) {
    return r.status();
  }
  floors->confirmed_from = confirmed_from;
  floors->events_from = events_from;
  floors->confirmed_count = confirmed_count;
  floors->events_count = events_count;
  return absl::OkStatus();
}

void EncodePending(const std::vector<PendingChange>& list, std::string* out) {
  RecordWriter w(out);
  w.U64(kPendingFormat);
  w.U64(list.size());
  for (const PendingChange& p : list) {
    for (const std::string* s :
         {&p.device_id, &p.request_user, &p.collection_id, &p.server_id, &p.uid,
          &p.organizer_email, &p.organizer_name}) {
      w.Bytes(*s);
    }
    w.I64(static_cast<int>(p.op));
    w.OptInt(p.meeting_status);
    w.I64(p.attendee_count);
    w.Bool(p.has_calendar_data);
    w.U64(p.sequence);
    w.Time(p.at);
  }
}

absl::Status DecodePending(std::string_view value,
                           std::vector<PendingChange>* list) {
  RecordReader r(value, "pending row");
  if (!r.ExpectFormat(kPendingFormat)) {
    return r.status();
  }
  std::uint64_t n = 0;
  bool ok = Count(r, "pending", &n);
  for (std::uint64_t i = 0; ok && i < n; ++i) {
    PendingChange& p = list->emplace_back();
    for (std::string* s :
         {&p.device_id, &p.request_user, &p.collection_id, &p.server_id, &p.uid,
          &p.organizer_email, &p.organizer_name}) {
      ok = ok && r.Bytes("pending text", s);
    }
    int op = 0;
    ok = ok && r.Int("op", &op) &&
         r.OptInt("meeting_status", &p.meeting_status) &&
         r.Int("attendee_count", &p.attendee_count) &&
         r.Bool("has_calendar_data", &p.has_calendar_data) &&
         r.U64("sequence", &p.sequence) && r.Time("at", &p.at);
    if (ok && (op < 0 || op > 3)) {
      ok = r.Invalid("op", StrCat("operation ", op, " is unknown"));
    }
    p.op = static_cast<eas::CalendarItem::Operation>(op);
  }
  if (!(ok && r.End())) {
    return r.status();
  }
  return absl::OkStatus();
}

}  // namespace hijackguard::detector
