#include "plugin/server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/hmac.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "plugin/access.h"
#include "plugin/alert_stream.h"
#include "plugin/change_feed.h"
#include "plugin/compliance_service.h"
#include "plugin/console_routes.h"
#include "plugin/console_sessions.h"
#include "plugin/detector_evidence.h"
#include "plugin/event_log.h"
#include "plugin/gateway_service.h"
#include "plugin/metrics.h"
#include "plugin/ops_routes.h"
#include "plugin/policy_admin_service.h"
#include "plugin/refusal_log.h"
#include "plugin/siem/delivery.h"
#include "plugin/siem/outbox.h"
#include "plugin/state_retention.h"
#include "plugin/tls_files.h"
#include "plugin/version.h"
#include "plugin/wire_decoder.h"
#include "store/audit_key.h"
#include "store/audit_log.h"
#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_store.h"

namespace hijackguard::plugin {
namespace {

constexpr const char* kServiceName = "hijackguard.v1.CompliancePlugin";
constexpr const char* kAdminServiceName = "hijackguard.v1.PolicyAdmin";
// How long a device's activity alone (observation count, last activity) may
// wait to be written: what a crash can lose of it, never evidence.
constexpr std::chrono::minutes kActivityInterval(1);
// The alerts the console keeps for its alerts page.
constexpr std::size_t kConsoleAlertsKept = 500;

// Removes server reflection, which the builder would otherwise add (it is
// registered process-wide and cannot be limited per caller).
class WithoutReflection final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*
                         plugins) override {
    std::erase_if(*plugins, [](const auto& p) {
      return p->name() == "proto_server_reflection";
    });
  }
};

// "host:port" with the port replaced by the bound one.
std::string BoundAddress(const std::string& listen, int port) {
  const std::size_t colon = listen.rfind(':');
  return StrCat(colon == std::string::npos ? listen : listen.substr(0, colon),
                ":", port);
}

}  // namespace

struct PluginServer::State {
  std::string policy_path;
  // The revision of the policy file when it was last read (at start or by
  // ReloadPolicy): a reload applies the file only when it has changed since,
  // so that an unchanged file never replaces a policy applied through the
  // API (the same rule as at start).
  absl::Mutex reload_mu;
  std::string file_revision ABSL_GUARDED_BY(reload_mu);
  std::size_t max_policy_bytes = 0;
  absl::Duration checkpoint_interval;
  const Clock* clock = nullptr;
  // With an HTTP listener (null without: nothing could read them). Before
  // the store, whose writer thread records its commits here.
  std::unique_ptr<Metrics> metrics;
  // SIEM delivery (with siem.sinks): what it reads, and its threads. Before
  // the store, whose writer wakes it (`siem_wake`, null until delivery
  // starts); Shutdown stops the threads before the store closes.
  std::unique_ptr<siem::MemoryOutbox> memory_outbox;
  std::unique_ptr<siem::StoreOutbox> store_outbox;
  std::unique_ptr<store::Pseudonymizer> siem_pseudonym;
  std::unique_ptr<siem::SiemDelivery> siem_delivery;
  std::atomic<siem::SiemDelivery*> siem_wake{nullptr};
  void StopSiem() {
    siem_wake = nullptr;
    if (siem_delivery != nullptr) siem_delivery->Stop();
  }
  // Destroyed after everything that submits to it.
  std::unique_ptr<store::DurableStore> store;
  // What every part submits to and waits on: `store`, or a test's wrapper
  // of it (ServerOptions::wrap_store_for_testing); null without a store.
  policy::StateStore* shared_store = nullptr;
  std::unique_ptr<store::Pseudonymizer> pseudonym;
  std::unique_ptr<EventLog> event_log;  // decisions and detections
  std::unique_ptr<RefusalLog> refusals;
  std::unique_ptr<AccessControl> access;
  std::unique_ptr<TlsFiles> tls;  // null for plaintext
  bool http_tls = false;
  std::unique_ptr<detector::TrafficDetector> detector;
  std::unique_ptr<DetectorEvidence> evidence;  // the engine's, from detector
  std::unique_ptr<policy::PolicyEngine> engine;
  CallCounts calls;
  std::unique_ptr<PolicyAdminService> admin;
  std::unique_ptr<TrafficHandler> traffic;
  std::unique_ptr<CheckInHandler> handler;
  std::unique_ptr<CompliancePluginService> service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<GatewayService> gateway;
  // Read by the HTTP listener's threads: destroyed after it.
  std::unique_ptr<ConsoleSessions> console_sessions;
  std::unique_ptr<ConsoleAlertFeed> console_alerts;
  std::unique_ptr<AuditWatch> audit_watch;  // with a store
  std::unique_ptr<HttpServer> http;         // stopped after gRPC has drained
  // Destroyed before the store and the engine it reads.
  std::unique_ptr<StateRetention> retention;
  [[nodiscard]] absl::Status StartSiem(const ServerOptions& options,
                                       const std::string& audit_key);
  std::once_flag shutdown_once;

