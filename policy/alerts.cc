#include "policy/alerts.h"

#include <algorithm>

#include "common/strings.h"
#include "common/uuid.h"

namespace hijackguard::policy {

std::size_t AlertBytes(const ComplianceAlert& alert) {
  std::size_t bytes =
      sizeof(ComplianceAlert) + alert.alert_id.capacity() +
      alert.trigger.capacity() + alert.tenant_id.capacity() +
      alert.eas_device_id.capacity() + alert.mdm_device_id.capacity() +
      alert.user_principal.capacity() + alert.policy_revision.capacity() +
      alert.decision_id.capacity() + alert.reasons.capacity() * sizeof(Reason);
  for (const Reason& r : alert.reasons) {
    bytes += r.message.capacity();
  }
  if (alert.text != nullptr) {
    for (const std::string& t : *alert.text) bytes += t.capacity();
  }
  if (alert.user_alert) {
    bytes += alert.user_alert->title.capacity() +
             alert.user_alert->message.capacity() +
             alert.user_alert->remediation.capacity() +
             alert.user_alert->locale.capacity();
  }
  return bytes;
}

// ---------------------------------------------------------------------------
// AlertSubscription

AlertSubscription::AlertSubscription(std::string owner,
                                     std::string tenant_filter,
                                     const AlertLimits& limits,
                                     std::shared_ptr<AlertTotals> totals,
                                     std::function<void()> notify)
    : owner_(std::move(owner)),
      tenant_filter_(std::move(tenant_filter)),
      max_queue_(std::max<std::size_t>(limits.max_queue, 1)),
      max_queue_bytes_(limits.max_queue_bytes),
      totals_(std::move(totals)),
      notify_(std::move(notify)) {}

AlertSubscription::~AlertSubscription() { totals_->bytes.fetch_sub(bytes_); }

std::optional<ComplianceAlert> AlertSubscription::Pop() {
  std::shared_ptr<const ComplianceAlert> alert;
  {
    absl::MutexLock lock(&queue_mu_);
    if (queue_.empty()) {
      return std::nullopt;
    }
    alert = std::move(queue_.front().first);
    bytes_ -= queue_.front().second;
    totals_->bytes.fetch_sub(queue_.front().second);
    queue_.pop_front();
  }
  return *alert;
}

bool AlertSubscription::ended() const {
  absl::MutexLock lock(&queue_mu_);
  return ended_;
}

std::uint64_t AlertSubscription::dropped() const {
  absl::MutexLock lock(&queue_mu_);
  return dropped_;
}

std::size_t AlertSubscription::queued_bytes() const {
  absl::MutexLock lock(&queue_mu_);
  return bytes_;
}

void AlertSubscription::Close() {
  absl::MutexLock lock(&notify_mu_);
  closed_ = true;
  notify_ = nullptr;
}

void AlertSubscription::DropOldestLocked() {
  bytes_ -= queue_.front().second;
  totals_->bytes.fetch_sub(queue_.front().second);
  queue_.pop_front();
  ++dropped_;
  totals_->dropped.fetch_add(1, std::memory_order_relaxed);
}

bool AlertSubscription::DropOldest() {
  absl::MutexLock lock(&queue_mu_);
  if (queue_.empty()) {
    return false;
  }
  DropOldestLocked();
  return true;
}

bool AlertSubscription::Push(
    const std::shared_ptr<const ComplianceAlert>& alert, std::size_t bytes) {
  if (!tenant_filter_.empty() && tenant_filter_ != alert->tenant_id) {
    return false;
  }
  absl::MutexLock lock(&queue_mu_);
  while (!queue_.empty() &&
         (queue_.size() >= max_queue_ || bytes_ + bytes > max_queue_bytes_)) {
    DropOldestLocked();
  }
  queue_.emplace_back(alert, bytes);
  bytes_ += bytes;
  totals_->bytes.fetch_add(bytes);
  return true;
}

void AlertSubscription::End() {
  {
    absl::MutexLock lock(&queue_mu_);
    ended_ = true;
  }
  Notify();
}

void AlertSubscription::Notify() {
  absl::MutexLock lock(&notify_mu_);
  if (!closed_ && notify_) {
    notify_();
  }
}

// ---------------------------------------------------------------------------
// AlertHub

AlertHub::AlertHub(AlertLimits limits)
    : limits_(limits), totals_(std::make_shared<AlertTotals>()) {}

AlertHub::~AlertHub() { End(); }

std::vector<std::shared_ptr<AlertSubscription>> AlertHub::LiveLocked() {
  std::vector<std::shared_ptr<AlertSubscription>> live;
  std::erase_if(subscribers_, [&](const std::weak_ptr<AlertSubscription>& w) {
    std::shared_ptr<AlertSubscription> sub = w.lock();
    if (sub == nullptr) {
      return true;
    }
    live.push_back(std::move(sub));
    return false;
  });
  return live;
}

std::size_t AlertHub::subscribers() const {
  absl::MutexLock lock(&mu_);
  std::size_t n = 0;
  for (const std::weak_ptr<AlertSubscription>& w : subscribers_) {
    if (!w.expired()) ++n;
  }
  return n;
}

std::vector<std::shared_ptr<AlertSubscription>> AlertHub::Publish(
    ComplianceAlert alert, absl::Time decided_at) {
  std::vector<std::shared_ptr<AlertSubscription>> queued;
  absl::MutexLock lock(&mu_);
  alert.sequence = ++sequence_;
  if (alert.alert_id.empty()) {  // else the outbox entry's, kept
    alert.emitted_at = decided_at;
    alert.alert_id = NewUuidV7(decided_at);
  }
  const std::size_t bytes = AlertBytes(alert);
  auto shared = std::make_shared<const ComplianceAlert>(std::move(alert));
  std::vector<std::shared_ptr<AlertSubscription>> live = LiveLocked();
  for (const auto& sub : live) {
    if (sub->Push(shared, bytes)) {
      queued.push_back(sub);
    }
  }
  // The ceiling over every queue: the largest loses its oldest first.
  while (totals_->bytes.load() > limits_.max_total_bytes) {
    AlertSubscription* largest = nullptr;
    std::size_t most = 0;
    for (const auto& sub : live) {
      const std::size_t b = sub->queued_bytes();
      if (b > most) {
        most = b;
        largest = sub.get();
      }
    }
    if (largest == nullptr || !largest->DropOldest()) {
      break;
    }
  }
  return queued;
}

absl::StatusOr<std::shared_ptr<AlertSubscription>> AlertHub::Subscribe(
    std::string owner, std::string tenant_filter,
    std::function<void()> notify) {
  std::shared_ptr<AlertSubscription> sub(
      new AlertSubscription(std::move(owner), std::move(tenant_filter), limits_,
                            totals_, std::move(notify)));
  {
    absl::MutexLock lock(&mu_);
    if (!ended_) {
      const std::vector<std::shared_ptr<AlertSubscription>> live = LiveLocked();
      if (live.size() >= limits_.max_subscribers) {
        return absl::ResourceExhaustedError(
            StrCat("all ", limits_.max_subscribers,
                   " WatchAlerts slots are taken; try again later"));
      }
      const auto mine = static_cast<std::size_t>(std::count_if(
          live.begin(), live.end(),
          [&](const auto& s) { return s->owner_ == sub->owner_; }));
      if (mine >= limits_.max_subscribers_per_owner) {
        return absl::ResourceExhaustedError(
            StrCat("this caller already holds ", mine,
                   " WatchAlerts subscriptions, the most one principal may "
                   "(alerts.max_subscribers_per_principal); close one first"));
      }
      subscribers_.push_back(sub);
      return sub;
    }
  }
  // Shutting down: ended from the start, without a notification (the caller
  // may hold locks its callback takes).
  absl::MutexLock lock(&sub->queue_mu_);
  sub->ended_ = true;
  return sub;
}

void AlertHub::End() {
  std::vector<std::shared_ptr<AlertSubscription>> live;
  {
    absl::MutexLock lock(&mu_);
    ended_ = true;
    live = LiveLocked();
    subscribers_.clear();
  }
  for (const auto& sub : live) {
    sub->End();
  }
}

void AlertHub::Wake() {
  std::vector<std::shared_ptr<AlertSubscription>> live;
  {
    absl::MutexLock lock(&mu_);
    live = LiveLocked();
  }
  for (const auto& sub : live) {
    sub->Notify();
  }
}

std::uint64_t AlertHub::sequence() const {
  absl::MutexLock lock(&mu_);
  return sequence_;
}

}  // namespace hijackguard::policy
