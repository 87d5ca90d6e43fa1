#include "detector/traffic/traffic_detector.h"

#include <algorithm>
#include <deque>
#include <span>

#include "absl/container/flat_hash_set.h"
#include "common/record.h"
#include "common/strings.h"
#include "detector/eas/meeting_response.h"
#include "detector/eas/request.h"
#include "detector/eas/settings.h"
#include "detector/eas/sync_calendar.h"
#include "detector/traffic/detector_rows.h"
#include "detector/traffic/detector_state.h"

namespace hijackguard::detector {
namespace {

using eas::CalendarItem;
using Operation = CalendarItem::Operation;

// MeetingStatus bits (activesync.md §3.2): bit 1 = received from someone
// else, bit 2 = cancelled.
bool IsReceived(int status) { return (status & 2) != 0; }
bool IsCancelled(int status) { return (status & 4) != 0; }
bool IsOrganizerMeeting(int status) {
  return status == 1 || status == 5 || status == 9 || status == 13;
}
bool IsReceivedMeeting(int status) {
  return status == 3 || status == 7 || status == 11 || status == 15;
}

std::string JoinKey(std::initializer_list<std::string_view> parts) {
  std::string key;
  for (std::string_view p : parts) {
    key.append(p).push_back('\0');
  }
  return key;
}

// Store keys are length-prefixed (prefix-free): an event key is its device's
// key followed by the event id, big-endian, so a device's events are one key
// range in id order.
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

bool SameFacts(const CheckInFacts& a, const CheckInFacts& b) {
  return a.tenant_id == b.tenant_id && a.eas_device_id == b.eas_device_id &&
         a.mdm_device_id == b.mdm_device_id &&
         a.user_principal == b.user_principal &&
         a.primary_smtp_address == b.primary_smtp_address &&
         a.user_agent == b.user_agent && a.device_type == b.device_type &&
         a.device_os == b.device_os && a.device_model == b.device_model &&
         a.protocol_version == b.protocol_version &&
         a.inventory_product_name == b.inventory_product_name &&
         a.inventory_os_version == b.inventory_os_version &&
         a.inventory_build_version == b.inventory_build_version &&
         a.inventory_model_name == b.inventory_model_name;
}

std::string_view OperationName(Operation op) {
  switch (op) {
    case Operation::kAdd:
      return "Add";
    case Operation::kChange:
      return "Change";
    case Operation::kDelete:
      return "Delete";
    case Operation::kFetch:
      return "Fetch";
  }
  return "";
}

std::string WbxmlError(std::string_view body_name,
                       const std::vector<wbxml::Issue>& issues) {
  const wbxml::Issue& first = issues.front();
  return StrCat(body_name,
                " does not decode: ", wbxml::IssueCodeName(first.code),
                " at byte ", first.offset, ": ", first.message);
}

// Bounds of a device's dedup memory.
constexpr std::size_t kMaxDedupKeysPerDevice = 4096;
constexpr std::size_t kMaxMeetingsPerDevice = 4096;
// Most events one observation reports (the rest are counted in an error).
constexpr std::size_t kMaxEventsPerObservation = 256;
// Devices looked at to pick one to forget when the table is full.
constexpr int kEvictionSample = 32;
// Scan buffers larger than this are released after use.
constexpr std::size_t kMaxKeptScanItems = 4096;

// Per-thread scan buffers: decoding allocates nothing once warm.
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

// Releases what an unusually large body left in the buffers.
void TrimScratch(Scratch& scratch) {
  if (scratch.request.items.capacity() > kMaxKeptScanItems ||
      scratch.response.items.capacity() > kMaxKeptScanItems ||
      scratch.request.attendee_emails.capacity() > kMaxKeptScanItems ||
      scratch.response.attendee_emails.capacity() > kMaxKeptScanItems ||
      scratch.mr_request.items.capacity() > kMaxKeptScanItems ||
      scratch.mr_response.items.capacity() > kMaxKeptScanItems) {
    scratch = Scratch();
  }
}

// Mailboxes remembered per device (for GetDeviceRisk).
constexpr std::size_t kMaxMailboxesPerDevice = 16;

bool HasNul(std::string_view s) {
  return s.find('\0') != std::string_view::npos;
}

}  // namespace

std::string_view EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kOrganizerRewrite:
      return "ORGANIZER_REWRITE";
    case EventKind::kOwnershipClaim:
      return "OWNERSHIP_CLAIM";
    case EventKind::kAttendeeCancel:
      return "ATTENDEE_CANCEL";
    case EventKind::kSuspectedSelfOrganizer:
      return "SUSPECTED_SELF_ORGANIZER";
    case EventKind::kOrganizerNameChange:
      return "ORGANIZER_NAME_CHANGE";
  }
  return "";
}

bool IsConfirmedHijackEvent(EventKind kind) {
  return kind == EventKind::kOrganizerRewrite ||
         kind == EventKind::kOwnershipClaim ||
         kind == EventKind::kAttendeeCancel;
}

FingerprintInput ToFingerprintInput(const CheckInFacts& f) {
  FingerprintInput in;
  in.user_agent = f.user_agent;
  in.device_type = f.device_type;
  in.device_os = f.device_os;
  in.device_model = f.device_model;
  in.protocol_version = f.protocol_version;
  in.inventory_product_name = f.inventory_product_name;
  in.inventory_os_version = f.inventory_os_version;
  in.inventory_build_version = f.inventory_build_version;
  in.inventory_model_name = f.inventory_model_name;
  return in;
}

