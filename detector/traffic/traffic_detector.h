// Organizer-change detection from observed ActiveSync traffic.
//
// The detector keeps a MeetingLedger of what the server last sent each device
// and compares every client Sync command with it (rules in
// docs/detection.md). Events attach to the device (tenant, EAS device id); a
// check-in links the device to its MDM id and its user's addresses.
// Thread-safe: decoding runs outside the lock, bookkeeping inside one mutex.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "detector/fingerprint.h"
#include "detector/known_issues.h"
#include "detector/traffic/detector_store.h"
#include "detector/traffic/meeting_ledger.h"
#include "detector/traffic/observation.h"
#include "detector/traffic/repair_list.h"
#include "detector/wbxml/reader.h"

namespace hijackguard::detector {

// The detector's parts (internal; see docs/design.md).
class DeviceCache;
class PendingChanges;
struct TrackedDevice;
struct ClientItem;
struct ItemContext;
struct ScannedExchange;

struct DetectorOptions {
  LedgerOptions ledger;
  // Events kept per device (oldest dropped first, and counted). Default 1000.
  std::size_t max_events_per_device = 1000;
  // Devices tracked (about 3 KiB each plus their events). When full, the
  // least recently used device without confirmed events (among the 32
  // least recently used) is forgotten; if none can be, observations of new
  // devices get a DEVICE_TABLE_FULL item error. With a store this is the
  // cache size: the least recently used device leaves memory, not the
  // store. Default 500,000.
  std::size_t max_devices = 500'000;
  // Client Changes seen before the server state they refer to (reordered
  // reports), kept until that state arrives. Default 10,000, for 1 hour.
  std::size_t max_pending = 10'000;
  absl::Duration pending_ttl = absl::Hours(1);
  // MeetingResponses remembered per device, and how far back one counts as
  // "preceding" a change. Default 64, 7 days.
  std::size_t max_meeting_responses = 64;
  absl::Duration meeting_response_window = absl::Hours(24 * 7);
  // Decoding limits for bodies.
  wbxml::ReaderOptions reader;
  // Extra addresses of a mailbox owner, per tenant: tenant -> address ->
  // aliases (each also an address of the same person).
  std::map<std::string, std::map<std::string, std::vector<std::string>>>
      aliases;
  // Keep the subject a client sent with a meeting it changed in that
  // meeting's events (for the repair list). Subjects are personal data:
  // off by default (`ledger.keep_subjects`).
  bool keep_subjects = false;
};

// What a check-in says about a device (all may be empty).
struct CheckInFacts {
  std::string tenant_id;
  std::string eas_device_id;
  std::string mdm_device_id;
  std::string user_principal;
  std::string primary_smtp_address;
  std::string user_agent;
  std::string device_type;
  std::string device_os;
  std::string device_model;
  std::string protocol_version;
  std::string inventory_product_name;
  std::string inventory_os_version;
  std::string inventory_build_version;
  std::string inventory_model_name;
};

// The fingerprint inputs among `facts`; views into it.
FingerprintInput ToFingerprintInput(const CheckInFacts& facts);

// A meeting a device's events concern, with its true organizer.
struct AffectedMeeting {
  std::string mailbox;
  std::string collection_id;
  std::string server_id;
  std::string uid;
  std::string true_organizer_email;  // per the ledger (the server)
  std::string true_organizer_name;
  std::string claimed_organizer_email;  // what the device sent, if it did
  std::vector<EventKind> kinds;         // in first-seen order, distinct
  absl::Time first_seen;
  absl::Time last_seen;
};

struct DeviceRisk {
  std::string tenant_id;
  std::string eas_device_id;
  std::string mdm_device_id;
  std::vector<std::string> mailboxes;  // seen in its traffic
  CheckInFacts facts;  // the newest check-in, with traffic's User-Agent
                       // and DeviceType where no check-in gave them
  std::vector<DetectionEvent> events;  // oldest first
  std::uint64_t events_dropped = 0;
  std::vector<AffectedMeeting> meetings;
  std::uint64_t observations = 0;
};

// What scoring needs of a device's events.
struct DeviceEvidence {
  std::vector<EventEvidence> events;  // every kept event, confirmed first
  std::uint64_t dropped = 0;          // events no longer kept
  std::vector<EventCitation> newest;  // the newest of each kind, for citing
};

struct DetectorStats {
  std::uint64_t observations = 0;
  std::uint64_t item_errors = 0;
  std::uint64_t events = 0;
  std::array<std::uint64_t, kEventKindCount> events_by_kind{};  // by EventKind
  std::size_t devices = 0;
  std::size_t ledger_entries = 0;
  std::uint64_t ledger_evictions = 0;
  std::uint64_t ledger_expirations = 0;
  std::size_t pending = 0;
  std::uint64_t pending_dropped = 0;
  std::uint64_t devices_evicted = 0;
};

class TrafficDetector {
 public:
  TrafficDetector(std::shared_ptr<const KnownIssueCatalog> catalog,
                  DetectorOptions options = {});
  ~TrafficDetector();
  TrafficDetector(const TrafficDetector&) = delete;
  TrafficDetector& operator=(const TrafficDetector&) = delete;

