#include "plugin/metrics.h"

#include <algorithm>

#include "common/strings.h"
#include "detector/traffic/traffic_detector.h"
#include "google/protobuf/descriptor.h"
#include "plugin/siem/delivery.h"
#include "plugin/traffic.h"
#include "policy/engine.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"
#include "store/durable_store.h"

namespace hijackguard::plugin {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Request durations: 0.5 ms to 10 s (a stream's whole life lands in the top
// buckets or +Inf).
const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
      0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return *b;
}

// Submissions per commit: powers of two up to the queue's largest batch.
const prometheus::Histogram::BucketBoundaries& BatchBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};
  return *b;
}

// The full method name of a gRPC call ("/hijackguard.v1.PolicyAdmin/...").
std::string FullMethod(Rpc rpc) {
  const std::string_view name = RuleFor(rpc).name;
  for (const char* service :
       {"hijackguard.v1.CompliancePlugin", "hijackguard.v1.PolicyAdmin"}) {
    const google::protobuf::ServiceDescriptor* d =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            service);
    if (d != nullptr && d->FindMethodByName(std::string(name)) != nullptr) {
      return StrCat("/", service, "/", name);
    }
  }
  return "other";
}

// The gateway's answers as labels: the action it gave, or why it gave none.
constexpr std::array<std::string_view, 8> kGatewayAnswers = {
    "ALLOW",   "WARN",        "QUARANTINE", "BLOCK",
    "INVALID", "UNAVAILABLE", "REFUSED",    "ERROR"};

std::size_t GatewayAnswer(int status, std::string_view action) {
  for (std::size_t i = 0; i < 4; ++i) {
    if (action == kGatewayAnswers[i]) return i;
  }
  switch (status) {
    case 400:
      return 4;
    case 503:
      return 5;
    case 401:
    case 403:
      return 6;
    default:
      return 7;
  }
}

ClientMetric Value(double v, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = v;
  m.gauge.value = v;
  return m;
}

MetricFamily Family(std::string name, std::string help, MetricType type,
                    std::vector<ClientMetric> metrics) {
  return MetricFamily{std::move(name), std::move(help), type,
                      std::move(metrics)};
}

}  // namespace

// Reads the engine's, the detector's, the store's and the traffic handler's
// own counts at each scrape: nothing on their paths changes for metrics.
class Metrics::ScrapeTime final : public prometheus::Collectable {
 public:
  explicit ScrapeTime(std::string version) : version_(std::move(version)) {}

  void Set(const MetricsSources& sources) {
    absl::MutexLock lock(&mu_);
    sources_ = sources;
  }

  std::vector<MetricFamily> Collect() const override {
    MetricsSources s;
    {
      absl::MutexLock lock(&mu_);
      s = sources_;
    }
    std::vector<MetricFamily> out;
    out.push_back(Family("hijackguard_build_info",
                         "The running build: always 1, its version a label.",
                         MetricType::Gauge,
                         {Value(1, {{"version", version_}})}));
    std::uint64_t forgotten = 0;  // the engine's, beside the detector's
    if (s.engine != nullptr) forgotten = Engine(*s.engine, &out);
    if (s.detector != nullptr) Detector(*s.detector, forgotten, &out);
    if (s.traffic != nullptr) Traffic(*s.traffic, &out);
    Store(s.store, &out);
    if (s.siem != nullptr) Siem(*s.siem, &out);
    return out;
  }