  // Health: SERVING while the store can write and the server is not
  // stopping.
  absl::Mutex health_mu;
  bool store_ok ABSL_GUARDED_BY(health_mu) = true;
  bool stopping ABSL_GUARDED_BY(health_mu) = false;
  void SetStoreHealth(const absl::Status& status);
  void PublishHealthLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(health_mu);

  // Housekeeping: refused calls and the devices' activity written each
  // minute, checkpoints logged.
  absl::Mutex housekeeping_mu;
  absl::CondVar housekeeping_cv;
  bool housekeeping_stop ABSL_GUARDED_BY(housekeeping_mu) = false;
  std::thread housekeeping;
  void Housekeeping(PluginServer* owner);
  void StopHousekeeping();

  // BuildServer's steps, in order.
  // The store opened and attached; returns the audit key (a random one
  // without a store and key file).
  absl::StatusOr<std::string> OpenState(const ServerOptions& options,
                                        const std::string& origin);
  void MakeHandlers(const ServerOptions& options, const std::string& audit_key);
  // Returns the bound port.
  absl::StatusOr<int> StartGrpc(const ServerOptions& options);
  // OK while the server may take traffic (/readyz).
  absl::Status Ready();
  [[nodiscard]] absl::Status StartHttp(const ServerOptions& options);
};

void PluginServer::State::Housekeeping(PluginServer* owner) {
  absl::Time next_checkpoint = absl::Now() + checkpoint_interval;
  // A steady clock: a step of the wall clock must not postpone it.
  auto next_activity = std::chrono::steady_clock::now() + kActivityInterval;
  while (true) {
    {
      absl::MutexLock lock(&housekeeping_mu);
      if (!housekeeping_stop) {
        housekeeping_cv.WaitWithTimeout(&housekeeping_mu, absl::Seconds(5));
      }
      if (housekeeping_stop) break;
    }
    TrimMemoryIfPending();
    refusals->Flush(clock->Now());  // the clock refusals are counted by
    if (std::chrono::steady_clock::now() >= next_activity) {
      detector->WriteActivity();
      next_activity = std::chrono::steady_clock::now() + kActivityInterval;
    }
    if (store != nullptr && checkpoint_interval > absl::ZeroDuration() &&
        absl::Now() >= next_checkpoint) {
      (void)owner->LogAuditCheckpoint();
      next_checkpoint = absl::Now() + checkpoint_interval;
    }
  }
}

void PluginServer::State::SetStoreHealth(const absl::Status& status) {
  absl::MutexLock lock(&health_mu);
  store_ok = status.ok();
  PublishHealthLocked();
}

void PluginServer::State::PublishHealthLocked() const {
  if (server == nullptr || stopping) {
    return;
  }
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  if (health == nullptr) {
    return;
  }
  health->SetServingStatus(store_ok);  // the overall status ("")
  health->SetServingStatus(kServiceName, store_ok);
  health->SetServingStatus(kAdminServiceName, store_ok);
  LogInfo(StrCat("health: ", store_ok ? "SERVING" : "NOT_SERVING",
                 store_ok ? " (the state store writes again)"
                          : " (the state store cannot write)"));
}

void PluginServer::State::StopHousekeeping() {
  {
    absl::MutexLock lock(&housekeeping_mu);
    housekeeping_stop = true;
  }
  housekeeping_cv.SignalAll();
  if (housekeeping.joinable()) {
    housekeeping.join();
  }
}

PluginServer::PluginServer() : state_(std::make_unique<State>()) {}

PluginServer::~PluginServer() { Shutdown(absl::ZeroDuration()); }

