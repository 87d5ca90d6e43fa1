#include "plugin/server.h"

#include <algorithm>
#include <mutex>

#include "absl/status/status.h"
#include "common/file.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "plugin/compliance_service.h"
#include "plugin/policy_admin_service.h"
#include "plugin/sqlite_store.h"
#include "plugin/wire_decoder.h"

namespace hijackguard::plugin {
namespace {

constexpr std::size_t kMaxPemBytes = 1 << 20;
constexpr const char* kServiceName = "hijackguard.v1.CompliancePlugin";
constexpr const char* kAdminServiceName = "hijackguard.v1.PolicyAdmin";

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeCredentials(
    const std::optional<TlsConfig>& tls) {
  if (!tls) {
    return grpc::InsecureServerCredentials();
  }
  auto cert = ReadFileToString(tls->cert_file, kMaxPemBytes);
  if (!cert.ok()) {
    return absl::InvalidArgumentError(
        StrCat("tls.cert_file: ", cert.status().message()));
  }
  auto key = ReadFileToString(tls->key_file, kMaxPemBytes);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        StrCat("tls.key_file: ", key.status().message()));
  }
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (!tls->client_ca_file.empty()) {
    auto ca = ReadFileToString(tls->client_ca_file, kMaxPemBytes);
    if (!ca.ok()) {
      return absl::InvalidArgumentError(
          StrCat("tls.client_ca_file: ", ca.status().message()));
    }
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

// "host:port" with the port replaced by the bound one.
std::string BoundAddress(const std::string& listen, int port) {
  const std::size_t colon = listen.rfind(':');
  return StrCat(colon == std::string::npos ? listen : listen.substr(0, colon),
                ":", port);
}

}  // namespace

struct PluginServer::State {
  std::string policy_path;
  // First: destroyed last, after everything that submits to it.
  std::unique_ptr<SqliteStore> store;
  std::unique_ptr<detector::TrafficDetector> detector;
  std::unique_ptr<policy::PolicyEngine> engine;
  std::unique_ptr<PolicyAdminService> admin;
  std::unique_ptr<TrafficHandler> traffic;
  std::unique_ptr<CheckInHandler> handler;
  std::unique_ptr<CompliancePluginService> service;
  std::unique_ptr<grpc::Server> server;
  std::once_flag shutdown_once;
};

PluginServer::PluginServer() : state_(std::make_unique<State>()) {}

PluginServer::~PluginServer() { Shutdown(absl::ZeroDuration()); }

void PluginServer::Shutdown(absl::Duration grace) {
  std::call_once(state_->shutdown_once, [&] {
    if (state_->server == nullptr) {
      return;
    }
    if (auto* health = state_->server->GetHealthCheckService()) {
      health->SetServingStatus(false);
    }
    state_->engine->EndSubscriptions();
    state_->server->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    state_->server->Wait();
    if (state_->store != nullptr) {
      state_->store->StopRetention();  // it reads the engine's policy
    }
  });
}

absl::Status PluginServer::ReloadPolicy() {
  if (state_->policy_path.empty()) {
    return absl::FailedPreconditionError(
        "no policy file is configured (the built-in defaults are in force)");
  }
  auto loaded = policy::Policy::LoadFile(state_->policy_path,
                                         state_->engine->catalog(), nullptr);
  if (!loaded.ok()) {
    return loaded.status();
  }
  const std::string before = state_->engine->policy()->revision();
  if ((*loaded)->revision() == before) {
    return absl::OkStatus();
  }
  return state_->engine->Apply(*loaded, "",
                               StrCat("file:", state_->policy_path));
}

policy::PolicyEngine& PluginServer::engine() { return *state_->engine; }

SqliteStore* PluginServer::store() { return state_->store.get(); }

namespace {

// Opens the state database and hands it to the detector and the engine; picks
// the policy to start with: the file's (or the defaults), unless a policy was
// applied through the API after the file last changed; that one is restored.
absl::StatusOr<std::unique_ptr<SqliteStore>> AttachState(
    const ServerOptions& options, const std::string& file_origin,
    detector::TrafficDetector* detector, policy::PolicyEngine* engine);

}  // namespace

absl::StatusOr<std::unique_ptr<PluginServer>> BuildServer(
    const ServerOptions& options) {
  if (options.catalog == nullptr) {
    return absl::InvalidArgumentError("ServerOptions.catalog is required");
  }
  auto credentials = MakeCredentials(options.tls);
  if (!credentials.ok()) {
    return credentials.status();
  }
  std::shared_ptr<const policy::Policy> initial = options.policy;
  std::string origin = initial != nullptr ? "options" : "default";
  if (initial == nullptr && !options.policy_path.empty()) {
    auto loaded = policy::Policy::LoadFile(options.policy_path,
                                           *options.catalog, nullptr);
    if (!loaded.ok()) {
      return loaded.status();
    }
    initial = *loaded;
    origin = StrCat("file:", options.policy_path);
  }
  if (initial == nullptr) {
    initial = policy::Policy::Default(*options.catalog);
  }
  std::unique_ptr<PluginServer> ps(new PluginServer());
  PluginServer::State& st = *ps->state_;
  st.policy_path = options.policy_path;
  st.detector = std::make_unique<detector::TrafficDetector>(options.catalog,
                                                            options.detector);
  st.engine = std::make_unique<policy::PolicyEngine>(
      options.catalog, initial, options.clock, st.detector.get(),
      options.engine, origin);
  if (!options.state_path.empty()) {
    ASSIGN_OR_RETURN(st.store, AttachState(options, origin, st.detector.get(),
                                           st.engine.get()));
  }
  st.traffic = std::make_unique<TrafficHandler>(st.detector.get(),
                                                options.clock, st.engine.get());
  st.handler = std::make_unique<CheckInHandler>(
      options.catalog, options.clock, options.check_in, st.engine.get(),
      st.detector.get());
  st.service = std::make_unique<CompliancePluginService>(
      st.handler.get(), st.traffic.get(), st.engine.get(),
      static_cast<std::size_t>(options.max_request_bytes), st.store.get());
  st.admin =
      std::make_unique<PolicyAdminService>(st.engine.get(), options.clock);

  InstallProtobufLogFilter();
  // Both are process-wide switches that take effect for servers built
  // afterwards.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen_address, *credentials, &port);
  // gRPC's limit is per server; CheckIn enforces its smaller one itself.
  builder.SetMaxReceiveMessageSize(
      std::max(options.max_request_bytes, options.max_traffic_request_bytes));
  // gRPC sets SO_REUSEPORT by default, which would let a second server silently
  // share the port (and half the check-ins). A busy port must be an error
  // instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(ps->state_->service.get());
  builder.RegisterService(ps->state_->admin.get());
  ps->state_->server = builder.BuildAndStart();
  if (ps->state_->server == nullptr || port == 0) {
    if (ps->state_->server != nullptr) {
      ps->state_->server->Shutdown();
    }
    ps->state_->server.reset();
    return absl::UnavailableError(
        StrCat("cannot listen on ", options.listen_address,
               ": the address is in use or not available"));
  }
  ps->state_->server->GetHealthCheckService()->SetServingStatus(kServiceName,
                                                                true);
  ps->state_->server->GetHealthCheckService()->SetServingStatus(
      kAdminServiceName, true);
  ps->port_ = port;
  ps->address_ = BoundAddress(options.listen_address, port);
  return ps;
}

namespace {

absl::StatusOr<std::unique_ptr<SqliteStore>> AttachState(
    const ServerOptions& options, const std::string& file_origin,
    detector::TrafficDetector* detector, policy::PolicyEngine* engine) {
  SqliteStoreOptions so;
  so.path = options.state_path;
  so.synchronous = options.state_synchronous;
  so.retention_interval = options.state_retention_interval;
  so.ledger_ttl = options.detector.ledger.ttl;
  so.clock = options.clock;
  so.event_horizon = [engine] {
    return policy::EventHorizon(*engine->policy());
  };
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> store,
                   SqliteStore::Open(std::move(so)));
  RETURN_IF_ERROR(detector->AttachStore(store.get()));
  RETURN_IF_ERROR(engine->AttachStore(store.get()));

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
      RETURN_IF_ERROR(engine->Apply(*restored, "", "api"));
      return store;
    }
  }
  if (!latest || latest->revision != start_revision ||
      latest->origin != file_origin) {
    RETURN_IF_ERROR(engine->RecordStartPolicy());
  }
  return store;
}

}  // namespace

}  // namespace hijackguard::plugin
