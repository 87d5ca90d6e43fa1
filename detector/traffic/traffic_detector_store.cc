// TrafficDetector with a store (AttachStore): ledger entries paged in, and
// what each operation changed submitted at its end.
#include <algorithm>
#include <utility>

#include "detector/traffic/detector_rows.h"
#include "detector/traffic/detector_state.h"
#include "detector/traffic/device_cache.h"
#include "detector/traffic/pending_changes.h"
#include "detector/traffic/traffic_detector.h"

namespace hijackguard::detector {

void TrafficDetector::BeginOperation() const {
  if (!shared_) {
    return;
  }
  devices_->BeginOperation();
  fresh_ledger_.clear();
  fresh_pending_.clear();
  pending_->ForgetAll();
}

void TrafficDetector::RefreshPending(std::string_view tenant,
                                     std::string_view mailbox,
                                     std::string_view collection_id,
                                     std::string_view server_id) {
  if (!shared_) {
    return;
  }
  std::string key =
      PendingChanges::Key(tenant, mailbox, collection_id, server_id);
  if (fresh_pending_.contains(key)) {
    return;
  }
  auto row = store_->LoadPendingList(key);
  if (!row.ok()) {
    NoteStoreError(row.status());
    return;
  }
  if (absl::Status s = pending_->Refresh(key, *row); !s.ok()) {
    NoteStoreError(s);
    return;
  }
  fresh_pending_.insert(std::move(key));
}

void TrafficDetector::PageInLedger(const LedgerKey& key) {
  if (store_ == nullptr) {
    return;
  }
  std::string encoded;
  if (shared_) {
    // Read once per operation, whatever memory holds: another replica may
    // have changed the entry. (An entry this operation changed was read
    // first.)
    encoded = EncodeLedgerKey(key);
    if (fresh_ledger_.contains(encoded)) {
      return;
    }
  } else if (ledger_.Contains(key)) {
    return;
  } else {
    encoded = EncodeLedgerKey(key);
  }
  auto row = store_->LoadLedgerEntry(encoded);
  if (!row.ok()) {
    NoteStoreError(row.status());
    return;
  }
  if (shared_) {
    ledger_.Remove(key);  // the store's entry, or none, replaces memory's
    fresh_ledger_.insert(std::move(encoded));
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

// ---------------------------------------------------------------------------
// Submitting to the store.

StoreTicket TrafficDetector::Flush(ObserveResult* out, bool cover_earlier) {
  if (store_ == nullptr) {
    return 0;
  }
  if (!store_error_.ok()) {
    ++item_errors_;
    if (out != nullptr) {
      // Events of the operation are not recorded: none is reported.
      out->events.clear();
      out->events_dropped = 0;
      out->errors.push_back(
          {"STATE_UNAVAILABLE", "", std::string(store_error_.message())});
    }
    store_error_ = absl::OkStatus();
    // Part of what the operation built on could not be read: submit none of
    // it, drop the devices and meetings it touched from memory (they are
    // read again when next needed) and put the waiting changes back as they
    // were, so that memory never holds what the store does not.
    devices_->DropHeld();
    for (const auto& [key, row] : dirty_ledger_) {
      std::string parts[4];
      if (DecodeLedgerKey(key, parts).ok()) {
        ledger_.Remove(LedgerKey{parts[0], parts[1], parts[2], parts[3]});
      }
    }
    dirty_ledger_.clear();
    pending_->DropChanged();
    new_events_.clear();
    return 0;
  }
  DetectorChanges changes;
  devices_->TakeHeldRows(&changes.devices);
  changes.ledger.reserve(dirty_ledger_.size());
  for (auto& [key, row] : dirty_ledger_) {
    changes.ledger.push_back(std::move(row));
  }
  dirty_ledger_.clear();
  pending_->TakeChangedRows(&changes.pending);
  changes.events = std::move(new_events_);
  new_events_.clear();
  // Everything in memory has been submitted: trim the cache.
  devices_->Trim();
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

StoreTicket TrafficDetector::WriteActivity() {
  // In slices, the lock released between them: a large fleet's activity
  // must not stall observations and check-ins for one long encoding.
  constexpr std::size_t kSlice = 1024;
  StoreTicket ticket = 0;
  while (true) {
    absl::MutexLock lock(&mu_);
    if (store_ == nullptr) {
      return ticket;
    }
    DetectorChanges changes;
    changes.devices = devices_->TakeUnwrittenActivity(kSlice);
    if (changes.devices.empty()) {
      return ticket;
    }
    ticket = SubmitChanges(std::move(changes));
  }
}

absl::Status TrafficDetector::AttachStore(DetectorStore* store) {
  absl::MutexLock lock(&mu_);
  if (store_ != nullptr) {
    return absl::FailedPreconditionError("the detector has a store already");
  }
  auto counters = store->LoadCounters();
  if (!counters.ok()) {
    return counters.status();
  }
  std::vector<std::pair<std::string, std::string>> rows;
  if (!store->shared()) {
    // A shared store's lists are read meeting by meeting (RefreshPending).
    if (absl::Status s = store->LoadAllPending(&rows); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = pending_->Load(rows); !s.ok()) {
    return s;
  }
  last_event_id_ = std::max(last_event_id_, counters->event_id);
  shared_ = store->shared();
  ledger_.SeedVersion(static_cast<std::uint32_t>(
      std::min<std::uint64_t>(counters->ledger_version, 0xFFFFFFFFu)));
  store_ = store;
  // The cache calls it within the detector's operations (under mu_).
  devices_->AttachStore(store, [this](std::vector<StoreRow> device_rows)
                                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                                     DetectorChanges changes;
                                     changes.devices = std::move(device_rows);
                                     SubmitChanges(std::move(changes));
                                   });
  return absl::OkStatus();
}

}  // namespace hijackguard::detector