 private:
  // Returns the devices whose history the engine let go.
  static std::uint64_t Engine(const policy::PolicyEngine& engine,
                              std::vector<MetricFamily>* out) {
    const policy::PolicyEngine::PolicyInfo info = engine.policy_info();
    out->push_back(
        Family("hijackguard_policy_info",
               "The policy in force: always 1, its revision and top-level mode "
               "labels.",
               MetricType::Gauge,
               {Value(1, {{"mode", std::string(policy::ModeName(
                                       info.policy->For("").mode.value))},
                          {"revision", info.policy->revision()}})}));
    const policy::EngineStats stats = engine.stats();
    std::vector<ClientMetric> decisions;
    constexpr policy::Action kActions[] = {
        policy::Action::kAllow, policy::Action::kWarn,
        policy::Action::kQuarantine, policy::Action::kBlock};
    for (policy::Action enforced : kActions) {
      for (policy::Action evaluated : kActions) {
        for (policy::Mode mode :
             {policy::Mode::kEnforce, policy::Mode::kMonitor}) {
          const std::uint64_t n =
              stats.decisions_by_outcome[policy::DecisionOutcomeIndex(
                  enforced, evaluated, mode)];
          if (n == 0) continue;
          decisions.push_back(Value(
              static_cast<double>(n),
              {{"enforced_action", std::string(policy::ActionName(enforced))},
               {"evaluated_action", std::string(policy::ActionName(evaluated))},
               {"mode", std::string(policy::ModeName(mode))}}));
        }
      }
    }
    out->push_back(Family("hijackguard_decisions_total",
                          "Decisions made (check-ins, gateway authorizations "
                          "and re-decisions after traffic), by outcome.",
                          MetricType::Counter, std::move(decisions)));
    out->push_back(Family("hijackguard_devices_cached",
                          "Devices whose decision history is held in memory.",
                          MetricType::Gauge,
                          {Value(static_cast<double>(stats.devices))}));
    out->push_back(
        Family("hijackguard_alert_subscribers", "WatchAlerts streams open now.",
               MetricType::Gauge,
               {Value(static_cast<double>(stats.alert_subscribers))}));
    out->push_back(
        Family("hijackguard_alerts_dropped_total",
               "Alerts a WatchAlerts subscriber lost because it fell behind.",
               MetricType::Counter,
               {Value(static_cast<double>(stats.alerts_dropped))}));
    return stats.devices_forgotten;
  }

  static void Detector(const detector::TrafficDetector& detector,
                       std::uint64_t engine_forgotten,
                       std::vector<MetricFamily>* out) {
    const detector::DetectorStats stats = detector.stats();
    std::vector<ClientMetric> events;
    for (std::size_t k = 0; k < detector::kEventKindCount; ++k) {
      events.push_back(
          Value(static_cast<double>(stats.events_by_kind[k]),
                {{"kind", std::string(detector::EventKindName(
                              static_cast<detector::EventKind>(k)))}}));
    }
    out->push_back(Family("hijackguard_detection_events_total",
                          "Detection events raised from traffic, by kind.",
                          MetricType::Counter, std::move(events)));
    out->push_back(Family(
        "hijackguard_ledger_meetings",
        "Meetings in the ledger held in memory (with a state store, "
        "the rest are paged in when needed).",
        MetricType::Gauge, {Value(static_cast<double>(stats.ledger_entries))}));
    out->push_back(Family(
        "hijackguard_cache_evictions_total",
        "Entries a bounded in-memory cache let go (a state store pages them "
        "in again).",
        MetricType::Counter,
        {Value(static_cast<double>(stats.devices_evicted),
               {{"cache", "traffic_devices"}}),
         Value(static_cast<double>(stats.ledger_evictions),
               {{"cache", "ledger"}}),
         Value(static_cast<double>(engine_forgotten),
               {{"cache", "decision_history"}})}));
  }

  static void Traffic(const TrafficHandler& traffic,
                      std::vector<MetricFamily>* out) {
    const auto outcomes = traffic.outcomes();
    constexpr std::array<std::string_view, TrafficHandler::kOutcomes> kNames = {
        "accepted", "rejected", "refused", "unavailable"};
    std::vector<ClientMetric> metrics;
    for (std::size_t i = 0; i < kNames.size(); ++i) {
      metrics.push_back(Value(static_cast<double>(outcomes[i]),
                              {{"result", std::string(kNames[i])}}));
    }
    out->push_back(Family(
        "hijackguard_observations_total",
        "Traffic observations answered with an ack, by result (rejected: an "
        "item error in the observation itself).",
        MetricType::Counter, std::move(metrics)));
  }

