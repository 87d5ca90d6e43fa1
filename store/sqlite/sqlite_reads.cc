// The SQLite store's reads: leased reader connections and the loads (rows
// submitted and not yet committed first).
#include <sqlite3.h>

#include <filesystem>
#include <limits>
#include <variant>

#include "absl/strings/numbers.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "store/audit_key.h"
#include "store/audit_log.h"
#include "store/sqlite/audit_chain.h"
#include "store/sqlite/console_queries.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/sqlite_store_internal.h"

namespace hijackguard::store {

using sqlite::Database;
using sqlite::Statement;

// ---------------------------------------------------------------------------
// Loads

SqliteStore::ReaderLease::ReaderLease(SqliteStore* store) : store_(store) {
  absl::MutexLock lock(&store_->readers_mu_);
  while (!(!store_->readers_.empty())) {
    store_->readers_cv_.Wait(&store_->readers_mu_);
  }
  connection_ = std::move(store_->readers_.back());
  store_->readers_.pop_back();
}

SqliteStore::ReaderLease::~ReaderLease() {
  {
    absl::MutexLock lock(&store_->readers_mu_);
    store_->readers_.push_back(std::move(connection_));
  }
  store_->readers_cv_.Signal();
}

absl::StatusOr<std::optional<std::string>> SqliteStore::LoadRow(
    RowTable table, int statement, std::string_view key) {
  RETURN_IF_ERROR(queue_->stopped());
  if (auto submitted = queue_->rows().Find(table, key)) {
    return *submitted;
  }
  // Committed before it left the submitted rows, so the file has it.
  return QueryOne(statement, key);
}

absl::StatusOr<std::optional<std::string>> SqliteStore::QueryOne(
    int statement, std::string_view key) {
  absl::StatusOr<bool> row;
  std::optional<std::string> value;
  {
    // The connection goes back before a failure is reported.
    ReaderLease c(this);
    Statement& s = c->at(statement).Reset();
    s.Bind(1, key);
    row = s.Step();
    if (row.ok() && *row) {
      value.emplace(s.Blob(0));
    }
    s.Reset();
  }
  if (!row.ok()) {
    return FailReads(row.status());
  }
  return value;
}

absl::StatusOr<std::optional<std::string>> SqliteStore::LoadDevice(
    std::string_view key) {
  return LoadRow(kDeviceRows, kLoadDevice, key);
}

absl::Status SqliteStore::LoadEventsAfter(
    std::string_view prefix, std::string_view after, std::size_t limit,
    std::vector<std::pair<std::string, std::string>>* rows) {
  // On the list's connections: a page of the fleet's events must not hold
  // up the loads decisions wait for.
  ASSIGN_OR_RETURN(sqlite::Database db, BorrowListReader());
  // The submitted rows first, then the file (as LoadEvents): a row
  // committed in between has left the submitted rows only after it reached
  // the file, so it is in one of the two.
  std::string from(after);
  from.push_back('\0');  // the first key after `after`
  if (from < prefix) from = std::string(prefix);
  std::map<std::string, std::string, std::less<>> pending =
      queue_->rows().Range(kEventRows, prefix, from);
  std::map<std::string, std::string, std::less<>> merged;
  const absl::Status status =
      QueryEventsAfter(db, prefix, after, limit, &merged);
  ReturnListReader(std::move(db));
  if (!status.ok()) {
    LogError(StrCat("events page: ", status.message()));
    return absl::UnavailableError(
        "the events cannot be read now (the server's log says why)");
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

absl::StatusOr<std::vector<detector::EventDay>> SqliteStore::CountEventsByDay(
    std::string_view prefix, std::int64_t since_ms) {
  // Committed rows only: a chart over days does not miss the few still
  // queued.
  ASSIGN_OR_RETURN(sqlite::Database db, BorrowListReader());
  absl::StatusOr<std::vector<detector::EventDay>> days =
      QueryEventsByDay(db, prefix, since_ms);
  ReturnListReader(std::move(db));
  if (!days.ok()) {
    LogError(StrCat("events by day: ", days.status().message()));
    return absl::UnavailableError(
        "the events cannot be counted now (the server's log says why)");
  }
  return days;
}

absl::StatusOr<std::optional<std::string>> SqliteStore::LoadLedgerEntry(
    std::string_view key) {
  return LoadRow(kLedgerRows, kLoadLedger, key);
}

absl::StatusOr<std::optional<std::string>> SqliteStore::LoadEngineDevice(
    std::string_view key) {
  return LoadRow(kHistoryRows, kLoadHistory, key);
}

absl::StatusOr<std::optional<std::string>> SqliteStore::FindDeviceByIndex(
    std::string_view index) {
  RETURN_IF_ERROR(queue_->stopped());
  if (std::optional<std::string> key =
          queue_->rows().FindDeviceByIndex(index)) {
    return key;
  }
  return QueryOne(kFindDeviceByIndex, index);
}

absl::Status SqliteStore::LoadEvents(std::string_view prefix,
                                     std::string_view from,
                                     std::vector<std::string>* values) {
  // The submitted rows first, then the file (as LoadRow): a row committed
  // in between has left the submitted rows only after it reached the file.
  RETURN_IF_ERROR(queue_->stopped());
  std::map<std::string, std::string, std::less<>> pending =
      queue_->rows().Range(kEventRows, prefix, from);
  std::map<std::string, std::string, std::less<>> merged;
  absl::Status status;
  {
    // The connection goes back before a failure is reported or the rows
    // are merged.
    ReaderLease c(this);
    std::string end(prefix);
    end.append(9, '\xFF');  // past every 8-byte id
    Statement& s = c->at(kLoadEvents).Reset();
    s.Bind(1, from).Bind(2, end);
    while (true) {
      absl::StatusOr<bool> row = s.Step();
      if (!row.ok()) {
        status = row.status();
        break;
      }
      if (!*row) break;
      merged.emplace(std::string(s.Blob(0)), std::string(s.Blob(1)));
    }
    s.Reset();
  }
  if (!status.ok()) {
    return FailReads(status);
  }
  for (auto& [key, value] : pending) {
    merged.insert_or_assign(key, std::move(value));  // the newer
  }
  values->reserve(values->size() + merged.size());
  for (auto& [key, value] : merged) {
    values->push_back(std::move(value));
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::LoadAllPending(
    std::vector<std::pair<std::string, std::string>>* rows) {
  ReaderLease c(this);
  ASSIGN_OR_RETURN(
      Statement s,
      c->db.Prepare("SELECT key, value FROM pending ORDER BY key"));
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return absl::OkStatus();
    rows->emplace_back(std::string(s.Blob(0)), std::string(s.Blob(1)));
  }
}

absl::StatusOr<detector::DetectorCounters> SqliteStore::LoadCounters() {
  // Reader connections only: the writer's belongs to its thread.
  ReaderLease c(this);
  detector::DetectorCounters counters;
  absl::Status status;
  for (auto [name, out] :
       {std::pair{"ledger_version", &counters.ledger_version},
        std::pair{"event_id", &counters.event_id}}) {
    auto text = c->db.QueryText(
        StrCat("SELECT value FROM meta WHERE name = '", name, "'"));
    if (!text.ok()) {
      status = text.status();
      break;
    }
    if (!text->empty() && !absl::SimpleAtoi(*text, out)) {
      status = absl::DataLossError(StrCat("state database ", options_.path,
                                          ": meta row ", name, " is \"", *text,
                                          "\", not a number"));
      break;
    }
  }
  RETURN_IF_ERROR(status);
  return counters;
}

absl::StatusOr<std::vector<policy::Exemption>> SqliteStore::LoadExemptions() {
  ReaderLease c(this);
  return ReadExemptions(c->db);
}

absl::StatusOr<std::vector<policy::Exemption>> SqliteStore::ReadExemptions(
    Database& db) const {
  ASSIGN_OR_RETURN(Statement s,
                   db.Prepare("SELECT id, tenant, kind, value, reason, "
                              "expires_us FROM exemptions ORDER BY id"));
  std::vector<policy::Exemption> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    policy::Exemption e;
    e.id = std::string(s.Blob(0));
    e.tenant_id = std::string(s.Blob(1));
    auto kind = policy::ParseExemptionKind(s.Blob(2));
    if (!kind) {
      return absl::DataLossError(StrCat("state database ", options_.path,
                                        ": exemption ", e.id, " has kind \"",
                                        s.Blob(2), "\""));
    }
    e.kind = *kind;
    e.value = std::string(s.Blob(3));
    e.reason = std::string(s.Blob(4));
    e.expires = FromUs(s.Int(5));
    e.source = "api";
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<std::optional<policy::AppliedPolicy>> SqliteStore::LatestPolicy(
    std::string_view origin_prefix) {
  ReaderLease c(this);
  return ReadLatestPolicy(c->db, origin_prefix);
}

absl::StatusOr<std::vector<policy::OutboxEntry>> SqliteStore::ReadOutbox(
    std::uint64_t after_seq, std::size_t limit) {
  RETURN_IF_ERROR(queue_->stopped());
  ReaderLease c(this);
  ASSIGN_OR_RETURN(Statement s,
                   c->db.Prepare("SELECT seq, payload FROM outbox WHERE seq > "
                                 "?1 ORDER BY seq LIMIT ?2"));
  s.Bind(1, static_cast<std::int64_t>(after_seq))
      .Bind(2, static_cast<std::int64_t>(limit));
  std::vector<policy::OutboxEntry> entries;
  while (true) {
    ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    entries.push_back(
        {static_cast<std::uint64_t>(s.Int(0)), std::string(s.Blob(1))});
  }
  return entries;
}

absl::StatusOr<policy::OutboxState> SqliteStore::LoadOutboxState() {
  RETURN_IF_ERROR(queue_->stopped());
  ReaderLease c(this);
  return QueryOutboxState(c->db);
}

absl::StatusOr<std::optional<policy::AppliedPolicy>>
SqliteStore::ReadLatestPolicy(Database& db, std::string_view origin_prefix) {
  ASSIGN_OR_RETURN(
      Statement s,
      db.Prepare("SELECT revision, origin, applied_us, document FROM "
                 "policies WHERE substr(origin, 1, length(?1)) = ?1 "
                 "ORDER BY seq DESC LIMIT 1"));
  s.BindText(1, origin_prefix);
  ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) {
    return std::optional<policy::AppliedPolicy>();
  }
  policy::AppliedPolicy p;
  p.revision = std::string(s.Blob(0));
  p.origin = std::string(s.Blob(1));
  p.applied_at = FromUs(s.Int(2));
  p.document = std::string(s.Blob(3));
  return std::optional<policy::AppliedPolicy>(std::move(p));
}

}  // namespace hijackguard::store
