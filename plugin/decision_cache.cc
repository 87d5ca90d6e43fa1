#include "plugin/decision_cache.h"

#include "absl/hash/hash.h"
#include "common/strings.h"

namespace hijackguard::plugin {

DecisionCache::DecisionCache(std::size_t max_entries)
    : max_per_shard_(std::max<std::size_t>(1, max_entries / kShards)) {}

DecisionCache::Shard& DecisionCache::ShardFor(const std::string& key) const {
  return shards_[absl::Hash<std::string>{}(key) % kShards];
}

std::optional<DecisionCache::Found> DecisionCache::Find(
    const std::string& device_key) const {
  Shard& shard = ShardFor(device_key);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.map.find(device_key);
  if (it == shard.map.end()) return std::nullopt;
  return Found{it->second.decision, it->second.generation < generation_.load()};
}

std::uint64_t DecisionCache::epoch(const std::string& device_key) const {
  Shard& shard = ShardFor(device_key);
  absl::MutexLock lock(&shard.mu);
  return shard.epoch;
}

void DecisionCache::Put(const std::string& device_key, CachedDecision decision,
                        std::uint64_t epoch) {
  Shard& shard = ShardFor(device_key);
  absl::MutexLock lock(&shard.mu);
  if (shard.epoch != epoch) {
    return;
  }
  if (shard.map.size() >= max_per_shard_ && !shard.map.contains(device_key)) {
    shard.map.erase(shard.map.begin());
  }
  shard.map.insert_or_assign(device_key,
                             Entry{std::move(decision), generation_.load()});
}

void DecisionCache::Invalidate(const std::string& device_key) {
  Shard& shard = ShardFor(device_key);
  absl::MutexLock lock(&shard.mu);
  ++shard.epoch;
  shard.map.erase(device_key);
}

void DecisionCache::MarkAllStale() {
  generation_.fetch_add(1);
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    ++shard.epoch;  // a decision under way may predate what was missed
  }
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
