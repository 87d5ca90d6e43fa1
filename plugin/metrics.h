// The Prometheus metrics served at GET /metrics (docs/operations.md lists
// them). Two kinds: what is observed on the request path (request durations,
// gateway answers, commits, policy reloads), recorded here as it happens; and
// what the engine, the detector, the store and the traffic handler already
// count, read from them at each scrape. Names and labels are fixed; no label
// carries a device, a user or text a caller chose (an unknown HTTP path is
// "other").
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "plugin/access.h"

namespace prometheus {
class Counter;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace hijackguard {
namespace detector {
class TrafficDetector;
}  // namespace detector
namespace policy {
class PolicyEngine;
}  // namespace policy
namespace store {
class DurableStore;
}  // namespace store

namespace plugin {

class TrafficHandler;
namespace siem {
class SiemDelivery;
}

// What a scrape reads. Any may be null (that part is not shown); all must
// outlive the Metrics.
struct MetricsSources {
  const policy::PolicyEngine* engine = nullptr;
  const detector::TrafficDetector* detector = nullptr;
  const store::DurableStore* store = nullptr;  // null: the state is in memory
  const TrafficHandler* traffic = nullptr;
  const siem::SiemDelivery* siem = nullptr;  // null: no sinks
};

// Thread-safe.
class Metrics {
 public:
  explicit Metrics(std::string_view version);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Set once, before the first scrape.
  void SetSources(const MetricsSources& sources);
  // The HTTP paths given a label of their own. Set before the HTTP listener
  // starts (it is read without a lock).
  void SetHttpRoutes(std::vector<std::string> routes);

  // A gRPC call of `rpc` (CallCounts' observer), labelled with its full
  // method name ("/hijackguard.v1.CompliancePlugin/CheckIn").
  void ObserveGrpc(Rpc rpc, absl::StatusCode code, absl::Duration elapsed);
  // `gateway_action` is the authorization answer's X-Hijackguard-Action (""
  // when the route gave none).
  void ObserveHttp(std::string_view path, int status, absl::Duration elapsed,
                   std::string_view gateway_action);
  void ObserveCommit(absl::Duration elapsed, std::size_t batch);
  // A policy file reload (SIGHUP): "applied", "unchanged" or "failed".
  void CountPolicyReload(std::string_view result);

  // The Prometheus text exposition format (version 0.0.4).
  std::string Render() const;
  static constexpr std::string_view kContentType =
      "text/plain; version=0.0.4; charset=utf-8";

 private:
  class ScrapeTime;  // the values read at each scrape

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<ScrapeTime> scrape_time_;
  std::vector<std::string> http_routes_;
  prometheus::Family<prometheus::Histogram>* grpc_durations_;
  prometheus::Family<prometheus::Histogram>* http_durations_;
  prometheus::Family<prometheus::Counter>* gateway_answers_;
  // By GatewayAnswer's index, made at construction.
  std::array<prometheus::Counter*, 8> gateway_answer_counters_{};
  // HTTP histograms by (route index, status - 100; 500 for any other status),
  // made on first use; the last route index is "other".
  static constexpr std::size_t kHttpCodes = 501;
  std::vector<std::array<std::atomic<prometheus::Histogram*>, kHttpCodes>>
      http_slots_;
  prometheus::Family<prometheus::Counter>* policy_reloads_;
  prometheus::Histogram* commit_durations_;
  prometheus::Histogram* commit_batches_;
  // gRPC histograms by (rpc, code), made on first use.
  static constexpr std::size_t kGrpcCodes = 17;
  std::array<std::array<std::atomic<prometheus::Histogram*>, kGrpcCodes>,
             kRpcCount>
      grpc_slots_{};
};

}  // namespace plugin
}  // namespace hijackguard
