#include "store/postgres/pg_conn.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace hijackguard::store::pg {

namespace {

// Type OIDs (pg_type.h, stable across versions).
constexpr unsigned int kBoolOid = 16;
constexpr unsigned int kByteaOid = 17;
constexpr unsigned int kInt8Oid = 20;
constexpr unsigned int kTextOid = 25;
constexpr unsigned int kFloat8Oid = 701;
constexpr unsigned int kByteaArrayOid = 1001;
constexpr unsigned int kInt8ArrayOid = 1016;
constexpr unsigned int kFloat8ArrayOid = 1022;

void PutInt32(std::string* out, std::int32_t v) {
  const auto u = static_cast<std::uint32_t>(v);
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((u >> shift) & 0xff));
  }
}

std::string Int64Bytes(std::int64_t v) {
  std::string out(8, '\0');
  const auto u = static_cast<std::uint64_t>(v);
  for (int i = 0; i < 8; ++i) {
    out[static_cast<std::size_t>(i)] =
        static_cast<char>((u >> (56 - 8 * i)) & 0xff);
  }
  return out;
}

std::int64_t ReadBigEndian(const char* p, int bytes) {
  std::uint64_t u = 0;
  for (int i = 0; i < bytes; ++i) {
    u = (u << 8) | static_cast<unsigned char>(p[i]);
  }
  // Sign-extend a narrower integer.
  const int unused = 64 - 8 * bytes;
  return unused == 0 ? static_cast<std::int64_t>(u)
                     : static_cast<std::int64_t>(u << unused) >> unused;
}

// The first line of a statement, for messages (never its parameters).
std::string_view StatementName(std::string_view sql) {
  sql = sql.substr(0, sql.find('\n'));
  return sql.substr(0, 60);
}

}  // namespace

// ---------------------------------------------------------------------------
// Params

Params& Params::Add(unsigned int type, std::string value, bool null) {
  types_.push_back(type);
  lengths_.push_back(static_cast<int>(value.size()));
  values_.push_back(std::move(value));
  nulls_.push_back(null);
  formats_.push_back(1);
  return *this;
}

const char* const* Params::values() const {
  pointers_.clear();
  for (std::size_t i = 0; i < values_.size(); ++i) {
    pointers_.push_back(nulls_[i] ? nullptr : values_[i].data());
  }
  return pointers_.data();
}

Params& Params::Bytes(std::string_view value) {
  return Add(kByteaOid, std::string(value));
}

Params& Params::Text(std::string_view value) {
  return Add(kTextOid, std::string(value));
}

Params& Params::Int(std::int64_t value) {
  return Add(kInt8Oid, Int64Bytes(value));
}

Params& Params::Double(double value) {
  return Add(kFloat8Oid, Int64Bytes(std::bit_cast<std::int64_t>(value)));
}

Params& Params::Null() { return Add(0, std::string(), true); }

Params& Params::AddArray(
    unsigned int element_type,
    const std::vector<std::optional<std::string>>& elements) {
  // The binary array format: dimensions, a has-null flag, the element type,
  // each dimension's size and lower bound, then each element's length (-1
  // for NULL) and bytes.
  std::string out;
  bool has_null = false;
  for (const auto& e : elements) has_null = has_null || !e.has_value();
  PutInt32(&out, elements.empty() ? 0 : 1);
  PutInt32(&out, has_null ? 1 : 0);
  PutInt32(&out, static_cast<std::int32_t>(element_type));
  if (!elements.empty()) {
    PutInt32(&out, static_cast<std::int32_t>(elements.size()));
    PutInt32(&out, 1);
  }
  for (const auto& e : elements) {
    if (!e) {
      PutInt32(&out, -1);
      continue;
    }
    PutInt32(&out, static_cast<std::int32_t>(e->size()));
    out += *e;
  }
  const unsigned int array_type = element_type == kByteaOid  ? kByteaArrayOid
                                  : element_type == kInt8Oid ? kInt8ArrayOid
                                                             : kFloat8ArrayOid;
  return Add(array_type, std::move(out));
}

