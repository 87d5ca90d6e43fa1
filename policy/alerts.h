// Compliance alerts and their subscribers (WatchAlerts). Every subscriber has
// a bounded queue: when it falls behind it loses its oldest alerts, and the
// gap shows in `sequence`. The bounds are in bytes as well as in count, the
// sum over all queues has a ceiling (beyond it the largest queue loses its
// oldest), and one owner (a principal) may hold only so many of the slots.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "policy/decision.h"
#include "policy/policy.h"

namespace hijackguard::policy {

// An alert: a device's evaluated action changed.
struct ComplianceAlert {
  std::uint64_t sequence = 0;  // 1, 2, ... per engine; gaps = dropped
  std::string alert_id;        // UUIDv7
  absl::Time emitted_at;
  std::string trigger;  // "CHECK_IN" or "TRAFFIC"
  std::string tenant_id;
  std::string eas_device_id;
  std::string mdm_device_id;
  std::string user_principal;
  Action old_action = Action::kAllow;  // evaluated
  Action new_action = Action::kAllow;  // evaluated
  Action enforced_action = Action::kAllow;
  Mode mode = Mode::kMonitor;
  double score = 0;
  std::vector<Reason> reasons;
  std::optional<UserAlert> user_alert;
  std::string policy_revision;
  std::string decision_id;
  // What the reasons' views point into when the alert was read back from
  // JSON (another replica raised it); null otherwise.
  std::shared_ptr<const std::vector<std::string>> text;
};

// What an alert costs in memory, roughly: its fields and strings.
std::size_t AlertBytes(const ComplianceAlert& alert);

// The alert as one JSON object, the form the SIEM outbox keeps (version 1):
// {"v": 1, "type": "alert", "alert_id", "emitted_at" (RFC 3339), "trigger",
// "tenant_id", "eas_device_id", "mdm_device_id", "user_principal",
// "old_action", "new_action", "enforced_action", "mode", "score",
// "reasons": [{"code", "message", "known_issue_id", "contribution"}],
// "policy_revision", "decision_id"}. Addresses are in clear: the sinks
// pseudonymize as configured.
std::string AlertJson(const ComplianceAlert& alert);

// AlertJson's object with the end user's alert as well ("user_alert":
// {"title", "message", "remediation", "locale"}, when there is one): what
// replicas sharing a store pass each other for their WatchAlerts subscribers.
std::string ReplicaAlertJson(const ComplianceAlert& alert);

// An alert from what AlertJson or ReplicaAlertJson wrote (sequence 0). A reason
// code this build does not know is kept as written. INVALID_ARGUMENT naming
// the field when the text is not such an alert.
absl::StatusOr<ComplianceAlert> ParseAlertJson(std::string_view json);

struct AlertLimits {
  // Alerts and bytes queued per subscriber before the oldest are dropped.
  std::size_t max_queue = 10'000;
  std::size_t max_queue_bytes = 4 << 20;
  // The sum of every subscriber's queued bytes; beyond it the largest queue
  // loses its oldest alerts.
  std::size_t max_total_bytes = 64 << 20;
  // Subscribers at once, and per owner.
  std::size_t max_subscribers = 64;
  std::size_t max_subscribers_per_owner = 16;
};

class AlertHub;

// What every queue of a hub adds to: their bytes, and the alerts they dropped.
struct AlertTotals {
  std::atomic<std::size_t> bytes{0};
  std::atomic<std::uint64_t> dropped{0};
};

// One subscriber's queue of alerts. Thread-safe.
class AlertSubscription {
 public:
  ~AlertSubscription();
  // The next alert, or nullopt when none is waiting.
  std::optional<ComplianceAlert> Pop();
  // True once the hub shut the subscription down.
  bool ended() const;
  // Stops notifications; after it returns the callback is not running and
  // will not run again.
  void Close();
  // Alerts dropped from this queue so far (it fell behind).
  std::uint64_t dropped() const;
  std::size_t queued_bytes() const;
  // Calls the subscriber's callback (after Publish, with no lock held).
  void Notify();

 private:
  friend class AlertHub;
  AlertSubscription(std::string owner, std::string tenant_filter,
                    const AlertLimits& limits,
                    std::shared_ptr<AlertTotals> totals,
                    std::function<void()> notify);
  // Queues the alert when it passes the filter (no notification).
  bool Push(const std::shared_ptr<const ComplianceAlert>& alert,
            std::size_t bytes);
  // Drops the oldest queued alert; false when the queue is empty.
  bool DropOldest();
  void DropOldestLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_);
  void End();

  const std::string owner_;
  const std::string tenant_filter_;
  const std::size_t max_queue_;
  const std::size_t max_queue_bytes_;
  const std::shared_ptr<AlertTotals> totals_;
  mutable absl::Mutex queue_mu_;
  // Alerts are shared between subscribers' queues, with their cost.
  std::deque<std::pair<std::shared_ptr<const ComplianceAlert>, std::size_t>>
      queue_ ABSL_GUARDED_BY(queue_mu_);
  std::size_t bytes_ ABSL_GUARDED_BY(queue_mu_) = 0;
  std::uint64_t dropped_ ABSL_GUARDED_BY(queue_mu_) = 0;
  bool ended_ ABSL_GUARDED_BY(queue_mu_) = false;
  absl::Mutex notify_mu_;  // taken before any lock the callback takes
  std::function<void()> notify_ ABSL_GUARDED_BY(notify_mu_);
  bool closed_ ABSL_GUARDED_BY(notify_mu_) = false;
};

// The subscribers and the alert sequence. Thread-safe.
class AlertHub {
 public:
  explicit AlertHub(AlertLimits limits);
  ~AlertHub();

  // A new subscriber owned by `owner` (a principal's id). `notify` is called
  // (without hub locks held) when the subscription has alerts or ended.
  // Empty `tenant_filter` = every tenant. RESOURCE_EXHAUSTED when all slots,
  // or all of the owner's, are taken; an ended subscription after End().
  absl::StatusOr<std::shared_ptr<AlertSubscription>> Subscribe(
      std::string owner, std::string tenant_filter,
      std::function<void()> notify);
  // Sequences `alert` (sequence; alert_id and emitted_at unless it has an
  // id already) and queues it for each
  // matching subscriber; returns those to notify once no lock is held.
  std::vector<std::shared_ptr<AlertSubscription>> Publish(
      ComplianceAlert alert, absl::Time decided_at);
  // Ends every subscription (server shutdown).
  void End();
  // Calls every live subscription's `notify`.
  void Wake();
  std::uint64_t sequence() const;
  std::size_t total_bytes() const { return totals_->bytes.load(); }
  // Alerts any queue dropped (its subscriber fell behind), over the hub's life.
  std::uint64_t dropped() const { return totals_->dropped.load(); }
  // Live subscriptions.
  std::size_t subscribers() const;

 private:
  std::vector<std::shared_ptr<AlertSubscription>> LiveLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const AlertLimits limits_;
  const std::shared_ptr<AlertTotals> totals_;
  mutable absl::Mutex mu_;
  std::uint64_t sequence_ ABSL_GUARDED_BY(mu_) = 0;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::weak_ptr<AlertSubscription>> subscribers_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace hijackguard::policy
