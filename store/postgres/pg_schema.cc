#include "store/postgres/pg_schema.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace hijackguard::store::pg {

namespace {

struct Step {
  // The oldest schema whose builds can run on the result (the step's own
  // number when it is not additive).
  int compatible_from;
  std::string_view sql;
};

// Keys, values and every column a device or a caller supplies are bytea:
// they are stored as the bytes the engine wrote, whatever their encoding.
// The audit log's records are text: canonical JSON, always UTF-8 (invalid
// sequences are replaced before hashing), readable with psql.
const std::vector<Step>& Steps() {
  static const std::vector<Step> kSteps = {
      // 0 -> 1
      {1, R"sql(
CREATE TABLE meta(name text PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE devices(key bytea PRIMARY KEY, idx bytea,
                     active_ms bigint NOT NULL, value bytea NOT NULL);
CREATE INDEX devices_by_idx ON devices(idx, active_ms) WHERE idx IS NOT NULL;
CREATE INDEX devices_by_time ON devices(active_ms);
CREATE TABLE ledger(key bytea PRIMARY KEY, updated_ms bigint NOT NULL,
                    value bytea NOT NULL);
CREATE INDEX ledger_by_time ON ledger(updated_ms);
CREATE TABLE events(key bytea PRIMARY KEY, recorded_ms bigint NOT NULL,
                    value bytea NOT NULL);
CREATE INDEX events_by_time ON events(recorded_ms);
CREATE TABLE pending(key bytea PRIMARY KEY, at_ms bigint NOT NULL,
                     value bytea NOT NULL);
CREATE INDEX pending_by_time ON pending(at_ms);
CREATE TABLE history(key bytea PRIMARY KEY, decided_ms bigint NOT NULL,
                     value bytea NOT NULL, tenant bytea, eas_device_id bytea,
                     mdm_device_id bytea, user_principal bytea,
                     user_folded bytea, enforced_action text,
                     evaluated_action text, level text, score float8,
                     build bytea, os_version bytea, model_name bytea,
                     platform bytea);
CREATE INDEX history_by_time ON history(decided_ms);
CREATE INDEX history_by_score ON history(score DESC, key)
  WHERE score IS NOT NULL;
CREATE INDEX history_by_tenant ON history(tenant, score DESC, key)
  WHERE score IS NOT NULL;
CREATE INDEX history_by_user ON history(user_folded) WHERE score IS NOT NULL;
CREATE INDEX history_by_evaluated ON history(evaluated_action, score DESC, key)
  WHERE score IS NOT NULL;
CREATE INDEX history_by_level ON history(level, score DESC, key)
  WHERE score IS NOT NULL;
CREATE TABLE exemptions(id bytea PRIMARY KEY, tenant bytea NOT NULL,
                        kind text NOT NULL, value bytea NOT NULL,
                        reason bytea NOT NULL, expires_us bigint NOT NULL);
CREATE TABLE policies(seq bigint PRIMARY KEY, revision text NOT NULL,
                      origin bytea NOT NULL, applied_us bigint NOT NULL,
                      document bytea NOT NULL);
CREATE TABLE audit(seq bigint PRIMARY KEY, at_us bigint NOT NULL,
                   kind text NOT NULL, record text NOT NULL,
                   prev_hash text NOT NULL, hash text NOT NULL);
CREATE INDEX audit_by_time ON audit(at_us);
CREATE INDEX audit_by_kind ON audit(kind, seq);
CREATE TABLE outbox(seq bigint PRIMARY KEY, payload bytea NOT NULL);
CREATE TABLE sink_cursors(sink text PRIMARY KEY, delivered bigint NOT NULL,
                          dropped bigint NOT NULL);
CREATE TABLE counters(name text PRIMARY KEY, value bigint NOT NULL);
CREATE TABLE replicas(id text PRIMARY KEY, host text NOT NULL,
                      started_us bigint NOT NULL, seen_us bigint NOT NULL,
                      last_batch bigint NOT NULL);
)sql"},
      // 1 -> 2: alerts for the other replicas' WatchAlerts subscribers
      // (additive: builds of schema 1 run on it, their alerts stay theirs).
      {1, R"sql(
CREATE TABLE alert_feed(seq bigint PRIMARY KEY, origin text NOT NULL,
                        at_us bigint NOT NULL, payload bytea NOT NULL);
)sql"},
  };
  return kSteps;
}

absl::StatusOr<int> MetaInt(Connection& conn, std::string_view name) {
  ASSIGN_OR_RETURN(Result r,
                   conn.Query("SELECT value FROM meta WHERE name = $1",
                              Params().Text(name)));
  if (r.rows() == 0) return 0;
  int value = 0;
  if (!absl::SimpleAtoi(std::string(r.Bytes(0, 0)), &value) || value < 0) {
    return absl::DataLossError(StrCat("meta row ", name,
                                      " is not a number: the database's "
                                      "hijackguard tables were altered"));
  }
  return value;
}

}  // namespace

absl::StatusOr<SchemaState> ReadSchema(Connection& conn) {
  // Tables in the schemas the connection's search_path names first.
  ASSIGN_OR_RETURN(
      Result tables,
      conn.Query("SELECT count(*) FILTER (WHERE c.relname = 'meta'), "
                 "count(*) FROM pg_class c JOIN pg_namespace n ON "
                 "n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND "
                 "n.nspname = current_schema()"));
  SchemaState state;
  const std::int64_t meta = tables.Int(0, 0);
  const std::int64_t all = tables.Int(0, 1);
  if (all == 0) return state;
  if (meta == 0) {
    state.foreign = true;
    return state;
  }
  ASSIGN_OR_RETURN(state.version, MetaInt(conn, "schema_version"));
  ASSIGN_OR_RETURN(state.compatible_from, MetaInt(conn, "compatible_from"));
  if (state.version == 0) state.foreign = true;
  return state;
}

absl::StatusOr<int> Migrate(Connection& conn, MigrateMode mode,
                            std::string_view where) {
  RETURN_IF_ERROR(
      conn.Exec(StrCat("SELECT pg_advisory_lock(", kMigrationLock, ")")));
  auto migrate = [&]() -> absl::StatusOr<int> {
    ASSIGN_OR_RETURN(SchemaState state, ReadSchema(conn));
    if (state.foreign) {
      return absl::FailedPreconditionError(StrCat(
          where,
          " has tables that are not hijackguard's in its first "
          "search_path schema; give hijackguard a database (or a schema, "
          "with options=-csearch_path=...) of its own"));
    }
    if (state.version > kSchemaVersion) {
      if (state.compatible_from <= kSchemaVersion) return state.version;
      return absl::FailedPreconditionError(
          StrCat(where, " has schema ", state.version,
                 ", which builds of schema ", kSchemaVersion,
                 " (this one) cannot run on; run a newer hijackguard"));
    }
    if (state.version == kSchemaVersion) return state.version;
    if (state.version > 0 && mode == MigrateMode::kCreateOnly) {
      return absl::FailedPreconditionError(StrCat(
          where, " has schema ", state.version, "; this build needs ",
          kSchemaVersion,
          ": run hijackguard state migrate --config FILE first (docs/state.md "
          "says how to upgrade replicas one at a time)"));
    }
    const auto& steps = Steps();
    int compatible_from = std::max(state.compatible_from, 1);
    for (int v = state.version; v < kSchemaVersion; ++v) {
      const Step& step = steps[static_cast<std::size_t>(v)];
      compatible_from = std::max(compatible_from, step.compatible_from);
      RETURN_IF_ERROR(conn.Exec("BEGIN"));
      absl::Status status = conn.Exec(step.sql);
      if (status.ok()) {
        auto put = [&](std::string_view name, int value) {
          return conn
              .Query(
                  "INSERT INTO meta(name, value) VALUES($1, $2) ON CONFLICT "
                  "(name) DO UPDATE SET value = excluded.value",
                  Params().Text(name).Bytes(std::to_string(value)))
              .status();
        };
        status = put("schema_version", v + 1);
        if (status.ok()) status = put("compatible_from", compatible_from);
      }
      if (status.ok()) status = conn.Exec("COMMIT");
      if (!status.ok()) {
        (void)conn.Exec("ROLLBACK");
        return absl::Status(status.code(),
                            StrCat(where, ": schema step ", v, " -> ", v + 1,
                                   " failed: ", status.message()));
      }
    }
    return state.version;
  };
  absl::StatusOr<int> before = migrate();
  (void)conn.Exec(StrCat("SELECT pg_advisory_unlock(", kMigrationLock, ")"));
  return before;
}

}  // namespace hijackguard::store::pg
