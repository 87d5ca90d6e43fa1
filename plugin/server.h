// The plugin's gRPC server: CompliancePlugin, the standard health service
// (grpc.health.v1) and server reflection, on one listening address, with
// request size limits and TLS.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "detector/known_issues.h"
#include "detector/traffic/traffic_detector.h"
#include "plugin/call_counts.h"
#include "plugin/check_in.h"
#include "plugin/config.h"
#include "plugin/http_server.h"
#include "policy/engine.h"
#include "policy/policy.h"
#include "store/durable_store.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace hijackguard::plugin {

struct ServerOptions {
  // host:port; port 0 picks a free port (see PluginServer::port()). Default
  // "127.0.0.1:0".
  std::string listen_address = "127.0.0.1:0";
  // The known-issue catalog. Required.
  std::shared_ptr<const detector::KnownIssueCatalog> catalog;
  // Time source for decisions. Default: the wall clock. Must outlive the
  // server.
  const Clock* clock = &RealClock();
  // Largest CheckIn request accepted; larger ones get RESOURCE_EXHAUSTED.
  // Default 64 KiB.
  int max_request_bytes = 64 * 1024;
  // Largest ReportTraffic/StreamTraffic message. Default 8 MiB.
  int max_traffic_request_bytes = 8 << 20;
  // Detection: ledger bounds, aliases and limits.
  detector::DetectorOptions detector;
  CheckInOptions check_in;
  // TLS credentials; plaintext when absent.
  std::optional<TlsConfig> tls;
  // Where checked copies of the TLS files live for rotation
  // (plugin/tls_files.h); "" = a temporary directory.
  std::string tls_dir;
  // The policy file ReloadPolicy() reads; "" = the built-in defaults, and
  // nothing to reload.
  std::string policy_path;
  // The policy at start. Default: policy_path's, or the built-in defaults.
  std::shared_ptr<const policy::Policy> policy;
  policy::EngineOptions engine;
  // The state database (docs/state.md); "" keeps all state in memory only,
  // lost when the server stops.
  std::string state_path;
  std::string state_synchronous = "full";  // "full", "normal" or "off"
  // The shared store instead (docs/state.md, "PostgreSQL"): used when
  // dsn is set.
  struct Postgres {
    std::string dsn;
    std::string password_file;  // "" = libpq's own ways
    int readers = 4;
    int list_readers = 2;
  } postgres;
  int state_wal_autocheckpoint_pages = 1000;
  // How long stored rows are kept (`retention`).
  store::RetentionOptions retention;
  // Largest policy document (file, ApplyPolicy, ValidatePolicy,
  // SimulateDecision), checked before it is parsed.
  std::size_t max_policy_bytes = 4 << 20;
  absl::Duration state_retention_interval = absl::Minutes(10);

  // Callers (docs/security.md); null = development mode: every caller is an
  // anonymous admin of every tenant.
  std::shared_ptr<const AuthConfig> auth;
  // A listen address that is not loopback needs auth and TLS unless this is
  // set (then a warning is logged).
  bool allow_insecure_remote = false;
  // Server reflection; default: on in development mode, off with auth.
  std::optional<bool> reflection;
  // The audit key's file (store/audit_key.h). With a state database it is
  // required; in memory, "" uses a key that lives as long as the process.
  std::string audit_key_file;
  bool accept_broken_audit = false;
  // Tests: given the opened store, returns the store every part uses (a
  // wrapper that injects faults, owned by the test and outliving the
  // server). Called once; null: the store itself.
  std::function<policy::StateStore*(policy::StateStore*)>
      wrap_store_for_testing;
  // Log user addresses in clear (logging.pii) instead of pseudonyms.
  bool logging_pii = false;
  // SIEM sinks (none: no outbox is written).
  siem::SiemConfig siem;
  // The share of decisions written to the decision log; nullopt: none.
  std::optional<double> decision_log_sample;
  // The HTTP listener with the gateway endpoints (docs/gateway.md); off when
  // http.listen is "". The same address rule as listen_address applies, with
  // http.tls.
  HttpServerOptions http;
  // The console under /ui/ on the HTTP listener (docs/console.md).
  ConsoleConfig console;
  // How often a signed audit checkpoint is logged; zero = never.
  absl::Duration audit_checkpoint_interval = absl::Hours(1);
};

// A running server. Thread-safe.
class PluginServer {
 public:
  ~PluginServer();
  PluginServer(const PluginServer&) = delete;
  PluginServer& operator=(const PluginServer&) = delete;

  // The bound port and "host:port".
  int port() const { return port_; }
  const std::string& address() const { return address_; }
  // The HTTP listener's "host:port" (the bound port); "" when it is off.
  std::string http_address() const;

  // Marks the health service NOT_SERVING, ends WatchAlerts streams, stops
  // accepting calls, lets in-flight calls finish for up to `grace`, then
  // cancels the rest. Idempotent.
  void Shutdown(absl::Duration grace);

  // Re-reads the policy file (SIGHUP) and swaps it in atomically when it has
  // changed since it was last read; an unchanged file leaves the policy in
  // force, even one applied through the API since (as at start: whichever
  // changed last wins). On any problem the policy in force stays and the
  // status lists every problem.
  // FAILED_PRECONDITION when the server has no policy file.
  [[nodiscard]] absl::Status ReloadPolicy();

  // Swaps in a new principal list (SIGHUP). FAILED_PRECONDITION in
  // development mode (adding auth needs a restart).
  [[nodiscard]] absl::Status ReloadAuth(std::shared_ptr<const AuthConfig> auth);
  // Checks and swaps in the TLS files anew (SIGHUP); new connections use
  // them within a second. On a problem the files in force stay.
  [[nodiscard]] absl::Status ReloadTls(const TlsConfig& tls);
  bool has_tls() const;
  // The same for the HTTP listener's TLS (http.tls).
  [[nodiscard]] absl::Status ReloadHttpTls(const TlsConfig& tls);
  bool has_http_tls() const;
  // Logs a signed checkpoint of the audit log's committed head (also done
  // every audit_checkpoint_interval). NOT_FOUND without a state database.
  absl::StatusOr<std::string> LogAuditCheckpoint();

  policy::PolicyEngine& engine();
  const detector::TrafficDetector& detector() const;
  // Unary calls answered so far, per RPC and outcome.
  const CallCounts& calls() const;
  // The state store, or null when state is in memory only.
  store::DurableStore* store();

 private:
  // ReloadPolicy's work: whether the file's policy was applied.
  absl::StatusOr<bool> ReloadPolicyFile();
  friend absl::StatusOr<std::unique_ptr<PluginServer>> BuildServer(
      const ServerOptions& options);
  PluginServer();

  struct State;
  std::unique_ptr<State> state_;
  int port_ = 0;
  std::string address_;
};

// Builds and starts the server. INVALID_ARGUMENT for bad options (no catalog,
// unreadable TLS files), FAILED_PRECONDITION for a non-loopback address
// without auth and TLS, UNAVAILABLE when the address cannot be bound.
absl::StatusOr<std::unique_ptr<PluginServer>> BuildServer(
    const ServerOptions& options);

}  // namespace hijackguard::plugin
