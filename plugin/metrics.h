// The Prometheus metrics served at GET /metrics (docs/operations.md lists
// them). Two kinds: what is observed on the request path (request durations,
// gateway answers, commits, policy reloads), recorded here as it happens; and
// what the engine, the detector, the store and the traffic handler already
// count, read from them at each scrape. Names and labels are fixed; no label
// carries a device, a user or text a caller chose (an unknown gRPC method or
// HTTP path is "other").
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"

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
class SqliteStore;
}  // namespace store

namespace plugin {

class TrafficHandler;

// What a scrape reads. Any may be null (that part is not shown); all must
// outlive the Metrics.
struct MetricsSources {
  const policy::PolicyEngine* engine = nullptr;
  const detector::TrafficDetector* detector = nullptr;
  const store::SqliteStore* store = nullptr;  // null: the state is in memory
  const TrafficHandler* traffic = nullptr;
};

// Thread-safe.
class Metrics {
 public:
  // `grpc_methods` are the full method names ("/pkg.Service/Method") given
  // a label of their own.
  Metrics(std::string_view version, std::vector<std::string> grpc_methods);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Set once, before the first scrape.
  void SetSources(const MetricsSources& sources);
  // The HTTP paths given a label of their own. Set before the HTTP listener
  // starts (it is read without a lock).
  void SetHttpRoutes(std::vector<std::string> routes) {
    http_routes_ = std::move(routes);
  }

  void ObserveGrpc(std::string_view method, grpc::StatusCode code,
                   absl::Duration elapsed);
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
  const std::vector<std::string> grpc_methods_;  // index + 1; 0 is "other"
  std::vector<std::string> http_routes_;
  prometheus::Family<prometheus::Histogram>* grpc_durations_;
  prometheus::Family<prometheus::Histogram>* http_durations_;
  prometheus::Family<prometheus::Counter>* gateway_answers_;
  prometheus::Family<prometheus::Counter>* policy_reloads_;
  prometheus::Histogram* commit_durations_;
  prometheus::Histogram* commit_batches_;
  // gRPC histograms by (method, code), made on first use.
  static constexpr std::size_t kGrpcCodes = 17;
  std::vector<std::array<std::atomic<prometheus::Histogram*>, kGrpcCodes>>
      grpc_slots_;
};

}  // namespace plugin
}  // namespace hijackguard
