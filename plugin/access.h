// Access control for every RPC (docs/security.md): authenticates the caller
// from its bearer token or verified client certificate, then checks the
// role and the tenant the RPC needs. The role table lives here, in one place.
// Refusals are answered UNAUTHENTICATED or PERMISSION_DENIED and recorded in
// the audit log through the RefusalLog.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
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
};

// Which tenant an RPC is judged by.
enum class TenantScope {
  kNamed,        // the request's tenant_id ("" only for "*")
  kNamedOrAll,   // the same; "" asks for every tenant
  kEveryTenant,  // the RPC concerns every tenant: needs "*"
  kPerItem,      // each stream item's tenant_id on its own
  kStored,       // the stored object's tenant (DeleteExemption)
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

// An authenticated caller. Keeps the configuration it was judged by alive.
struct Caller {
  std::shared_ptr<const AuthConfig> config;
  std::uint64_t generation = 0;  // of `config` (AccessControl::Reload)
  const Principal* principal = nullptr;
  std::string token_sha256;  // the digest it authenticated with, if a token
  policy::Actor actor;       // principal id, "token"/"client_cert"/"none", peer
};

class AccessControl {
 public:
  // `config` null: development mode, every caller an anonymous admin of
  // every tenant. `refusals` may be null (nothing recorded).
  AccessControl(std::shared_ptr<const AuthConfig> config, RefusalLog* refusals,
                const Clock* clock = &RealClock());

  bool development() const { return development_; }
  // Swaps in a new principal list (SIGHUP). Calls in flight keep theirs.
  void Reload(std::shared_ptr<const AuthConfig> config);

  // Authenticates the caller and checks that it holds `rpc`'s role.
  absl::StatusOr<Caller> Admit(const grpc::ServerContextBase& context,
                               Rpc rpc) const;
  // Checks `tenant` against the caller's tenants under `rpc`'s scope.
  absl::Status CheckTenant(const Caller& caller, Rpc rpc,
                           std::string_view tenant) const;
  // For a long-running call (a stream): OK while `caller`'s principal still
  // holds its credential and `rpc`'s role after a Reload, else
  // UNAUTHENTICATED or PERMISSION_DENIED (recorded). Moves `caller` to the
  // configuration in force. One atomic load when nothing was reloaded.
  absl::Status Recheck(Caller* caller, Rpc rpc) const;

  // Records a refused call (also called for a compare-and-set ABORTED).
  void Refused(const policy::Actor& actor, Rpc rpc,
               const absl::Status& status) const;

  // The authentication step alone (no role check, nothing recorded).
  absl::StatusOr<Caller> Authenticate(
      const grpc::ServerContextBase& context) const;

 private:
  const bool development_;
  RefusalLog* const refusals_;
  const Clock* const clock_;
  mutable std::mutex mu_;
  std::shared_ptr<const AuthConfig> config_;
  std::atomic<std::uint64_t> generation_{0};
};

// "ipv4:10.1.2.3:5555" -> "ipv4:10.1.2.3" (the port changes per connection).
std::string PeerAddress(std::string_view grpc_peer);

}  // namespace hijackguard::plugin