void PluginServer::Shutdown(absl::Duration grace) {
  std::call_once(state_->shutdown_once, [&] {
    if (state_->store != nullptr) {
      // It would call into members that go before the store does.
      state_->store->SetHealthCallback(nullptr);
    }
    // The gateway goes before the engine that tells it of other replicas'
    // changes: the engine stops telling once the gateway stopped answering.
    auto stop_http = [this] {
      if (state_->http != nullptr) state_->http->Stop();
      if (state_->engine != nullptr) {
        state_->engine->SetReplicaDeviceListener(nullptr);
      }
    };
    if (state_->server == nullptr) {
      stop_http();
      state_->StopSiem();
      return;
    }
    {
      absl::MutexLock lock(&state_->health_mu);
      state_->stopping = true;
      if (auto* health = state_->server->GetHealthCheckService()) {
        health->SetServingStatus(false);
      }
    }
    state_->engine->EndSubscriptions();
    // The HTTP listener serves through gRPC's drain, /readyz answering 503,
    // so that a load balancer sees the server leave before it is gone.
    state_->server->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    state_->server->Wait();
    stop_http();
    if (state_->audit_watch != nullptr) state_->audit_watch->Stop();
    state_->StopHousekeeping();
    state_->StopSiem();  // its last cursors are queued before the store
    state_->refusals->Flush(absl::InfiniteFuture());
    // Committed before the store closes (it drains its queue).
    state_->detector->WriteActivity();
    if (state_->retention != nullptr) {
      state_->retention->Stop();
    }
  });
}

absl::Status PluginServer::ReloadPolicy() {
  absl::StatusOr<bool> applied = ReloadPolicyFile();
  // Without a policy file there is nothing to reload: not a failure.
  if (state_->metrics != nullptr && !state_->policy_path.empty()) {
    state_->metrics->CountPolicyReload(!applied.ok() ? "failed"
                                       : *applied    ? "applied"
                                                     : "unchanged");
  }
  return applied.status();
}

absl::StatusOr<bool> PluginServer::ReloadPolicyFile() {
  if (state_->policy_path.empty()) {
    return absl::FailedPreconditionError(
        "no policy file is configured (the built-in defaults are in force)");
  }
  auto loaded =
      policy::Policy::LoadFile(state_->policy_path, state_->engine->catalog(),
                               nullptr, state_->max_policy_bytes);
  if (!loaded.ok()) {
    return loaded.status();
  }
  absl::MutexLock lock(&state_->reload_mu);
  if ((*loaded)->revision() == state_->file_revision ||
      (*loaded)->revision() == state_->engine->policy()->revision()) {
    state_->file_revision = (*loaded)->revision();
    return false;
  }
  for (const std::string& line :
       policy::ExpiredExemptions(**loaded, state_->clock->Now())) {
    LogWarning(StrCat("policy ", state_->policy_path, ": ", line));
  }
  RETURN_IF_ERROR(
      state_->engine->Apply(*loaded, "", StrCat("file:", state_->policy_path)));
  state_->file_revision = (*loaded)->revision();
  return true;
}

absl::Status PluginServer::ReloadAuth(std::shared_ptr<const AuthConfig> auth) {
  if (state_->access->development()) {
    return absl::FailedPreconditionError(
        "the server runs in development mode; adding an auth section needs a "
        "restart");
  }
  if (auth == nullptr) {
    return absl::FailedPreconditionError(
        "removing the auth section needs a restart");
  }
  state_->access->Reload(std::move(auth));
  state_->engine->WakeSubscriptions();  // WatchAlerts streams look again
  return absl::OkStatus();
}

bool PluginServer::has_tls() const { return state_->tls != nullptr; }

std::string PluginServer::http_address() const {
  return state_->http != nullptr ? state_->http->address() : std::string();
}

bool PluginServer::has_http_tls() const {
  return state_->http != nullptr && state_->http_tls;
}

absl::Status PluginServer::ReloadHttpTls(const TlsConfig& tls) {
  if (state_->http == nullptr) {
    return absl::FailedPreconditionError("there is no HTTP listener");
  }
  return state_->http->ReloadTls(tls);
}

absl::Status PluginServer::ReloadTls(const TlsConfig& tls) {
  if (state_->tls == nullptr) {
    return absl::FailedPreconditionError(
        "the server listens in plaintext; adding TLS needs a restart");
  }
  return state_->tls->Reload(tls);
}

