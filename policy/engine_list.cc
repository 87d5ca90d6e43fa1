// PolicyEngine::ListDevices: the decided devices, from the store when there is
// one, else from the engine's memory.
#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "policy/engine.h"

namespace hijackguard::policy {

absl::StatusOr<DevicePage> PolicyEngine::ListDevices(DeviceQuery query) const {
  RETURN_IF_ERROR(NormalizeQuery(&query));
  if (store_ != nullptr) {
    // Memory is only a cache then: the store has every device.
    return store_->ListDevices(query);
  }
  // One more than a page tells whether there is a next one.
  const std::size_t wanted = query.page_size + 1;
  const std::string tenant_prefix =
      query.tenant_id.empty() ? std::string() : query.tenant_id + "\n";
  std::vector<DeviceListing> found;
  for (const Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    for (const auto& [key, state] : shard.devices) {
      // The filters on the state first: a listing is built only for the
      // devices that may match.
      if (!key.starts_with(tenant_prefix) ||
          !InFilter(query.enforced_actions, state.enforced_action) ||
          !InFilter(query.evaluated_actions, state.last_action) ||
          !InFilter(query.levels, state.level)) {
        continue;
      }
      DeviceListing d = ListingOf(key, state, state.decided_at);
      if (!Matches(query, d)) {
        continue;
      }
      found.push_back(std::move(d));
      if (found.size() > 2 * wanted) {
        // Keep the memory of a scan bounded by the page, not the fleet.
        std::nth_element(found.begin(),
                         found.begin() + static_cast<std::ptrdiff_t>(wanted),
                         found.end(), ListedBefore);
        found.resize(wanted);
      }
    }
  }
  std::sort(found.begin(), found.end(), ListedBefore);
  DevicePage page;
  if (found.size() > query.page_size) {
    found.resize(query.page_size);
    page.next_page_token = EncodePageToken(query, found.back());
  }
  page.devices = std::move(found);
  return page;
}

absl::StatusOr<std::vector<DeviceCount>> PolicyEngine::CountDevices(
    std::string_view tenant_id) const {
  if (store_ != nullptr) {
    return store_->CountDevices(tenant_id);
  }
  const std::string tenant_prefix =
      tenant_id.empty() ? std::string() : StrCat(tenant_id, "\n");
  // Keyed by the columns, NUL-joined: a fleet has few combinations.
  absl::flat_hash_map<std::string, DeviceCount> counts;
  for (const Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    for (const auto& [key, state] : shard.devices) {
      if (!key.starts_with(tenant_prefix)) continue;
      const std::string_view tenant =
          std::string_view(key).substr(0, key.find('\n'));
      const char actions[] = {static_cast<char>(state.enforced_action),
                              static_cast<char>(state.last_action),
                              static_cast<char>(state.level)};
      DeviceCount& c = counts[StrCat(
          tenant, std::string_view("\0", 1), state.platform,
          std::string_view("\0", 1), state.os_version,
          std::string_view("\0", 1), state.build, std::string_view("\0", 1),
          std::string_view(actions, sizeof(actions)))];
      if (c.devices == 0) {
        c.tenant_id = std::string(tenant);
        c.platform = state.platform;
        c.os_version = state.os_version;
        c.build = state.build;
        c.enforced_action = state.enforced_action;
        c.evaluated_action = state.last_action;
        c.level = state.level;
      }
      ++c.devices;
    }
  }
  std::vector<DeviceCount> out;
  out.reserve(counts.size());
  for (auto& [key, count] : counts) {
    out.push_back(std::move(count));
  }
  return out;
}

}  // namespace hijackguard::policy
