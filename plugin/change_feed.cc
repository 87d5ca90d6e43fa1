#include "plugin/change_feed.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "common/sha256.h"
#include "common/strings.h"

namespace hijackguard::plugin {

std::string DeviceKey(std::string_view tenant, std::string_view device_id) {
  std::string joined(tenant);
  joined.push_back('\0');
  joined.append(device_id);
  return Sha256Hex(joined).substr(0, 32);
}

ChangeFeed::ChangeFeed(std::size_t capacity)
    : capacity_(std::max<std::size_t>(1, capacity)) {}

std::uint64_t ChangeFeed::seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seq_;
}

void ChangeFeed::Append(std::string_view tenant, std::string_view device_id) {
  std::string key = DeviceKey(tenant, device_id);
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.size() >= capacity_) entries_.pop_front();
  entries_.push_back({++seq_, false, std::string(tenant), std::move(key)});
}

void ChangeFeed::AppendAll() {
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.size() >= capacity_) entries_.pop_front();
  entries_.push_back({++seq_, true, {}, {}});
}

ChangeFeed::Since ChangeFeed::Read(std::string_view tenant,
                                   std::uint64_t since) const {
  Since out;
  std::lock_guard<std::mutex> lock(mu_);
  out.seq = seq_;
  const std::uint64_t oldest =
      entries_.empty() ? seq_ + 1 : entries_.front().seq;
  if (since == 0 || since > seq_ || since + 1 < oldest) {
    out.reset = since != seq_ || since == 0;
    return out;
  }
  // Entries are in seq order: skip to the first after `since`.
  const std::size_t first = static_cast<std::size_t>(since + 1 - oldest);
  absl::flat_hash_set<std::string_view> seen;
  for (std::size_t i = first; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    if (e.all) {
      out.reset = true;
      out.keys.clear();
      return out;
    }
    if (e.tenant == tenant && seen.insert(e.key).second) {
      out.keys.push_back(e.key);
    }
  }
  return out;
}

}  // namespace hijackguard::plugin
