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

// A SIEM sink's backlog reached siem.max_backlog: its oldest undelivered
// outbox entries (seq first_seq..last_seq) were dropped for it.
struct SiemDropAudit {
  std::string sink;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t count = 0;
};

struct AuditRecord {
  absl::Time at;
  std::variant<DecisionAudit, PolicyAudit, ExemptionAudit, AccessAudit,
               AcceptBrokenAudit, SiemDropAudit>
      what;
};

// A policy as applied, with the document to rebuild it from.
struct AppliedPolicy {
  std::string revision;
  std::string origin;
  absl::Time applied_at;
  std::string document;  // Policy::source(), or canonical() when empty
};

// The SIEM outbox: what the sinks deliver (alerts and audit checkpoints as
// JSON, plugin/siem/), in commit order, and how far each sink got.
struct OutboxEntry {
  std::uint64_t seq = 0;  // 1, 2, ... never reused
  std::string payload;
};

struct SinkCursor {
  std::string sink;
  std::uint64_t delivered = 0;  // every entry up to this seq is done with
  std::uint64_t dropped = 0;    // entries dropped for it (max_backlog), ever
};

struct OutboxState {
  std::uint64_t head = 0;    // the newest committed entry's seq (0: none ever)
  std::uint64_t oldest = 0;  // the oldest kept entry's seq (0: none kept)
  std::vector<SinkCursor> cursors;
};

// A committed audit row as the log holds it (the record is canonical JSON,
// store/audit_log.h).
struct AuditEntry {
  std::uint64_t seq = 0;
  absl::Time at;
  std::string kind;  // "decision", "policy", "exemption", "access", ...
  std::string record;
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
  // Outbox entries appended in this commit (payloads, in order), sink
  // cursors written, and entries deleted through this seq (0: none; a store
  // may delete only the oldest of them in one commit, and the rest with the
  // next prune).
  std::vector<std::string> outbox;
  std::vector<SinkCursor> sink_cursors;
  std::uint64_t outbox_prune_through = 0;
  // Alerts raised by this commit's decisions (ReplicaAlertJson), for the other
  // replicas' WatchAlerts subscribers: a shared store hands them to each
  // other replica's shared listener after the commit; others ignore them.
  std::vector<std::string> alerts;
  bool empty() const {
    return devices.empty() && put_exemptions.empty() &&
           deleted_exemptions.empty() && !policy && audit.empty() &&
           outbox.empty() && sink_cursors.empty() &&
           outbox_prune_through == 0 && alerts.empty();
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
  // The committed devices of `tenant_id` ("" for every tenant) counted by
  // DeviceCount's columns, one entry per combination present.
  virtual absl::StatusOr<std::vector<DeviceCount>> CountDevices(
      std::string_view tenant_id) = 0;

  // Committed audit rows of `kind` ("" for every kind) with a seq below
  // `before_seq` (0: from the newest), newest first, at most `limit`.
  virtual absl::StatusOr<std::vector<AuditEntry>> ReadAudit(
      std::string_view kind, std::uint64_t before_seq, std::size_t limit) = 0;

  // Committed outbox entries after `after_seq`, in order, at most `limit`;
  // and the outbox's head, oldest entry and the sinks' cursors as committed.
  virtual absl::StatusOr<std::vector<OutboxEntry>> ReadOutbox(
      std::uint64_t after_seq, std::size_t limit) = 0;
  virtual absl::StatusOr<OutboxState> LoadOutboxState() = 0;

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

  // Shared stores (DetectorStore::shared): another replica committed a
  // policy or changed the exemptions; kResync after the store lost and
  // regained the database (anything may have changed meanwhile); kAlert with
  // an alert another replica committed (`payload`, as EngineChanges::alerts
  // holds it), in commit order; kDevices with the lines another replica
  // passed to AnnounceDevices (`payload`, one per line). `payload` is empty
  // for the other changes. Called on
  // the store's own thread (concurrently with callers' calls into the
  // store; the listener may call the store), or from SetSharedListener
  // itself when a change came before anyone listened; null removes the
  // listener and returns once no call is under way. Other stores never call
  // it.
  enum class SharedChange { kPolicy, kExemptions, kResync, kAlert, kDevices };
  using SharedListener =
      std::function<void(SharedChange change, std::string_view payload)>;
  // NOLINTNEXTLINE(performance-unnecessary-value-param): overriders keep it
  virtual void SetSharedListener(SharedListener listener) { (void)listener; }
  // Shared stores: the other replicas' listeners get `lines` (each without
  // a newline; what they mean is the caller's) as kDevices, once everything
  // submitted before this call is committed. Other stores ignore it.
  // NOLINTNEXTLINE(performance-unnecessary-value-param): overriders keep it
  virtual void AnnounceDevices(std::vector<std::string> lines) { (void)lines; }
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
