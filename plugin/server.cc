#include "plugin/server.h"

#include <algorithm>
#include <mutex>

#include "absl/status/status.h"
#include "common/file.h"
#include "common/strings.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "plugin/compliance_service.h"
#include "plugin/wire_decoder.h"

namespace hijackguard::plugin {
namespace {

constexpr std::size_t kMaxPemBytes = 1 << 20;
constexpr const char* kServiceName = "hijackguard.v1.CompliancePlugin";

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
  std::unique_ptr<detector::TrafficDetector> detector;
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
    state_->server->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    state_->server->Wait();
  });
}

absl::StatusOr<std::unique_ptr<PluginServer>> BuildServer(
    const ServerOptions& options) {
  if (options.catalog == nullptr) {
    return absl::InvalidArgumentError("ServerOptions.catalog is required");
  }
  auto credentials = MakeCredentials(options.tls);
  if (!credentials.ok()) {
    return credentials.status();
  }
  std::unique_ptr<PluginServer> ps(new PluginServer());
  ps->state_->detector = std::make_unique<detector::TrafficDetector>(
      options.catalog, options.detector);
  ps->state_->traffic = std::make_unique<TrafficHandler>(
      ps->state_->detector.get(), options.clock);
  ps->state_->handler = std::make_unique<CheckInHandler>(
      options.catalog, options.clock, options.check_in,
      ps->state_->detector.get());
  ps->state_->service = std::make_unique<CompliancePluginService>(
      ps->state_->handler.get(), ps->state_->traffic.get(),
      static_cast<std::size_t>(options.max_request_bytes));

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
  ps->port_ = port;
  ps->address_ = BoundAddress(options.listen_address, port);
  return ps;
}

}  // namespace hijackguard::plugin
