#include <algorithm>

#include "absl/strings/numbers.h"
#include "common/hmac.h"
#include "common/strings.h"
#include "store/postgres/pg_internal.h"

namespace hijackguard::store {

absl::StatusOr<AppendState> ParseAppendState(const pg::Result& row,
                                             std::string_view key) {
  AppendState state;
  if (!row.IsNull(0, 0)) {
    const std::string_view head = row.Bytes(0, 0);
    const std::size_t a = head.find(' ');
    const std::size_t b =
        a == std::string_view::npos ? a : head.find(' ', a + 1);
    if (b == std::string_view::npos ||
        !absl::SimpleAtoi(std::string(head.substr(0, a)), &state.audit_seq) ||
        !ConstantTimeEquals(head.substr(b + 1),
                            AuditHeadMac(key, state.audit_seq,
                                         head.substr(a + 1, b - a - 1)))) {
      return absl::DataLossError(
          "the audit log's recorded head (meta audit_head) is damaged or was "
          "written with another audit key; run hijackguard audit verify");
    }
    state.audit_hash = std::string(head.substr(a + 1, b - a - 1));
  }
  state.outbox_seq = static_cast<std::uint64_t>(row.Int(0, 1));
  state.policy_seq = static_cast<std::uint64_t>(row.Int(0, 2));
  state.alert_seq = static_cast<std::uint64_t>(row.Int(0, 3));
  return state;
}

std::string FoldAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

void HistoryColumns::Add(const StoreRow& row, const policy::DeviceListing* d,
                         std::int64_t now_ms) {
  keys_.push_back(row.key);
  times_.push_back(row.time_ms != 0 ? row.time_ms : now_ms);
  values_.push_back(row.value);
  auto column = [d](const std::string& value) {
    return d == nullptr ? std::nullopt : std::optional<std::string_view>(value);
  };
  static const std::string kNone;
  tenant_.push_back(column(d ? d->tenant_id : kNone));
  eas_.push_back(column(d ? d->eas_device_id : kNone));
  mdm_.push_back(column(d ? d->mdm_device_id : kNone));
  user_.push_back(column(d ? d->user_principal : kNone));
  folded_.push_back(d ? std::optional<std::string>(FoldAscii(d->user_principal))
                      : std::nullopt);
  build_.push_back(column(d ? d->build : kNone));
  os_.push_back(column(d ? d->os_version : kNone));
  model_.push_back(column(d ? d->model_name : kNone));
  platform_.push_back(column(d ? d->platform : kNone));
  auto name = [d](std::string_view n) {
    return d == nullptr ? std::nullopt : std::optional<std::string_view>(n);
  };
  enforced_.push_back(
      name(d ? policy::ActionName(d->enforced_action) : std::string_view()));
  evaluated_.push_back(
      name(d ? policy::ActionName(d->evaluated_action) : std::string_view()));
  level_.push_back(name(d ? policy::LevelName(d->level) : std::string_view()));
  score_.push_back(d ? std::optional<double>(d->score) : std::nullopt);
}

pg::Statement HistoryColumns::Upsert() const {
  pg::Statement s;
  s.sql =
      "INSERT INTO history(key, decided_ms, value, tenant, eas_device_id, "
      "mdm_device_id, user_principal, user_folded, enforced_action, "
      "evaluated_action, level, score, build, os_version, model_name, "
      "platform) SELECT k, t, v, tn, e, m, u, uf, convert_from(ea, 'UTF8'), "
      "convert_from(va, 'UTF8'), convert_from(l, 'UTF8'), sc, b, o, mo, p "
      "FROM unnest($1::bytea[], $2::int8[], $3::bytea[], $4::bytea[], "
      "$5::bytea[], $6::bytea[], $7::bytea[], $8::bytea[], $9::bytea[], "
      "$10::bytea[], $11::bytea[], $12::float8[], $13::bytea[], "
      "$14::bytea[], $15::bytea[], $16::bytea[]) AS r(k, t, v, tn, e, m, u, "
      "uf, ea, va, l, sc, b, o, mo, p) ON CONFLICT (key) DO UPDATE SET "
      "decided_ms = excluded.decided_ms, value = excluded.value, tenant = "
      "excluded.tenant, eas_device_id = excluded.eas_device_id, "
      "mdm_device_id = excluded.mdm_device_id, user_principal = "
      "excluded.user_principal, user_folded = excluded.user_folded, "
      "enforced_action = excluded.enforced_action, evaluated_action = "
      "excluded.evaluated_action, level = excluded.level, score = "
      "excluded.score, build = excluded.build, os_version = "
      "excluded.os_version, model_name = excluded.model_name, platform = "
      "excluded.platform";
  std::vector<std::optional<std::string_view>> folded;
  folded.reserve(folded_.size());
  for (const auto& f : folded_) {
    folded.push_back(f ? std::optional<std::string_view>(*f) : std::nullopt);
  }
  s.params.BytesArray(keys_)
      .IntArray(times_)
      .BytesArray(values_)
      .NullableBytesArray(tenant_)
      .NullableBytesArray(eas_)
      .NullableBytesArray(mdm_)
      .NullableBytesArray(user_)
      .NullableBytesArray(folded)
      .NullableBytesArray(enforced_)
      .NullableBytesArray(evaluated_)
      .NullableBytesArray(level_)
      .NullableDoubleArray(score_)
      .NullableBytesArray(build_)
      .NullableBytesArray(os_)
      .NullableBytesArray(model_)
      .NullableBytesArray(platform_);
  return s;
}

void AuditRows::Add(AuditRow row, std::int64_t at_us, AppendState* head) {
  const std::uint64_t seq = head->audit_seq + 1;
  seqs_.push_back(static_cast<std::int64_t>(seq));
  at_us_.push_back(at_us);
  kinds_.push_back(std::move(row.kind));
  records_.push_back(std::move(row.record));
  prev_.push_back(head->audit_hash);
  head->audit_seq = seq;
  head->audit_hash = row.hash;
  hashes_.push_back(std::move(row.hash));
}

pg::Statement AuditRows::Insert() const {
  auto views = [](const std::vector<std::string>& v) {
    return std::vector<std::string_view>(v.begin(), v.end());
  };
  pg::Statement s;
  s.sql =
      "INSERT INTO audit(seq, at_us, kind, record, prev_hash, hash) SELECT "
      "s, a, convert_from(k, 'UTF8'), convert_from(r, 'UTF8'), "
      "convert_from(p, 'UTF8'), "
      "convert_from(h, 'UTF8') FROM unnest($1::int8[], $2::int8[], "
      "$3::bytea[], $4::bytea[], $5::bytea[], $6::bytea[]) AS x(s, a, k, r, "
      "p, h)";
  s.params.IntArray(seqs_)
      .IntArray(at_us_)
      .BytesArray(views(kinds_))
      .BytesArray(views(records_))
      .BytesArray(views(prev_))
      .BytesArray(views(hashes_));
  return s;
}

void AuditRows::clear() {
  seqs_.clear();
  at_us_.clear();
  kinds_.clear();
  records_.clear();
  prev_.clear();
  hashes_.clear();
}

}  // namespace hijackguard::store
