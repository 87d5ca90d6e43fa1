#include "plugin/siem/delivery.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "absl/time/clock.h"
#include "common/log.h"
#include "common/strings.h"

namespace hijackguard::plugin::siem {

namespace {

std::string_view Message(const absl::Status& status) {
  return {status.message().data(), status.message().size()};
}

}  // namespace

struct SiemDelivery::Sink {
  SinkConfig config;
  std::unique_ptr<Transport> transport;
  std::thread thread;
  mutable absl::Mutex mu;
  // The cursor and the counts (the thread writes, stats() reads).
  std::uint64_t cursor ABSL_GUARDED_BY(mu) = 0;
  // The cursor as last submitted to the outbox: pruning goes no further, so
  // that a prune never commits ahead of the cursors it relies on.
  std::uint64_t saved ABSL_GUARDED_BY(mu) = 0;
  bool read_failing ABSL_GUARDED_BY(mu) = false;  // logged once
  SinkStats stats ABSL_GUARDED_BY(mu);
  bool positioned ABSL_GUARDED_BY(mu) = false;  // the cursor is set

  // The sink's saved cursor, else the oldest entry kept.
  void Position(const policy::OutboxState& state) {
    absl::MutexLock lock(&mu);
    // A new sink starts with the oldest entry kept; nothing before it is
    // its to deliver, so pruning up to there loses it nothing.
    cursor = state.oldest > 0 ? state.oldest - 1 : state.head;
    saved = cursor;
    for (const policy::SinkCursor& c : state.cursors) {
      if (c.sink == config.name) {
        cursor = c.delivered;
        saved = c.delivered;
        stats.dropped = c.dropped;
      }
    }
    positioned = true;
  }
};

SiemDelivery::SiemDelivery(Outbox* outbox, DeliveryOptions options)
    : outbox_(outbox), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<SiemDelivery>> SiemDelivery::Start(
    const SiemConfig& config, Outbox* outbox, DeliveryOptions options) {
  std::unique_ptr<SiemDelivery> d(new SiemDelivery(outbox, std::move(options)));
  for (const SinkConfig& c : config.sinks) {
    auto sink = std::make_unique<Sink>();
    sink->config = c;
    auto transport = d->options_.make_transport
                         ? d->options_.make_transport(c)
                         : MakeTransport(c, d->options_.version);
    if (!transport.ok()) return transport.status();
    sink->transport = std::move(*transport);
    {
      absl::MutexLock lock(&sink->mu);
      sink->stats.name = c.name;
    }
    d->sinks_.push_back(std::move(sink));
  }
  {
    absl::MutexLock lock(&d->mu_);
    d->last_prune_ = absl::Now();
  }
  // Positioned now, so that what is appended from here on is delivered;
  // a sink whose read fails positions itself in its thread.
  if (absl::StatusOr<policy::OutboxState> state = outbox->State(); state.ok()) {
    for (auto& sink : d->sinks_) sink->Position(*state);
  }
  for (auto& sink : d->sinks_) {
    Sink* s = sink.get();
    SiemDelivery* self = d.get();
    s->thread = std::thread([self, s] { self->Run(*s); });
  }
  return d;
}

SiemDelivery::~SiemDelivery() { Stop(); }

void SiemDelivery::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.SignalAll();
  for (auto& sink : sinks_) {
    if (sink->thread.joinable()) sink->thread.join();
  }
}

void SiemDelivery::Wake() {
  {
    absl::MutexLock lock(&mu_);
    ++wakes_;
  }
  cv_.SignalAll();
}

std::vector<SinkStats> SiemDelivery::stats() const {
  std::vector<SinkStats> out;
  for (const auto& sink : sinks_) {
    absl::MutexLock lock(&sink->mu);
    out.push_back(sink->stats);
  }
  return out;
}

bool SiemDelivery::Wait(absl::Duration d,
                        std::optional<std::uint64_t> seen_wakes) {
  const absl::Time until = absl::Now() + d;
  absl::MutexLock lock(&mu_);
  while (!stop_ && (!seen_wakes || wakes_ == *seen_wakes)) {
    if (cv_.WaitWithDeadline(&mu_, until)) break;  // timed out
  }
  return !stop_;
}

