// Access control for every RPC (docs/security.md): authenticates the caller
// from its bearer token or verified client certificate, then checks the
// role and the tenant the RPC needs. The role table lives here, in one place.
// Refusals are answered UNAUTHENTICATED or PERMISSION_DENIED and recorded in
// the audit log through the RefusalLog.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "plugin/auth.h"
#include "plugin/refusal_log.h"
#include "policy/state_store.h"

namespace grpc {
class ServerContextBase;
}  // namespace grpc

namespace hijackguard::plugin {

enum class Rpc {
  kCheckIn,
  kReportTraffic,
  kStreamTraffic,
  kGetDeviceRisk,
  kWatchAlerts,
  kGetPolicy,
  kValidatePolicy,
  kSimulateDecision,
  kListExemptions,
  kApplyPolicy,
  kPutExemption,
  kDeleteExemption,
  kGatewayAuthorize,  // GET /v1/activesync/authorize
  kGatewayObserve,    // POST /v1/activesync/observe
  kListDevices,
  kConsole,  // the console's pages under /ui/
  kMetrics,  // GET /metrics; last: kRpcCount follows it
};
inline constexpr std::size_t kRpcCount =
    static_cast<std::size_t>(Rpc::kMetrics) + 1;

// Which tenant an RPC is judged by.
enum class TenantScope {
  kNamed,        // the request's tenant_id ("" only for "*")
  kNamedOrAll,   // the same; "" asks for every tenant
  kEveryTenant,  // the RPC concerns every tenant: needs "*"
  kPerItem,      // each stream item's tenant_id on its own
  kStored,       // the stored object's tenant (DeleteExemption)
  kNoTenant,     // nothing of any one tenant is shown (/metrics)
};

struct RpcRule {
  Rpc rpc;
  std::string_view name;
  Role role;
  TenantScope scope;
};
// Every RPC's rule, in the order of Rpc.
std::span<const RpcRule> RpcRules();
const RpcRule& RuleFor(Rpc rpc);

// A principal list with its tokens indexed by digest.
struct Principals {
  explicit Principals(std::shared_ptr<const AuthConfig> config);
  std::shared_ptr<const AuthConfig> config;
  absl::flat_hash_map<std::string, const Principal*> by_token_sha256;
};

// An authenticated caller, and the principal list it was judged by (which
// the AccessControl keeps for its whole life).
struct Caller {
  const Principals* principals = nullptr;
  const Principal* principal = nullptr;
  std::string token_sha256;  // the digest it authenticated with, if a token
  policy::Actor actor;       // principal id, "token"/"client_cert"/"none", peer
};

// The identities a verified client certificate carries.
struct CertIdentity {
  std::vector<std::string> subject_cn;
  std::vector<std::string> uri_san;
  std::vector<std::string> dns_san;
};

// What a caller presented, whatever the transport: gRPC metadata, HTTP
// headers, a TLS client certificate.
struct Credentials {
  std::string peer;  // "ipv4:10.1.2.3", for the audit
  // The bearer token, when one was sent; a malformed credential header
  // makes `token_error` not OK instead.
  std::optional<std::string> token;
  absl::Status token_error;
  // Set when the listener verified a client certificate.
  std::optional<CertIdentity> cert;
  // How to send a token, for the refusal message.
  std::string_view token_hint = "\"authorization: Bearer <token>\" metadata";
};

class AccessControl {
 public:
  // `config` null: development mode, every caller an anonymous admin of
  // every tenant. `refusals` may be null (nothing recorded).
  // `client_certificates`: the listener verifies client certificates (TLS
  // with a client CA); without, only tokens are looked at.
  AccessControl(std::shared_ptr<const AuthConfig> config, RefusalLog* refusals,
                const Clock* clock = &RealClock(),
                bool client_certificates = true);

  bool development() const { return development_; }
  // Swaps in a new principal list (SIGHUP). Calls in flight keep theirs.
  void Reload(std::shared_ptr<const AuthConfig> config);

  // Authenticates the caller and checks that it holds `rpc`'s role.
  absl::StatusOr<Caller> Admit(const grpc::ServerContextBase& context,
                               Rpc rpc) const;
  // The same for credentials from another transport (the HTTP listener).
  absl::StatusOr<Caller> Admit(const Credentials& credentials, Rpc rpc) const;
  // Checks `tenant` against the caller's tenants under `rpc`'s scope.
  [[nodiscard]] absl::Status CheckTenant(const Caller& caller, Rpc rpc,
                                         std::string_view tenant) const;
  // For a long-running call (a stream): OK while `caller`'s principal still
  // holds its credential and `rpc`'s role after a Reload, else
  // UNAUTHENTICATED or PERMISSION_DENIED (recorded). Moves `caller` to the
  // configuration in force. One atomic load when nothing was reloaded.
  [[nodiscard]] absl::Status Recheck(Caller* caller, Rpc rpc) const;

  // Records a refused call (also called for a compare-and-set ABORTED).
  void Refused(const policy::Actor& actor, Rpc rpc,
               const absl::Status& status) const;

  // The authentication step alone (no role check, nothing recorded).
  absl::StatusOr<Caller> Authenticate(
      const grpc::ServerContextBase& context) const;
  absl::StatusOr<Caller> Authenticate(const Credentials& credentials) const;

 private:
  [[nodiscard]] absl::Status CheckRole(const Caller& caller, Rpc rpc) const;

  const bool development_;
  const bool client_certificates_;
  RefusalLog* const refusals_;
  const Clock* const clock_;
  // The list in force, read with one atomic load on every call. Lists are
  // replaced only by Reload (SIGHUP) and never freed before this object, so
  // a call may go on using the one it started with: a few kilobytes per
  // reload, for the process's life.
  std::atomic<const Principals*> current_{nullptr};
  absl::Mutex reload_mu_;
  std::vector<std::unique_ptr<const Principals>> lists_
      ABSL_GUARDED_BY(reload_mu_);
};

// "ipv4:10.1.2.3:5555" -> "ipv4:10.1.2.3" (the port changes per connection).
std::string PeerAddress(std::string_view grpc_peer);

}  // namespace hijackguard::plugin
