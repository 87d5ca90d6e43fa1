// Which devices' decisions changed, in order, for gateways that keep
// answers (GET /v1/activesync/changes, docs/gateway.md): a gateway keeps an
// answer until the feed names its device, instead of asking again every
// second. Bounded: a reader too far behind is told to forget everything.
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace hijackguard::plugin {

// The key a gateway knows a device by: 32 hex digits of SHA-256 over the
// tenant and the device id (header-safe, whatever the device id holds).
std::string DeviceKey(std::string_view tenant, std::string_view device_id);

// "TENANT DEVICEKEY": how replicas sharing a store tell each other that a
// device's decision must be made again (tenant ids hold no spaces).
std::string ReplicaDeviceLine(std::string_view tenant,
                              std::string_view device_id);

class ChangeFeed {
 public:
  explicit ChangeFeed(std::size_t capacity = 65536);

  // The sequence number of the newest change (0: none yet).
  std::uint64_t seq() const;
  // A device's decision changed.
  void Append(std::string_view tenant, std::string_view device_id);
  // The same for the device `key` (DeviceKey) names.
  void AppendKey(std::string_view tenant, std::string key);
  // Every decision changed (the policy or the exemptions).
  void AppendAll();

  struct Since {
    std::uint64_t seq = 0;  // read up to here
    // Nonzero: answers decided before this change no longer count.
    std::uint64_t reset = 0;
    // DeviceKeys of `tenant`'s devices that changed after `since` (and after
    // `reset`), each with its last change.
    std::vector<std::pair<std::string, std::uint64_t>> keys;
  };
  // What changed after `since` for `tenant`. A reset when everything changed
  // (at that change), and, at the newest change, when `since` is 0 (a
  // reader's first read), older than what is kept, or newer than the feed.
  Since Read(std::string_view tenant, std::uint64_t since) const;

 private:
  struct Entry {
    std::uint64_t seq;
    bool all;
    std::string tenant;
    std::string key;
  };
  const std::size_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::atomic<std::uint64_t> seq_{0};  // written under mu_
};

}  // namespace hijackguard::plugin