void SiemDelivery::Run(Sink& sink) {
  while (true) {
    bool waited = false;
    while (options_.may_deliver && !options_.may_deliver()) {
      waited = true;
      if (!Wait(options_.poll, std::nullopt)) return;
    }
    if (waited) {
      // Another replica may have delivered meanwhile: the cursor is read
      // again (the one from Start, or from before the turn passed, is old).
      absl::MutexLock lock(&sink.mu);
      sink.positioned = false;
    }
    if (!RunWhileAllowed(sink)) return;
  }
}

bool SiemDelivery::RunWhileAllowed(Sink& sink) {
  while (true) {
    {
      absl::MutexLock lock(&sink.mu);
      if (sink.positioned) break;
    }
    absl::StatusOr<policy::OutboxState> state = outbox_->State();
    if (state.ok()) {
      sink.Position(*state);
      break;
    }
    ReadFailed(sink, state.status());
    if (!Wait(options_.poll, std::nullopt)) {
      return false;
    }
  }
  absl::Duration backoff = sink.config.retry_min;
  while (true) {
    std::uint64_t wakes = 0;
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return false;
      wakes = wakes_;
    }
    if (options_.may_deliver && !options_.may_deliver()) return true;
    bool failed = false;
    const bool sent = DeliverBatch(sink, &failed);
    if (failed) {
      // Backoff, checking the bound each second so that a long outage
      // drops the oldest entries at the bound, not a minute later.
      const absl::Time until = absl::Now() + backoff;
      for (absl::Time now = absl::Now(); now < until; now = absl::Now()) {
        if (!Wait(std::min(absl::Seconds(1), until - now), std::nullopt)) {
          return false;
        }
        if (absl::StatusOr<policy::OutboxState> state = outbox_->State();
            state.ok()) {
          EnforceBound(sink, *state);
        }
      }
      backoff = std::min(backoff * 2, sink.config.retry_max);
      continue;
    }
    backoff = sink.config.retry_min;
    if (sent) continue;  // there may be more
    if (!Wait(options_.poll, wakes)) return false;
    // Commits wake every sink; one look per 50 ms is enough for them all.
    if (!Wait(absl::Milliseconds(50), std::nullopt)) return false;
  }
}

std::uint64_t SiemDelivery::EnforceBound(Sink& sink,
                                         const policy::OutboxState& state) {
  std::optional<policy::SinkCursor> save;
  std::optional<policy::SiemDropAudit> audit;
  std::uint64_t backlog = 0;
  {
    absl::MutexLock lock(&sink.mu);
    std::uint64_t target = sink.cursor;
    if (state.head > target + options_.max_backlog) {
      target = state.head - options_.max_backlog;
    }
    // Entries the outbox no longer has (the memory outbox's bound, or
    // entries pruned while the sink was not configured) are lost for it.
    const std::uint64_t kept_from =
        state.oldest > 0 ? state.oldest - 1 : state.head;
    target = std::max(target, kept_from);
    if (target > sink.cursor) {
      audit = policy::SiemDropAudit{.sink = sink.config.name,
                                    .first_seq = sink.cursor + 1,
                                    .last_seq = target,
                                    .count = target - sink.cursor};
      sink.stats.dropped += audit->count;
      sink.cursor = target;
      save =
          policy::SinkCursor{sink.config.name, sink.cursor, sink.stats.dropped};
    }
    backlog = state.head > sink.cursor ? state.head - sink.cursor : 0;
    sink.stats.backlog = backlog;
  }
  if (save) {
    Log(LogLevel::kWarning,
        "siem sink fell behind: its oldest undelivered entries are dropped",
        {{"sink", sink.config.name},
         {"first_seq", std::to_string(audit->first_seq)},
         {"last_seq", std::to_string(audit->last_seq)},
         {"count", std::to_string(audit->count)},
         {"max_backlog", std::to_string(options_.max_backlog)}});
    outbox_->SaveCursor(*save, std::move(audit));
    {
      absl::MutexLock lock(&sink.mu);
      sink.saved = std::max(sink.saved, save->delivered);
    }
    MaybePrune(state.oldest);
  }
  return backlog;
}

void SiemDelivery::ReadFailed(Sink& sink, const absl::Status& status) {
  {
    absl::MutexLock lock(&sink.mu);
    if (sink.read_failing) return;
    sink.read_failing = true;
  }
  Log(LogLevel::kError, "siem sink cannot read the outbox; retrying",
      {{"sink", sink.config.name}, {"error", Message(status)}});
}

