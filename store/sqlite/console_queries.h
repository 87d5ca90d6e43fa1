// The console's reads of a state database, on any connection: the fleet's
// device counts and a page of the fleet's event rows. SqliteStore runs them
// on its list connections; `hijackguard report` on a read-only connection
// of its own (safe while the server runs). Errors are SQLite's, unchanged
// (callers decide what a caller is told), except DATA_LOSS for a value no
// version writes.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "detector/traffic/detector_store.h"
#include "policy/device_list.h"
#include "store/sqlite/sqlite_db.h"

namespace hijackguard::store {

// CountDevices' rows (policy/state_store.h), from the history_tally table
// (schema 9) that triggers keep as history rows change.
absl::StatusOr<std::vector<policy::DeviceCount>> QueryDeviceCounts(
    sqlite::Database& db, std::string_view tenant_id);

// Committed event rows with keys starting with `prefix` after `after`, in
// key order, at most `limit`, into `rows` (key ordered).
[[nodiscard]] absl::Status QueryEventsAfter(
    sqlite::Database& db, std::string_view prefix, std::string_view after,
    std::size_t limit, std::map<std::string, std::string, std::less<>>* rows);

// CountEventsByDay's rows (detector/traffic/detector_store.h), from the
// events_by_time index (which holds the keys, so no row is read).
absl::StatusOr<std::vector<detector::EventDay>> QueryEventsByDay(
    sqlite::Database& db, std::string_view prefix, std::int64_t since_ms);

}  // namespace hijackguard::store