Params& Params::BytesArray(const std::vector<std::string_view>& values) {
  std::vector<std::optional<std::string>> elements;
  elements.reserve(values.size());
  for (std::string_view v : values) elements.emplace_back(std::string(v));
  return AddArray(kByteaOid, elements);
}

Params& Params::NullableBytesArray(
    const std::vector<std::optional<std::string_view>>& values) {
  std::vector<std::optional<std::string>> elements;
  elements.reserve(values.size());
  for (const auto& v : values) {
    elements.push_back(v ? std::optional<std::string>(std::string(*v))
                         : std::nullopt);
  }
  return AddArray(kByteaOid, elements);
}

Params& Params::IntArray(const std::vector<std::int64_t>& values) {
  std::vector<std::optional<std::string>> elements;
  elements.reserve(values.size());
  for (std::int64_t v : values) elements.emplace_back(Int64Bytes(v));
  return AddArray(kInt8Oid, elements);
}

Params& Params::NullableDoubleArray(
    const std::vector<std::optional<double>>& values) {
  std::vector<std::optional<std::string>> elements;
  elements.reserve(values.size());
  for (const auto& v : values) {
    elements.push_back(v ? std::optional<std::string>(
                               Int64Bytes(std::bit_cast<std::int64_t>(*v)))
                         : std::nullopt);
  }
  return AddArray(kFloat8Oid, elements);
}

// ---------------------------------------------------------------------------
// Result

Result::Result(pg_result* result) : result_(result) {}

Result::Result(Result&& other) noexcept : result_(other.result_) {
  other.result_ = nullptr;
}

Result& Result::operator=(Result&& other) noexcept {
  if (this != &other) {
    if (result_ != nullptr) PQclear(result_);
    result_ = other.result_;
    other.result_ = nullptr;
  }
  return *this;
}

Result::~Result() {
  if (result_ != nullptr) PQclear(result_);
}

int Result::rows() const { return result_ == nullptr ? 0 : PQntuples(result_); }

int Result::columns() const {
  return result_ == nullptr ? 0 : PQnfields(result_);
}

bool Result::IsNull(int row, int column) const {
  return PQgetisnull(result_, row, column) != 0;
}

std::string_view Result::Bytes(int row, int column) const {
  if (IsNull(row, column)) return {};
  return {PQgetvalue(result_, row, column),
          static_cast<std::size_t>(PQgetlength(result_, row, column))};
}

std::int64_t Result::Int(int row, int column) const {
  if (IsNull(row, column)) return 0;
  const int length = PQgetlength(result_, row, column);
  if (length != 8 && length != 4 && length != 2) return 0;
  return ReadBigEndian(PQgetvalue(result_, row, column), length);
}

double Result::Double(int row, int column) const {
  if (IsNull(row, column) || PQftype(result_, column) != kFloat8Oid) return 0;
  return std::bit_cast<double>(
      ReadBigEndian(PQgetvalue(result_, row, column), 8));
}

bool Result::Bool(int row, int column) const {
  return !IsNull(row, column) && PQftype(result_, column) == kBoolOid &&
         PQgetvalue(result_, row, column)[0] != 0;
}

std::int64_t Result::Affected() const {
  const char* n = result_ == nullptr ? "" : PQcmdTuples(result_);
  std::int64_t value = 0;
  for (; *n >= '0' && *n <= '9'; ++n) value = value * 10 + (*n - '0');
  return value;
}

// ---------------------------------------------------------------------------
// Errors

absl::StatusCode CodeForSqlState(std::string_view s) {
  if (s.starts_with("08") ||   // connection exception
      s.starts_with("57P") ||  // the server is shutting down or starting
      s.starts_with("40") ||   // serialization failure, deadlock: retry
      s == "25006" ||          // read-only transaction (a standby)
      s == "55P03") {          // lock not available
    return absl::StatusCode::kUnavailable;
  }
  if (s.starts_with("53")) {  // disk full, out of memory, too many connections
    return absl::StatusCode::kResourceExhausted;
  }
  if (s == "42501" || s.starts_with("28")) {  // privilege, authorization
    return absl::StatusCode::kPermissionDenied;
  }
  return absl::StatusCode::kInternal;
}

