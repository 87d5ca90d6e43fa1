// PostgresStore::ListDevices, CountDevices and ReadAudit: the console's and
// the API's listings, on the list's own connections.
#include <limits>

#include "common/status_macros.h"
#include "common/strings.h"
#include "store/postgres/pg_internal.h"
#include "store/postgres/pg_store.h"

namespace hijackguard::store {

using pg::Params;

namespace {

// "($n, $n+1, ...)" for the values, added to `params`. The query is
// normalized: at most four values, no repeats.
template <typename T, typename Name>
std::string InList(const std::vector<T>& values, Name name, int* next,
                   Params* params) {
  std::string sql = "(";
  for (std::size_t i = 0; i < values.size(); ++i) {
    sql += StrCat(i == 0 ? "$" : ", $", (*next)++);
    params->Text(name(values[i]));
  }
  return sql + ")";
}

std::string ListSql(const policy::DeviceQuery& query, Params* params) {
  std::string sql =
      "SELECT key, tenant, eas_device_id, mdm_device_id, user_principal, "
      "enforced_action, evaluated_action, level, score, build, os_version, "
      "model_name, decided_ms, platform FROM history WHERE score IS NOT NULL";
  int next = 1;
  if (!query.tenant_id.empty()) {
    sql += StrCat(" AND tenant = $", next++);
    params->Bytes(query.tenant_id);
  }
  if (!query.enforced_actions.empty()) {
    sql += " AND enforced_action IN " +
           InList(query.enforced_actions, policy::ActionName, &next, params);
  }
  if (!query.evaluated_actions.empty()) {
    sql += " AND evaluated_action IN " +
           InList(query.evaluated_actions, policy::ActionName, &next, params);
  }
  if (!query.levels.empty()) {
    sql += " AND level IN " +
           InList(query.levels, policy::LevelName, &next, params);
  }
  if (!query.user_principal.empty()) {
    sql += StrCat(" AND user_folded = $", next++);
    params->Bytes(FoldAscii(query.user_principal));
  }
  if (query.build.ends_with('*')) {
    // Letters and digits only (NormalizeQuery): a byte prefix.
    const std::string prefix = query.build.substr(0, query.build.size() - 1);
    sql += StrCat(" AND substr(build, 1, ", prefix.size(), ") = $", next++);
    params->Bytes(prefix);
  } else if (!query.build.empty()) {
    sql += StrCat(" AND build = $", next++);
    params->Bytes(query.build);
  }
  if (query.after_score) {
    // The first term lets the planner seek in a score index.
    sql += StrCat(" AND score <= $", next, " AND (score < $", next,
                  " OR key > $", next + 1, ")");
    next += 2;
    params->Double(*query.after_score).Bytes(query.after_key);
  }
  sql += StrCat(" ORDER BY score DESC, key LIMIT $", next);
  // One more than a page tells whether there is a next one.
  params->Int(static_cast<std::int64_t>(query.page_size + 1));
  return sql;
}

// A row's listing; DATA_LOSS for a value no version writes (a damaged or
// altered row must not show a blocked device as harmless).
absl::Status ReadListing(const pg::Result& r, int i, policy::DeviceListing* d) {
  d->key = std::string(r.Bytes(i, 0));
  d->tenant_id = std::string(r.Bytes(i, 1));
  d->eas_device_id = std::string(r.Bytes(i, 2));
  d->mdm_device_id = std::string(r.Bytes(i, 3));
  d->user_principal = std::string(r.Bytes(i, 4));
  const auto enforced = policy::ParseAction(r.Bytes(i, 5));
  const auto evaluated = policy::ParseAction(r.Bytes(i, 6));
  const auto level = policy::ParseLevel(r.Bytes(i, 7));
  d->score = r.Double(i, 8);
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
  d->build = std::string(r.Bytes(i, 9));
  d->os_version = std::string(r.Bytes(i, 10));
  d->model_name = std::string(r.Bytes(i, 11));
  d->recorded_at = absl::FromUnixMillis(r.Int(i, 12));
  d->platform = std::string(r.Bytes(i, 13));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<policy::DevicePage> PostgresStore::ListDevices(
    const policy::DeviceQuery& query) {
  RETURN_IF_ERROR(queue_->stopped());
  Params params;
  const std::string sql = ListSql(query, &params);
  ASSIGN_OR_RETURN(pg::Result r, Read("device list", sql, params, true));
  policy::DevicePage page;
  for (int i = 0; i < r.rows(); ++i) {
    RETURN_IF_ERROR(ReadListing(r, i, &page.devices.emplace_back()));
  }
  if (page.devices.size() > query.page_size) {
    page.devices.resize(query.page_size);
    page.next_page_token = policy::EncodePageToken(query, page.devices.back());
  }
  return page;
}

absl::StatusOr<std::vector<policy::DeviceCount>> PostgresStore::CountDevices(
    std::string_view tenant_id) {
  RETURN_IF_ERROR(queue_->stopped());
  Params params;
  if (!tenant_id.empty()) params.Bytes(tenant_id);
  ASSIGN_OR_RETURN(
      pg::Result r,
      Read("device counts",
           StrCat("SELECT coalesce(tenant, ''), coalesce(platform, ''), "
                  "coalesce(os_version, ''), coalesce(build, ''), "
                  "enforced_action, evaluated_action, level, count(*) FROM "
                  "history WHERE score IS NOT NULL",
                  tenant_id.empty() ? "" : " AND tenant = $1",
                  " GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, "
                  "7"),
           params, true));
  std::vector<policy::DeviceCount> counts;
  for (int i = 0; i < r.rows(); ++i) {
    policy::DeviceCount& c = counts.emplace_back();
    c.tenant_id = std::string(r.Bytes(i, 0));
    c.platform = std::string(r.Bytes(i, 1));
    c.os_version = std::string(r.Bytes(i, 2));
    c.build = std::string(r.Bytes(i, 3));
    const auto enforced = policy::ParseAction(r.Bytes(i, 4));
    const auto evaluated = policy::ParseAction(r.Bytes(i, 5));
    const auto level = policy::ParseLevel(r.Bytes(i, 6));
    if (!enforced || !evaluated || !level) {
      return absl::DataLossError(
          StrCat("history rows of tenant ", c.tenant_id,
                 " hold a value no version writes (action or level)"));
    }
    c.enforced_action = *enforced;
    c.evaluated_action = *evaluated;
    c.level = *level;
    c.devices = static_cast<std::uint64_t>(r.Int(i, 7));
  }
  return counts;
}

absl::StatusOr<std::vector<policy::AuditEntry>> PostgresStore::ReadAudit(
    std::string_view kind, std::uint64_t before_seq, std::size_t limit) {
  Params params;
  params
      .Int(before_seq == 0 ? std::numeric_limits<std::int64_t>::max()
                           : static_cast<std::int64_t>(before_seq))
      .Int(static_cast<std::int64_t>(limit));
  if (!kind.empty()) params.Text(kind);
  ASSIGN_OR_RETURN(
      pg::Result r,
      Read("the audit log",
           StrCat("SELECT seq, at_us, kind, record FROM audit WHERE seq < $1",
                  kind.empty() ? "" : " AND kind = $3",
                  " ORDER BY seq DESC LIMIT $2"),
           params, true));
  std::vector<policy::AuditEntry> rows;
  for (int i = 0; i < r.rows(); ++i) {
    policy::AuditEntry& e = rows.emplace_back();
    e.seq = static_cast<std::uint64_t>(r.Int(i, 0));
    e.at = absl::FromUnixMicros(r.Int(i, 1));
    e.kind = std::string(r.Bytes(i, 2));
    e.record = std::string(r.Bytes(i, 3));
  }
  return rows;
}

}  // namespace hijackguard::store
