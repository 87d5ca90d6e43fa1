// A throwaway PostgreSQL cluster for tests: initdb in a new temporary
// directory, a server listening only on a Unix socket in that directory, and
// everything removed again when the object goes.
//
// The server binaries come from `pg_config --bindir`, else
// /usr/lib/postgresql/15/bin (Debian keeps initdb off PATH). initdb refuses
// to run as root: under root the cluster belongs to an unprivileged user
// (postgres, else nobody) who owns the directory, and its commands run as
// that user. Clients log in as `hgadmin` with a password (SCRAM), read from
// password_file(), as the store does in production.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hijackguard::store::testing {

class PgCluster {
 public:
  // Creates and starts a cluster. UNAVAILABLE when PostgreSQL's server is
  // not installed (the message says which package).
  static absl::StatusOr<std::unique_ptr<PgCluster>> Start();
  // Stops the server (immediate) and removes the directory.
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // A connection string for `database`, without the password.
  std::string Dsn(std::string_view database) const;
  // The file that holds hgadmin's password.
  const std::string& password_file() const { return password_file_; }
  const std::string& password() const { return password_; }
  const std::string& dir() const { return dir_; }

  // CREATE DATABASE (OK when it exists).
  [[nodiscard]] absl::Status CreateDatabase(std::string_view name);
  // Runs SQL as hgadmin in `database` through psql (tests that play the
  // operator or the attacker).
  [[nodiscard]] absl::Status Psql(std::string_view database,
                                  std::string_view sql);
  // Stops the server ("fast": sessions are ended) and starts it again, as
  // in an outage of the database.
  [[nodiscard]] absl::Status Stop();
  [[nodiscard]] absl::Status Restart();

  // One cluster for the whole test program, started on first use (null,
  // with the reason in `why`, when it cannot start).
  static PgCluster* Shared(std::string* why);

 private:
  PgCluster() = default;
  // Runs a PostgreSQL program as the cluster's owner; its output goes to
  // the cluster's log. The error quotes the log's tail.
  [[nodiscard]] absl::Status Run(const std::string& program,
                                 const std::vector<std::string>& args);

  std::string bindir_;
  std::string dir_;
  std::string password_file_;
  std::string password_;
  int uid_ = -1;  // the owner, when not the current user
  int gid_ = -1;
  bool running_ = false;
};

}  // namespace hijackguard::store::testing
