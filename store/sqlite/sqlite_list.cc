// SqliteStore::ListDevices: the device list from the history rows' columns
// (schema 5), filtered and paged in SQL along the history_by_score,
// history_by_tenant and history_by_user indexes, and schema 9's
// history_by_evaluated and history_by_level, on the list's own connections; and
// CountDevices, the fleet's counts from the history_tally table (schema 9).
#include <limits>

#include "common/log.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "store/sqlite/console_queries.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/sqlite_store_internal.h"

namespace hijackguard::store {

namespace {

// "(?, ?, ?)" for the values, whose names are appended to `texts`. The query
// is normalized: at most four values, no repeats.
template <typename T, typename Name>
std::string InList(const std::vector<T>& values, Name name,
                   std::vector<std::string>* texts) {
  std::string sql = "(";
  for (std::size_t i = 0; i < values.size(); ++i) {
    sql += i == 0 ? "?" : ", ?";
    texts->emplace_back(name(values[i]));
  }
  sql += ")";
  return sql;
}

// The statement for `query`; `texts` gets its text parameters in order.
std::string ListSql(const policy::DeviceQuery& query,
                    std::vector<std::string>* texts) {
  // The index is chosen here, not left to the planner, which has no
  // statistics: one user's rows; one tenant's in score order; the devices of
  // one evaluated action or one level in score order (a rare one is read
  // alone); else every device in score order, read until the page is full.
  const char* index = "history_by_score";
  if (!query.user_principal.empty()) {
    index = "history_by_user";
  } else if (!query.tenant_id.empty()) {
    index = "history_by_tenant";
  } else if (query.evaluated_actions.size() == 1) {
    index = "history_by_evaluated";
  } else if (query.levels.size() == 1) {
    index = "history_by_level";
  }
  std::string sql = StrCat(
      "SELECT key, tenant, eas_device_id, mdm_device_id, user_principal, "
      "enforced_action, evaluated_action, level, score, build, os_version, "
      "model_name, decided_ms, platform FROM history INDEXED BY ",
      index, " WHERE score IS NOT NULL");
  if (!query.tenant_id.empty()) {
    sql += " AND tenant = ?";
    texts->push_back(query.tenant_id);
  }
  if (!query.enforced_actions.empty()) {
    sql += " AND enforced_action IN " +
           InList(query.enforced_actions, policy::ActionName, texts);
  }
  if (!query.evaluated_actions.empty()) {
    sql += " AND evaluated_action IN " +
           InList(query.evaluated_actions, policy::ActionName, texts);
  }
  if (!query.levels.empty()) {
    sql += " AND level IN " + InList(query.levels, policy::LevelName, texts);
  }
  if (!query.user_principal.empty()) {
    sql += " AND user_principal = ? COLLATE NOCASE";
    texts->push_back(query.user_principal);
  }
  if (query.build.ends_with('*')) {
    // Letters and digits only (NormalizeQuery): a byte prefix.
    sql += " AND substr(build, 1, length(?)) = ?";
    const std::string prefix = query.build.substr(0, query.build.size() - 1);
    texts->push_back(prefix);
    texts->push_back(prefix);
  } else if (!query.build.empty()) {
    sql += " AND build = ?";
    texts->push_back(query.build);
  }
  if (query.after_score) {
    // The first term lets SQLite seek in the score index.
    sql += " AND score <= ? AND (score < ? OR key > ?)";
  }
  sql += " ORDER BY score DESC, key LIMIT ?";
  return sql;
}

// A row's listing; DATA_LOSS for a value no version writes (a damaged or
// altered row must not show a blocked device as harmless).
absl::Status ReadListing(const sqlite::Statement& s, policy::DeviceListing* d) {
  d->key = std::string(s.Blob(0));
  d->tenant_id = std::string(s.Blob(1));
  d->eas_device_id = std::string(s.Blob(2));
  d->mdm_device_id = std::string(s.Blob(3));
  d->user_principal = std::string(s.Blob(4));
  const std::optional<policy::Action> enforced = policy::ParseAction(s.Blob(5));
  const std::optional<policy::Action> evaluated =
      policy::ParseAction(s.Blob(6));
  const std::optional<policy::Level> level = policy::ParseLevel(s.Blob(7));
  d->score = s.Double(8);
  if (!enforced || !evaluated || !level || !(d->score >= 0) ||
      !(d->score <= 100)) {
    return absl::DataLossError(
        StrCat("the history row of tenant ", d->tenant_id, " device ",
               d->eas_device_id.empty() ? d->mdm_device_id : d->eas_device_id,
               " holds a value no version writes (action, level or score)"));
  }
  d->enforced_action = *enforced;
  d->evaluated_action = *evaluated;
  d->level = *level;
  d->build = std::string(s.Blob(9));
  d->os_version = std::string(s.Blob(10));
  d->model_name = std::string(s.Blob(11));
  d->recorded_at = absl::FromUnixMillis(s.Int(12));
  d->platform = std::string(s.Blob(13));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<sqlite::Database> SqliteStore::BorrowListReader() {
  RETURN_IF_ERROR(queue_->stopped());
  absl::MutexLock lock(&list_mu_);
  if (list_readers_.empty()) {
    return absl::ResourceExhaustedError(
        "as many device listings as the server runs at once are running; "
        "try again in a moment");
  }
  sqlite::Database db = std::move(list_readers_.back());
  list_readers_.pop_back();
  return db;
}

void SqliteStore::ReturnListReader(sqlite::Database db) {
  absl::MutexLock lock(&list_mu_);
  list_readers_.push_back(std::move(db));
}

absl::StatusOr<policy::DevicePage> SqliteStore::ListDevices(
    const policy::DeviceQuery& query) {
  ASSIGN_OR_RETURN(sqlite::Database db, BorrowListReader());
  std::vector<std::string> texts;
  const std::string sql = ListSql(query, &texts);
  policy::DevicePage page;
  absl::Status status;
  {
    absl::StatusOr<sqlite::Statement> prepared = db.Prepare(sql);
    if (prepared.ok()) {
      sqlite::Statement& s = *prepared;
      int index = 1;
      for (const std::string& text : texts) {
        s.BindText(index++, text);
      }
      if (query.after_score) {
        s.BindDouble(index++, *query.after_score);
        s.BindDouble(index++, *query.after_score);
        s.Bind(index++, query.after_key);
      }
      // One more than a page tells whether there is a next one.
      s.Bind(index, static_cast<std::int64_t>(query.page_size + 1));
      while (status.ok()) {
        absl::StatusOr<bool> row = s.Step();
        if (!row.ok() || !*row) {
          status = row.status();
          break;
        }
        status = ReadListing(s, &page.devices.emplace_back());
      }
      s.Reset();
    } else {
      status = prepared.status();
    }
  }
  ReturnListReader(std::move(db));
  if (status.code() == absl::StatusCode::kDataLoss) {
    return status;
  }
  if (!status.ok()) {
    // The statement and the file's path are for the server's log, not the
    // caller. The list only: the rows decisions read come through other
    // connections, so a failed listing does not stop the store.
    LogError(StrCat("device list: ", status.message()));
    return absl::UnavailableError(
        "the device list cannot be read now (the server's log says why)");
  }
  if (page.devices.size() > query.page_size) {
    page.devices.resize(query.page_size);
    page.next_page_token = policy::EncodePageToken(query, page.devices.back());
  }
  return page;
}

absl::StatusOr<std::vector<policy::DeviceCount>> SqliteStore::CountDevices(
    std::string_view tenant_id) {
  ASSIGN_OR_RETURN(sqlite::Database db, BorrowListReader());
  absl::StatusOr<std::vector<policy::DeviceCount>> counts =
      QueryDeviceCounts(db, tenant_id);
  ReturnListReader(std::move(db));
  if (counts.ok() || counts.status().code() == absl::StatusCode::kDataLoss) {
    return counts;
  }
  LogError(StrCat("device counts: ", counts.status().message()));
  return absl::UnavailableError(
      "the device counts cannot be read now (the server's log says why)");
}

absl::StatusOr<std::vector<policy::AuditEntry>> SqliteStore::ReadAudit(
    std::string_view kind, std::uint64_t before_seq, std::size_t limit) {
  ASSIGN_OR_RETURN(sqlite::Database db, BorrowListReader());
  const std::string sql = StrCat(
      "SELECT seq, at_us, kind, record FROM audit WHERE seq < ?1",
      kind.empty() ? "" : " AND kind = ?3", " ORDER BY seq DESC LIMIT ?2");
  std::vector<policy::AuditEntry> rows;
  absl::Status status;
  {
    absl::StatusOr<sqlite::Statement> prepared = db.Prepare(sql);
    if (prepared.ok()) {
      sqlite::Statement& s = *prepared;
      s.Bind(1, before_seq == 0 ? std::numeric_limits<std::int64_t>::max()
                                : static_cast<std::int64_t>(before_seq))
          .Bind(2, static_cast<std::int64_t>(limit));
      if (!kind.empty()) s.BindText(3, kind);
      while (true) {
        absl::StatusOr<bool> row = s.Step();
        if (!row.ok() || !*row) {
          status = row.status();
          break;
        }
        policy::AuditEntry& e = rows.emplace_back();
        e.seq = static_cast<std::uint64_t>(s.Int(0));
        e.at = absl::FromUnixMicros(s.Int(1));
        e.kind = std::string(s.Blob(2));
        e.record = std::string(s.Blob(3));
      }
      s.Reset();
    } else {
      status = prepared.status();
    }
  }
  ReturnListReader(std::move(db));
  if (!status.ok()) {
    LogError(StrCat("audit read: ", status.message()));
    return absl::UnavailableError(
        "the audit log cannot be read now (the server's log says why)");
  }
  return rows;
}

}  // namespace hijackguard::store