absl::StatusOr<std::string> PluginServer::LogAuditCheckpoint() {
  if (state_->store == nullptr) {
    return absl::NotFoundError("state is in memory: there is no audit log");
  }
  auto [seq, head] = state_->store->audit_head();
  const absl::Time at = absl::Now();
  const std::string line = store::CheckpointLine(
      store::MakeCheckpoint(state_->store->audit_key(), seq, head, at));
  LogInfo(StrCat("audit checkpoint ", line));
  if (state_->store_outbox != nullptr) {
    policy::EngineChanges changes;
    // The SIEM keeps the anchor that shows a truncated log.
    changes.outbox.push_back(siem::CheckpointPayload(seq, head, at, line));
    (void)state_->shared_store->SubmitEngine(std::move(changes));
  }
  return line;
}

policy::PolicyEngine& PluginServer::engine() { return *state_->engine; }

const detector::TrafficDetector& PluginServer::detector() const {
  return *state_->detector;
}

store::DurableStore* PluginServer::store() { return state_->store.get(); }

const CallCounts& PluginServer::calls() const { return state_->calls; }

namespace {

// Opens the state database: SQLite's file, or the shared PostgreSQL one.
absl::StatusOr<std::unique_ptr<store::DurableStore>> OpenStore(
    const ServerOptions& options,
    std::function<void(const absl::Status&)> on_health_change, Metrics* metrics,
    std::atomic<siem::SiemDelivery*>* siem_wake);

// Hands the store to the detector and the engine; picks the policy to start
// with: the file's (or the defaults), unless a policy was applied through
// the API after the file last changed; that one is restored.
[[nodiscard]] absl::Status AttachState(const std::string& file_origin,
                                       policy::StateStore* store,
                                       detector::TrafficDetector* detector,
                                       policy::PolicyEngine* engine);

}  // namespace

namespace {

absl::Status CheckOptions(const ServerOptions& options) {
  if (options.catalog == nullptr) {
    return absl::InvalidArgumentError("ServerOptions.catalog is required");
  }
  RETURN_IF_ERROR(CheckListenAddress(
      options.listen_address, options.auth != nullptr, options.tls.has_value(),
      options.allow_insecure_remote, "tls"));
  if (!options.http.listen.empty()) {
    RETURN_IF_ERROR(
        CheckListenAddress(options.http.listen, options.auth != nullptr,
                           options.http.tls.has_value(),
                           options.allow_insecure_remote, "http.tls"));
  }
  return absl::OkStatus();
}

struct StartPolicy {
  std::shared_ptr<const policy::Policy> policy;
  std::string origin;
};

// The options' policy, else the file's, else the defaults.
absl::StatusOr<StartPolicy> LoadStartPolicy(const ServerOptions& options) {
  StartPolicy start{options.policy,
                    options.policy != nullptr ? "options" : "default"};
  if (start.policy == nullptr && !options.policy_path.empty()) {
    ASSIGN_OR_RETURN(start.policy, policy::Policy::LoadFile(
                                       options.policy_path, *options.catalog,
                                       nullptr, options.max_policy_bytes));
    start.origin = StrCat("file:", options.policy_path);
  }
  if (start.policy == nullptr) {
    start.policy = policy::Policy::Default(*options.catalog);
  }
  // (The wall clock: a warning, and the decision clock is not consulted
  // before the first decision.)
  for (const std::string& line :
       policy::ExpiredExemptions(*start.policy, absl::Now())) {
    LogWarning(StrCat("policy ", start.origin, ": ", line));
  }
  return start;
}

}  // namespace

absl::StatusOr<std::string> PluginServer::State::OpenState(
    const ServerOptions& options, const std::string& origin) {
  if (options.state_path.empty() && options.postgres.dsn.empty()) {
    if (!options.audit_key_file.empty()) {
      return store::LoadOrCreateAuditKey(options.audit_key_file, 0);
    }
    return RandomBytes(32);
  }
  ASSIGN_OR_RETURN(
      store, OpenStore(
                 options, [this](const absl::Status& s) { SetStoreHealth(s); },
                 metrics.get(), &siem_wake));
  shared_store = store.get();
  if (options.wrap_store_for_testing) {
    shared_store = options.wrap_store_for_testing(store.get());
    if (shared_store == nullptr) {
      return absl::InvalidArgumentError(
          "ServerOptions.wrap_store_for_testing returned no store");
    }
  }
  RETURN_IF_ERROR(
      AttachState(origin, shared_store, detector.get(), engine.get()));
  retention =
      std::make_unique<StateRetention>(store.get(), engine.get(), options.clock,
                                       options.state_retention_interval);
  return store->audit_key();
}