  static void Store(const store::DurableStore* store,
                    std::vector<MetricFamily>* out) {
    const bool up = store == nullptr || store->health().ok();
    out->push_back(Family("hijackguard_store_up",
                          "1 while the state store can write (always 1 with "
                          "the state in memory).",
                          MetricType::Gauge, {Value(up ? 1 : 0)}));
    const double queued =
        store == nullptr ? 0 : static_cast<double>(store->stats().queued);
    out->push_back(Family("hijackguard_store_queue_depth",
                          "Submissions waiting for the state store's writer.",
                          MetricType::Gauge, {Value(queued)}));
  }

  static void Siem(const siem::SiemDelivery& siem,
                   std::vector<MetricFamily>* out) {
    std::vector<ClientMetric> deliveries;
    std::vector<ClientMetric> backlog;
    for (const siem::SinkStats& s : siem.stats()) {
      auto count = [&](std::uint64_t n, const char* result) {
        deliveries.push_back(Value(static_cast<double>(n),
                                   {{"result", result}, {"sink", s.name}}));
      };
      count(s.delivered, "delivered");
      count(s.failed, "failed");
      count(s.dropped, "dropped");
      count(s.invalid, "invalid");
      backlog.push_back(
          Value(static_cast<double>(s.backlog), {{"sink", s.name}}));
    }
    out->push_back(Family(
        "hijackguard_siem_deliveries_total",
        "Alerts and audit checkpoints per SIEM sink, by result: delivered, "
        "failed (an attempt the receiver did not take; retried), dropped "
        "(beyond siem.max_backlog), invalid (an outbox entry that did not "
        "parse).",
        MetricType::Counter, std::move(deliveries)));
    out->push_back(Family("hijackguard_siem_backlog",
                          "Outbox entries a SIEM sink has not delivered yet.",
                          MetricType::Gauge, std::move(backlog)));
  }

  const std::string version_;
  mutable absl::Mutex mu_;
  MetricsSources sources_ ABSL_GUARDED_BY(mu_);
};

Metrics::Metrics(std::string_view version)
    : registry_(std::make_shared<prometheus::Registry>()),
      scrape_time_(std::make_unique<ScrapeTime>(std::string(version))) {
  grpc_durations_ = &prometheus::BuildHistogram()
                         .Name("hijackguard_grpc_request_duration_seconds")
                         .Help(
                             "gRPC calls of hijackguard's services, from their "
                             "handler's start to "
                             "their status, by method and "
                             "status code.")
                         .Register(*registry_);
  http_durations_ =
      &prometheus::BuildHistogram()
           .Name("hijackguard_http_request_duration_seconds")
           .Help(
               "HTTP requests on the HTTP listener, from their routing to "
               "their answer, by route and status code.")
           .Register(*registry_);
  gateway_answers_ =
      &prometheus::BuildCounter()
           .Name("hijackguard_gateway_authorizations_total")
           .Help(
               "Answers of GET /v1/activesync/authorize: the action, or "
               "REFUSED, INVALID, UNAVAILABLE or ERROR.")
           .Register(*registry_);
  for (std::size_t i = 0; i < kGatewayAnswers.size(); ++i) {
    gateway_answer_counters_[i] =
        &gateway_answers_->Add({{"answer", std::string(kGatewayAnswers[i])}});
  }
  policy_reloads_ = &prometheus::BuildCounter()
                         .Name("hijackguard_policy_reloads_total")
                         .Help("Policy file reloads (SIGHUP), by result.")
                         .Register(*registry_);
  for (std::string_view result : {"applied", "unchanged", "failed"}) {
    policy_reloads_->Add({{"result", std::string(result)}});
  }
  commit_durations_ =
      &prometheus::BuildHistogram()
           .Name("hijackguard_store_commit_duration_seconds")
           .Help("State store transactions, each with its fsync.")
           .Register(*registry_)
           .Add({}, DurationBuckets());
  commit_batches_ =
      &prometheus::BuildHistogram()
           .Name("hijackguard_store_commit_batch_size")
           .Help("Submissions carried by one state store transaction.")
           .Register(*registry_)
           .Add({}, BatchBuckets());
}

