// SqliteStore::ListDevices: the device list from the history rows' columns
// (schema 5), filtered and paged in SQL along the history_by_score and
// history_by_tenant indexes.
#include <sqlite3.h>

#include "common/status_macros.h"
#include "common/strings.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/sqlite_store_internal.h"

namespace hijackguard::store {

namespace {

// "(?, ?, ?)" for the values, whose names are appended to `texts`.
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

}  // namespace

absl::StatusOr<policy::DevicePage> SqliteStore::ListDevices(
    const policy::DeviceQuery& query) {
  RETURN_IF_ERROR(queue_->stopped());
  // Parameters in the order they appear: texts, then the page's position and
  // size, bound by kind below.
  std::vector<std::string> texts;
  std::string sql =
      "SELECT tenant, eas_device_id, mdm_device_id, user_principal, "
      "enforced_action, evaluated_action, level, score, build, os_version, "
      "model_name, decided_ms FROM history WHERE score IS NOT NULL";
  if (!query.tenant_id.empty()) {
    sql += " AND tenant = ?";
    texts.push_back(query.tenant_id);
  }
  if (!query.enforced_actions.empty()) {
    sql += " AND enforced_action IN " +
           InList(query.enforced_actions, policy::ActionName, &texts);
  }
  if (!query.evaluated_actions.empty()) {
    sql += " AND evaluated_action IN " +
           InList(query.evaluated_actions, policy::ActionName, &texts);
  }
  if (!query.levels.empty()) {
    sql += " AND level IN " + InList(query.levels, policy::LevelName, &texts);
  }
  if (!query.user_principal.empty()) {
    sql += " AND user_principal = ? COLLATE NOCASE";
    texts.push_back(query.user_principal);
  }
  if (query.build.ends_with('*')) {
    sql += " AND substr(build, 1, length(?)) = ?";
    const std::string prefix = query.build.substr(0, query.build.size() - 1);
    texts.push_back(prefix);
    texts.push_back(prefix);
  } else if (!query.build.empty()) {
    sql += " AND build = ?";
    texts.push_back(query.build);
  }
  if (query.after_score) {
    sql += " AND (score < ? OR (score = ? AND key > ?))";
  }
  sql += " ORDER BY score DESC, key LIMIT ?";

  policy::DevicePage page;
  absl::Status status;
  {
    ReaderLease c(this);
    absl::StatusOr<sqlite::Statement> prepared = c->db.Prepare(sql);
    if (!prepared.ok()) {
      return prepared.status();
    }
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
    while (true) {
      absl::StatusOr<bool> row = s.Step();
      if (!row.ok()) {
        status = row.status();
        break;
      }
      if (!*row) {
        break;
      }
      policy::DeviceListing& d = page.devices.emplace_back();
      d.tenant_id = std::string(s.Blob(0));
      d.eas_device_id = std::string(s.Blob(1));
      d.mdm_device_id = std::string(s.Blob(2));
      d.user_principal = std::string(s.Blob(3));
      d.enforced_action =
          policy::ParseAction(s.Blob(4)).value_or(policy::Action::kAllow);
      d.evaluated_action =
          policy::ParseAction(s.Blob(5)).value_or(policy::Action::kAllow);
      d.level = policy::ParseLevel(s.Blob(6)).value_or(policy::Level::kLow);
      d.score = s.Double(7);
      d.build = std::string(s.Blob(8));
      d.os_version = std::string(s.Blob(9));
      d.model_name = std::string(s.Blob(10));
      d.recorded_at = absl::FromUnixMillis(s.Int(11));
    }
    s.Reset();
  }
  if (!status.ok()) {
    // The list only: the rows the engine caches are read elsewhere, so a
    // failed listing does not stop the store.
    return absl::UnavailableError(
        StrCat("the device list cannot be read: ", status.message()));
  }
  if (page.devices.size() > query.page_size) {
    page.devices.resize(query.page_size);
    page.next_page_token = policy::EncodePageToken(query, page.devices.back());
  }
  return page;
}

}  // namespace hijackguard::store
