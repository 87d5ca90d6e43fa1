#include "plugin/change_feed.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "common/sha256.h"
#include "common/strings.h"

namespace hijackguard::plugin {

std::string DeviceKey(std::string_view tenant, std::string_view device_id) {
  std::string joined(tenant);
  joined.push_back('\0');
  joined.append(device_id);
  return Sha256Hex(joined).substr(0, 32);
}

std::string ReplicaDeviceLine(std::string_view tenant,
                              std::string_view device_id) {
  return StrCat(tenant, " ", DeviceKey(tenant, device_id));
}

ChangeFeed::ChangeFeed(std::size_t capacity)
    : capacity_(std::max<std::size_t>(1, capacity)) {}

std::uint64_t ChangeFeed::seq() const {
  return seq_.load(std::memory_order_acquire);
}

void ChangeFeed::Append(std::string_view tenant, std::string_view device_id) {
  AppendKey(tenant, DeviceKey(tenant, device_id));
}

void ChangeFeed::AppendKey(std::string_view tenant, std::string key) {
  absl::MutexLock lock(&mu_);
  if (entries_.size() >= capacity_) entries_.pop_front();
  const std::uint64_t seq = seq_.load(std::memory_order_relaxed) + 1;
  entries_.push_back({seq, false, std::string(tenant), std::move(key)});
  seq_.store(seq, std::memory_order_release);
}

void ChangeFeed::AppendAll() {
  absl::MutexLock lock(&mu_);
  if (entries_.size() >= capacity_) entries_.pop_front();
  const std::uint64_t seq = seq_.load(std::memory_order_relaxed) + 1;
  entries_.push_back({seq, true, {}, {}});
  seq_.store(seq, std::memory_order_release);
}

ChangeFeed::Since ChangeFeed::Read(std::string_view tenant,
                                   std::uint64_t since) const {
  Since out;
  absl::MutexLock lock(&mu_);
  const std::uint64_t head = seq_.load(std::memory_order_relaxed);
  out.seq = head;
  const std::uint64_t oldest =
      entries_.empty() ? head + 1 : entries_.front().seq;
  if (since == 0 || since > head || since + 1 < oldest) {
    out.reset = head;
    return out;
  }
  // Entries are in seq order: start at the first after `since`.
  absl::flat_hash_map<std::string_view, std::uint64_t> last;
  for (std::size_t i = static_cast<std::size_t>(since + 1 - oldest);
       i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    if (e.all) {
      out.reset = e.seq;
    } else if (e.tenant == tenant) {
      last[e.key] = e.seq;
    }
  }
  for (const auto& [key, seq] : last) {
    if (seq > out.reset) out.keys.emplace_back(std::string(key), seq);
  }
  std::sort(out.keys.begin(), out.keys.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });
  return out;
}

}  // namespace hijackguard::plugin
