// A thin layer over libpq for the PostgreSQL store: one connection, typed
// parameters and results in PostgreSQL's binary format (bytea keys travel as
// their bytes, never escaped), pipelines (several statements, one round
// trip), notifications, and errors mapped to absl::Status codes by SQLSTATE.
// A Connection is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

struct pg_conn;
struct pg_result;

namespace hijackguard::store::pg {

// Statement parameters, in order ($1, $2, ...). Arrays are one-dimensional;
// an element of a nullable array may be absent (SQL NULL).
class Params {
 public:
  Params& Bytes(std::string_view value);  // bytea
  Params& Text(std::string_view value);   // text (valid UTF-8, no NUL)
  Params& Int(std::int64_t value);        // int8
  Params& Double(double value);           // float8
  Params& Null();                         // NULL (typed by the statement)
  Params& BytesArray(const std::vector<std::string_view>& values);
  Params& NullableBytesArray(
      const std::vector<std::optional<std::string_view>>& values);
  Params& IntArray(const std::vector<std::int64_t>& values);
  Params& NullableDoubleArray(const std::vector<std::optional<double>>& values);

  int size() const { return static_cast<int>(values_.size()); }
  const unsigned int* types() const { return types_.data(); }
  // Valid until the next call or a change.
  const char* const* values() const;
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  Params& Add(unsigned int type, std::string value, bool null = false);
  Params& AddArray(unsigned int element_type,
                   const std::vector<std::optional<std::string>>& elements);

  std::vector<unsigned int> types_;
  std::vector<std::string> values_;
  std::vector<bool> nulls_;
  mutable std::vector<const char*> pointers_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

// A result set in binary format. Accessors check the column's type.
class Result {
 public:
  Result() = default;
  explicit Result(pg_result* result);
  Result(Result&&) noexcept;
  Result& operator=(Result&&) noexcept;
  ~Result();

  int rows() const;
  int columns() const;
  bool IsNull(int row, int column) const;
  // bytea or text.
  std::string_view Bytes(int row, int column) const;
  // int8, int4 or int2.
  std::int64_t Int(int row, int column) const;
  double Double(int row, int column) const;  // float8
  bool Bool(int row, int column) const;
  // Rows changed by INSERT, UPDATE or DELETE.
  std::int64_t Affected() const;

 private:
  friend class Connection;
  pg_result* get() const { return result_; }

  pg_result* result_ = nullptr;
};

// A notification received through LISTEN.
struct Notification {
  std::string channel;
  std::string payload;
};

struct Statement {
  std::string sql;
  Params params;
};

class Connection {
 public:
  // Connects with `conninfo` (a libpq keyword/value string or URI) and, when
  // not empty, `password` (else libpq's own PGPASSWORD or .pgpass). The
  // error names the server's reason but never the password.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(
      const std::string& conninfo, const std::string& password,
      absl::Duration connect_timeout = absl::Seconds(10));
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Whether the connection is still up (false after the server went away).
  bool ok() const;
  // Statements without parameters or results, run as one string.
  [[nodiscard]] absl::Status Exec(std::string_view sql);
  absl::StatusOr<Result> Query(std::string_view sql,
                               const Params& params = Params());
  // The statements in one round trip (pipeline mode); the first error ends
  // the pipeline (later statements are skipped) and is returned.
  absl::StatusOr<std::vector<Result>> Pipeline(
      const std::vector<Statement>& statements);
  // Notifications received so far, waiting at most `timeout` for the first
  // (zero: only those already here). UNAVAILABLE when the connection broke.
  absl::StatusOr<std::vector<Notification>> Notifications(
      absl::Duration timeout);
  // The server's version number (150018 for 15.18).
  int server_version() const;
  // The server process's id (pg_terminate_backend in tests).
  int backend_pid() const;

 private:
  explicit Connection(pg_conn* conn) : conn_(conn) {}
  absl::Status ResultError(pg_result* result, std::string_view sql) const;
  absl::Status ConnectionError(std::string_view what) const;
  // The name `sql` with `params`' types is prepared under on this
  // connection; "" when it is not (yet), and `*to_prepare` the name to
  // prepare it under then ("" when it is not worth preparing: no
  // parameters, or kMaxPrepared reached).
  std::string PreparedName(const std::string& key, const Params& params,
                           std::string* to_prepare);
  static std::string PreparedKey(std::string_view sql, const Params& params);

  pg_conn* conn_;
  // Statements this connection has prepared (parsed and planned once, on
  // the server), by their text and parameter types. Bounded: the texts are
  // the store's own, a fixed few dozen.
  static constexpr std::size_t kMaxPrepared = 256;
  std::unordered_map<std::string, std::string> prepared_;
  std::size_t names_ = 0;  // names are never reused on a connection
};

// The status for a server error with this SQLSTATE: UNAVAILABLE for what
// passes (a lost connection, a server shutting down, a serialization
// failure, a read-only standby), RESOURCE_EXHAUSTED for a full disk or too
// many connections, PERMISSION_DENIED for a privilege, INTERNAL otherwise.
absl::StatusCode CodeForSqlState(std::string_view sqlstate);

// Checks a libpq connection string for a password (`password=` or a URI's
// `user:pass@`): INVALID_ARGUMENT naming `field` when it holds one, or when
// it does not parse (the message never repeats the string).
[[nodiscard]] absl::Status CheckNoPassword(const std::string& conninfo,
                                           std::string_view field);

// The password in `path` (postgres.password_file): its first line. The file
// must be a regular file that only its owner can read (FAILED_PRECONDITION
// naming the mode otherwise, as libpq refuses such a .pgpass), and the line
// must not be empty.
absl::StatusOr<std::string> ReadPasswordFile(const std::string& path);

}  // namespace hijackguard::store::pg
