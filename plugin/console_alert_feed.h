// The console's live alerts (docs/console.md): one engine subscription keeps
// the newest alerts in a ring, which the alerts page lists and each of its
// Server-Sent Events streams follows. The streams are bounded
// (`console.max_event_streams`): each holds one of the HTTP listener's
// threads, and the rest must stay free for the gateway.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "plugin/http_server.h"
#include "policy/alerts.h"
#include "policy/engine.h"

namespace hijackguard::plugin {

using SharedAlert = std::shared_ptr<const policy::ComplianceAlert>;

class ConsoleAlertFeed {
 public:
  // Keeps the newest `keep` alerts; at most `max_streams` streams at once.
  ConsoleAlertFeed(std::size_t keep, int max_streams);
  ~ConsoleAlertFeed();
  ConsoleAlertFeed(const ConsoleAlertFeed&) = delete;
  ConsoleAlertFeed& operator=(const ConsoleAlertFeed&) = delete;

  // Subscribes to `engine`'s alerts (which must outlive this), as the owner
  // "console".
  [[nodiscard]] absl::Status Start(policy::PolicyEngine* engine);

  // The kept alerts newer than `after` (a sequence; 0 for all), oldest
  // first, and how many alerts after `after` are no longer kept.
  struct Since {
    std::vector<SharedAlert> alerts;
    std::uint64_t missed = 0;
    std::uint64_t last = 0;  // the newest sequence seen (0: none yet)
  };
  Since After(std::uint64_t after) const;

  // How many times the feed has woken its streams so far.
  std::uint64_t wakes() const;
  // Waits until an alert newer than `after` arrives, the feed has woken its
  // streams more than `seen_wakes` times (a wake between reading wakes()
  // and waiting is not lost), `deadline` passes or `*cancelled` is set
  // (checked on each wake).
  void Wait(std::uint64_t after, std::uint64_t seen_wakes, absl::Time deadline,
            const std::atomic<bool>* cancelled) const;
  // Wakes every waiting stream, so that it looks again (a session ended,
  // the principals were reloaded, the server stops).
  void Wake() const;

  // A place for one stream of `owner` (a principal); the place is given
  // back when the slot goes. RESOURCE_EXHAUSTED when max_streams are taken,
  // or half of them (rounded up) by the owner, so that one analyst's tabs
  // cannot lock the others out; always with 0 (the live feed is off).
  class Slot {
   public:
    Slot(ConsoleAlertFeed* feed, std::string owner)
        : feed_(feed), owner_(std::move(owner)) {}
    ~Slot() { feed_->GiveBack(owner_); }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    ConsoleAlertFeed* feed_;
    std::string owner_;
  };
  absl::StatusOr<std::unique_ptr<Slot>> TakeSlot(const std::string& owner);
  int streams() const;
  std::size_t keep() const { return keep_; }
  int max_streams() const { return max_streams_; }

 private:
  // The subscription's notification: its alerts into the ring.
  void Drain();
  void GiveBack(const std::string& owner);

  const std::size_t keep_;
  const int max_streams_;
  mutable absl::Mutex slots_mu_;
  int taken_ ABSL_GUARDED_BY(slots_mu_) = 0;
  absl::flat_hash_map<std::string, int> taken_by_ ABSL_GUARDED_BY(slots_mu_);
  mutable absl::Mutex mu_;
  mutable absl::CondVar changed_;
  std::shared_ptr<policy::AlertSubscription> subscription_ ABSL_GUARDED_BY(mu_);
  std::deque<SharedAlert> ring_ ABSL_GUARDED_BY(mu_);
  std::uint64_t last_ ABSL_GUARDED_BY(mu_) = 0;
  mutable std::uint64_t wakes_ ABSL_GUARDED_BY(mu_) = 0;
};

// One browser's live feed: the alerts it may see as Server-Sent Events
// ("event: alert", the id their sequence, the data `to_json`'s), a comment
// every `heartbeat` so that proxies keep the connection, "event: missed"
// when the ring no longer held some, and "event: end" when the viewer may no
// longer read (the session ended, the principal was reloaded away). The
// viewer is judged anew on every wake and at least every `recheck`, when
// the connection is also checked (a closed tab gives its place back then).
class ConsoleAlertStream : public HttpStream {
 public:
  struct Options {
    const ConsoleAlertFeed* feed = nullptr;
    std::unique_ptr<ConsoleAlertFeed::Slot> slot;
    std::uint64_t after = 0;  // the newest sequence the viewer has
    // OK while the viewer may still read; the tenant filter, anew.
    using Visible = std::function<bool(const policy::ComplianceAlert&)>;
    std::function<absl::StatusOr<Visible>()> allowed;
    std::function<std::string(const policy::ComplianceAlert&)> to_json;
    absl::Duration heartbeat = absl::Seconds(15);
    absl::Duration recheck = absl::Seconds(1);
  };
  explicit ConsoleAlertStream(Options options);
  void Run(const Sink& sink) override;
  void Cancel() override;

 private:
  Options o_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace hijackguard::plugin