void PluginServer::State::MakeHandlers(const ServerOptions& options,
                                       const std::string& audit_key) {
  pseudonym =
      std::make_unique<store::Pseudonymizer>(audit_key, options.logging_pii);
  event_log =
      std::make_unique<EventLog>(pseudonym.get(), options.decision_log_sample);
  // Before anything serves: the listener is not synchronized.
  engine->SetDecisionListener(
      [log = event_log.get()](const policy::DecisionNote& note) {
        log->Decision(note);
      });
  refusals = std::make_unique<RefusalLog>(shared_store);
  access = std::make_unique<AccessControl>(
      options.auth, refusals.get(), options.clock,
      options.tls && !options.tls->client_ca_file.empty());
  checkpoint_interval = options.audit_checkpoint_interval;
  clock = options.clock;
  traffic = std::make_unique<TrafficHandler>(detector.get(), options.clock,
                                             engine.get());
  traffic->SetEventLog(event_log.get());
  handler = std::make_unique<CheckInHandler>(options.catalog, options.clock,
                                             options.check_in, engine.get(),
                                             detector.get());
  service = std::make_unique<CompliancePluginService>(
      handler.get(), traffic.get(), engine.get(),
      static_cast<std::size_t>(options.max_request_bytes), access.get(),
      shared_store, &calls);
  if (!options.http.listen.empty()) {
    // Before anything serves: the handlers' listeners are not synchronized.
    GatewayOptions gateway_options;
    gateway_options.decision_validity = options.check_in.decision_validity;
    gateway_options.gateway_cache = options.http.gateway_cache;
    gateway = std::make_unique<GatewayService>(
        options.catalog, options.clock, gateway_options, engine.get(),
        detector.get(), traffic.get(), access.get(), shared_store);
  }
  // A device's decision must be made again after its traffic or check-in:
  // this replica's gateway forgets it, and other replicas' are told.
  GatewayService* g = gateway.get();
  policy::StateStore* replicated =
      shared_store != nullptr && shared_store->shared() ? shared_store
                                                        : nullptr;
  if (g != nullptr || replicated != nullptr) {
    // Other replicas only when something was submitted: a check-in that
    // changed nothing leaves their kept decisions right.
    auto forget = [g, replicated](std::string_view tenant,
                                  std::string_view device, bool changed) {
      if (g != nullptr) g->Forget(tenant, device);
      if (replicated != nullptr && changed) {
        replicated->AnnounceDevices({ReplicaDeviceLine(tenant, device)});
      }
    };
    traffic->SetDeviceListener(
        [forget](std::string_view tenant, std::string_view device) {
          forget(tenant, device, true);  // traffic with events
        });
    handler->SetDeviceListener(forget);
  }
  if (g != nullptr && replicated != nullptr) {
    engine->SetReplicaDeviceListener([g](bool all, std::string_view lines) {
      g->ForgetReplicaDevices(all, lines);
    });
  }
  admin = std::make_unique<PolicyAdminService>(
      engine.get(), options.clock, access.get(), pseudonym.get(),
      options.max_policy_bytes, &calls);
}

absl::StatusOr<int> PluginServer::State::StartGrpc(
    const ServerOptions& options) {
  InstallProtobufLogFilter();
  // Both are process-wide switches that take effect for servers built
  // afterwards.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // gRPC's health service is not built from a C++ descriptor, so reflection
  // would list it without being able to describe it; touching the generated
  // descriptor links it into the pool reflection reads.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(
      options.listen_address,
      tls != nullptr ? tls->credentials() : grpc::InsecureServerCredentials(),
      &port);
  // gRPC's limit is per server; CheckIn enforces its smaller one itself.
  builder.SetMaxReceiveMessageSize(
      std::max({options.max_request_bytes, options.max_traffic_request_bytes,
                static_cast<int>(std::min(options.max_policy_bytes,
                                          policy::Policy::kMaxBytes)) +
                    (64 << 10)}));
  // gRPC sets SO_REUSEPORT by default, which would let a second server silently
  // share the port (and half the check-ins). A busy port must be an error
  // instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  if (!options.reflection.value_or(options.auth == nullptr)) {
    builder.SetOption(std::make_unique<WithoutReflection>());
  }
  builder.RegisterService(service.get());
  builder.RegisterService(admin.get());
  {
    std::unique_ptr<grpc::Server> built = builder.BuildAndStart();
    absl::MutexLock lock(&health_mu);
    server = std::move(built);
  }
  if (server == nullptr || port == 0) {
    // Out of the health callback's reach before it goes.
    std::unique_ptr<grpc::Server> unbound;
    {
      absl::MutexLock lock(&health_mu);
      unbound = std::move(server);
    }
    if (unbound != nullptr) {
      unbound->Shutdown();
    }
    return absl::UnavailableError(
        StrCat("cannot listen on ", options.listen_address,
               ": the address is in use or not available"));
  }
  absl::MutexLock lock(&health_mu);
  if (store != nullptr && !store->health().ok()) {
    store_ok = false;
  }
  auto* health = server->GetHealthCheckService();
  health->SetServingStatus(store_ok);
  health->SetServingStatus(kServiceName, store_ok);
  health->SetServingStatus(kAdminServiceName, store_ok);
  return port;
}