absl::Status Connection::ConnectionError(std::string_view what) const {
  std::string message = PQerrorMessage(conn_);
  while (!message.empty() && message.back() == '\n') message.pop_back();
  return absl::Status(PQstatus(conn_) == CONNECTION_BAD
                          ? absl::StatusCode::kUnavailable
                          : absl::StatusCode::kInternal,
                      StrCat("PostgreSQL: ", what, ": ", message));
}

absl::Status Connection::ResultError(pg_result* result,
                                     std::string_view sql) const {
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  if (state == nullptr) {
    // Not the server's: the connection broke, or libpq refused.
    return ConnectionError(StatementName(sql));
  }
  // The primary message only: DETAIL may quote row values.
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  return absl::Status(CodeForSqlState(state),
                      StrCat("PostgreSQL: ", StatementName(sql), ": ",
                             primary != nullptr ? primary : "error",
                             " (SQLSTATE ", state, ")"));
}

absl::Status CheckNoPassword(const std::string& conninfo,
                             std::string_view field) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    // libpq's message quotes the string's words, which may be a password.
    PQfreemem(error);
    return absl::InvalidArgumentError(
        StrCat(field,
               " is not a libpq connection string (keyword=value "
               "pairs or a postgresql:// URI)"));
  }
  bool has_password = false;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (std::strcmp(o->keyword, "password") == 0 && o->val != nullptr &&
        o->val[0] != '\0') {
      has_password = true;
    }
  }
  PQconninfoFree(options);
  if (has_password) {
    return absl::InvalidArgumentError(StrCat(
        field,
        " holds a password (password= or user:password@); put it in "
        "postgres.password_file, PGPASSFILE or ~/.pgpass instead, so that "
        "it is never in a configuration file or a log"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadPasswordFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int e = errno;
    return absl::Status(
        e == ENOENT ? absl::StatusCode::kNotFound
                    : absl::StatusCode::kPermissionDenied,
        StrCat("postgres.password_file ", path, ": ", std::strerror(e)));
  }
  struct stat st {};
  std::string text;
  absl::Status status;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    status = absl::FailedPreconditionError(
        StrCat("postgres.password_file ", path, " is not a regular file"));
  } else if ((st.st_mode & 077) != 0) {
    status = absl::FailedPreconditionError(
        StrCat("postgres.password_file ", path, " can be read by others (mode ",
               absl::StrFormat("%04o", st.st_mode & 07777),
               "): chmod 600 it, and think of the password as seen"));
  } else if (st.st_size > 4096) {
    status = absl::InvalidArgumentError(
        StrCat("postgres.password_file ", path, " is larger than 4096 bytes"));
  } else {
    text.resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < text.size()) {
      const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    text.resize(got);
  }
  ::close(fd);
  RETURN_IF_ERROR(status);
  text = text.substr(0, text.find('\n'));
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text.empty() || text.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(
        StrCat("postgres.password_file ", path,
               ": the first line must hold the password (and no NUL byte)"));
  }
  return text;
}

