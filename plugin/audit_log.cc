#include "plugin/audit_log.h"

#include <variant>

#include "absl/time/time.h"
#include "common/sha256.h"
#include "common/strings.h"
#include "nlohmann/json.hpp"

namespace hijackguard::plugin {
namespace {

using Json = nlohmann::json;

std::string Micros(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

void Fill(const policy::DecisionAudit& d, Json& j) {
  j["decision_id"] = d.decision_id;
  j["trigger"] = d.trigger;
  j["tenant_id"] = d.tenant_id;
  j["eas_device_id"] = d.eas_device_id;
  j["mdm_device_id"] = d.mdm_device_id;
  j["user_principal"] = d.user_principal;
  j["evaluated_action"] = policy::ActionName(d.evaluated_action);
  j["enforced_action"] = policy::ActionName(d.enforced_action);
  j["previous_action"] = policy::ActionName(d.previous_action);
  j["mode"] = d.mode == policy::Mode::kEnforce ? "enforce" : "monitor";
  j["score"] = d.score;
  j["level"] = policy::LevelName(d.level);
  j["scope"] = policy::ScopeName(d.scope);
  j["policy_revision"] = d.policy_revision;
  if (!d.exemption_id.empty()) {
    j["exemption_id"] = d.exemption_id;
  }
  if (d.deadline) {
    j["deadline"] = Micros(*d.deadline);
  }
  Json reasons = Json::array();
  for (const auto& r : d.reasons) {
    Json reason = {{"code", r.code}, {"contribution", r.contribution}};
    if (!r.known_issue_id.empty()) {
      reason["known_issue_id"] = r.known_issue_id;
    }
    reasons.push_back(std::move(reason));
  }
  j["reasons"] = std::move(reasons);
}

void Fill(const policy::PolicyAudit& p, Json& j) {
  j["revision"] = p.revision;
  j["previous_revision"] = p.previous_revision;
  j["origin"] = p.origin;
  j["mode"] = p.mode == policy::Mode::kEnforce ? "enforce" : "monitor";
}

void Fill(const policy::ExemptionAudit& e, Json& j) {
  j["operation"] = e.deleted ? "delete" : "put";
  j["exemption_id"] = e.exemption.id;
  if (!e.deleted) {
    j["tenant_id"] = e.exemption.tenant_id;
    j["kind"] = policy::ExemptionKindName(e.exemption.kind);
    j["value"] = e.exemption.value;
    j["reason"] = e.exemption.reason;
    if (e.exemption.expires != absl::InfiniteFuture()) {
      j["expires"] = Micros(e.exemption.expires);
    }
  }
}

}  // namespace

std::string AuditHash(std::string_view prev_hash, std::string_view record) {
  std::string input;
  input.reserve(prev_hash.size() + 1 + record.size());
  input.append(prev_hash).push_back('\n');
  input.append(record);
  return Sha256Hex(input);
}

AuditRow MakeAuditRow(std::uint64_t seq, const policy::AuditRecord& record,
                      std::string_view prev_hash) {
  AuditRow row;
  Json j = Json::object();
  std::visit(
      [&](const auto& what) {
        using T = std::decay_t<decltype(what)>;
        if constexpr (std::is_same_v<T, policy::DecisionAudit>) {
          row.kind = "decision";
        } else if constexpr (std::is_same_v<T, policy::PolicyAudit>) {
          row.kind = "policy";
        } else {
          row.kind = "exemption";
        }
        Fill(what, j);
      },
      record.what);
  j["seq"] = seq;
  j["at"] = Micros(record.at);
  j["kind"] = row.kind;
  j["prev_hash"] = std::string(prev_hash);
  // Keys sorted (nlohmann objects are ordered maps); bytes that are not
  // UTF-8 become U+FFFD rather than failing the write.
  row.record = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  row.hash = AuditHash(prev_hash, row.record);
  return row;
}

}  // namespace hijackguard::plugin
