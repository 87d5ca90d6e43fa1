// The gateway's per-device decisions (docs/gateway.md): GET
// /v1/activesync/authorize runs on every ActiveSync request, so a device's
// decision is reused until its valid_until, and forgotten at once when its
// evidence, its check-in or the policy (or exemptions) change. Thread-safe;
// sharded so that lookups from many connections rarely meet.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "policy/decision.h"

namespace hijackguard::policy {
class Policy;
class ExemptionIndex;
}  // namespace hijackguard::policy

namespace hijackguard::plugin {

struct CachedDecision {
  policy::Action enforced = policy::Action::kAllow;
  policy::Action evaluated = policy::Action::kAllow;
  policy::Scope scope = policy::Scope::kNone;
  std::string decision_id;
  absl::Time valid_until;
  // What it was decided from: another client description, policy or
  // exemption list means deciding again.
  std::string user_agent;
  std::string protocol_version;
  std::string user;
  std::shared_ptr<const policy::Policy> policy;
  std::shared_ptr<const policy::ExemptionIndex> exemptions;
};

// Keyed by DeviceKey (change_feed.h): the key replicas name devices by.
class DecisionCache {
 public:
  // At most `max_entries` devices (an arbitrary one goes when full).
  explicit DecisionCache(std::size_t max_entries = 1'000'000);

  struct Found {
    CachedDecision decision;
    // Kept from before MarkAllStale: another replica's changes may have
    // been missed since it was made.
    bool stale = false;
  };
  std::optional<Found> Find(const std::string& device_key) const;
  // Read before deciding and pass to Put: a decision made while some
  // device's evidence changed is not kept (it may predate the change).
  std::uint64_t epoch(const std::string& device_key) const;
  void Put(const std::string& device_key, CachedDecision decision,
           std::uint64_t epoch);
  // The device's evidence or check-in changed (here or on another replica).
  void Invalidate(const std::string& device_key);
  // Every kept decision becomes stale (another replica's changes may have
  // been missed), and decisions being made now are not kept.
  void MarkAllStale();
  std::size_t size() const;

 private:
  static constexpr std::size_t kShards = 16;
  struct Entry {
    CachedDecision decision;
    std::uint64_t generation = 0;
  };
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, Entry> map ABSL_GUARDED_BY(mu);
    // Invalidations in this shard.
    std::uint64_t epoch ABSL_GUARDED_BY(mu) = 0;
  };
  Shard& ShardFor(const std::string& key) const;

  const std::size_t max_per_shard_;
  mutable std::array<Shard, kShards> shards_;
  // Entries of an older generation are stale (MarkAllStale).
  std::atomic<std::uint64_t> generation_{1};
};

}  // namespace hijackguard::plugin
