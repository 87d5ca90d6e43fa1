// Where a TrafficDetector keeps its state durably (optional; see
// TrafficDetector::AttachStore). The detector owns the row formats and hands
// the store opaque keys and values; the store owns durability and ordering.
//
// Rules every implementation keeps:
// - Submit is called under the detector's lock, in the order the changes were
//   made; the store applies them in that order (later rows replace earlier).
// - Every Load returns the newest row submitted, committed or not (read your
//   writes), so that the detector may drop a row from memory as soon as it was
//   submitted and page it in again later.
// - A store that cannot read or write fails for good: Loads return errors and
//   every later ticket reports the failure. (A shared store may answer a
//   read UNAVAILABLE while its database is unreachable and read again
//   later: the operation fails and nothing it built on is kept.)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hijackguard::detector {

// A submission's place in the commit order; 0 means nothing to wait for.
using StoreTicket = std::uint64_t;

struct StoreRow {
  std::string key;
  std::string value;  // ignored when erase
  bool erase = false;
  std::int64_t time_ms = 0;  // what retention prunes by (see each table)
  std::string index;         // a secondary key (devices: tenant + MDM id)
};

struct DetectorChanges {
  std::vector<StoreRow> devices;  // time_ms: last activity
  std::vector<StoreRow> ledger;   // time_ms: last update (TTL)
  std::vector<StoreRow> events;   // time_ms: when received (horizon)
  std::vector<StoreRow> pending;  // reordered client changes, per meeting
  // High-water marks, so that ids never repeat after a restart.
  std::uint64_t ledger_version = 0;
  std::uint64_t event_id = 0;
  bool empty() const {
    return devices.empty() && ledger.empty() && events.empty() &&
           pending.empty();
  }
};

// Detection events counted by the UTC day they were recorded on.
struct EventDay {
  std::int64_t day = 0;  // days since 1970-01-01
  std::uint64_t events = 0;
};

struct DetectorCounters {
  std::uint64_t ledger_version = 0;
  std::uint64_t event_id = 0;
};

class DetectorStore {
 public:
  virtual ~DetectorStore() = default;
  virtual absl::StatusOr<std::optional<std::string>> LoadDevice(
      std::string_view key) = 0;
  // The key of the device whose index equals `index`, if any.
  virtual absl::StatusOr<std::optional<std::string>> FindDeviceByIndex(
      std::string_view index) = 0;
  // Event rows whose keys start with `prefix` and are at least `from`, in
  // key order.
  [[nodiscard]] virtual absl::Status LoadEvents(
      std::string_view prefix, std::string_view from,
      std::vector<std::string>* values) = 0;
  // Up to `limit` event rows (key, value) whose keys start with `prefix`
  // and come after `after`, in key order: the fleet's events a page at a
  // time (the repair list). Submitted rows count, as for every Load.
  [[nodiscard]] virtual absl::Status LoadEventsAfter(
      std::string_view prefix, std::string_view after, std::size_t limit,
      std::vector<std::pair<std::string, std::string>>* rows) = 0;
  // The committed event rows whose keys start with `prefix`, recorded at or
  // after `since_ms`, counted by day, oldest day first (days without events
  // left out). UNIMPLEMENTED for a store that cannot count them.
  virtual absl::StatusOr<std::vector<EventDay>> CountEventsByDay(
      std::string_view prefix, std::int64_t since_ms) {
    (void)prefix;
    (void)since_ms;
    return absl::UnimplementedError("this store does not count events");
  }
  virtual absl::StatusOr<std::optional<std::string>> LoadLedgerEntry(
      std::string_view key) = 0;
  // The pending row `key` (shared stores: the detector reads a meeting's
  // waiting changes afresh in every operation). UNIMPLEMENTED for a store
  // that is not shared: the detector loads them all once (LoadAllPending).
  virtual absl::StatusOr<std::optional<std::string>> LoadPendingList(
      std::string_view key) {
    (void)key;
    return absl::UnimplementedError("this store loads pending rows at once");
  }
  // Whether other processes write the same rows (replicas on one database).
  // Then what the detector and the engine hold in memory is only trusted
  // within one operation: each operation reads the rows it uses again (the
  // newest submitted, else the newest committed by anyone), so that what
  // another replica acknowledged is what the next operation here builds on.
  virtual bool shared() const { return false; }
  [[nodiscard]] virtual absl::Status LoadAllPending(
      std::vector<std::pair<std::string, std::string>>* rows) = 0;
  virtual absl::StatusOr<DetectorCounters> LoadCounters() = 0;
  virtual StoreTicket Submit(DetectorChanges changes) = 0;
};

}  // namespace hijackguard::detector
