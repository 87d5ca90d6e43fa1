#include "store/sqlite/console_queries.h"

#include "common/strings.h"

namespace hijackguard::store {

absl::StatusOr<std::vector<policy::DeviceCount>> QueryDeviceCounts(
    sqlite::Database& db, std::string_view tenant_id) {
  // A few rows per tenant and build, whatever the fleet's size.
  const std::string sql = StrCat(
      "SELECT tenant, platform, os_version, build, enforced_action, "
      "evaluated_action, level, devices FROM history_tally "
      "WHERE devices > 0",
      tenant_id.empty() ? "" : " AND tenant = ?",
      " ORDER BY tenant, platform, os_version, build, enforced_action, "
      "evaluated_action, level");
  absl::StatusOr<sqlite::Statement> prepared = db.Prepare(sql);
  if (!prepared.ok()) return prepared.status();
  sqlite::Statement& s = *prepared;
  if (!tenant_id.empty()) s.BindText(1, tenant_id);
  std::vector<policy::DeviceCount> counts;
  while (true) {
    absl::StatusOr<bool> row = s.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    policy::DeviceCount& c = counts.emplace_back();
    c.tenant_id = std::string(s.Blob(0));
    c.platform = std::string(s.Blob(1));
    c.os_version = std::string(s.Blob(2));
    c.build = std::string(s.Blob(3));
    const auto enforced = policy::ParseAction(s.Blob(4));
    const auto evaluated = policy::ParseAction(s.Blob(5));
    const auto level = policy::ParseLevel(s.Blob(6));
    if (!enforced || !evaluated || !level) {
      return absl::DataLossError(
          StrCat("history rows of tenant ", c.tenant_id,
                 " hold a value no version writes (action or level)"));
    }
    c.enforced_action = *enforced;
    c.evaluated_action = *evaluated;
    c.level = *level;
    c.devices = static_cast<std::uint64_t>(s.Int(7));
  }
  return counts;
}

absl::Status QueryEventsAfter(
    sqlite::Database& db, std::string_view prefix, std::string_view after,
    std::size_t limit, std::map<std::string, std::string, std::less<>>* rows) {
  std::string from(after);
  from.push_back('\0');  // the first key after `after`
  if (from < prefix) from = std::string(prefix);
  std::string end(prefix);
  end.append(9, '\xFF');  // past every device key and 8-byte id
  absl::StatusOr<sqlite::Statement> prepared = db.Prepare(
      "SELECT key, value FROM events WHERE key >= ?1 AND key < ?2 "
      "ORDER BY key LIMIT ?3");
  if (!prepared.ok()) return prepared.status();
  sqlite::Statement& s = *prepared;
  s.Bind(1, from).Bind(2, end).Bind(3, static_cast<std::int64_t>(limit));
  while (true) {
    absl::StatusOr<bool> row = s.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    rows->emplace(std::string(s.Blob(0)), std::string(s.Blob(1)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<detector::EventDay>> QueryEventsByDay(
    sqlite::Database& db, std::string_view prefix, std::int64_t since_ms) {
  std::string end(prefix);
  end.append(9, '\xFF');  // past every device key and 8-byte id
  absl::StatusOr<sqlite::Statement> prepared = db.Prepare(
      "SELECT recorded_ms / 86400000 AS day, count(*) FROM events "
      "INDEXED BY events_by_time WHERE recorded_ms >= ?1 AND key >= ?2 "
      "AND key < ?3 GROUP BY day ORDER BY day");
  if (!prepared.ok()) return prepared.status();
  sqlite::Statement& s = *prepared;
  s.Bind(1, since_ms).Bind(2, prefix).Bind(3, end);
  std::vector<detector::EventDay> days;
  while (true) {
    absl::StatusOr<bool> row = s.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    days.push_back({s.Int(0), static_cast<std::uint64_t>(s.Int(1))});
  }
  return days;
}

}  // namespace hijackguard::store
