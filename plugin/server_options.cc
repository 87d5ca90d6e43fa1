#include "plugin/server_options.h"

#include <filesystem>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "store/audit_key.h"
#include "store/sqlite/sqlite_store.h"

namespace hijackguard::plugin {

void ApplyProcessDefaults() {
#ifdef NDEBUG
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
}

ServerOptions ServerOptionsFrom(
    const ServerConfig& config, bool accept_broken_audit,
    std::shared_ptr<const detector::KnownIssueCatalog> catalog) {
  ServerOptions options;
  options.listen_address = config.listen;
  options.catalog = std::move(catalog);
  options.max_request_bytes = config.max_request_bytes;
  options.max_traffic_request_bytes = config.max_traffic_request_bytes;
  options.detector.max_devices = config.max_devices;
  options.engine.max_devices = config.max_devices;
  options.detector.ledger.max_entries = config.ledger_max_entries;
  options.detector.ledger.ttl = config.ledger_ttl;
  options.detector.max_events_per_device = config.max_events_per_device;
  options.detector.keep_subjects = config.keep_subjects;
  options.detector.aliases = config.aliases;
  options.check_in.decision_validity = config.decision_validity;
  options.tls = config.tls;
  // With state in memory nothing is written under state_dir: TLS copies go
  // to a temporary directory removed at exit, and the audit key (for
  // pseudonyms) is a new one each run unless audit.key_file names one.
  const bool on_disk = config.state_store != "memory";
  options.tls_dir =
      on_disk ? (std::filesystem::path(config.state_dir) / "tls").string() : "";
  options.policy_path = config.policy_path;
  if (config.auth) {
    options.auth = std::make_shared<const AuthConfig>(*config.auth);
  }
  options.allow_insecure_remote = config.allow_insecure_remote;
  options.reflection = config.reflection;
  options.audit_key_file =
      !config.audit_key_file.empty() ? config.audit_key_file
      : on_disk ? store::DefaultAuditKeyPath(config.state_dir)
                : "";
  options.accept_broken_audit = accept_broken_audit;
  options.logging_pii = config.logging_pii;
  options.audit_checkpoint_interval = config.audit_checkpoint_interval;
  if (accept_broken_audit) {
    LogWarning(
        "--accept-broken-audit: the server starts even if the audit "
        "log does not verify, and records that in the log");
  }
  if (config.state_store == "postgres") {
    options.postgres = {.dsn = config.postgres.dsn,
                        .password_file = config.postgres.password_file,
                        .readers = config.postgres.readers,
                        .list_readers = config.postgres.list_readers};
  }
  if (config.state_store == "sqlite") {
    options.state_path =
        (std::filesystem::path(config.state_dir) / store::kStateFileName)
            .string();
    options.state_synchronous = config.state_synchronous;
    options.state_wal_autocheckpoint_pages = config.wal_autocheckpoint_pages;
  }
  auto days = [](int d) { return absl::Hours(24) * d; };
  options.retention.devices = days(config.retention.device_days);
  options.retention.history = days(config.retention.history_days);
  options.retention.pending = days(config.retention.pending_days);
  options.retention.audit = days(config.retention.audit_days);
  options.engine.alerts = config.alerts;
  options.max_policy_bytes = config.max_policy_bytes;
  options.http = config.http;
  options.console = config.console;
  options.siem = config.siem;
  options.decision_log_sample = config.decision_log_sample;
  return options;
}

}  // namespace hijackguard::plugin
