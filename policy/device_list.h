// The device list (ListDevices): one row per decided device with its last
// recorded decision, the filters a security team asks with, and the order and
// page tokens both implementations (the engine's memory, the store's table)
// share.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "policy/decision.h"

namespace hijackguard::policy {

// A device as of its last recorded decision. The row is rewritten when the
// decision changes (actions, level, reasons, exemption, policy revision), its
// score moves by kListedScoreStep or more since the row was written, its
// build or user changes, and at least daily while the device is decided:
// `recorded_at` is the device's last activity to within a day (from memory,
// without a store: its last decision).
struct DeviceListing {
  // The device's key, which orders devices of equal score: the tenant, a
  // newline, then "e:" and the EAS DeviceId or "m:" and the MDM id (the
  // engine's key of the device's history).
  std::string key;
  std::string tenant_id;
  std::string eas_device_id;  // "" for a device known by its MDM id only
  std::string mdm_device_id;
  std::string user_principal;  // the MDM's, else what a gateway reported
  Action enforced_action = Action::kAllow;
  Action evaluated_action = Action::kAllow;
  Level level = Level::kLow;
  double score = 0;
  std::string platform;    // "ios", "android"... (detector::PlatformName); ""
                           // for rows written before it was kept
  std::string build;       // "10A403"; "" when not an identified iOS build
  std::string os_version;  // "6.0" when the catalog or the device says so
  std::string model_name;  // "iPhone 4S"
  absl::Time recorded_at;
};

// Score changes smaller than this do not rewrite a device's row on their
// own (a decaying score would otherwise write at every check-in).
inline constexpr double kListedScoreStep = 1.0;

// Which devices. Empty fields and lists match every device.
struct DeviceQuery {
  std::string tenant_id;
  // Any of (NormalizeQuery sorts them and drops repeats).
  std::vector<Action> enforced_actions;
  std::vector<Action> evaluated_actions;
  std::vector<Level> levels;
  std::string user_principal;  // exact, ASCII case-insensitive
  // Letters and digits, exact, or a prefix when it ends in '*' ("10A*":
  // every iOS 6.0 build).
  std::string build;
  std::size_t page_size = 100;
  // Where the previous page ended (DecodePageToken), or none.
  std::optional<double> after_score;
  std::string after_key;
};

inline constexpr std::size_t kDefaultDevicePageSize = 100;
inline constexpr std::size_t kMaxDevicePageSize = 1000;

struct DevicePage {
  std::vector<DeviceListing> devices;
  std::string next_page_token;  // "" on the last page
};

// How many decided devices share one combination of these columns (the
// fleet's charts), from the same rows the list shows.
struct DeviceCount {
  std::string tenant_id;
  std::string platform;
  std::string os_version;
  std::string build;
  Action enforced_action = Action::kAllow;
  Action evaluated_action = Action::kAllow;
  Level level = Level::kLow;
  std::uint64_t devices = 0;
};

// Whether `value` passes a DeviceQuery list filter (empty: everything does).
template <typename T>
bool InFilter(const std::vector<T>& wanted, T value) {
  return wanted.empty() ||
         std::find(wanted.begin(), wanted.end(), value) != wanted.end();
}

// The key of a device from its tenant and ids (DeviceListing::key).
std::string ListingKey(const DeviceListing& d);
// The order of the list: score descending, then the device's key.
bool ListedBefore(const DeviceListing& a, const DeviceListing& b);
// Whether `d` passes the query's filters and comes after its page token.
bool Matches(const DeviceQuery& q, const DeviceListing& d);

// Page tokens are opaque to callers: the last row's position, bound to the
// query's filters (a token used with other filters is INVALID_ARGUMENT, so
// that a changed filter cannot skip rows unnoticed). Not a security
// boundary: the filters decide what is returned, whatever the token says.
std::string EncodePageToken(const DeviceQuery& q, const DeviceListing& last);
// Sets q->after_score and q->after_key; INVALID_ARGUMENT naming page_token.
absl::Status DecodePageToken(std::string_view token, DeviceQuery* q);

// Checks and completes a query as a caller sent it: the page size (0 is the
// default; over kMaxDevicePageSize is INVALID_ARGUMENT), the lists (sorted,
// without repeats), the build pattern and the user (no control characters).
// Errors name the field ("page_size 1001 is over the limit of 1000").
absl::Status NormalizeQuery(DeviceQuery* q);

}  // namespace hijackguard::policy