Metrics::~Metrics() = default;

void Metrics::SetSources(const MetricsSources& sources) {
  scrape_time_->Set(sources);
}

void Metrics::ObserveGrpc(Rpc rpc, absl::StatusCode code,
                          absl::Duration elapsed) {
  const auto r = static_cast<std::size_t>(rpc);
  const auto c = static_cast<std::size_t>(code);
  if (r >= kRpcCount || c >= kGrpcCodes) return;  // not a code gRPC defines
  std::atomic<prometheus::Histogram*>& slot = grpc_slots_[r][c];
  prometheus::Histogram* h = slot.load(std::memory_order_acquire);
  if (h == nullptr) {
    // Family::Add returns the same histogram for the same labels.
    h = &grpc_durations_->Add(
        {{"method", FullMethod(rpc)}, {"code", absl::StatusCodeToString(code)}},
        DurationBuckets());
    slot.store(h, std::memory_order_release);
  }
  h->Observe(absl::ToDoubleSeconds(elapsed));
}

void Metrics::SetHttpRoutes(std::vector<std::string> routes) {
  http_routes_ = std::move(routes);
  http_slots_ =
      std::vector<std::array<std::atomic<prometheus::Histogram*>, kHttpCodes>>(
          http_routes_.size() + 1);
}

void Metrics::ObserveHttp(std::string_view path, int status,
                          absl::Duration elapsed,
                          std::string_view gateway_action) {
  std::size_t r = 0;
  while (r < http_routes_.size() && http_routes_[r] != path) ++r;
  const bool known = status >= 100 && status <= 599;
  const std::size_t c =
      known ? static_cast<std::size_t>(status - 100) : kHttpCodes - 1;
  if (r >= http_slots_.size()) return;  // SetHttpRoutes was not called
  std::atomic<prometheus::Histogram*>& slot = http_slots_[r][c];
  prometheus::Histogram* h = slot.load(std::memory_order_acquire);
  if (h == nullptr) {
    h = &http_durations_->Add(
        {{"route", r < http_routes_.size() ? http_routes_[r] : "other"},
         {"code", known ? std::to_string(status) : "0"}},
        DurationBuckets());
    slot.store(h, std::memory_order_release);
  }
  h->Observe(absl::ToDoubleSeconds(elapsed));
  if (path == "/v1/activesync/authorize" && r < http_routes_.size()) {
    gateway_answer_counters_[GatewayAnswer(status, gateway_action)]
        ->Increment();
  }
}

void Metrics::ObserveCommit(absl::Duration elapsed, std::size_t batch) {
  commit_durations_->Observe(absl::ToDoubleSeconds(elapsed));
  commit_batches_->Observe(static_cast<double>(batch));
}

void Metrics::CountPolicyReload(std::string_view result) {
  policy_reloads_->Add({{"result", std::string(result)}}).Increment();
}

std::string Metrics::Render() const {
  std::vector<MetricFamily> families = registry_->Collect();
  std::vector<MetricFamily> read = scrape_time_->Collect();
  families.insert(families.end(), std::make_move_iterator(read.begin()),
                  std::make_move_iterator(read.end()));
  std::sort(families.begin(), families.end(),
            [](const MetricFamily& a, const MetricFamily& b) {
              return a.name < b.name;
            });
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace hijackguard::plugin
