// Where the offline commands (backup, audit verify|export|checkpoint|
// pseudonym, alerts backlog, state migrate) find the state: `--state DIR`
// (the SQLite database in a state directory), or `--config FILE`, whatever
// store that server configuration names (its state_dir's SQLite database,
// or the shared PostgreSQL database). All of them are safe while servers
// run: they read one consistent snapshot.
#pragma once

#include <memory>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "policy/state_store.h"
#include "store/audit_key.h"
#include "store/audit_log.h"
#include "store/audit_verify.h"

namespace hijackguard::plugin::cli {

struct StateTarget {
  std::string state_dir = "./var";  // --state
  std::string config;               // --config: wins when given
  std::string key_file;             // --key-file; "" = as the server finds it
};

class OfflineState {
 public:
  // INVALID_ARGUMENT (usage) for a configuration that does not load or
  // keeps its state in memory; NOT_FOUND when there is no state database.
  // `need_database` false: only the key is wanted (audit pseudonym).
  static absl::StatusOr<std::unique_ptr<OfflineState>> Open(
      const StateTarget& target, bool need_database = true);
  virtual ~OfflineState() = default;

  // "state database ./var/hijackguard.db" or "PostgreSQL database (postgres.dsn
  // of FILE)", for messages.
  virtual std::string name() const = 0;
  // The audit key (never created here); the error names the file and flag.
  absl::StatusOr<std::string> Key() const;

  virtual absl::StatusOr<store::AuditVerification> Verify(
      std::string_view key, const store::AuditCheckpoint* checkpoint) = 0;
  // A checkpoint of the head of a log that verifies.
  absl::StatusOr<store::AuditCheckpoint> Checkpoint(std::string_view key,
                                                    absl::Time now);
  virtual absl::StatusOr<std::uint64_t> Export(
      absl::Time since, std::ostream& out,
      const store::Pseudonymizer* pseudonymize) = 0;
  // A consistent copy at `to` (which must not exist), checked; what the
  // copy is, for the message.
  virtual absl::StatusOr<std::string> Backup(const std::string& to) = 0;
  virtual absl::StatusOr<policy::OutboxState> Outbox() = 0;
  // Applies the schema steps this build knows; the versions before and
  // after.
  virtual absl::StatusOr<std::pair<int, int>> Migrate() = 0;

 protected:
  std::string key_file_;
};

}  // namespace hijackguard::plugin::cli
