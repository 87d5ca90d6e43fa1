#include "plugin/console_alert_feed.h"

#include <algorithm>
#include <utility>

#include "common/strings.h"
#include "nlohmann/json.hpp"

namespace hijackguard::plugin {

ConsoleAlertFeed::ConsoleAlertFeed(std::size_t keep, int max_streams)
    : keep_(std::max<std::size_t>(keep, 1)),
      max_streams_(std::max(max_streams, 0)) {}

ConsoleAlertFeed::~ConsoleAlertFeed() {
  std::shared_ptr<policy::AlertSubscription> subscription;
  {
    absl::MutexLock lock(&mu_);
    subscription = std::move(subscription_);
  }
  // Outside mu_: Close waits for a running notification, which takes it.
  if (subscription != nullptr) subscription->Close();
}

absl::Status ConsoleAlertFeed::Start(policy::PolicyEngine* engine) {
  absl::StatusOr<std::shared_ptr<policy::AlertSubscription>> subscribed =
      engine->Subscribe("console", "", [this] { Drain(); });
  if (!subscribed.ok()) return subscribed.status();
  {
    absl::MutexLock lock(&mu_);
    subscription_ = *std::move(subscribed);
  }
  Drain();  // what a notification before the assignment left queued
  return absl::OkStatus();
}

void ConsoleAlertFeed::Drain() {
  absl::MutexLock lock(&mu_);
  if (subscription_ == nullptr) return;
  while (std::optional<policy::ComplianceAlert> alert = subscription_->Pop()) {
    last_ = std::max(last_, alert->sequence);
    ring_.push_back(
        std::make_shared<const policy::ComplianceAlert>(*std::move(alert)));
    if (ring_.size() > keep_) ring_.pop_front();
  }
  // A notification without alerts is a wake (principals reloaded, the
  // engine ending its subscriptions): the streams look again either way.
  ++wakes_;
  changed_.SignalAll();
}

ConsoleAlertFeed::Since ConsoleAlertFeed::After(std::uint64_t after) const {
  Since since;
  absl::MutexLock lock(&mu_);
  since.last = last_;
  for (const SharedAlert& a : ring_) {
    if (a->sequence > after) since.alerts.push_back(a);
  }
  // Sequences count every alert of the engine: those between `after` and
  // the oldest kept are gone.
  if (!ring_.empty() && ring_.front()->sequence > after + 1 && after > 0) {
    since.missed = ring_.front()->sequence - after - 1;
  }
  return since;
}

std::uint64_t ConsoleAlertFeed::wakes() const {
  absl::MutexLock lock(&mu_);
  return wakes_;
}

void ConsoleAlertFeed::Wait(std::uint64_t after, std::uint64_t seen_wakes,
                            absl::Time deadline,
                            const std::atomic<bool>* cancelled) const {
  absl::MutexLock lock(&mu_);
  while (last_ <= after && wakes_ == seen_wakes && !cancelled->load()) {
    if (changed_.WaitWithDeadline(&mu_, deadline)) return;  // timed out
  }
}

void ConsoleAlertFeed::Wake() const {
  absl::MutexLock lock(&mu_);
  ++wakes_;
  changed_.SignalAll();
}

absl::StatusOr<std::unique_ptr<ConsoleAlertFeed::Slot>>
ConsoleAlertFeed::TakeSlot(const std::string& owner) {
  if (max_streams_ == 0) {
    return absl::ResourceExhaustedError(
        "the live feed is off on this server (console.max_event_streams is "
        "0): reload the page to see new alerts");
  }
  const int per_owner = (max_streams_ + 1) / 2;
  absl::MutexLock lock(&slots_mu_);
  if (taken_ >= max_streams_) {
    return absl::ResourceExhaustedError(
        StrCat("the live feed has ", max_streams_,
               " viewers already (console.max_event_streams); close another "
               "tab or try again later"));
  }
  int& mine = taken_by_[owner];
  if (mine >= per_owner) {
    return absl::ResourceExhaustedError(
        StrCat("you have the live feed open ", mine,
               " times already, as many as one principal may; close another "
               "tab with it"));
  }
  ++mine;
  ++taken_;
  return std::make_unique<Slot>(this, owner);
}

void ConsoleAlertFeed::GiveBack(const std::string& owner) {
  absl::MutexLock lock(&slots_mu_);
  --taken_;
  if (auto it = taken_by_.find(owner);
      it != taken_by_.end() && --it->second == 0) {
    taken_by_.erase(it);
  }
}

int ConsoleAlertFeed::streams() const {
  absl::MutexLock lock(&slots_mu_);
  return taken_;
}

ConsoleAlertStream::ConsoleAlertStream(Options options)
    : o_(std::move(options)) {}

void ConsoleAlertStream::Cancel() {
  cancelled_.store(true);
  o_.feed->Wake();
}

void ConsoleAlertStream::Run(const Sink& sink) {
  // A browser that loses the connection comes back after 5 s, with the last
  // id it had (Last-Event-ID).
  if (!sink.write("retry: 5000\n\n")) return;
  std::uint64_t sent = o_.after;
  // An id from before a restart (sequences start again at 1) is newer than
  // any here: everything kept is new to this viewer.
  if (sent > o_.feed->After(sent).last) sent = 0;
  absl::Time beat = absl::Now() + o_.heartbeat;
  while (!cancelled_.load()) {
    // Read before the viewer is judged: a sign-out after the judgement
    // wakes the wait below.
    const std::uint64_t wakes = o_.feed->wakes();
    absl::StatusOr<Options::Visible> visible = o_.allowed();
    if (!visible.ok()) {
      const absl::Status& s = visible.status();
      const nlohmann::json why = std::string(ToStd(s.message()));
      (void)sink.write(StrCat(
          "event: end\ndata: ",
          why.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
          "\n\n"));
      return;
    }
    ConsoleAlertFeed::Since since = o_.feed->After(sent);
    std::string out;
    if (since.missed > 0) {
      // How many is not said: they were of every tenant.
      out += "event: missed\ndata: {}\n\n";
    }
    for (const SharedAlert& a : since.alerts) {
      if ((*visible)(*a)) {
        StrAppend(&out, "id: ", a->sequence,
                  "\nevent: alert\ndata: ", o_.to_json(*a), "\n\n");
      }
    }
    sent = std::max(sent, since.last);
    const absl::Time now = absl::Now();
    if (out.empty() && now >= beat) out = ": still here\n\n";
    if (!out.empty()) {
      if (!sink.write(out)) return;
      beat = now + o_.heartbeat;
    }
    o_.feed->Wait(sent, wakes, std::min(beat, now + o_.recheck), &cancelled_);
    if (!sink.alive()) return;  // the browser went away
  }
}

}  // namespace hijackguard::plugin