std::string NormalizeAddress(std::string_view address) {
  while (!address.empty() &&
         (address.front() == ' ' || address.front() == '\t' ||
          address.front() == '\r' || address.front() == '\n')) {
    address.remove_prefix(1);
  }
  while (!address.empty() &&
         (address.back() == ' ' || address.back() == '\t' ||
          address.back() == '\r' || address.back() == '\n')) {
    address.remove_suffix(1);
  }
  if (address.size() >= 5 && (address[0] | 0x20) == 's' &&
      (address[1] | 0x20) == 'm' && (address[2] | 0x20) == 't' &&
      (address[3] | 0x20) == 'p' && address[4] == ':') {
    address.remove_prefix(5);
  }
  std::string out(address);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Bookkeeping types.

struct TrafficDetector::ClientItem {
  Operation op = Operation::kChange;
  std::string_view collection_id;
  std::string_view server_id;
  std::string_view uid;
  std::string_view organizer_email;
  std::string_view organizer_name;
  std::optional<int> meeting_status;
  int attendee_count = 0;
  bool has_calendar_data = false;
  bool attendee_emails_known = false;
  std::span<const std::string_view> attendee_emails;
  bool server_refused = false;  // the same exchange's response undid it
  std::uint64_t sequence = 0;
  absl::Time at;
};

struct TrafficDetector::Context {
  std::string_view tenant;
  std::string mailbox;       // normalized request User
  std::string request_user;  // normalized, as an address
  Device* device = nullptr;
};

// ---------------------------------------------------------------------------

TrafficDetector::TrafficDetector(
    std::shared_ptr<const KnownIssueCatalog> catalog, DetectorOptions options)
    : catalog_(std::move(catalog)),
      options_(std::move(options)),
      ledger_(options_.ledger) {}

TrafficDetector::~TrafficDetector() = default;

// Submits what the locked operation changed when it ends (destroyed before
// the lock guard declared ahead of it).
class TrafficDetector::FlushOnExit {
 public:
  FlushOnExit(TrafficDetector* detector, ObserveResult* out)
      : detector_(detector), out_(out) {}
  ~FlushOnExit() {
    out_->ticket = detector_->Flush(out_, /*cover_earlier=*/true);
  }
  FlushOnExit(const FlushOnExit&) = delete;
  FlushOnExit& operator=(const FlushOnExit&) = delete;

 private:
  TrafficDetector* detector_;
  ObserveResult* out_;
};

void TrafficDetector::Observe(const ObservationView& obs, ObserveResult* out) {
  if (obs.eas_exchange != nullptr) {
    ObserveExchange(obs, out);
    TrimScratch(ThreadScratch());
  } else if (obs.calendar_change != nullptr) {
    ObserveCalendarChange(obs, out);
  } else {
    std::lock_guard<std::mutex> lock(mu_);
    ++observations_;
    ++item_errors_;
    out->errors.push_back({"MISSING_OBSERVATION", "observation",
                           "neither eas_exchange nor calendar_change is set"});
  }
}

TrafficDetector::Device* TrafficDetector::FindOrAddDevice(
    std::string_view tenant, std::string_view device_id, ObserveResult* out,
    std::string_view field) {
  std::string key = JoinKey({tenant, device_id});
  auto it = devices_.find(key);
  if (it != devices_.end()) {
    LruTouch(it->second.get());
    if (store_ != nullptr) {
      dirty_devices_.insert(it->second.get());
    }
    return it->second.get();
  }
  if (store_ != nullptr) {
    bool failed = false;
    Device* paged = PageInDevice(tenant, device_id, &failed);
    if (failed) {
      return nullptr;  // never replace a row that could not be read
    }
    if (paged != nullptr) {
      dirty_devices_.insert(paged);
      return paged;
    }
  } else {
    if (devices_.size() >= options_.max_devices) {
      EvictIdleDevice();
    }
    if (devices_.size() >= options_.max_devices) {
      out->errors.push_back(
          {"DEVICE_TABLE_FULL", std::string(field),
           StrCat("the detector tracks ", devices_.size(),
                  " devices already (max_devices); this device is not "
                  "tracked")});
      ++item_errors_;
      return nullptr;
    }
  }
  auto device = std::make_unique<Device>();
  device->tenant = std::string(tenant);
  device->eas_device_id = std::string(device_id);
  device->facts.tenant_id = device->tenant;
  device->facts.eas_device_id = device->eas_device_id;
  Device* raw = device.get();
  devices_.emplace(std::move(key), std::move(device));
  LruPushFront(raw);
  if (store_ != nullptr) {
    raw->store_key = DeviceStoreKey(tenant, device_id);
    dirty_devices_.insert(raw);
  }
  return raw;
}

TrafficDetector::Device* TrafficDetector::PageInDevice(
    std::string_view tenant, std::string_view device_id, bool* failed) {
  *failed = false;
  std::string store_key = DeviceStoreKey(tenant, device_id);
  auto row = store_->LoadDevice(store_key);
  if (!row.ok()) {
    *failed = true;
    NoteStoreError(row.status());
    return nullptr;
  }
  if (!row->has_value()) {
    return nullptr;
  }
  auto device = std::make_unique<Device>();
  EventFloors floors;
  absl::Status status = DecodeDevice(**row, device.get(), &floors);
  const std::uint64_t from =
      floors.confirmed_from == 0 ? floors.events_from
      : floors.events_from == 0
          ? floors.confirmed_from
          : std::min(floors.confirmed_from, floors.events_from);
  std::vector<std::string> values;
  if (status.ok() && from != 0) {
    status =
        store_->LoadEvents(store_key, EventStoreKey(store_key, from), &values);
  }
  for (std::size_t i = 0; status.ok() && i < values.size(); ++i) {
    DetectionEvent e;
    status = DecodeEvent(values[i], &e);
    if (!status.ok()) {
      break;
    }
    const bool confirmed = IsConfirmedHijackEvent(e.kind);
    const std::uint64_t floor =
        confirmed ? floors.confirmed_from : floors.events_from;
    if (floor == 0 || e.store_id < floor) {
      continue;
    }
    auto& list = confirmed ? device->confirmed : device->events;
    list.push_back(std::move(e));
    if (list.size() > options_.max_events_per_device) {
      list.pop_front();
    }
  }
  if (!status.ok()) {
    *failed = true;
    NoteStoreError(absl::Status(status.code(),
                                StrCat("device ", tenant, "/", device_id,
                                       " cannot be read from the state store: ",
                                       std::string(status.message()))));
    return nullptr;
  }
  // Make room; never for a device the running operation holds (it is dirty).
  TrimDevices(options_.max_devices > 0 ? options_.max_devices - 1 : 0);
  device->store_key = std::move(store_key);
  device->content = DeviceContent(*device);
  device->stored = true;  // row_seen_at stays unknown: the next write is due
  Device* raw = device.get();
  if (!raw->facts.mdm_device_id.empty()) {
    mdm_index_[JoinKey({tenant, raw->facts.mdm_device_id})] =
        raw->eas_device_id;
  }
  devices_.emplace(JoinKey({tenant, device_id}), std::move(device));
  LruPushFront(raw);
  return raw;
}

std::optional<std::string> TrafficDetector::MdmLookup(
    std::string_view tenant, std::string_view mdm_device_id) {
  auto it = mdm_index_.find(JoinKey({tenant, mdm_device_id}));
  if (it != mdm_index_.end()) {
    return it->second;
  }
  if (store_ == nullptr) {
    return std::nullopt;
  }
  auto key = store_->FindDeviceByIndex(DeviceStoreKey(tenant, mdm_device_id));
  if (!key.ok()) {
    NoteStoreError(key.status());
    return std::nullopt;
  }
  if (!key->has_value()) {
    return std::nullopt;
  }
  RecordReader r(**key, "device key");
  std::string row_tenant;
  std::string device_id;
  if (!r.Bytes("tenant", &row_tenant) || !r.Bytes("device id", &device_id) ||
      !r.End()) {
    NoteStoreError(r.status());
    return std::nullopt;
  }
  return device_id;
}

void TrafficDetector::NoteStoreError(const absl::Status& status) {
  if (store_error_.ok()) {
    store_error_ = status;
  }
}

void TrafficDetector::PageInLedger(const LedgerKey& key) {
  if (store_ == nullptr || ledger_.Contains(key)) {
    return;
  }
  auto row = store_->LoadLedgerEntry(EncodeLedgerKey(key));
  if (!row.ok()) {
    NoteStoreError(row.status());
    return;
  }
  if (!row->has_value()) {
    return;
  }
  MeetingSnapshot entry;
  if (absl::Status s = DecodeLedgerEntry(**row, &entry); !s.ok()) {
    NoteStoreError(s);
    return;
  }
  ledger_.Restore(key, entry);
}

std::optional<MeetingSnapshot> TrafficDetector::LedgerFind(const LedgerKey& key,
                                                           absl::Time now) {
  PageInLedger(key);
  return ledger_.Find(key, now);
}

MeetingLedger::PutResult TrafficDetector::LedgerPut(const LedgerKey& key,
                                                    const MeetingFacts& facts,
                                                    absl::Time at,
                                                    bool client_added) {
  PageInLedger(key);
  const MeetingLedger::PutResult put =
      ledger_.Put(key, facts, at, client_added);
  if (store_ != nullptr && put != MeetingLedger::PutResult::kStale &&
      put != MeetingLedger::PutResult::kTooLarge) {
    NoteLedger(key, false);
  }
  return put;
}

void TrafficDetector::LedgerRemove(const LedgerKey& key) {
  PageInLedger(key);
  if (ledger_.Remove(key) && store_ != nullptr) {
    NoteLedger(key, true);
  }
}

void TrafficDetector::LedgerMarkDisputed(const LedgerKey& key) {
  PageInLedger(key);
  if (ledger_.MarkDisputed(key) && store_ != nullptr) {
    NoteLedger(key, false);
  }
}

void TrafficDetector::NoteLedger(const LedgerKey& key, bool removed) {
  StoreRow row;
  row.key = EncodeLedgerKey(key);
  if (auto entry = ledger_.Get(key); entry && !removed) {
    EncodeLedgerEntry(*entry, &row.value);
    row.time_ms = absl::ToUnixMillis(entry->updated_at);
  } else if (removed) {
    row.erase = true;
  } else {
    return;  // a ledger that keeps nothing in memory
  }
  std::string key_copy = row.key;
  dirty_ledger_.insert_or_assign(std::move(key_copy), std::move(row));
}

StoreTicket TrafficDetector::Flush(ObserveResult* out, bool cover_earlier) {
  if (store_ == nullptr) {
    return 0;
  }
  if (!store_error_.ok()) {
    ++item_errors_;
    if (out != nullptr) {
      out->errors.push_back(
          {"STATE_UNAVAILABLE", "", std::string(store_error_.message())});
    }
    store_error_ = absl::OkStatus();
    // Part of what the operation built on could not be read: submit none of
    // it, and drop what it touched from memory, so that the cache never
    // holds what the store does not (it is read again when next needed).
    for (Device* d : dirty_devices_) {
      ForgetDevice(d);
    }
    for (const auto& [key, row] : dirty_ledger_) {
      std::string parts[4];
      if (DecodeLedgerKey(key, parts).ok()) {
        ledger_.Remove(LedgerKey{parts[0], parts[1], parts[2], parts[3]});
      }
    }
    dirty_devices_.clear();
    dirty_ledger_.clear();
    dirty_pending_.clear();
    new_events_.clear();
    return 0;
  }
  DetectorChanges changes;
  changes.devices.reserve(dirty_devices_.size());
  for (Device* d : dirty_devices_) {
    const Sha256Digest content = DeviceContent(*d);
    // The row's time is rewritten at least daily, so that retention never
    // prunes the row of a device in use.
    if (d->stored && content == d->content &&
        d->row_seen_at != absl::InfinitePast() &&
        d->seen_at - d->row_seen_at < kRowRefresh) {
      // Only its activity changed: nothing to wait for.
      d->activity_unwritten = true;
      unwritten_activity_.insert(d);
      continue;
    }
    d->content = content;
    AppendDeviceRow(d, &changes.devices);
    unwritten_activity_.erase(d);
  }
  dirty_devices_.clear();
  changes.ledger.reserve(dirty_ledger_.size());
  for (auto& [key, row] : dirty_ledger_) {
    changes.ledger.push_back(std::move(row));
  }
  dirty_ledger_.clear();
  for (const std::string& key : dirty_pending_) {
    StoreRow& row = changes.pending.emplace_back();
    row.key = key;
    auto it = pending_.find(key);
    if (it == pending_.end() || it->second.empty()) {
      row.erase = true;
    } else {
      EncodePending(it->second, &row.value);
    }
  }
  dirty_pending_.clear();
  changes.events = std::move(new_events_);
  new_events_.clear();
  changes.ledger_version = ledger_.last_version();
  changes.event_id = last_event_id_;
  // Everything in memory has been submitted: trim the cache.
  TrimDevices(options_.max_devices);
  StoreTicket ticket = 0;
  if (!changes.empty()) {
    ticket = SubmitChanges(std::move(changes));
  }
  // An observation reported again (a retry) changes nothing; its
  // acknowledgement must still cover the first report's commit, which may
  // not be durable yet: it waits for whatever the detector submitted before.
  return cover_earlier ? last_ticket_ : ticket;
}

StoreTicket TrafficDetector::SubmitChanges(DetectorChanges changes) {
  changes.ledger_version = ledger_.last_version();
  changes.event_id = last_event_id_;
  last_ticket_ = std::max(last_ticket_, store_->Submit(std::move(changes)));
  return last_ticket_;
}

Sha256Digest TrafficDetector::DeviceContent(const Device& device) {
  std::string row;
  EncodeDevice(device, &row, /*with_activity=*/false);
  return Sha256(row);
}

void TrafficDetector::AppendDeviceRow(Device* d, std::vector<StoreRow>* rows) {
  StoreRow& row = rows->emplace_back();
  row.key = d->store_key;
  EncodeDevice(*d, &row.value);
  // 0: the store stamps the row with its commit time.
  row.time_ms =
      d->seen_at == absl::InfinitePast() ? 0 : absl::ToUnixMillis(d->seen_at);
  if (!d->facts.mdm_device_id.empty()) {
    row.index = DeviceStoreKey(d->tenant, d->facts.mdm_device_id);
  }
  d->stored = true;
  d->row_seen_at = d->seen_at;
  d->activity_unwritten = false;
}

StoreTicket TrafficDetector::WriteActivity() {
  // In slices, the lock released between them: a large fleet's activity
  // must not stall observations and check-ins for one long encoding.
  constexpr std::size_t kSlice = 1024;
  StoreTicket ticket = 0;
  while (true) {
    std::lock_guard<std::mutex> lock(mu_);
    if (store_ == nullptr || unwritten_activity_.empty()) {
      return ticket;
    }
    DetectorChanges changes;
    changes.devices.reserve(std::min(kSlice, unwritten_activity_.size()));
    while (!unwritten_activity_.empty() && changes.devices.size() < kSlice) {
      auto it = unwritten_activity_.begin();
      AppendDeviceRow(*it, &changes.devices);
      unwritten_activity_.erase(it);
    }
    ticket = SubmitChanges(std::move(changes));
  }
}

absl::Status TrafficDetector::AttachStore(DetectorStore* store) {
  std::lock_guard<std::mutex> lock(mu_);
  if (store_ != nullptr) {
    return absl::FailedPreconditionError("the detector has a store already");
  }
  auto counters = store->LoadCounters();
  if (!counters.ok()) {
    return counters.status();
  }
  std::vector<std::pair<std::string, std::string>> rows;
  if (absl::Status s = store->LoadAllPending(&rows); !s.ok()) {
    return s;
  }
  for (const auto& [key, value] : rows) {
    std::vector<Pending> list;
    if (absl::Status s = DecodePending(value, &list); !s.ok()) {
      return s;
    }
    pending_count_ += list.size();
    pending_[key] = std::move(list);
  }
  last_event_id_ = std::max(last_event_id_, counters->event_id);
  ledger_.SeedVersion(static_cast<std::uint32_t>(
      std::min<std::uint64_t>(counters->ledger_version, 0xFFFFFFFFu)));
  store_ = store;
  return absl::OkStatus();
}

void TrafficDetector::NoteMailbox(Device* device, const std::string& mailbox) {
  if (device->mailboxes.size() < kMaxMailboxesPerDevice &&
      std::find(device->mailboxes.begin(), device->mailboxes.end(), mailbox) ==
          device->mailboxes.end()) {
    device->mailboxes.push_back(mailbox);
  }
}

void TrafficDetector::EvictIdleDevice() {
  // The least recently used device that may go, looking at most
  // kEvictionSample from the cold end. Without a store a device with
  // confirmed events stays (it is what quarantines); with one, only the
  // devices the running operation holds stay.
  Device* victim = nullptr;
  int looked = 0;
  for (Device* d = lru_tail_; d != nullptr && looked < kEvictionSample;
       d = d->lru_prev, ++looked) {
    if (store_ != nullptr ? !dirty_devices_.contains(d)
                          : d->confirmed.empty()) {
      victim = d;
      break;
    }
  }
  if (victim == nullptr) {
    return;
  }
  if (victim->activity_unwritten) {
    // Its row leaves memory: what only it knows goes to the store first
    // (nobody waits for it).
    DetectorChanges changes;
    AppendDeviceRow(victim, &changes.devices);
    SubmitChanges(std::move(changes));
  }
  ForgetDevice(victim);
  ++devices_evicted_;
}

void TrafficDetector::TrimDevices(std::size_t limit) {
  while (devices_.size() > limit) {
    const std::size_t before = devices_.size();
    EvictIdleDevice();
    if (devices_.size() == before) {
      return;  // none may go now
    }
  }
}

void TrafficDetector::ForgetDevice(Device* d) {
  if (!d->facts.mdm_device_id.empty()) {
    auto m = mdm_index_.find(JoinKey({d->tenant, d->facts.mdm_device_id}));
    if (m != mdm_index_.end() && m->second == d->eas_device_id) {
      mdm_index_.erase(m);
    }
  }
  unwritten_activity_.erase(d);
  LruUnlink(d);
  devices_.erase(JoinKey({d->tenant, d->eas_device_id}));
}

void TrafficDetector::LruPushFront(Device* d) {
  d->lru_prev = nullptr;
  d->lru_next = lru_head_;
  if (lru_head_ != nullptr) {
    lru_head_->lru_prev = d;
  }
  lru_head_ = d;
  if (lru_tail_ == nullptr) {
    lru_tail_ = d;
  }
}

void TrafficDetector::LruUnlink(Device* d) {
  (d->lru_prev != nullptr ? d->lru_prev->lru_next : lru_head_) = d->lru_next;
  (d->lru_next != nullptr ? d->lru_next->lru_prev : lru_tail_) = d->lru_prev;
  d->lru_prev = nullptr;
  d->lru_next = nullptr;
}

void TrafficDetector::LruTouch(Device* d) {
  if (d != lru_head_) {
    LruUnlink(d);
    LruPushFront(d);
  }
}

const TrafficDetector::Device* TrafficDetector::FindDevice(
    std::string_view tenant, std::string_view device_id) const {
  auto it = devices_.find(JoinKey({tenant, device_id}));
  if (it != devices_.end()) {
    // The use order is bookkeeping of the cache, not state.
    const_cast<TrafficDetector*>(this)->LruTouch(it->second.get());
    return it->second.get();
  }
  if (store_ == nullptr) {
    return nullptr;
  }
  // Memory is a cache of the store: paging in does not change the state.
  auto* self = const_cast<TrafficDetector*>(this);
  bool failed = false;
  const Device* device = self->PageInDevice(tenant, device_id, &failed);
  if (failed && read_error_.ok()) {
    read_error_ = self->store_error_;  // for the reader to report
  }
  self->store_error_ = absl::OkStatus();
  return device;
}

bool TrafficDetector::IsOwner(const Context& ctx,
                              std::string_view normalized) const {
  if (normalized.empty()) {
    return false;
  }
  std::string owners[3] = {ctx.request_user, {}, {}};
  if (ctx.device != nullptr) {
    owners[1] = NormalizeAddress(ctx.device->facts.user_principal);
    owners[2] = NormalizeAddress(ctx.device->facts.primary_smtp_address);
    // What the server said the mailbox's addresses are (Settings).
    for (const std::string& a : ctx.device->addresses) {
      if (a == normalized) return true;
    }
  }
  for (const std::string& owner : owners) {
    if (!owner.empty() && owner == normalized) {
      return true;
    }
  }
  auto tenant = options_.aliases.find(std::string(ctx.tenant));
  if (tenant == options_.aliases.end()) {
    return false;
  }
  for (const auto& [address, aliases] : tenant->second) {
    const std::string a = NormalizeAddress(address);
    bool is_owner_address = false;
    bool names_candidate = a == normalized;
    for (const std::string& owner : owners) {
      is_owner_address |= !owner.empty() && owner == a;
    }
    for (const std::string& alias : aliases) {
      const std::string n = NormalizeAddress(alias);
      names_candidate |= n == normalized;
      for (const std::string& owner : owners) {
        is_owner_address |= !owner.empty() && owner == n;
      }
    }
    if (is_owner_address && names_candidate) {
      return true;
    }
  }
  return false;
}

bool TrafficDetector::HasHijackFingerprint(Device* device) {
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
// EAS exchanges.

void TrafficDetector::ObserveExchange(const ObservationView& obs,
                                      ObserveResult* out) {
  const EasExchangeView& ex = *obs.eas_exchange;
  std::vector<eas::Header> headers;
  headers.reserve(ex.headers.size());
  for (const auto& [name, value] : ex.headers) {
    headers.emplace_back(name, value);
  }
  const eas::ParsedRequest parsed = eas::ParseEasRequest(
      ex.target, headers, ex.method.empty() ? "POST" : ex.method);
  const eas::EasRequest& req = parsed.request;

  // Decode outside the lock.
  Scratch& scratch = ThreadScratch();
  std::vector<ItemError> errors;
  for (const eas::RequestIssue& issue : parsed.issues) {
    errors.push_back(
        {"INVALID_TARGET",
         issue.where == "target" || issue.where == "base64 query"
             ? "eas_exchange.target"
             : "eas_exchange.headers",
         StrCat(eas::RequestIssueCodeName(issue.code), " in ", issue.where,
                " at byte ", issue.position, ": ", issue.message)});
  }
  const bool is_sync = req.command == eas::Command::kSync;
  const bool is_mr = req.command == eas::Command::kMeetingResponse;
  const bool response_ok =
      ex.response_status == 0 ||
      (ex.response_status >= 200 && ex.response_status < 300);
  // Scans one body into the scan of its command; false (with an item error)
  // when it does not decode.
  auto scan = [&](std::string_view body, eas::SyncCalendarScan* sync,
                  eas::MeetingResponseScan* mr, const char* name) {
    if (is_sync) {
      eas::ScanSyncCalendar(body, sync, options_.reader);
    } else {
      eas::ScanMeetingResponse(body, mr, options_.reader);
    }
    const auto& issues = is_sync ? sync->issues : mr->issues;
    if (issues.empty()) {
      return true;
    }
    errors.push_back(
        {"UNDECODABLE_BODY", StrCat("eas_exchange.", name),
         StrCat(WbxmlError(name, issues), "; the ", name, " is ignored")});
    return false;
  };
  const bool request_ok = (is_sync || is_mr) && !ex.request_body.empty() &&
                          scan(ex.request_body, &scratch.request,
                               &scratch.mr_request, "request_body");
  const bool response_usable = (is_sync || is_mr) &&
                               !ex.response_body.empty() && response_ok &&
                               scan(ex.response_body, &scratch.response,
                                    &scratch.mr_response, "response_body");

  // The mailbox's addresses, from a Settings answer (UserInformation).
  eas::MailboxAddresses settings;
  if (req.command == eas::Command::kSettings && response_ok &&
      !ex.response_body.empty()) {
    settings = eas::ReadMailboxAddresses(ex.response_body, kMaxDeviceAddresses,
                                         options_.reader);
  }

  // Which items the server refused or sent back, by (collection, server id):
  // built before the lock, so matching stays linear.
  absl::flat_hash_set<std::pair<std::string_view, std::string_view>>
      server_touched;
  if (is_sync && response_usable && scratch.response.is_sync) {
    for (const CalendarItem& r : scratch.response.items) {
      if ((r.in_responses && r.status != "1" && !r.status.empty()) ||
          (!r.in_responses && (r.operation == Operation::kAdd ||
                               r.operation == Operation::kChange))) {
        server_touched.emplace(r.collection_id, r.server_id);
      }
    }
  }
  // MeetingResponse results by request id.
  absl::flat_hash_map<std::string_view, std::string_view> calendar_ids;
  if (is_mr && response_usable) {
    for (const eas::MeetingResponseItem& r : scratch.mr_response.items) {
      calendar_ids[r.request_id] = r.calendar_id;
    }
  }

  std::lock_guard<std::mutex> lock(mu_);
  FlushOnExit flush(this, out);
  recording_at_ = obs.received_at == absl::InfinitePast() ? obs.observed_at
                                                          : obs.received_at;
  ++observations_;
  item_errors_ += errors.size();
  for (ItemError& e : errors) {
    out->errors.push_back(std::move(e));
  }
  if (HasNul(req.device_id) || HasNul(req.user)) {
    ++item_errors_;
    out->errors.push_back({"INVALID_TARGET", "eas_exchange.target",
                           "DeviceId or User contains a NUL character"});
    return;
  }
  if (req.device_id.empty()) {
    ++item_errors_;
    out->errors.push_back({"MISSING_DEVICE_ID", "eas_exchange.target",
                           "the request names no DeviceId; the exchange "
                           "cannot be attributed to a device"});
    return;
  }
  if (req.user.empty()) {
    ++item_errors_;
    out->errors.push_back({"MISSING_USER", "eas_exchange.target",
                           "the request names no User; the exchange cannot "
                           "be attributed to a mailbox"});
    return;
  }
  Device* device =
      FindOrAddDevice(obs.tenant_id, req.device_id, out, "eas_exchange.target");
  if (device == nullptr) {
    return;
  }
  ++device->observations;
  device->last_active = std::max(device->last_active, obs.observed_at);
  device->seen_at = std::max(device->seen_at, recording_at_);
  NoteClient(device, req.user_agent, req.device_type, req.protocol_version);
  Context ctx;
  ctx.tenant = obs.tenant_id;
  ctx.mailbox = NormalizeAddress(req.user);
  ctx.request_user = ctx.mailbox;
  ctx.device = device;
  NoteMailbox(device, ctx.mailbox);
  if (settings.found) {
    LearnAddresses(device, settings);
  }

  if (is_mr) {
    if (!request_ok) {
      return;
    }
    // Only the newest ones can be remembered.
    const auto& items = scratch.mr_request.items;
    const std::size_t first =
        items.size() > options_.max_meeting_responses
            ? items.size() - options_.max_meeting_responses
            : 0;
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
      rec.at = obs.observed_at;
      if (auto c = calendar_ids.find(r.request_id);
          c != calendar_ids.end() &&
          c->second.size() <= MeetingLedger::kMaxIdBytes) {
        rec.calendar_id = std::string(c->second);
      }
      device->responses.push_back(std::move(rec));
      if (device->responses.size() > options_.max_meeting_responses) {
        device->responses.erase(
            device->responses.begin(),
            device->responses.end() -
                static_cast<std::ptrdiff_t>(options_.max_meeting_responses));
      }
    }
    return;
  }
  if (!is_sync) {
    return;
  }

  const eas::SyncCalendarScan& rq = scratch.request;
  const eas::SyncCalendarScan& rs = scratch.response;
  // 1. The client's commands, against what the server sent before.
  if (request_ok && rq.is_sync) {
    for (const CalendarItem& it : rq.items) {
      if (it.in_responses) {
        continue;
      }
      if (it.operation == Operation::kAdd) {
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
          if (device->client_adds.size() > 256) {
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
      item.meeting_status = it.meeting_status;
      item.attendee_count = it.attendee_count;
      item.has_calendar_data = it.has_calendar_data;
      item.attendee_emails_known = true;
      item.attendee_emails = rq.AttendeeEmails(it);
      item.sequence = obs.sequence;
      item.at = obs.observed_at;
      // Refused (a failing Status for it) or sent back by the server.
      item.server_refused =
          server_touched.contains({it.collection_id, it.server_id});
      EvaluateClientItem(ctx, item, out);
    }
  }
  if (!response_usable || !rs.is_sync) {
    return;
  }
  // 2. What the server sent back: ids for the client's Adds, then its own
  // commands.
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
      LedgerPut(key, facts, obs.observed_at, /*client_added=*/true);
      device->client_adds.erase(std::next(a).base());
      break;
    }
  }
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
    std::optional<MeetingSnapshot> old;
    if (r.operation == Operation::kChange) {
      // A Change carries what changed; omitted fields keep their value.
      old = LedgerFind(key, obs.observed_at);
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
    const MeetingLedger::PutResult put = LedgerPut(key, facts, obs.observed_at);
    if (put == MeetingLedger::PutResult::kTooLarge) {
      ++item_errors_;
      out->errors.push_back(
          {"FIELD_TOO_LONG", "eas_exchange.response_body",
           StrCat("calendar item ", r.server_id,
                  ": an id, UID or organizer is over the ledger's limits; "
                  "the item is not tracked")});
      continue;
    }
    if (put == MeetingLedger::PutResult::kInserted ||
        put == MeetingLedger::PutResult::kUpdated) {
      RunPending(ctx.tenant, ctx.mailbox, r.collection_id, r.server_id,
                 obs.observed_at, out);
    }
  }
}

// ---------------------------------------------------------------------------
// Parsed calendar changes.

void TrafficDetector::ObserveCalendarChange(const ObservationView& obs,
                                            ObserveResult* out) {
  const CalendarChangeView& c = *obs.calendar_change;
  std::lock_guard<std::mutex> lock(mu_);
  FlushOnExit flush(this, out);
  recording_at_ = obs.received_at == absl::InfinitePast() ? obs.observed_at
                                                          : obs.received_at;
  ++observations_;
  auto error = [&](std::string code, std::string field, std::string message) {
    ++item_errors_;
    out->errors.push_back(
        {std::move(code), std::move(field), std::move(message)});
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
  Device* device = FindOrAddDevice(obs.tenant_id, c.eas_device_id, out,
                                   "calendar_change.eas_device_id");
  if (device == nullptr) {
    return;
  }
  ++device->observations;
  Context ctx;
  ctx.tenant = obs.tenant_id;
  ctx.mailbox = NormalizeAddress(c.user);
  ctx.request_user = ctx.mailbox;
  ctx.device = device;
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
// The rules.

void TrafficDetector::EvaluateClientItem(Context& ctx, const ClientItem& item,
                                         ObserveResult* out) {
  if (item.server_id.empty() || item.server_refused) {
    return;
  }
  if (item.op == Operation::kChange && !item.has_calendar_data) {
    return;  // not a calendar item, or nothing calendar-related changed
  }
  const LedgerKey key{ctx.tenant, ctx.mailbox, item.collection_id,
                      item.server_id};
  std::optional<MeetingSnapshot> before = LedgerFind(key, item.at);
  if (before && before->updated_at > item.at) {
    // The server state on record came after this command (a late report):
    // it is not what the client saw, so it cannot judge it.
    return;
  }
  if (!before) {
    if (item.op != Operation::kChange) {
      // A Delete of something never seen (most are e-mail): nothing to
      // compare with.
      return;
    }
    // 4. SUSPECTED_SELF_ORGANIZER: no ledger entry.
    const std::string organizer = NormalizeAddress(item.organizer_email);
    if (IsOwner(ctx, organizer) && HasHijackFingerprint(ctx.device)) {
      bool others = false;
      if (item.attendee_emails_known) {
        for (std::string_view email : item.attendee_emails) {
          const std::string a = NormalizeAddress(email);
          others |= !a.empty() && !IsOwner(ctx, a);
        }
      } else {
        others = item.attendee_count > 0;
      }
      if (others) {
        Emit(ctx, item, EventKind::kSuspectedSelfOrganizer, nullptr,
             StrCat("a client whose build has the organizer-hijack issue "
                    "names its own user (",
                    organizer,
                    ") as organizer of a meeting with other attendees that "
                    "the server's state is not known for"),
             out);
      }
    }
    AddPending(ctx, item);
    return;
  }
  // Does the mailbox's user organize this meeting, per the server?
  bool user_owns;
  if (before->client_added) {
    user_owns = true;
  } else if (before->meeting_status) {
    user_owns = !IsReceived(*before->meeting_status);
  } else {
    const std::string organizer = NormalizeAddress(before->organizer_email);
    user_owns = organizer.empty() || IsOwner(ctx, organizer);
  }
  if (user_owns) {
    return;  // the organizer editing their own meeting
  }
  const std::string before_email = NormalizeAddress(before->organizer_email);
  const std::string after_email = NormalizeAddress(item.organizer_email);
  if (item.op == Operation::kChange) {
    // 1. ORGANIZER_REWRITE (or, same address, a display-name change).
    if (!after_email.empty() && !before_email.empty()) {
      if (after_email != before_email) {
        Emit(ctx, item, EventKind::kOrganizerRewrite, &*before,
             StrCat("the client changed the organizer of a meeting it was "
                    "invited to from ",
                    before_email, " to ", after_email),
             out);
      } else if (!item.organizer_name.empty() &&
                 !before->organizer_name.empty() &&
                 item.organizer_name != before->organizer_name) {
        Emit(ctx, item, EventKind::kOrganizerNameChange, &*before,
             StrCat("the client sent another display name for organizer ",
                    before_email, ": \"", item.organizer_name,
                    "\" instead of \"", before->organizer_name, "\""),
             out);
      }
    }
    // 2. OWNERSHIP_CLAIM.
    if (item.meeting_status && before->meeting_status &&
        IsReceivedMeeting(*before->meeting_status) &&
        IsOrganizerMeeting(*item.meeting_status)) {
      Emit(ctx, item, EventKind::kOwnershipClaim, &*before,
           StrCat("the client moved MeetingStatus from ",
                  *before->meeting_status, " (received) to ",
                  *item.meeting_status, " (organizer)"),
           out);
    }
    // 3. ATTENDEE_CANCEL by Change.
    if (item.meeting_status && IsCancelled(*item.meeting_status) &&
        before->meeting_status && IsReceived(*before->meeting_status) &&
        !IsCancelled(*before->meeting_status)) {
      Emit(ctx, item, EventKind::kAttendeeCancel, &*before,
           StrCat("an attendee's client marked the meeting cancelled "
                  "(MeetingStatus ",
                  *before->meeting_status, " to ", *item.meeting_status, ")"),
           out);
    }
    return;
  }
  // 3. ATTENDEE_CANCEL by Delete of a live meeting the user does not own,
  // unless it was declined first (the legitimate way), and always after the
  // client rewrote it (Exchange then treats the user as organizer and sends
  // cancellations).
  if (item.op != Operation::kDelete ||
      (before->meeting_status && IsCancelled(*before->meeting_status))) {
    return;
  }
  bool rewrote = before->disputed;
  bool declined = false;
  for (auto r = ctx.device->responses.rbegin();
       r != ctx.device->responses.rend(); ++r) {
    if (r->at <= item.at &&
        ((r->collection_id == item.collection_id &&
          r->request_id == item.server_id) ||
         (!r->calendar_id.empty() && r->calendar_id == item.server_id))) {
      declined = r->user_response == 3;
      break;
    }
  }
  if (rewrote || !declined) {
    Emit(ctx, item, EventKind::kAttendeeCancel, &*before,
         rewrote ? StrCat("the client deleted a meeting organized by ",
                          before_email,
                          " after rewriting it as its own; Exchange sends "
                          "cancellations to the attendees")
                 : StrCat("the client deleted a meeting organized by ",
                          before_email, " without declining it first"),
         out);
  }
}

void TrafficDetector::Emit(Context& ctx, const ClientItem& item, EventKind kind,
                           const MeetingSnapshot* before,
                           std::string explanation, ObserveResult* out) {
  Device& device = *ctx.device;
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
  } else {
    if (kind != EventKind::kOrganizerNameChange) {
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
  }
  DetectionEvent e;
  e.kind = kind;
  e.tenant_id = std::string(ctx.tenant);
  e.eas_device_id = device.eas_device_id;
  e.mailbox = ctx.mailbox;
  e.collection_id = std::string(item.collection_id);
  e.server_id = std::string(item.server_id);
  e.uid = before != nullptr && !before->uid.empty() ? before->uid
                                                    : std::string(item.uid);
  e.command = std::string(OperationName(item.op));
  if (before != nullptr) {
    e.organizer_email_before = before->organizer_email;
    e.organizer_name_before = before->organizer_name;
    e.meeting_status_before = before->meeting_status;
  }
  e.organizer_email_after = std::string(item.organizer_email);
  e.organizer_name_after = std::string(item.organizer_name);
  e.meeting_status_after = item.meeting_status;
  e.attendee_count = item.attendee_count;
  if (item.op == Operation::kDelete && before != nullptr) {
    e.attendee_count = before->attendee_count;
  }
  for (auto r = device.responses.rbegin(); r != device.responses.rend(); ++r) {
    if (r->at <= item.at &&
        item.at - r->at <= options_.meeting_response_window &&
        ((r->collection_id == item.collection_id &&
          r->request_id == item.server_id) ||
         (!r->calendar_id.empty() && r->calendar_id == item.server_id))) {
      e.meeting_response_preceded = true;
      e.meeting_response_age = item.at - r->at;
      e.meeting_response = r->user_response;
      break;
    }
  }
  e.sequence = item.sequence;
  e.observed_at = item.at;
  e.recorded_at = recording_at_;
  e.explanation = std::move(explanation);

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
  e.store_id = ++last_event_id_;
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

// ---------------------------------------------------------------------------
// Reordered reports: client commands waiting for the server state.

void TrafficDetector::SweepPending(absl::Time now) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto& list = it->second;
    const std::size_t before = list.size();
    list.erase(std::remove_if(list.begin(), list.end(),
                              [&](const Pending& p) {
                                return now - p.at > options_.pending_ttl;
                              }),
               list.end());
    pending_dropped_ += before - list.size();
    pending_count_ -= before - list.size();
    if (store_ != nullptr && before != list.size()) {
      dirty_pending_.insert(it->first);
    }
    if (list.empty()) {
      pending_.erase(it++);
    } else {
      ++it;
    }
  }
}

void TrafficDetector::AddPending(const Context& ctx, const ClientItem& item) {
  if (item.uid.size() > MeetingLedger::kMaxUidBytes ||
      item.organizer_email.size() + item.organizer_name.size() >
          MeetingLedger::kMaxOrganizerBytes ||
      item.server_id.size() > MeetingLedger::kMaxIdBytes ||
      item.collection_id.size() > MeetingLedger::kMaxIdBytes) {
    ++pending_dropped_;
    return;
  }
  if (pending_count_ >= options_.max_pending) {
    // Full. Sweep what waited too long (at most once a minute of
    // observation time: a sweep walks everything), then give up on this one
    // if still full.
    if (absl::AbsDuration(item.at - last_pending_sweep_) >= absl::Minutes(1)) {
      last_pending_sweep_ = item.at;
      SweepPending(item.at);
    }
    if (pending_count_ >= options_.max_pending) {
      ++pending_dropped_;
      return;
    }
  }
  Pending p;
  p.device_id = ctx.device->eas_device_id;
  p.request_user = ctx.request_user;
  p.op = item.op;
  p.collection_id = std::string(item.collection_id);
  p.server_id = std::string(item.server_id);
  p.uid = std::string(item.uid);
  p.organizer_email = std::string(item.organizer_email);
  p.organizer_name = std::string(item.organizer_name);
  p.meeting_status = item.meeting_status;
  p.attendee_count = item.attendee_count;
  p.has_calendar_data = item.has_calendar_data;
  p.sequence = item.sequence;
  p.at = item.at;
  std::string pending_key =
      JoinKey({ctx.tenant, ctx.mailbox, item.collection_id, item.server_id});
  auto& list = pending_[pending_key];
  for (const Pending& q : list) {
    if (q.device_id == p.device_id && q.sequence == p.sequence &&
        q.at == p.at && q.op == p.op) {
      return;  // a retry
    }
  }
  list.push_back(std::move(p));
  ++pending_count_;
  if (store_ != nullptr) {
    dirty_pending_.insert(std::move(pending_key));
  }
}

void TrafficDetector::RunPending(std::string_view tenant,
                                 std::string_view mailbox,
                                 std::string_view collection_id,
                                 std::string_view server_id,
                                 absl::Time server_at, ObserveResult* out) {
  if (pending_.empty()) {
    return;
  }
  auto it = pending_.find(JoinKey({tenant, mailbox, collection_id, server_id}));
  if (it == pending_.end()) {
    return;
  }
  std::vector<Pending> list = std::move(it->second);
  if (store_ != nullptr) {
    dirty_pending_.insert(it->first);
  }
  pending_.erase(it);
  pending_count_ -= list.size();
  for (const Pending& p : list) {
    if (p.at < server_at || p.at - server_at > options_.pending_ttl) {
      continue;  // made before this state, or waited too long
    }
    Device* device = nullptr;
    if (auto d = devices_.find(JoinKey({tenant, p.device_id}));
        d != devices_.end()) {
      device = d->second.get();
      LruTouch(device);
    } else if (store_ != nullptr) {
      bool failed = false;
      device = PageInDevice(tenant, p.device_id, &failed);
    }
    if (device != nullptr && store_ != nullptr) {
      dirty_devices_.insert(device);
    }
    if (device == nullptr) {
      continue;
    }
    Context ctx;
    ctx.tenant = tenant;
    ctx.mailbox = std::string(mailbox);
    ctx.request_user = p.request_user;
    ctx.device = device;
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

// ---------------------------------------------------------------------------
// Check-ins and queries.

void TrafficDetector::LearnAddresses(Device* device,
                                     const eas::MailboxAddresses& learned) {
  // The MDM's word on the primary address wins; the server's fills a gap.
  if (!learned.primary.empty() && device->facts.primary_smtp_address.empty()) {
    device->facts.primary_smtp_address = learned.primary;
    device->hijack_fingerprint = -1;
  }
  std::vector<std::string> addresses;
  for (const std::string* a : {&learned.primary}) {
    if (!a->empty()) addresses.push_back(NormalizeAddress(*a));
  }
  for (const std::string& a : learned.others) {
    addresses.push_back(NormalizeAddress(a));
  }
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()),
                  addresses.end());
  std::erase(addresses, std::string());
  if (addresses.size() > kMaxDeviceAddresses) {
    addresses.resize(kMaxDeviceAddresses);
  }
  // The newest answer replaces what an older one said (addresses are
  // removed from mailboxes too).
  device->addresses = std::move(addresses);
}

bool TrafficDetector::NoteClient(Device* device, std::string_view user_agent,
                                 std::string_view device_type,
                                 std::string_view protocol_version) {
  // Traffic's own description of the client, where no check-in gave one.
  CheckInFacts& known = device->facts;
  bool changed = false;
  if (!user_agent.empty() && known.user_agent != user_agent &&
      (!device->checked_in || known.user_agent.empty())) {
    known.user_agent = std::string(user_agent);
    device->hijack_fingerprint = -1;
    changed = true;
  }
  if (!device_type.empty() && known.device_type != device_type &&
      (!device->checked_in || known.device_type.empty())) {
    known.device_type = std::string(device_type);
    device->hijack_fingerprint = -1;
    changed = true;
  }
  if (!protocol_version.empty() && known.protocol_version != protocol_version &&
      (!device->checked_in || known.protocol_version.empty())) {
    known.protocol_version = std::string(protocol_version);
    changed = true;
  }
  return changed;
}

StoreTicket TrafficDetector::RecordSighting(const CheckInFacts& seen,
                                            absl::Time now,
                                            CheckInFacts* known) {
  if (seen.eas_device_id.empty()) {
    return 0;
  }
  std::lock_guard<std::mutex> lock(mu_);
  ObserveResult ignored;
  Device* device = FindOrAddDevice(seen.tenant_id, seen.eas_device_id, &ignored,
                                   "eas_device_id");
  if (device == nullptr) {
    return 0;
  }
  const bool changed = NoteClient(device, seen.user_agent, seen.device_type,
                                  seen.protocol_version);
  if (known != nullptr) {
    *known = device->facts;
  }
  if (!changed && device->seen_at != absl::InfinitePast() &&
      now - device->seen_at < kRowRefresh) {
    dirty_devices_.erase(device);
    return 0;
  }
  device->seen_at = std::max(device->seen_at, now);
  return Flush(nullptr);
}

StoreTicket TrafficDetector::RecordCheckIn(const CheckInFacts& facts,
                                           absl::Time now) {
  if (facts.eas_device_id.empty()) {
    return 0;
  }
  std::lock_guard<std::mutex> lock(mu_);
  UpdateCheckIn(facts, now);
  return Flush(nullptr);
}

void TrafficDetector::UpdateCheckIn(const CheckInFacts& facts, absl::Time now) {
  ObserveResult ignored;
  Device* device = FindOrAddDevice(facts.tenant_id, facts.eas_device_id,
                                   &ignored, "device.eas_device_id");
  if (device == nullptr) {
    return;
  }
  CheckInFacts merged = facts;
  // Keep what traffic told us where the check-in is silent.
  if (merged.user_agent.empty()) merged.user_agent = device->facts.user_agent;
  if (merged.device_type.empty()) {
    merged.device_type = device->facts.device_type;
  }
  if (merged.protocol_version.empty()) {
    merged.protocol_version = device->facts.protocol_version;
  }
  if (!device->facts.mdm_device_id.empty() &&
      device->facts.mdm_device_id != merged.mdm_device_id) {
    auto m = mdm_index_.find(
        JoinKey({facts.tenant_id, device->facts.mdm_device_id}));
    if (m != mdm_index_.end() && m->second == device->eas_device_id) {
      mdm_index_.erase(m);
    }
  }
  if (!merged.mdm_device_id.empty()) {
    mdm_index_[JoinKey({facts.tenant_id, merged.mdm_device_id})] =
        merged.eas_device_id;
  }
  // The usual check-in has nothing new to keep; its row is written again
  // once a day all the same, so that its time says the device is alive. (A
  // device read back from the store does not know when its row was written:
  // its first check-in rewrites it.)
  if (device->checked_in && SameFacts(device->facts, merged) &&
      (now == absl::InfinitePast() || now - device->seen_at < kRowRefresh)) {
    dirty_devices_.erase(device);
    return;
  }
  if (now != absl::InfinitePast()) {
    device->seen_at = std::max(device->seen_at, now);
  }
  device->facts = std::move(merged);
  device->checked_in = true;
  device->hijack_fingerprint = -1;
}

std::vector<DetectionEvent> TrafficDetector::ConfirmedEvents(
    std::string_view tenant_id, std::string_view eas_device_id,
    std::size_t limit, std::size_t* total) const {
  std::vector<DetectionEvent> out;
  *total = 0;
  std::lock_guard<std::mutex> lock(mu_);
  const Device* device = FindDevice(tenant_id, eas_device_id);
  if (device == nullptr) {
    return out;
  }
  *total = device->confirmed.size();
  for (const DetectionEvent& e : device->confirmed) {
    if (out.size() >= limit) {
      break;
    }
    out.push_back(e);
  }
  return out;
}

bool TrafficDetector::Evidence(std::string_view tenant_id,
                               std::string_view eas_device_id,
                               std::vector<EventEvidence>* out,
                               std::uint64_t* dropped, CheckInFacts* facts,
                               std::vector<EventCitation>* newest,
                               absl::Status* store_error) const {
  std::lock_guard<std::mutex> lock(mu_);
  read_error_ = absl::OkStatus();
  const Device* device = FindDevice(tenant_id, eas_device_id);
  *dropped = 0;
  if (device == nullptr) {
    if (store_error != nullptr) {
      *store_error = read_error_;
    }
    return false;
  }
  *dropped = device->events_dropped;
  if (out != nullptr) {
    out->reserve(out->size() + device->confirmed.size() +
                 device->events.size());
    for (const auto* list : {&device->confirmed, &device->events}) {
      for (const DetectionEvent& e : *list) {
        out->push_back(
            {e.kind, e.attendee_count, e.observed_at, e.recorded_at});
      }
    }
  }
  if (facts != nullptr) {
    *facts = device->facts;
  }
  if (newest != nullptr) {
    // Events are appended in arrival order: the last of a kind is its newest.
    std::array<const DetectionEvent*, 8> last{};
    for (const auto* list : {&device->confirmed, &device->events}) {
      for (const DetectionEvent& e : *list) {
        const auto k = static_cast<std::size_t>(e.kind);
        if (k < last.size()) {
          last[k] = &e;
        }
      }
    }
    for (const DetectionEvent* e : last) {
      if (e != nullptr) {
        newest->push_back({e->kind, e->uid, e->mailbox,
                           e->organizer_email_before,
                           e->organizer_email_after});
      }
    }
  }
  return true;
}

std::optional<DeviceRisk> TrafficDetector::GetDeviceRisk(
    std::string_view tenant_id, std::string_view eas_device_id,
    std::string_view mdm_device_id, absl::Status* store_error) const {
  std::lock_guard<std::mutex> lock(mu_);
  read_error_ = absl::OkStatus();
  std::string device_id(eas_device_id);
  if (device_id.empty()) {
    // A cache lookup (and page-in) does not change the state.
    auto* self = const_cast<TrafficDetector*>(this);
    std::optional<std::string> found =
        self->MdmLookup(tenant_id, mdm_device_id);
    self->store_error_ = absl::OkStatus();
    if (!found) {
      return std::nullopt;
    }
    device_id = std::move(*found);
  }
  const Device* device = FindDevice(tenant_id, device_id);
  if (device == nullptr) {
    if (store_error != nullptr && !read_error_.ok()) {
      *store_error = read_error_;
    }
    return std::nullopt;
  }
  DeviceRisk risk;
  risk.tenant_id = device->tenant;
  risk.eas_device_id = device->eas_device_id;
  risk.mdm_device_id = device->facts.mdm_device_id;
  risk.mailboxes = device->mailboxes;
  risk.facts = device->facts;
  risk.events.assign(device->confirmed.begin(), device->confirmed.end());
  risk.events.insert(risk.events.end(), device->events.begin(),
                     device->events.end());
  std::stable_sort(risk.events.begin(), risk.events.end(),
                   [](const DetectionEvent& a, const DetectionEvent& b) {
                     return a.observed_at < b.observed_at;
                   });
  risk.events_dropped = device->events_dropped;
  for (const auto& [key, state] : device->meetings) {
    risk.meetings.push_back(state.meeting);
  }
  std::sort(risk.meetings.begin(), risk.meetings.end(),
            [](const AffectedMeeting& a, const AffectedMeeting& b) {
              return a.first_seen < b.first_seen;
            });
  risk.observations = device->observations;
  return risk;
}

DetectorStats TrafficDetector::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  DetectorStats s;
  s.observations = observations_;
  s.item_errors = item_errors_;
  s.events = events_;
  s.devices = devices_.size();
  s.ledger_entries = ledger_.size();
  s.ledger_evictions = ledger_.evictions();
  s.ledger_expirations = ledger_.expirations();
  s.pending = pending_count_;
  s.pending_dropped = pending_dropped_;
  s.devices_evicted = devices_evicted_;
  return s;
}

}  // namespace hijackguard::detector
