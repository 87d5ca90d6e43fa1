// PolicyEngine::ListDevices: the decided devices, from the store when there is
// one, else from the engine's memory.
#include <algorithm>

#include "common/status_macros.h"
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

}  // namespace hijackguard::policy
