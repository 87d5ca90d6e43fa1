// Durable state of the whole plugin, as the engine and the detector see it.
// Implementations: store/sqlite/ (embedded, the default). The interface
// is shaped for a shared one too (PostgreSQL behind several replicas): every
// row is addressed by key, submissions are ordered batches, and callers wait
// on tickets rather than on a connection or a transaction.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "detector/traffic/detector_store.h"
#include "policy/decision.h"
#include "policy/device_list.h"
#include "policy/policy.h"

namespace hijackguard::policy {

using detector::StoreRow;
using detector::StoreTicket;

// Who asked for a change or was refused: the authenticated principal
// ("anonymous" in development mode, "" when unknown), how it authenticated
// ("token", "client_cert", "none") and the peer address.
struct Actor {
  std::string principal;
  std::string method;
  std::string peer;
};

// Audit records: what was decided or changed, appended in commit order to a
// keyed hash chain (see the implementation for the canonical form).
struct DecisionAudit {
  std::string decision_id;
  std::string trigger;  // "CHECK_IN" or "TRAFFIC"
  std::string tenant_id;
  std::string eas_device_id;
  std::string mdm_device_id;
  std::string user_principal;
  Action evaluated_action = Action::kAllow;
  Action enforced_action = Action::kAllow;
  Action previous_action = Action::kAllow;
  Mode mode = Mode::kMonitor;
  double score = 0;
  Level level = Level::kLow;
  Scope scope = Scope::kNone;
  std::string policy_revision;
  std::string exemption_id;
  std::optional<absl::Time> deadline;
  // Decisions of this device since its previous row that changed nothing
  // (same actions, level, scope, reason codes, exemption and policy
  // revision) and so got no row of their own.
  std::uint64_t repeats = 0;
  struct Cause {
    std::string_view code;  // static
    double contribution = 0;
    std::string known_issue_id;
  };
  std::vector<Cause> reasons;
};

struct PolicyAudit {
  std::string revision;
  std::string previous_revision;
  std::string origin;  // "default", "file:<path>", "api", "restored"
  Mode mode = Mode::kMonitor;
  Actor actor;  // for "api"; empty for a file or the defaults
};

struct ExemptionAudit {
  bool deleted = false;
  Exemption exemption;  // for a delete, the id and tenant
  Actor actor;
};

// Refused calls of one (peer, principal, method, code) in one minute.
struct AccessAudit {
  Actor actor;  // method: how the caller authenticated
  std::string rpc;
  std::string code;     // "PERMISSION_DENIED", "UNAUTHENTICATED", "ABORTED"
  std::string message;  // the first refusal's message
  std::uint64_t count = 0;
  absl::Time first;
  absl::Time last;
};

// The server started on an audit log whose tail did not verify, because the
// operator said so (--accept-broken-audit).
struct AcceptBrokenAudit {
  std::string problem;
};

struct AuditRecord {
  absl::Time at;
  std::variant<DecisionAudit, PolicyAudit, ExemptionAudit, AccessAudit,
               AcceptBrokenAudit>
      what;
};

// A policy as applied, with the document to rebuild it from.
struct AppliedPolicy {
  std::string revision;
  std::string origin;
  absl::Time applied_at;
  std::string document;  // Policy::source(), or canonical() when empty
};

struct EngineChanges {
  std::vector<StoreRow> devices;  // decision history rows (engine format)
  // What the device list shows of each `devices` row: one per row, in the
  // same order, or none at all (rows written before the list existed).
  std::vector<DeviceListing> listings;
  std::vector<Exemption> put_exemptions;
  std::vector<std::string> deleted_exemptions;  // ids
  std::optional<AppliedPolicy> policy;
  std::vector<AuditRecord> audit;
  bool empty() const {
    return devices.empty() && put_exemptions.empty() &&
           deleted_exemptions.empty() && !policy && audit.empty();
  }
};

class StateStore : public detector::DetectorStore {
 public:
  // The newest submitted row (committed or not), as DetectorStore.
  virtual absl::StatusOr<std::optional<std::string>> LoadEngineDevice(
      std::string_view key) = 0;
  virtual absl::StatusOr<std::vector<Exemption>> LoadExemptions() = 0;
  // The newest applied policy, and the newest whose origin starts with
  // `origin_prefix` ("file:").
  virtual absl::StatusOr<std::optional<AppliedPolicy>> LatestPolicy(
      std::string_view origin_prefix) = 0;
  virtual StoreTicket SubmitEngine(EngineChanges changes) = 0;
  // The committed devices that match `query` (normalized, its page token
  // decoded), in ListedBefore order, at most query.page_size of them.
  virtual absl::StatusOr<DevicePage> ListDevices(const DeviceQuery& query) = 0;

  // Durability of a ticket: whether it is committed; waiting for it (OK, or
  // why it never will be); or a callback once it is (from the store's
  // writer thread, or at once when already decided; it must not block).
  virtual bool IsDurable(StoreTicket ticket) const = 0;
  [[nodiscard]] virtual absl::Status WaitDurable(StoreTicket ticket) = 0;
  virtual void WhenDurable(StoreTicket ticket,
                           std::function<void(absl::Status)> done) = 0;
  // OK while the store can write; else why not (callers then refuse new
  // work: it could not be acknowledged).
  virtual absl::Status health() const = 0;
};

// OK when there is no store or it can write; otherwise UNAVAILABLE, the
// message `prefix` then why. Callers refuse new work with it while commits
// fail: what they changed could not be acknowledged, or would be in force
// without being recorded.
inline absl::Status Writable(const StateStore* store, std::string_view prefix) {
  if (store == nullptr) {
    return absl::OkStatus();
  }
  absl::Status health = store->health();
  if (health.ok()) {
    return health;
  }
  return absl::UnavailableError(std::string(prefix) +
                                std::string(health.message()));
}

}  // namespace hijackguard::policy
