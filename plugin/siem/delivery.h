// Delivers the outbox to every configured sink: one thread per sink reads
// the entries after its cursor, in commit order (so in order per device),
// sends them in batches, and moves its cursor once the receiver has them; a
// failing sink is retried with exponential backoff, and one that falls more
// than max_backlog entries behind loses its oldest (counted, logged and, with
// a state store, audited). Nothing here blocks a decision: the engine only
// appends to the outbox.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "plugin/siem/outbox.h"
#include "plugin/siem/siem_config.h"
#include "plugin/siem/siem_event.h"
#include "plugin/siem/transport.h"

namespace hijackguard::plugin::siem {

struct SinkStats {
  std::string name;
  std::uint64_t delivered = 0;  // events the receiver took (this process)
  std::uint64_t failed = 0;     // events of failed attempts
  std::uint64_t dropped = 0;    // lost to max_backlog (ever, from the cursor)
  std::uint64_t invalid = 0;    // entries that did not parse (skipped)
  std::uint64_t backlog = 0;    // entries not yet delivered
  bool up = true;               // the last attempt succeeded
};

struct DeliveryOptions {
  std::uint64_t max_backlog = 100'000;
  Pseudonym pseudonym;  // user principals and device ids as sent
  std::string version;  // the build's (CEF header)
  // New entries are looked for at least this often (Wake sooner).
  absl::Duration poll = absl::Seconds(1);
  // Whether this process may deliver now (replicas on one database: the
  // one holding the outbox's lease); null: always. Without it the sinks
  // wait, and read their cursors again once it comes back (another replica
  // delivered meanwhile).
  std::function<bool()> may_deliver;
  // Tests: makes a sink's transport instead of MakeTransport.
  std::function<absl::StatusOr<std::unique_ptr<Transport>>(const SinkConfig&)>
      make_transport;
};

class SiemDelivery {
 public:
  // Makes every sink's transport (INVALID_ARGUMENT naming a file that
  // cannot be read) and starts their threads.
  static absl::StatusOr<std::unique_ptr<SiemDelivery>> Start(
      const SiemConfig& config, Outbox* outbox, DeliveryOptions options);
  // Stop().
  ~SiemDelivery();
  SiemDelivery(const SiemDelivery&) = delete;
  SiemDelivery& operator=(const SiemDelivery&) = delete;

  // Stops the threads. A syslog delivery in progress ends within the sink's
  // timeout (after its name resolves); a webhook's within its timeout per
  // connect, write and read.
  void Stop();
  // New entries may have been committed.
  void Wake();
  std::vector<SinkStats> stats() const;

 private:
  struct Sink;
  SiemDelivery(Outbox* outbox, DeliveryOptions options);
  void Run(Sink& sink);
  // Delivers while may_deliver allows; false once stopping.
  bool RunWhileAllowed(Sink& sink);
  // Moves a sink's cursor past what is beyond max_backlog (and past a gap
  // the memory outbox left); returns the backlog.
  std::uint64_t EnforceBound(Sink& sink, const policy::OutboxState& state);
  // One batch: false when there was nothing to send or it failed.
  bool DeliverBatch(Sink& sink, bool* failed);
  // Waits up to `d`, or until stopping, or (with `seen_wakes`) until Wake
  // is called after it; false when stopping.
  bool Wait(absl::Duration d, std::optional<std::uint64_t> seen_wakes);
  // Prunes through every sink's submitted cursor when enough is delivered
  // (`oldest`: the outbox's oldest entry, 0 when unknown or empty).
  void MaybePrune(std::uint64_t oldest);
  // Logs a failed outbox read once until a read succeeds again.
  void ReadFailed(Sink& sink, const absl::Status& status);

  Outbox* const outbox_;
  const DeliveryOptions options_;
  std::vector<std::unique_ptr<Sink>> sinks_;
  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::uint64_t wakes_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t pruned_through_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_prune_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hijackguard::plugin::siem
