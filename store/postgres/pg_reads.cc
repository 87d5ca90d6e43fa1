// The PostgreSQL store's loads: rows submitted and not yet committed first
// (read your writes), then the database, on the pool's connections.
#include <map>

#include "common/log.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "store/postgres/pg_internal.h"
#include "store/postgres/pg_store.h"

namespace hijackguard::store {

using pg::Params;

namespace {

// Past every key that starts with `prefix` (a device key and an 8-byte id).
std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  end.append(9, '\xFF');
  return end;
}

}  // namespace

absl::StatusOr<std::optional<std::string>> PostgresStore::LoadRow(
    RowTable table, std::string_view sql, std::string_view key) {
  RETURN_IF_ERROR(queue_->stopped());
  if (auto submitted = queue_->rows().Find(table, key)) {
    return *submitted;
  }
  // Committed before it left the submitted rows, so the database has it.
  ASSIGN_OR_RETURN(pg::Result r, Read("a row", sql, Params().Bytes(key)));
  if (r.rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>(r.Bytes(0, 0));
}

absl::StatusOr<std::optional<std::string>> PostgresStore::LoadDevice(
    std::string_view key) {
  return LoadRow(kDeviceRows, "SELECT value FROM devices WHERE key = $1", key);
}

absl::StatusOr<std::optional<std::string>> PostgresStore::LoadLedgerEntry(
    std::string_view key) {
  return LoadRow(kLedgerRows, "SELECT value FROM ledger WHERE key = $1", key);
}

absl::StatusOr<std::optional<std::string>> PostgresStore::LoadEngineDevice(
    std::string_view key) {
  return LoadRow(kHistoryRows, "SELECT value FROM history WHERE key = $1", key);
}

absl::StatusOr<std::optional<std::string>> PostgresStore::LoadPendingList(
    std::string_view key) {
  return LoadRow(kPendingRows, "SELECT value FROM pending WHERE key = $1", key);
}

absl::StatusOr<std::optional<std::string>> PostgresStore::FindDeviceByIndex(
    std::string_view index) {
  RETURN_IF_ERROR(queue_->stopped());
  if (std::optional<std::string> key =
          queue_->rows().FindDeviceByIndex(index)) {
    return key;
  }
  ASSIGN_OR_RETURN(pg::Result r,
                   Read("a device by its MDM id",
                        "SELECT key FROM devices WHERE idx = $1 ORDER BY "
                        "active_ms DESC LIMIT 1",
                        Params().Bytes(index)));
  if (r.rows() == 0) return std::optional<std::string>();
  return std::optional<std::string>(r.Bytes(0, 0));
}

absl::Status PostgresStore::LoadEvents(std::string_view prefix,
                                       std::string_view from,
                                       std::vector<std::string>* values) {
  // The submitted rows first, then the database (as LoadRow): a row
  // committed in between has left the submitted rows only after it was
  // committed.
  RETURN_IF_ERROR(queue_->stopped());
  std::map<std::string, std::string, std::less<>> pending =
      queue_->rows().Range(kEventRows, prefix, from);
  ASSIGN_OR_RETURN(pg::Result r,
                   Read("events",
                        "SELECT key, value FROM events WHERE key >= $1 AND "
                        "key < $2 ORDER BY key",
                        Params().Bytes(from).Bytes(PrefixEnd(prefix))));
  std::map<std::string, std::string, std::less<>> merged;
  for (int i = 0; i < r.rows(); ++i) {
    merged.emplace(std::string(r.Bytes(i, 0)), std::string(r.Bytes(i, 1)));
  }
  for (auto& [key, value] : pending) {
    merged.insert_or_assign(key, std::move(value));  // the newer
  }
  values->reserve(values->size() + merged.size());
  for (auto& [key, value] : merged) values->push_back(std::move(value));
  return absl::OkStatus();
}

absl::Status PostgresStore::LoadEventsAfter(
    std::string_view prefix, std::string_view after, std::size_t limit,
    std::vector<std::pair<std::string, std::string>>* rows) {
  std::string from(after);
  from.push_back('\0');  // the first key after `after`
  if (from < prefix) from = std::string(prefix);
  std::map<std::string, std::string, std::less<>> pending =
      queue_->rows().Range(kEventRows, prefix, from);
  // On the list's connections: a page of the fleet's events must not hold
  // up the loads decisions wait for.
  ASSIGN_OR_RETURN(pg::Result r,
                   Read("events page",
                        "SELECT key, value FROM events WHERE key >= $1 AND "
                        "key < $2 ORDER BY key LIMIT $3",
                        Params()
                            .Bytes(from)
                            .Bytes(PrefixEnd(prefix))
                            .Int(static_cast<std::int64_t>(limit)),
                        /*list=*/true));
  std::map<std::string, std::string, std::less<>> merged;
  for (int i = 0; i < r.rows(); ++i) {
    merged.emplace(std::string(r.Bytes(i, 0)), std::string(r.Bytes(i, 1)));
  }
  // Submitted rows: the newer where a key is in both. The first `limit`
  // keys of the union all lie within the committed rows read (or those
  // reached the end), so none is missed.
  for (auto& [key, value] : pending) {
    merged.insert_or_assign(key, std::move(value));
  }
  std::size_t added = 0;
  for (auto& [key, value] : merged) {
    if (added++ == limit) break;
    rows->emplace_back(key, std::move(value));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<detector::EventDay>> PostgresStore::CountEventsByDay(
    std::string_view prefix, std::int64_t since_ms) {
  // Committed rows only: a chart over days does not miss the few queued.
  ASSIGN_OR_RETURN(
      pg::Result r,
      Read("events by day",
           "SELECT recorded_ms / 86400000 AS day, count(*) FROM "
           "events WHERE recorded_ms >= $1 AND key >= $2 AND "
           "key < $3 GROUP BY day ORDER BY day",
           Params().Int(since_ms).Bytes(prefix).Bytes(PrefixEnd(prefix)),
           /*list=*/true));
  std::vector<detector::EventDay> days;
  days.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    days.push_back({r.Int(i, 0), static_cast<std::uint64_t>(r.Int(i, 1))});
  }
  return days;
}

absl::Status PostgresStore::LoadAllPending(
    std::vector<std::pair<std::string, std::string>>* rows) {
  ASSIGN_OR_RETURN(
      pg::Result r,
      Read("pending changes", "SELECT key, value FROM pending ORDER BY key",
           Params()));
  for (int i = 0; i < r.rows(); ++i) {
    rows->emplace_back(std::string(r.Bytes(i, 0)), std::string(r.Bytes(i, 1)));
  }
  return absl::OkStatus();
}

absl::StatusOr<detector::DetectorCounters> PostgresStore::LoadCounters() {
  ASSIGN_OR_RETURN(
      pg::Result r,
      Read("counters",
           "SELECT coalesce(max(value) FILTER (WHERE name LIKE "
           "'ledger\\_version:%'), 0), coalesce(max(value) FILTER (WHERE "
           "name LIKE 'event\\_id:%'), 0) FROM counters",
           Params()));
  detector::DetectorCounters counters;
  counters.ledger_version = static_cast<std::uint64_t>(r.Int(0, 0));
  counters.event_id = static_cast<std::uint64_t>(r.Int(0, 1));
  return counters;
}

absl::StatusOr<std::vector<policy::Exemption>> PostgresStore::LoadExemptions() {
  ASSIGN_OR_RETURN(pg::Result r,
                   Read("exemptions",
                        "SELECT id, tenant, kind, value, reason, expires_us "
                        "FROM exemptions ORDER BY id",
                        Params()));
  std::vector<policy::Exemption> out;
  for (int i = 0; i < r.rows(); ++i) {
    policy::Exemption e;
    e.id = std::string(r.Bytes(i, 0));
    e.tenant_id = std::string(r.Bytes(i, 1));
    const auto kind = policy::ParseExemptionKind(r.Bytes(i, 2));
    if (!kind) {
      return absl::DataLossError(StrCat("exemption ", e.id, " has kind \"",
                                        r.Bytes(i, 2),
                                        "\", which no version writes"));
    }
    e.kind = *kind;
    e.value = std::string(r.Bytes(i, 3));
    e.reason = std::string(r.Bytes(i, 4));
    e.expires = FromUs(r.Int(i, 5));
    e.source = "api";
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<std::optional<policy::AppliedPolicy>>
PostgresStore::LatestPolicy(std::string_view origin_prefix) {
  ASSIGN_OR_RETURN(
      pg::Result r,
      Read("the policy",
           "SELECT revision, origin, applied_us, document FROM policies "
           "WHERE substr(origin, 1, length($1::bytea)) = $1::bytea ORDER BY "
           "seq DESC LIMIT 1",
           Params().Bytes(origin_prefix)));
  if (r.rows() == 0) return std::optional<policy::AppliedPolicy>();
  policy::AppliedPolicy p;
  p.revision = std::string(r.Bytes(0, 0));
  p.origin = std::string(r.Bytes(0, 1));
  p.applied_at = FromUs(r.Int(0, 2));
  p.document = std::string(r.Bytes(0, 3));
  return std::optional<policy::AppliedPolicy>(std::move(p));
}

absl::StatusOr<std::vector<policy::OutboxEntry>> PostgresStore::ReadOutbox(
    std::uint64_t after_seq, std::size_t limit) {
  RETURN_IF_ERROR(queue_->stopped());
  ASSIGN_OR_RETURN(pg::Result r,
                   Read("the SIEM outbox",
                        "SELECT seq, payload FROM outbox WHERE seq > $1 ORDER "
                        "BY seq LIMIT $2",
                        Params()
                            .Int(static_cast<std::int64_t>(after_seq))
                            .Int(static_cast<std::int64_t>(limit))));
  std::vector<policy::OutboxEntry> entries;
  entries.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    entries.push_back(
        {static_cast<std::uint64_t>(r.Int(i, 0)), std::string(r.Bytes(i, 1))});
  }
  return entries;
}

namespace {

constexpr std::string_view kOutboxStateSql =
    "SELECT 0 AS o, (SELECT value FROM counters WHERE name = 'outbox_seq'), "
    "(SELECT min(seq) FROM outbox), NULL AS sink, 0::bigint, 0::bigint "
    "UNION ALL SELECT 1, NULL, NULL, sink, delivered, dropped FROM "
    "sink_cursors ORDER BY o, sink";

policy::OutboxState ParseOutboxState(const pg::Result& r) {
  policy::OutboxState state;
  state.head = static_cast<std::uint64_t>(r.Int(0, 1));
  state.oldest = static_cast<std::uint64_t>(r.Int(0, 2));
  for (int i = 1; i < r.rows(); ++i) {
    state.cursors.push_back({std::string(r.Bytes(i, 3)),
                             static_cast<std::uint64_t>(r.Int(i, 4)),
                             static_cast<std::uint64_t>(r.Int(i, 5))});
  }
  return state;
}

}  // namespace

absl::StatusOr<policy::OutboxState> PostgresStore::LoadOutboxState() {
  RETURN_IF_ERROR(queue_->stopped());
  ASSIGN_OR_RETURN(pg::Result r,
                   Read("the SIEM outbox", kOutboxStateSql, Params()));
  return ParseOutboxState(r);
}

absl::StatusOr<policy::OutboxState> ReadPostgresOutboxState(
    pg::Connection& conn) {
  ASSIGN_OR_RETURN(pg::Result r, conn.Query(kOutboxStateSql));
  return ParseOutboxState(r);
}

}  // namespace hijackguard::store
