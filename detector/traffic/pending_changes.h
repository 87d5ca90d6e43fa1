// Client changes seen before the server state they refer to (reordered
// reports), per meeting, kept until that state arrives or they wait too long.
// With a store every list is a row, and the lists an operation changed are
// submitted at its end. Not thread-safe: the detector's mutex covers every
// call. Internal to the detector library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "detector/traffic/detector_state.h"
#include "detector/traffic/detector_store.h"

namespace hijackguard::detector {

class PendingChanges {
 public:
  PendingChanges(std::size_t max_pending, absl::Duration ttl)
      : max_(max_pending), ttl_(ttl) {}

  // Loads the lists a store holds (its rows: key, value) and records
  // changes from now on.
  [[nodiscard]] absl::Status Load(
      const std::vector<std::pair<std::string, std::string>>& rows);

  // The row key of a meeting's list.
  static std::string Key(std::string_view tenant, std::string_view mailbox,
                         std::string_view collection_id,
                         std::string_view server_id);
  // Shared stores: the list of `key` as the store has it now (`row`, or none)
  // replaces memory's, unless the running operation changed it.
  [[nodiscard]] absl::Status Refresh(const std::string& key,
                                     const std::optional<std::string>& row);
  // Shared stores, between operations: memory forgets every list (each is
  // read again when an operation needs it), so that nothing stale is swept
  // or counted. Nothing when lists are changed and not yet taken.
  void ForgetAll();
  // Keeps `item`, seen in `ctx`, until the server's state of its meeting
  // arrives. Counted as dropped when it is too large or the queue is full.
  void Add(const ItemContext& ctx, const ClientItem& item);
  // Removes and returns what waits for the meeting, oldest first.
  std::vector<PendingChange> Take(std::string_view tenant,
                                  std::string_view mailbox,
                                  std::string_view collection_id,
                                  std::string_view server_id);
  // The rows of the lists changed since the last call, appended to `*rows`.
  void TakeChangedRows(std::vector<StoreRow>* rows);
  // The operation failed: its changes are not submitted, and the lists it
  // changed are put back as they were (as the store still has them).
  void DropChanged();

  std::size_t count() const { return count_; }
  std::uint64_t dropped() const { return dropped_; }
  absl::Duration ttl() const { return ttl_; }

 private:
  void Sweep(absl::Time now);
  // Called before the list of `key` changes: with a store, it is submitted
  // at the operation's end, and kept as it was until then.
  void WillChange(const std::string& key);

  const std::size_t max_;
  const absl::Duration ttl_;
  bool durable_ = false;  // a store keeps the lists
  absl::flat_hash_map<std::string, std::vector<PendingChange>> lists_;
  std::size_t count_ = 0;
  std::uint64_t dropped_ = 0;
  absl::Time last_sweep_ = absl::InfinitePast();
  absl::flat_hash_set<std::string> changed_;
  // The changed lists as they were before the operation (nullopt: none).
  absl::flat_hash_map<std::string, std::optional<std::vector<PendingChange>>>
      before_;
};

}  // namespace hijackguard::detector
