// The durable state stores a server test runs on, side by side: "sqlite" (a
// file in the test's directory) and "postgres" (a database of its own on the
// test program's throwaway cluster, store/testing/pg_cluster.h), with the
// offline tools (audit verify, export) for either.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/sha256.h"
#include "gtest/gtest.h"
#include "plugin/server.h"
#include "store/audit_key.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/pg_store.h"
#include "store/sqlite/state_tools.h"
#include "store/testing/pg_cluster.h"

namespace hijackguard::testing {

inline std::vector<std::string> StateBackends() {
  return {"sqlite", "postgres"};
}

inline std::string BackendName(
    const ::testing::TestParamInfo<std::string>& info) {
  return info.param;
}

// Points `options` at a new store of `backend` kept for `dir` (the same
// directory again: the same store, as after a restart).
inline absl::Status UseStateBackend(std::string_view backend,
                                    const std::filesystem::path& dir,
                                    plugin::ServerOptions* options) {
  options->audit_key_file = (dir / "audit.key").string();
  if (backend == "sqlite") {
    options->state_path = (dir / "hijackguard.db").string();
    options->postgres = {};
    return absl::OkStatus();
  }
  std::string why;
  store::testing::PgCluster* cluster = store::testing::PgCluster::Shared(&why);
  if (cluster == nullptr) return absl::UnavailableError(why);
  const std::string database = "d" + Sha256Hex(dir.string()).substr(0, 16);
  if (absl::Status s = cluster->CreateDatabase(database); !s.ok()) return s;
  const std::string password_file = (dir / "pg.password").string();
  std::ofstream(password_file) << cluster->password() << "\n";
  ::chmod(password_file.c_str(), 0600);
  options->state_path.clear();
  options->postgres.dsn = cluster->Dsn(database);
  options->postgres.password_file = password_file;
  return absl::OkStatus();
}

// A connection to the PostgreSQL database `options` names.
inline absl::StatusOr<std::unique_ptr<store::pg::Connection>> ConnectTo(
    const plugin::ServerOptions& options) {
  auto password = store::pg::ReadPasswordFile(options.postgres.password_file);
  if (!password.ok()) return password.status();
  return store::pg::Connection::Open(options.postgres.dsn, *password);
}

// `hijackguard audit verify` of the store `options` names.
inline absl::StatusOr<store::AuditVerification> VerifyStoredAudit(
    const plugin::ServerOptions& options,
    const store::AuditCheckpoint* checkpoint = nullptr) {
  auto key = store::ReadAuditKey(options.audit_key_file);
  if (!key.ok()) return key.status();
  if (!options.state_path.empty()) {
    return store::VerifyAudit(options.state_path, *key, checkpoint);
  }
  auto conn = ConnectTo(options);
  if (!conn.ok()) return conn.status();
  return store::VerifyPostgresAudit(**conn, *key, checkpoint, nullptr);
}

// `hijackguard audit export` of the store `options` names.
inline absl::StatusOr<std::uint64_t> ExportStoredAudit(
    const plugin::ServerOptions& options, absl::Time since, std::ostream& out) {
  if (!options.state_path.empty()) {
    return store::ExportAudit(options.state_path, since, out);
  }
  auto conn = ConnectTo(options);
  if (!conn.ok()) return conn.status();
  return store::ExportPostgresAudit(**conn, since, out, nullptr);
}

}  // namespace hijackguard::testing