bool SiemDelivery::DeliverBatch(Sink& sink, bool* failed) {
  const std::string& name = sink.config.name;
  absl::StatusOr<policy::OutboxState> state = outbox_->State();
  if (!state.ok()) {
    ReadFailed(sink, state.status());
    *failed = true;
    return false;
  }
  {
    absl::MutexLock lock(&sink.mu);
    if (sink.read_failing) {
      Log(LogLevel::kInfo, "siem sink reads the outbox again",
          {{"sink", name}});
    }
    sink.read_failing = false;
  }
  if (EnforceBound(sink, *state) == 0) {
    MaybePrune(state->oldest);  // idle: what every sink has delivered goes
    return false;
  }
  std::uint64_t cursor = 0;
  {
    absl::MutexLock lock(&sink.mu);
    cursor = sink.cursor;
  }
  absl::StatusOr<std::vector<policy::OutboxEntry>> entries =
      outbox_->Read(cursor, sink.config.batch);
  if (!entries.ok()) {
    ReadFailed(sink, entries.status());
    *failed = true;
    return false;
  }
  if (entries->empty()) return false;
  std::vector<SiemEvent> events;
  events.reserve(entries->size());
  std::uint64_t invalid = 0;
  for (const policy::OutboxEntry& e : *entries) {
    absl::StatusOr<SiemEvent> event =
        ParseOutboxPayload(e.payload, options_.pseudonym);
    if (!event.ok()) {
      // Never sent (a receiver could not read it either), never retried.
      ++invalid;
      Log(LogLevel::kError, "siem outbox entry skipped: it does not parse",
          {{"sink", name},
           {"seq", std::to_string(e.seq)},
           {"error", Message(event.status())}});
      continue;
    }
    events.push_back(std::move(*event));
  }
  if (!events.empty()) {
    const absl::Status sent = sink.transport->Send(events);
    absl::MutexLock lock(&sink.mu);
    if (!sent.ok()) {
      sink.stats.failed += events.size();
      if (sink.stats.up) {
        Log(LogLevel::kWarning, "siem sink is failing; retrying with backoff",
            {{"sink", name}, {"error", Message(sent)}});
      }
      sink.stats.up = false;
      *failed = true;
      return false;
    }
    if (!sink.stats.up) {
      Log(LogLevel::kInfo, "siem sink delivers again", {{"sink", name}});
    }
    sink.stats.up = true;
    sink.stats.delivered += events.size();
  }
  policy::SinkCursor save;
  std::uint64_t gap = 0;
  {
    absl::MutexLock lock(&sink.mu);
    // A gap before the first entry: the memory outbox let those go.
    const std::uint64_t first = entries->front().seq;
    if (first > sink.cursor + 1) {
      gap = first - sink.cursor - 1;
      sink.stats.dropped += gap;
    }
    sink.stats.invalid += invalid;
    sink.cursor = entries->back().seq;
    sink.stats.backlog =
        state->head > sink.cursor ? state->head - sink.cursor : 0;
    save = {name, sink.cursor, sink.stats.dropped};
  }
  if (gap > 0) {
    Log(LogLevel::kWarning,
        "siem sink lost entries the outbox no longer had (its bound)",
        {{"sink", name}, {"count", std::to_string(gap)}});
  }
  outbox_->SaveCursor(save, std::nullopt);
  {
    absl::MutexLock lock(&sink.mu);
    sink.saved = std::max(sink.saved, save.delivered);
  }
  MaybePrune(state->oldest);
  return true;
}

void SiemDelivery::MaybePrune(std::uint64_t oldest) {
  std::uint64_t through = std::numeric_limits<std::uint64_t>::max();
  for (const auto& sink : sinks_) {
    absl::MutexLock lock(&sink->mu);
    through = std::min(through, sink->saved);
  }
  {
    absl::MutexLock lock(&mu_);
    if (sinks_.empty()) return;
    // Rows a prune left (one deletes at most 10,000) go with the next.
    const bool left_over = oldest != 0 && oldest <= through;
    if (through <= pruned_through_ && !left_over) return;
    // Batched: a delete per few hundred entries or every few seconds, at
    // once while a large remainder is left.
    const bool large = left_over && through - oldest >= 10'000;
    if (!large && through - std::min(through, pruned_through_) < 256 &&
        absl::Now() - last_prune_ < absl::Seconds(5)) {
      return;
    }
    pruned_through_ = through;
    last_prune_ = absl::Now();
  }
  outbox_->Prune(through);
}

}  // namespace hijackguard::plugin::siem
