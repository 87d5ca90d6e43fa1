#include "plugin/decision_cache.h"

#include "absl/hash/hash.h"
#include "common/strings.h"

namespace hijackguard::plugin {

DecisionCache::DecisionCache(std::size_t max_entries)
    : max_per_shard_(std::max<std::size_t>(1, max_entries / kShards)) {}

std::string DecisionCache::Key(std::string_view tenant,
                               std::string_view device_id) {
  std::string key;
  key.reserve(tenant.size() + 1 + device_id.size());
  key.append(tenant);
  key.push_back('\0');  // neither may hold a NUL
  key.append(device_id);
  return key;
}

DecisionCache::Shard& DecisionCache::ShardFor(const std::string& key) const {
  return shards_[absl::Hash<std::string>{}(key) % kShards];
}

std::optional<CachedDecision> DecisionCache::Find(
    std::string_view tenant, std::string_view device_id) const {
  const std::string key = Key(tenant, device_id);
  Shard& shard = ShardFor(key);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.map.find(key);
  if (it == shard.map.end()) return std::nullopt;
  return it->second;
}

std::uint64_t DecisionCache::epoch(std::string_view tenant,
                                   std::string_view device_id) const {
  Shard& shard = ShardFor(Key(tenant, device_id));
  absl::MutexLock lock(&shard.mu);
  return shard.epoch;
}

void DecisionCache::Put(std::string_view tenant, std::string_view device_id,
                        CachedDecision decision, std::uint64_t epoch) {
  std::string key = Key(tenant, device_id);
  Shard& shard = ShardFor(key);
  absl::MutexLock lock(&shard.mu);
  if (shard.epoch != epoch) {
    return;
  }
  if (shard.map.size() >= max_per_shard_ && !shard.map.contains(key)) {
    shard.map.erase(shard.map.begin());
  }
  shard.map.insert_or_assign(std::move(key), std::move(decision));
}

void DecisionCache::Invalidate(std::string_view tenant,
                               std::string_view device_id) {
  const std::string key = Key(tenant, device_id);
  Shard& shard = ShardFor(key);
  absl::MutexLock lock(&shard.mu);
  ++shard.epoch;
  shard.map.erase(key);
}

std::size_t DecisionCache::size() const {
  std::size_t n = 0;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    n += shard.map.size();
  }
  return n;
}

}  // namespace hijackguard::plugin