// ---------------------------------------------------------------------------
// Connection

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(
    const std::string& conninfo, const std::string& password,
    absl::Duration connect_timeout) {
  const std::string timeout = std::to_string(
      std::max<std::int64_t>(1, absl::ToInt64Seconds(connect_timeout)));
  // Defaults first, so that the connection string may override them: text
  // in UTF-8, and a peer that stops answering found within about 30 s
  // (keepalives and tcp_user_timeout; a Unix socket ignores both).
  std::vector<const char*> keywords = {"client_encoding",
                                       "keepalives",
                                       "keepalives_idle",
                                       "keepalives_interval",
                                       "keepalives_count",
                                       "tcp_user_timeout",
                                       "connect_timeout",
                                       "fallback_application_name",
                                       "dbname"};
  std::vector<const char*> values = {"UTF8",
                                     "1",
                                     "10",
                                     "5",
                                     "3",
                                     "30000",
                                     timeout.c_str(),
                                     "hijackguard",
                                     conninfo.c_str()};
  if (!password.empty()) {
    keywords.push_back("password");
    values.push_back(password.c_str());
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  pg_conn* conn = PQconnectdbParams(keywords.data(), values.data(),
                                    /*expand_dbname=*/1);
  if (conn == nullptr) {
    return absl::ResourceExhaustedError("PostgreSQL: out of memory");
  }
  std::unique_ptr<Connection> c(new Connection(conn));
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    // Authentication failures are for the operator to fix, not to retry.
    const bool auth =
        message.find("authentication failed") != std::string::npos ||
        message.find("password") != std::string::npos;
    return absl::Status(auth ? absl::StatusCode::kPermissionDenied
                             : absl::StatusCode::kUnavailable,
                        StrCat("PostgreSQL: cannot connect: ", message));
  }
  return c;
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::ok() const { return PQstatus(conn_) == CONNECTION_OK; }

int Connection::server_version() const { return PQserverVersion(conn_); }

int Connection::backend_pid() const { return PQbackendPID(conn_); }

namespace {

bool Succeeded(pg_result* r) {
  const ExecStatusType s = PQresultStatus(r);
  return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

}  // namespace

absl::Status Connection::Exec(std::string_view sql) {
  const std::string text(sql);
  Result result(PQexec(conn_, text.c_str()));
  if (!Succeeded(result.get())) {
    return ResultError(result.get(), sql);
  }
  return absl::OkStatus();
}

std::string Connection::PreparedKey(std::string_view sql,
                                    const Params& params) {
  std::string key(sql);
  key.push_back('\0');
  key.append(reinterpret_cast<const char*>(params.types()),
             static_cast<std::size_t>(params.size()) * sizeof(unsigned int));
  return key;
}

std::string Connection::PreparedName(const std::string& key,
                                     const Params& params,
                                     std::string* to_prepare) {
  to_prepare->clear();
  if (auto it = prepared_.find(key); it != prepared_.end()) return it->second;
  if (params.size() > 0 && names_ < kMaxPrepared) {
    *to_prepare = "hg" + std::to_string(++names_);
  }
  return "";
}

absl::StatusOr<Result> Connection::Query(std::string_view sql,
                                         const Params& params) {
  const std::string text(sql);
  const std::string key = PreparedKey(sql, params);
  std::string to_prepare;
  std::string name = PreparedName(key, params, &to_prepare);
  if (!to_prepare.empty()) {
    Result prepared(PQprepare(conn_, to_prepare.c_str(), text.c_str(),
                              params.size(), params.types()));
    if (!Succeeded(prepared.get())) {
      return ResultError(prepared.get(), sql);
    }
    prepared_.emplace(key, to_prepare);
    name = to_prepare;
  }
  Result result(
      name.empty()
          ? PQexecParams(conn_, text.c_str(), params.size(), params.types(),
                         params.values(), params.lengths(), params.formats(),
                         /*resultFormat=*/1)
          : PQexecPrepared(conn_, name.c_str(), params.size(), params.values(),
                           params.lengths(), params.formats(),
                           /*resultFormat=*/1));
  if (!Succeeded(result.get())) {
    return ResultError(result.get(), sql);
  }
  return result;
}

absl::StatusOr<std::vector<Result>> Connection::Pipeline(
    const std::vector<Statement>& statements) {
  // Blocking pipeline mode: every statement is sent before any result is
  // read. The results are command tags and short rows, so the server never
  // blocks on a full socket while the client is still sending.
  if (PQenterPipelineMode(conn_) != 1) {
    return ConnectionError("entering pipeline mode");
  }
  absl::Status status;
  // Statements prepared in this pipeline: each one's Prepare result comes
  // before its statement's (index into `statements`, name, key).
  struct Preparing {
    std::size_t before;
    std::string name;
    std::string key;
  };
  std::vector<Preparing> preparing;
  for (std::size_t i = 0; i < statements.size(); ++i) {
    const Statement& s = statements[i];
    const Params& p = s.params;
    std::string key = PreparedKey(s.sql, p);
    std::string to_prepare;
    std::string name = PreparedName(key, p, &to_prepare);
    if (!to_prepare.empty()) {
      if (PQsendPrepare(conn_, to_prepare.c_str(), s.sql.c_str(), p.size(),
                        p.types()) != 1) {
        status = ConnectionError(StatementName(s.sql));
        break;
      }
      // (Counted as prepared now, so that the same text later in this
      // pipeline is not prepared twice; forgotten again if it failed.)
      prepared_.emplace(key, to_prepare);
      name = to_prepare;
      preparing.push_back({i, std::move(to_prepare), std::move(key)});
    }
    const int sent =
        name.empty()
            ? PQsendQueryParams(conn_, s.sql.c_str(), p.size(), p.types(),
                                p.values(), p.lengths(), p.formats(), 1)
            : PQsendQueryPrepared(conn_, name.c_str(), p.size(), p.values(),
                                  p.lengths(), p.formats(), 1);
    if (sent != 1) {
      status = ConnectionError(StatementName(s.sql));
      break;
    }
  }
  if (status.ok() && PQpipelineSync(conn_) != 1) {
    status = ConnectionError("pipeline sync");
  }
  std::vector<Result> results;
  if (status.ok()) {
    // Each statement's result (after its Prepare's, if any), then NULL;
    // then the sync's. After an error the rest come back
    // PGRES_PIPELINE_ABORTED.
    std::size_t next_prepare = 0;
    // One command's result (then its NULL); false when none came.
    auto next = [&](const Statement& s, Result* out) {
      Result r(PQgetResult(conn_));
      if (r.get() == nullptr) {
        status = ConnectionError(StatementName(s.sql));
        return false;
      }
      while (pg_result* extra = PQgetResult(conn_)) PQclear(extra);
      if (status.ok() && !Succeeded(r.get())) {
        status = ResultError(r.get(), s.sql);
      }
      *out = std::move(r);
      return true;
    };
    for (std::size_t i = 0; i < statements.size(); ++i) {
      const Statement& s = statements[i];
      Result r;
      if (next_prepare < preparing.size() &&
          preparing[next_prepare].before == i) {
        if (!next(s, &r)) break;
        ++next_prepare;
      }
      if (!next(s, &r)) break;
      results.push_back(std::move(r));
    }
    // Up to the sync; a bounded number of empty answers, in case it was
    // already read (the caller then drops the connection).
    for (std::size_t empty = 0;;) {
      Result r(PQgetResult(conn_));
      if (r.get() == nullptr) {
        if (!ok() || ++empty > statements.size() + 2) {
          if (status.ok()) status = ConnectionError("pipeline sync");
          break;
        }
        continue;
      }
      if (PQresultStatus(r.get()) == PGRES_PIPELINE_SYNC) break;
    }
  }
  if (PQexitPipelineMode(conn_) != 1 && status.ok()) {
    status = ConnectionError("leaving pipeline mode");
  }
  if (!status.ok()) {
    // What this pipeline prepared may not have been (an error before it
    // aborted the rest): prepared again under new names when next used.
    for (const Preparing& p : preparing) prepared_.erase(p.key);
    return status;
  }
  return results;
}

absl::StatusOr<std::vector<Notification>> Connection::Notifications(
    absl::Duration timeout) {
  std::vector<Notification> out;
  auto drain = [&]() -> absl::Status {
    if (PQconsumeInput(conn_) != 1) {
      return ConnectionError("reading notifications");
    }
    while (PGnotify* n = PQnotifies(conn_)) {
      out.push_back({n->relname, n->extra});
      PQfreemem(n);
    }
    return absl::OkStatus();
  };
  if (absl::Status s = drain(); !s.ok()) return s;
  if (!out.empty() || timeout <= absl::ZeroDuration()) return out;
  pollfd fd{PQsocket(conn_), POLLIN, 0};
  if (fd.fd < 0) return ConnectionError("reading notifications");
  const int ms = static_cast<int>(
      std::min<std::int64_t>(absl::ToInt64Milliseconds(timeout), 1 << 30));
  if (::poll(&fd, 1, ms) > 0) {
    if (absl::Status s = drain(); !s.ok()) return s;
  }
  return out;
}

}  // namespace hijackguard::store::pg
