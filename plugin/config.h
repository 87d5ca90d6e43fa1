// The server configuration file (examples/hijackguard.json; reference in
// README.md).
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "plugin/auth.h"
#include "plugin/siem/siem_config.h"
#include "policy/alerts.h"

namespace hijackguard::plugin {

// TLS for the gRPC listener. With client_ca_file set, client certificates
// are verified against that CA: every caller must present one
// (client_cert "require", the default) or those that do are verified
// ("optional", so token and certificate callers share one listener).
struct TlsConfig {
  std::string cert_file;       // PEM server certificate chain
  std::string key_file;        // PEM private key
  std::string client_ca_file;  // PEM CA bundle for client certificates; "" = no
                               // client auth
  bool client_cert_optional = false;
};

// The HTTP listener (`http`): the gateway endpoints (docs/gateway.md).
struct HttpConfig {
  // host:port; "" (the default) = no HTTP listener. Port 0 picks a free port.
  std::string listen;
  // TLS for the HTTP listener; plaintext when absent.
  std::optional<TlsConfig> tls;
  // Largest request body (POST /v1/activesync/observe); larger ones get 413.
  // Default 16 MiB.
  std::size_t max_body_bytes = 16 << 20;
  // Connections served at once (one thread each); more wait to be accepted.
  // Default 64.
  int max_connections = 64;
  // A connection that sends nothing for this long is closed. Default 10 s.
  absl::Duration idle_timeout = absl::Seconds(10);
  // How long nginx may reuse an authorization answer (X-Hijackguard-Reuse)
  // while the change feed does not name its device; 0 = never. Default 60 s.
  absl::Duration gateway_cache = absl::Seconds(60);
};

// The security team's console on the HTTP listener (`console`,
// docs/console.md).
struct ConsoleConfig {
  // Serve /ui/ on http.listen. Default true.
  bool enabled = true;
  // How long a sign-in lasts (`session_seconds`). Default 8 hours.
  absl::Duration session_ttl = absl::Hours(8);
  // Live alert feeds (Server-Sent Events) at once; each holds one of the
  // HTTP listener's threads. At most MaxEventStreams(http.max_connections);
  // -1 (the default) = 4, or fewer when the listener has few threads
  // (ConsoleEventStreams). 0 = no live feed.
  int max_event_streams = -1;
  // How often the audit page's chain status is verified anew
  // (`audit_verify_seconds`). Default 10 minutes.
  absl::Duration audit_verify_interval = absl::Minutes(10);
};

// The console's CSV exports at once (each holds a listener thread while it
// runs).
inline constexpr int kConsoleCsvExports = 2;
// The most live feeds a listener of `max_connections` threads allows: one
// thread stays for the gateway when every feed and export runs.
inline int MaxEventStreams(int max_connections) {
  return std::max(0, max_connections - kConsoleCsvExports - 1);
}
// The live feeds in force: the configured number, or by default 4 or what
// the listener allows, whichever is fewer.
inline int ConsoleEventStreams(const ConsoleConfig& console,
                               int max_connections) {
  return console.max_event_streams >= 0
             ? console.max_event_streams
             : std::min(4, MaxEventStreams(max_connections));
}

// How long rows are kept (`retention`); 0 days = forever.
struct RetentionConfig {
  int device_days = 180;   // devices (detector state) not seen for this long
  int history_days = 180;  // decision history of devices not decided since
  int pending_days = 30;   // out-of-order changes still waiting
  int audit_days = 0;      // the audit log (0: keep it forever)
};

// `postgres`: the shared state store (state_store "postgres"). Each replica
// holds 1 + readers + list_readers + 1 connections (the writer, the pools,
// and the notification listener, which also holds the SIEM outbox's lease),
// and one more while the console's audit check runs.
struct PostgresConfig {
  // A libpq connection string (keywords or a postgresql:// URI) without a
  // password.
  std::string dsn;
  // A file (mode 0600) whose first line is the password; "" leaves it to
  // libpq (PGPASSWORD, PGPASSFILE, ~/.pgpass, or no password at all).
  std::string password_file;
  int readers = 4;       // connections for the loads decisions wait on
  int list_readers = 2;  // connections for listings (console, API)
};

struct ServerConfig {
  // host:port to listen on. Default "127.0.0.1:50051"; port 0 picks a free
  // port.
  std::string listen = "127.0.0.1:50051";
  // Known-issue catalog file. Default "": the catalog compiled into the binary.
  std::string catalog_path;
  // Policy document (docs/policy.md); re-read on SIGHUP. Default "": the
  // built-in defaults (monitor mode).
  std::string policy_path;
  // Directory for durable state; created if missing. Default "./var".
  std::string state_dir = "./var";
  // Where state lives: "sqlite" (state_dir/hijackguard.db, the default),
  // "postgres" (the database `postgres` names, shared by every replica) or
  // "memory" (nothing survives a restart; for tests and benchmarks).
  std::string state_store = "sqlite";
  PostgresConfig postgres;
  // SQLite's synchronous mode: "full" (default; a commit survives power
  // loss), "normal" (survives a process crash) or "off".
  std::string state_synchronous = "full";
  // SQLite's wal_autocheckpoint: write-ahead log pages before they are
  // copied into the database file. Default 1000 (SQLite's own).
  int wal_autocheckpoint_pages = 1000;
  RetentionConfig retention;
  // Largest policy document (file, ApplyPolicy, ValidatePolicy,
  // SimulateDecision), checked before parsing. Default and most 4 MiB.
  std::size_t max_policy_bytes = 4 << 20;
  // WatchAlerts queues and slots (`alerts`).
  policy::AlertLimits alerts;
  // Largest CheckIn request accepted, in bytes. Default 65536.
  int max_request_bytes = 64 * 1024;
  // Largest ReportTraffic/StreamTraffic message accepted (WBXML bodies can be
  // large), in bytes. Default 8 MiB.
  int max_traffic_request_bytes = 8 << 20;
  // Devices held in memory by the detector and by the engine each: with a
  // state database a cache (the rest stay on disk), without one the most
  // devices tracked.
  std::size_t max_devices = 500'000;
  // Meeting ledger bounds (see detector/traffic/meeting_ledger.h).
  std::size_t ledger_max_entries = 2'000'000;
  absl::Duration ledger_ttl = absl::Hours(24 * 30);
  // `ledger.keep_subjects`: keep the subject a client sent with a meeting it
  // changed, for the repair list. Personal data: default false.
  bool keep_subjects = false;
  // Detection events kept per device. Default 1000.
  std::size_t max_events_per_device = 1000;
  // Extra addresses of mailbox owners: tenant -> address -> aliases.
  std::map<std::string, std::map<std::string, std::vector<std::string>>>
      aliases;
  // How long an MDM may reuse a decision (CheckInResponse.valid_until). Default
  // 1 hour.
  absl::Duration decision_validity = absl::Hours(1);
  // How long SIGINT/SIGTERM wait for in-flight calls before cancelling them.
  // Default 10 s.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // TLS; plaintext when absent (the default, for loopback).
  std::optional<TlsConfig> tls;
  HttpConfig http;
  ConsoleConfig console;
  // Callers and their roles (plugin/auth.h); absent = development mode,
  // every caller an anonymous admin.
  std::optional<AuthConfig> auth;
  // Serve a non-loopback address without auth and TLS (logged at start).
  bool allow_insecure_remote = false;
  // gRPC server reflection; default: on in development mode, off with auth.
  std::optional<bool> reflection;
  // The audit key's file; "" = <state_dir>/audit.key.
  std::string audit_key_file;
  // How often the server logs a signed audit checkpoint. Default 1 hour.
  absl::Duration audit_checkpoint_interval = absl::Hours(1);
  // Log user principals and addresses in clear instead of pseudonyms.
  bool logging_pii = false;
  // `logging.format`: "text" (default) or "json" lines.
  LogFormat log_format = LogFormat::kText;
  // `logging.level`: the lowest level written. Default "info".
  LogLevel log_level = LogLevel::kInfo;
  // `siem`: where alerts and audit checkpoints are delivered.
  siem::SiemConfig siem;
  // `decision_log`: {"sample": 0 to 1 (default 1)}: that share of decisions
  // logged with their input fingerprint and result; absent: none.
  std::optional<double> decision_log_sample;
};

// Parses configuration JSON. Unknown keys and wrong types are errors; every
// problem is listed with its JSON pointer in one INVALID_ARGUMENT. Relative
// paths are kept as written (they resolve against the working directory).
absl::StatusOr<ServerConfig> ParseServerConfig(std::string_view json,
                                               std::string_view origin);

// Reads and parses a configuration file (NOT_FOUND when it cannot be opened).
absl::StatusOr<ServerConfig> LoadServerConfig(const std::string& path);

// The top-level keys whose values differ between `a` and `b` apart from
// `auth` and the TLS file paths (what SIGHUP cannot change: they need a
// restart; the policy file's content is re-read, its path is not).
std::vector<std::string> KeysNeedingRestart(const std::string& a_json,
                                            const std::string& b_json);

// The address rule: a `listen` address other than loopback or a Unix socket
// needs auth and TLS (the TLS section named `tls_key`), unless
// `allow_insecure_remote` (then a warning is logged). FAILED_PRECONDITION
// saying what is missing otherwise.
[[nodiscard]] absl::Status CheckListenAddress(const std::string& listen,
                                              bool has_auth, bool has_tls,
                                              bool allow_insecure_remote,
                                              std::string_view tls_key);

// Whether `listen` is a loopback address (127.0.0.0/8, ::1, localhost) or a
// Unix socket: the only addresses served without auth and TLS.
bool IsLoopbackListen(std::string_view listen);

}  // namespace hijackguard::plugin