  // Processes one observation; appends its events and item errors to `*out`.
  // Never fails as a whole. Reporting the same observation twice (a retry)
  // adds no second event.
  void Observe(const ObservationView& observation, ObserveResult* out)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Keeps state in `store` from now on (call once, before any observation;
  // `store` must outlive the detector). Loads what must be resident (the
  // reordered changes still waiting) and the id high-water marks; devices and
  // ledger entries are paged in when first needed, and the in-memory limits
  // (max_devices, ledger max_entries) become cache sizes: beyond them rows
  // leave memory, not the store. An error when the store cannot be read.
  [[nodiscard]] absl::Status AttachStore(DetectorStore* store)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Links a device to its MDM id and user, and keeps its fingerprint facts.
  // Returns the store ticket of the change (0 without a store).
  StoreTicket RecordCheckIn(const CheckInFacts& facts,
                            absl::Time now = absl::InfinitePast())
      ABSL_LOCKS_EXCLUDED(mu_);
  // What a gateway saw of a device's client (`seen`: tenant, device id,
  // User-Agent, DeviceType, protocol version): kept where no check-in gave
  // them, as traffic's are; nothing the MDM reported is cleared. `*known`
  // (when not null) gets the device's facts afterwards. Returns the store
  // ticket of the change (0: nothing to write).
  StoreTicket RecordSighting(const CheckInFacts& seen, absl::Time now,
                             CheckInFacts* known = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The device's events that call for quarantine (IsConfirmedHijackEvent),
  // oldest first, at most `limit`, and how many there are (none for an
  // unknown device); an error as for Facts.
  struct ConfirmedList {
    std::vector<DetectionEvent> events;
    std::size_t total = 0;
  };
  absl::StatusOr<ConfirmedList> ConfirmedEvents(std::string_view tenant_id,
                                                std::string_view eas_device_id,
                                                std::size_t limit) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // The device's newest check-in facts (with traffic's User-Agent and
  // DeviceType where no check-in gave them); nullopt for an unknown device.
  // An error when, with a store, the device cannot be paged in.
  absl::StatusOr<std::optional<CheckInFacts>> Facts(
      std::string_view tenant_id, std::string_view eas_device_id) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // The device's events as scoring needs them, into `*out` (cleared first;
  // its buffers are reused). False for an unknown device; an error as for
  // Facts.
  absl::StatusOr<bool> Evidence(std::string_view tenant_id,
                                std::string_view eas_device_id,
                                DeviceEvidence* out) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Everything known about a device, by EAS device id or (when that is
  // empty) MDM device id; nullopt for an unknown device; an error as for
  // Facts.
  absl::StatusOr<std::optional<DeviceRisk>> GetDeviceRisk(
      std::string_view tenant_id, std::string_view eas_device_id,
      std::string_view mdm_device_id = {}) const ABSL_LOCKS_EXCLUDED(mu_);

  // A page of the repair list (detector/traffic/repair_list.h) of
  // `tenant_id` ("" for every tenant), devices in key order, after the page
  // that `page_token` ended ("" for the first). INVALID_ARGUMENT for a
  // token this list did not give for this tenant, or a page size over
  // kMaxRepairPageSize (0 is the default); UNAVAILABLE when the store
  // cannot be read. A page may hold a few more items than `page_size` (a
  // device's meetings are never split), or fewer when many devices had
  // none.
  absl::StatusOr<RepairPage> ListRepairs(std::string_view tenant_id,
                                         std::string_view page_token,
                                         std::size_t page_size) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // The detection events of `tenant_id` ("" for every tenant) recorded at
  // or after `since`, counted by UTC day (the fleet page's chart): from the
  // store's committed rows, or from memory without a store. UNAVAILABLE
  // when the store cannot be read.
  absl::StatusOr<std::vector<EventDay>> CountEventsByDay(
      std::string_view tenant_id, absl::Time since) const
      ABSL_LOCKS_EXCLUDED(mu_);

  DetectorStats stats() const ABSL_LOCKS_EXCLUDED(mu_);

  // With a store: submits the rows of the devices whose only change since
  // their last write is activity (observation count, last activity), which
  // no operation waits for. Call it now and then (the server does each
  // minute) and before the store closes. Returns the store ticket (0:
  // nothing to write).
  StoreTicket WriteActivity() ABSL_LOCKS_EXCLUDED(mu_);

  const KnownIssueCatalog& catalog() const { return *catalog_; }

 private:
  // Every private method runs under mu_: an operation is one locked
  // section, which submits what it changed at its end (Flush).

  // An observation (Flush follows).
  void ApplyExchange(const ObservationView& obs, const ScannedExchange& scan,
                     ObserveResult* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyCalendarChange(const ObservationView& obs, ObserveResult* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The phases of an exchange after its decoding (ScanExchange): what the
  // device learns, then per kind of body.
  // Counts the exchange, attributes it to its device and mailbox (`*ctx`)
  // and keeps what it says of them; false when it cannot be attributed.
  bool NoteExchange(const ObservationView& obs, const ScannedExchange& scan,
                    ItemContext* ctx, ObserveResult* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyMeetingResponses(TrackedDevice* device, const ScannedExchange& scan,
                             absl::Time at) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyClientCommands(ItemContext& ctx, const ScannedExchange& scan,
                           const ObservationView& obs, ObserveResult* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyServerCommands(ItemContext& ctx, const ScannedExchange& scan,
                           absl::Time at, ObserveResult* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reports a problem with one item (counted in stats().item_errors).
  void AddItemError(ObserveResult* out, ItemError error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The device an operation changes; null when it cannot be had (with an
  // item error in `*out`, or a store error noted for Flush).
  TrackedDevice* HoldDevice(std::string_view tenant, std::string_view device_id,
                            ObserveResult* out, std::string_view field)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The device a reader asks about (paged in when needed); null: unknown.
  absl::StatusOr<const TrackedDevice*> ReadDevice(
      std::string_view tenant, std::string_view device_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateCheckIn(const CheckInFacts& facts, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The ledger, with a store: entries are paged in when first needed and
  // the changed ones recorded for Flush.
  void PageInLedger(const LedgerKey& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Shared stores: a new operation reads every row it uses again
  // (DetectorStore::shared).
  void BeginOperation() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Shared stores: the meeting's waiting changes as the store has them.
  void RefreshPending(std::string_view tenant, std::string_view mailbox,
                      std::string_view collection_id,
                      std::string_view server_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<MeetingSnapshot> LedgerFind(const LedgerKey& key,
                                            absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  MeetingLedger::PutResult LedgerPut(const LedgerKey& key,
                                     const MeetingFacts& facts, absl::Time at,
                                     bool client_added = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LedgerRemove(const LedgerKey& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LedgerMarkDisputed(const LedgerKey& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteLedger(const LedgerKey& key, bool removed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteStoreError(const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Submits what the locked operation changed (at its end).
  // `cover_earlier`: the ticket returned covers everything submitted before
  // (observations: see the definition); otherwise only what this flush
  // submitted (0: nothing).
  StoreTicket Flush(ObserveResult* out, bool cover_earlier = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Submits with the id high-water marks; returns the newest ticket.
  StoreTicket SubmitChanges(DetectorChanges changes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Whether the device's client has the organizer-hijack issue (cached in
  // the device; reads only the device and the catalog).
  bool HasHijackFingerprint(TrackedDevice* device) const;
  // Judges a client command (detection_rules.h) and records its events.
  void EvaluateClientItem(ItemContext& ctx, const ClientItem& item,
                          ObserveResult* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records an event, once per meeting, kind and server state.
  void Emit(ItemContext& ctx, const ClientItem& item, EventKind kind,
            const MeetingSnapshot* before, std::string explanation,
            ObserveResult* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Judges the commands that waited for the server state just recorded.
  void RunPending(std::string_view tenant, std::string_view mailbox,
                  std::string_view collection_id, std::string_view server_id,
                  absl::Time server_at, ObserveResult* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::shared_ptr<const KnownIssueCatalog> catalog_;
  DetectorOptions options_;

  mutable absl::Mutex mu_;
  MeetingLedger ledger_ ABSL_GUARDED_BY(mu_);
  // Memory is a cache of the store: readers page devices in too.
  std::unique_ptr<DeviceCache> devices_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<PendingChanges> pending_ ABSL_GUARDED_BY(mu_);
  // received_at of the observation being processed (events record it).
  absl::Time recording_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::uint64_t observations_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t item_errors_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t events_ ABSL_GUARDED_BY(mu_) = 0;
  std::array<std::uint64_t, kEventKindCount> events_by_kind_
      ABSL_GUARDED_BY(mu_){};

  DetectorStore* store_ ABSL_GUARDED_BY(mu_) = nullptr;
  // The newest ticket this detector submitted.
  StoreTicket last_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  // Ledger rows changed by the operation, by encoded key, as they were
  // right after the change (an entry may leave memory before the flush).
  absl::flat_hash_map<std::string, StoreRow> dirty_ledger_ ABSL_GUARDED_BY(mu_);
  std::vector<StoreRow> new_events_ ABSL_GUARDED_BY(mu_);
  std::uint64_t last_event_id_ ABSL_GUARDED_BY(mu_) = 0;
  // The first read failure of the running operation.
  absl::Status store_error_ ABSL_GUARDED_BY(mu_);
  // Shared stores: the ledger entries and pending lists read in the running
  // operation (row keys).
  bool shared_ ABSL_GUARDED_BY(mu_) = false;
  // (Reads change what memory holds, not the detector's state: const
  // operations read too.)
  mutable absl::flat_hash_set<std::string> fresh_ledger_ ABSL_GUARDED_BY(mu_);
  mutable absl::flat_hash_set<std::string> fresh_pending_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hijackguard::detector