absl::Status PluginServer::State::StartHttp(const ServerOptions& options) {
  if (options.http.listen.empty()) {
    return absl::OkStatus();
  }
  HttpRouter router;
  gateway->AddRoutes(&router);
  AddOpsRoutes(&router, access.get(), metrics.get(),
               [this] { return Ready(); });
  if (options.console.enabled) {
    const int streams =
        ConsoleEventStreams(options.console, options.http.max_connections);
    if (streams > MaxEventStreams(options.http.max_connections)) {
      server->Shutdown();
      return absl::InvalidArgumentError(StrCat(
          "console.max_event_streams is ", streams, ": with ",
          options.http.max_connections, " listener threads it may be at most ",
          MaxEventStreams(options.http.max_connections)));
    }
    console_sessions = std::make_unique<ConsoleSessions>(
        access.get(), clock, options.console.session_ttl);
    console_alerts =
        std::make_unique<ConsoleAlertFeed>(kConsoleAlertsKept, streams);
    if (absl::Status s = console_alerts->Start(engine.get()); !s.ok()) {
      server->Shutdown();
      return s;
    }
    if (store != nullptr) {
      audit_watch = std::make_unique<AuditWatch>(
          store.get(), options.console.audit_verify_interval);
    }
    AddConsoleRoutes(&router, {.access = access.get(),
                               .sessions = console_sessions.get(),
                               .engine = engine.get(),
                               .detector = detector.get(),
                               .admin = admin.get(),
                               .store = shared_store,
                               .clock = clock,
                               .tls = options.http.tls.has_value(),
                               .subjects = options.detector.keep_subjects,
                               .alerts = console_alerts.get(),
                               .audit = audit_watch.get()});
  }
  std::vector<std::string> paths;
  for (const HttpRouter::Route& route : router.routes()) {
    paths.push_back(route.path);
  }
  metrics->SetHttpRoutes(std::move(paths));
  Metrics* m = metrics.get();
  auto started =
      HttpServer::Start(options.http, std::move(router),
                        [m](std::string_view path, int status,
                            absl::Duration elapsed, std::string_view action) {
                          m->ObserveHttp(path, status, elapsed, action);
                        });
  if (!started.ok()) {
    server->Shutdown();
    return started.status();
  }
  http = *std::move(started);
  http_tls = options.http.tls.has_value();
  return absl::OkStatus();
}

