// The gateway endpoints on the HTTP listener (docs/gateway.md):
//   GET  /v1/activesync/authorize  nginx auth_request: decide a device from
//                                  the original request's target and headers
//   POST /v1/activesync/observe    ReportTrafficRequests as JSON or NDJSON
// Both need the `gateway` role for the tenant concerned.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "detector/known_issues.h"
#include "detector/traffic/traffic_detector.h"
#include "plugin/access.h"
#include "plugin/change_feed.h"
#include "plugin/decision_cache.h"
#include "plugin/http_server.h"
#include "plugin/traffic.h"
#include "policy/engine.h"
#include "policy/state_store.h"

namespace hijackguard::plugin {

struct GatewayOptions {
  // How long a decision is reused (as CheckInResponse.valid_until).
  absl::Duration decision_validity = absl::Hours(1);
  std::size_t max_cached_devices = 200'000;
  // How long the gateway may reuse an answer without asking
  // (X-Hijackguard-Reuse, whole seconds; zero: it asks every time), as long
  // as the change feed (GET /v1/activesync/changes) does not name the device.
  absl::Duration gateway_cache = absl::Seconds(60);
};

class GatewayService {
 public:
  // Everything must outlive the service; `store` may be null (in memory).
  GatewayService(std::shared_ptr<const detector::KnownIssueCatalog> catalog,
                 const Clock* clock, GatewayOptions options,
                 policy::PolicyEngine* engine,
                 detector::TrafficDetector* detector,
                 const TrafficHandler* traffic, const AccessControl* access,
                 policy::StateStore* store);

  void AddRoutes(HttpRouter* router);

  HttpResponse Authorize(const HttpRequest& request);
  HttpResponse Observe(const HttpRequest& request);
  HttpResponse Changes(const HttpRequest& request);

  // The device's decision must be made again (its evidence or check-in
  // changed).
  void Forget(std::string_view tenant, std::string_view device_id) {
    std::string key = DeviceKey(tenant, device_id);
    cache_.Invalidate(key);
    feed_.AppendKey(tenant, std::move(key));
  }
  // The same for devices another replica changed: `lines` holds "TENANT
  // DEVICEKEY" lines (ReplicaDeviceLine). With `all` (other replicas'
  // changes may have been missed) every kept decision becomes stale: it is
  // answered only while nothing can be decided (the database is down).
  void ForgetReplicaDevices(bool all, std::string_view lines);

  // Targets that named a device but could not be read (refused).
  std::uint64_t unreadable_targets() const { return unreadable_.load(); }
  const DecisionCache& cache() const { return cache_; }

 private:
  // Admits a caller of authorize or changes for the tenant it names
  // (X-Hijackguard-Tenant): that tenant, or why not.
  struct Admitted {
    Caller caller;
    std::string tenant;
  };
  absl::StatusOr<Admitted> AdmitForTenant(const HttpRequest& request) const;
  [[nodiscard]] absl::Status StoreWritable() const;
  [[nodiscard]] absl::Status WaitDurable(policy::StoreTicket ticket) const;

  std::shared_ptr<const detector::KnownIssueCatalog> catalog_;
  const Clock* clock_;
  const GatewayOptions options_;
  policy::PolicyEngine* engine_;
  detector::TrafficDetector* detector_;
  const TrafficHandler* traffic_;
  const AccessControl* access_;
  policy::StateStore* store_;
  // Appends a reset to the feed when the policy or the exemptions changed
  // since the last call.
  void NoteEngineChanges();

  DecisionCache cache_;
  ChangeFeed feed_;
  const std::string instance_;  // random, per process: a restart resets
  absl::Mutex engine_mu_;
  std::shared_ptr<const policy::Policy> seen_policy_
      ABSL_GUARDED_BY(engine_mu_);
  std::shared_ptr<const policy::ExemptionIndex> seen_exemptions_
      ABSL_GUARDED_BY(engine_mu_);
  std::atomic<std::uint64_t> unreadable_{0};
};

// The credentials an HTTP request presents: the X-Hijackguard-Token header
// (one at most) and the verified client certificate.
Credentials HttpCredentials(const HttpRequest& request);

}  // namespace hijackguard::plugin