namespace {

// Without sinks nothing reads the outbox: what earlier sinks left goes,
// 10,000 rows a commit. A store that cannot write now keeps them (the
// server starts as it would otherwise, not serving until it writes).
absl::Status ClearOutbox(policy::StateStore* store) {
  absl::StatusOr<policy::OutboxState> state = store->LoadOutboxState();
  if (!state.ok() || state->oldest == 0) return absl::OkStatus();
  LogWarning(StrCat("no siem sink is configured: deleting the outbox's ",
                    state->head - state->oldest + 1,
                    " entries (alerts and checkpoints): no sink will deliver "
                    "them"));
  std::uint64_t oldest = 0;
  while (state.ok() && state->oldest > oldest && state->oldest <= state->head) {
    oldest = state->oldest;
    policy::EngineChanges prune;
    prune.outbox_prune_through = state->head;
    if (absl::Status s =
            store->WaitDurable(store->SubmitEngine(std::move(prune)));
        !s.ok()) {
      LogWarning(StrCat("the outbox is kept for now: ", s.message()));
      return absl::OkStatus();
    }
    state = store->LoadOutboxState();
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PluginServer::State::StartSiem(const ServerOptions& options,
                                            const std::string& audit_key) {
  if (options.siem.sinks.empty()) {
    // Replicas on one database: the others' sinks may still deliver it.
    return shared_store != nullptr && !shared_store->shared()
               ? ClearOutbox(shared_store)
               : absl::OkStatus();
  }
  siem::Outbox* outbox = memory_outbox.get();
  if (outbox == nullptr) {
    store_outbox = std::make_unique<siem::StoreOutbox>(shared_store);
    outbox = store_outbox.get();
  }
  siem_pseudonym =
      std::make_unique<store::Pseudonymizer>(audit_key, options.siem.pii);
  siem::DeliveryOptions delivery;
  delivery.max_backlog = options.siem.max_backlog;
  delivery.version = kVersion;
  delivery.pseudonym = [p = siem_pseudonym.get()](std::string_view v) {
    return (*p)(v);
  };
  if (store != nullptr) {
    // One process delivers at a time (replicas on one database take turns).
    store->WantOutboxLease();
    delivery.may_deliver = [s = store.get()] { return s->HoldsOutboxLease(); };
  }
  ASSIGN_OR_RETURN(siem_delivery,
                   siem::SiemDelivery::Start(options.siem, outbox, delivery));
  siem_wake = siem_delivery.get();
  for (const siem::SinkConfig& sink : options.siem.sinks) {
    Log(LogLevel::kInfo, "siem sink configured",
        {{"sink", sink.name},
         {"type", siem::SinkTypeName(sink.type)},
         {"format", siem::SinkFormatName(sink.format)},
         {"outbox", outbox->durable() ? "state store" : "memory"}});
  }
  return absl::OkStatus();
}

absl::Status PluginServer::State::Ready() {
  absl::MutexLock lock(&health_mu);
  if (stopping) {
    return absl::UnavailableError("the server is stopping");
  }
  if (!store_ok) {
    return absl::UnavailableError("the state store cannot write");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PluginServer>> BuildServer(
    const ServerOptions& options) {
  RETURN_IF_ERROR(CheckOptions(options));
  std::unique_ptr<TlsFiles> tls;
  if (options.tls) {
    ASSIGN_OR_RETURN(tls, TlsFiles::Create(*options.tls, options.tls_dir));
  }
  ASSIGN_OR_RETURN(StartPolicy start, LoadStartPolicy(options));
  std::unique_ptr<PluginServer> ps(new PluginServer());
  PluginServer::State& st = *ps->state_;
  st.tls = std::move(tls);
  st.policy_path = options.policy_path;
  if (start.origin.starts_with("file:")) {
    absl::MutexLock lock(&st.reload_mu);
    st.file_revision = start.policy->revision();
  }
  st.max_policy_bytes = options.max_policy_bytes;
  st.detector = std::make_unique<detector::TrafficDetector>(options.catalog,
                                                            options.detector);
  st.evidence = std::make_unique<DetectorEvidence>(st.detector.get());
  policy::EngineOptions engine_options = options.engine;
  if (!options.siem.sinks.empty()) {
    engine_options.outbox = true;
    if (options.state_path.empty() && options.postgres.dsn.empty()) {
      // In memory, bounded like the store's outbox; a restart empties it.
      st.memory_outbox = std::make_unique<siem::MemoryOutbox>(
          static_cast<std::size_t>(std::min<std::uint64_t>(
              options.siem.max_backlog, siem::kMaxMemoryOutbox)));
      engine_options.memory_outbox = [&st](std::string payload) {
        st.memory_outbox->Append(std::move(payload));
        if (siem::SiemDelivery* d = st.siem_wake.load()) d->Wake();
      };
    }
  }
  st.engine = std::make_unique<policy::PolicyEngine>(
      options.catalog, start.policy, options.clock, st.evidence.get(),
      engine_options, start.origin);
  if (!options.http.listen.empty()) {
    st.metrics = std::make_unique<Metrics>(kVersion);
    // Before anything serves: the observer is read without a lock.
    st.calls.SetObserver([m = st.metrics.get()](Rpc rpc, absl::StatusCode code,
                                                absl::Duration elapsed) {
      m->ObserveGrpc(rpc, code, elapsed);
    });
  }
  ASSIGN_OR_RETURN(std::string audit_key, st.OpenState(options, start.origin));
  st.MakeHandlers(options, audit_key);
  RETURN_IF_ERROR(st.StartSiem(options, audit_key));
  if (st.metrics != nullptr) {
    st.metrics->SetSources({.engine = st.engine.get(),
                            .detector = st.detector.get(),
                            .store = st.store.get(),
                            .traffic = st.traffic.get(),
                            .siem = st.siem_delivery.get()});
  }
  ASSIGN_OR_RETURN(ps->port_, st.StartGrpc(options));
  RETURN_IF_ERROR(st.StartHttp(options));
  ps->address_ = BoundAddress(options.listen_address, ps->port_);
  PluginServer* raw = ps.get();
  st.housekeeping = std::thread([&st, raw] { st.Housekeeping(raw); });
  return ps;
}

namespace {

absl::StatusOr<std::unique_ptr<store::DurableStore>> OpenStore(
    const ServerOptions& options,
    std::function<void(const absl::Status&)> on_health_change, Metrics* metrics,
    std::atomic<siem::SiemDelivery*>* siem_wake) {
  auto on_commit = [metrics, siem_wake](absl::Duration elapsed,
                                        std::size_t batch) {
    if (metrics != nullptr) metrics->ObserveCommit(elapsed, batch);
    if (siem::SiemDelivery* d = siem_wake->load()) d->Wake();
  };
  if (!options.postgres.dsn.empty()) {
    store::PostgresStoreOptions po;
    po.dsn = options.postgres.dsn;
    if (!options.postgres.password_file.empty()) {
      ASSIGN_OR_RETURN(po.password, store::pg::ReadPasswordFile(
                                        options.postgres.password_file));
    }
    po.readers = options.postgres.readers;
    po.list_readers = options.postgres.list_readers;
    po.ledger_ttl = options.detector.ledger.ttl;
    po.clock = options.clock;
    po.audit_key_file = options.audit_key_file;
    po.accept_broken_audit = options.accept_broken_audit;
    po.on_health_change = std::move(on_health_change);
    po.on_commit = on_commit;
    po.retention = options.retention;
    ASSIGN_OR_RETURN(std::unique_ptr<store::PostgresStore> pg,
                     store::PostgresStore::Open(std::move(po)));
    return pg;
  }
  store::SqliteStoreOptions so;
  so.path = options.state_path;
  so.synchronous = options.state_synchronous;
  so.ledger_ttl = options.detector.ledger.ttl;
  so.clock = options.clock;
  so.audit_key_file = options.audit_key_file;
  so.accept_broken_audit = options.accept_broken_audit;
  so.on_health_change = std::move(on_health_change);
  so.on_commit = on_commit;
  so.wal_autocheckpoint_pages = options.state_wal_autocheckpoint_pages;
  so.retention = options.retention;
  ASSIGN_OR_RETURN(std::unique_ptr<store::SqliteStore> store,
                   store::SqliteStore::Open(std::move(so)));
  return store;
}

absl::Status AttachState(const std::string& file_origin,
                         policy::StateStore* store,
                         detector::TrafficDetector* detector,
                         policy::PolicyEngine* engine) {
  RETURN_IF_ERROR(detector->AttachStore(store));
  RETURN_IF_ERROR(engine->AttachStore(store));

  ASSIGN_OR_RETURN(std::optional<policy::AppliedPolicy> latest,
                   store->LatestPolicy(""));
  const std::string start_revision = engine->policy()->revision();
  if (latest && latest->origin == "api") {
    // Restore the API's policy if the file (or the defaults) is what was in
    // force when it was applied: an edited file wins.
    ASSIGN_OR_RETURN(std::optional<policy::AppliedPolicy> from_file,
                     store->LatestPolicy(file_origin));
    if (from_file && from_file->revision == start_revision) {
      auto restored =
          policy::Policy::Parse(latest->document, engine->catalog(), nullptr);
      if (!restored.ok()) {
        return absl::DataLossError(StrCat(
            "the policy applied through the API (revision ", latest->revision,
            ") is in the state database but no longer parses: ",
            std::string(restored.status().message())));
      }
      LogInfo(StrCat("restored the policy applied through the API at ",
                     FormatUtc(latest->applied_at), " (revision ",
                     latest->revision, "); ", file_origin,
                     " has not changed since"));
      return engine->Apply(*restored, "", "api");
    }
  }
  if (!latest || latest->revision != start_revision ||
      latest->origin != file_origin) {
    RETURN_IF_ERROR(engine->RecordStartPolicy());
  }
  return absl::OkStatus();
}

}  // namespace

}  // namespace hijackguard::plugin
