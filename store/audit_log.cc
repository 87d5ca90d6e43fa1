#include "store/audit_log.h"

#include <variant>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/hmac.h"
#include "common/sha256.h"
#include "common/strings.h"
#include "nlohmann/json.hpp"

namespace hijackguard::store {
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
  if (d.repeats > 0) {
    j["repeats"] = d.repeats;
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

void Fill(const policy::Actor& a, Json& j) {
  j["actor"] = {
      {"principal", a.principal}, {"auth", a.method}, {"peer", a.peer}};
}

void Fill(const policy::PolicyAudit& p, Json& j) {
  if (!p.actor.principal.empty() || !p.actor.method.empty()) {
    Fill(p.actor, j);
  }
  j["revision"] = p.revision;
  j["previous_revision"] = p.previous_revision;
  j["origin"] = p.origin;
  j["mode"] = p.mode == policy::Mode::kEnforce ? "enforce" : "monitor";
}

void Fill(const policy::ExemptionAudit& e, Json& j) {
  j["operation"] = e.deleted ? "delete" : "put";
  j["exemption_id"] = e.exemption.id;
  j["tenant_id"] = e.exemption.tenant_id;
  Fill(e.actor, j);
  if (!e.deleted) {
    j["kind"] = policy::ExemptionKindName(e.exemption.kind);
    j["value"] = e.exemption.value;
    j["reason"] = e.exemption.reason;
    if (e.exemption.expires != absl::InfiniteFuture()) {
      j["expires"] = Micros(e.exemption.expires);
    }
  }
}

void Fill(const policy::AccessAudit& a, Json& j) {
  Fill(a.actor, j);
  j["rpc"] = a.rpc;
  j["code"] = a.code;
  j["message"] = a.message;
  j["count"] = a.count;
  j["first"] = Micros(a.first);
  j["last"] = Micros(a.last);
}

void Fill(const policy::AcceptBrokenAudit& a, Json& j) {
  j["problem"] = a.problem;
}

void Fill(const policy::SiemDropAudit& d, Json& j) {
  j["sink"] = d.sink;
  j["first_seq"] = d.first_seq;
  j["last_seq"] = d.last_seq;
  j["count"] = d.count;
}

std::string Canonical(Json& j, std::uint64_t seq, absl::Time at,
                      std::string_view kind, std::string_view prev_hash) {
  j["seq"] = seq;
  j["at"] = Micros(at);
  j["kind"] = std::string(kind);
  j["prev_hash"] = std::string(prev_hash);
  // Keys sorted (nlohmann objects are ordered maps); bytes that are not
  // UTF-8 become U+FFFD rather than failing the write.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::string AuditHash(std::string_view key, std::string_view prev_hash,
                      std::string_view record) {
  std::string input;
  input.reserve(prev_hash.size() + 1 + record.size());
  input.append(prev_hash).push_back('\n');
  input.append(record);
  return key.empty() ? Sha256Hex(input) : HmacSha256Hex(key, input);
}

std::string AuditHeadMac(std::string_view key, std::uint64_t seq,
                         std::string_view hash) {
  return HmacSha256Hex(key, StrCat("audit-head-v1\n", seq, "\n", hash));
}

std::string AuditAnchorMac(std::string_view key, std::uint64_t seq,
                           std::string_view hash) {
  return HmacSha256Hex(key, StrCat("audit-anchor-v1\n", seq, "\n", hash));
}

absl::StatusOr<AuditAnchor> ParseAuditAnchor(std::string_view value,
                                             std::string_view key) {
  AuditAnchor anchor;
  if (value.empty()) {
    return anchor;
  }
  const std::vector<std::string> parts =
      absl::StrSplit(std::string(value), ' ');
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &anchor.seq) ||
      !ConstantTimeEquals(parts[2],
                          AuditAnchorMac(key, anchor.seq, parts[1]))) {
    return absl::InvalidArgumentError(
        "the prune anchor (meta audit_anchor) is damaged or forged: its mac "
        "does not match the audit key");
  }
  anchor.hash = parts[1];
  return anchor;
}

namespace {

std::string CheckpointMac(std::string_view key, std::uint64_t seq,
                          std::string_view head, std::string_view at) {
  return HmacSha256Hex(
      key, StrCat("audit-checkpoint-v1\n", seq, "\n", head, "\n", at));
}

}  // namespace

AuditCheckpoint MakeCheckpoint(std::string_view key, std::uint64_t seq,
                               std::string head, absl::Time at) {
  AuditCheckpoint c;
  c.seq = seq;
  c.head = std::move(head);
  c.at = absl::FromUnixSeconds(absl::ToUnixSeconds(at));
  c.mac = CheckpointMac(key, seq, c.head, FormatUtc(c.at));
  return c;
}

std::string CheckpointLine(const AuditCheckpoint& c) {
  Json j = {{"seq", c.seq},
            {"head", c.head},
            {"at", FormatUtc(c.at)},
            {"mac", c.mac}};
  return j.dump();
}

absl::StatusOr<AuditCheckpoint> ParseCheckpoint(std::string_view line,
                                                std::string_view key) {
  while (!line.empty() &&
         (line.back() == '\n' || line.back() == '\r' || line.back() == ' ')) {
    line.remove_suffix(1);
  }
  const Json j = Json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(
        "the checkpoint is not one JSON object on one line");
  }
  AuditCheckpoint c;
  auto it = j.find("seq");
  if (it == j.end() || !it->is_number_unsigned()) {
    return absl::InvalidArgumentError(
        "checkpoint field \"seq\" is missing or not a whole number");
  }
  c.seq = it->get<std::uint64_t>();
  std::string at;
  for (auto [name, out] : {std::pair{"head", &c.head}, std::pair{"at", &at},
                           std::pair{"mac", &c.mac}}) {
    it = j.find(name);
    if (it == j.end() || !it->is_string()) {
      return absl::InvalidArgumentError(
          StrCat("checkpoint field \"", name, "\" is missing or not a string"));
    }
    *out = it->get<std::string>();
  }
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, at, &c.at, &error)) {
    return absl::InvalidArgumentError(
        StrCat("checkpoint field \"at\" is not an RFC 3339 time: ", error));
  }
  if (!ConstantTimeEquals(c.mac, CheckpointMac(key, c.seq, c.head, at))) {
    return absl::PermissionDeniedError(
        "the checkpoint's mac does not match: it was edited, or it was made "
        "with another audit key");
  }
  return c;
}

AuditRow MakeRekeyRow(std::uint64_t seq, absl::Time at,
                      std::string_view prev_hash, std::string_view key) {
  AuditRow row;
  row.kind = "rekey";
  Json j = {{"chain", "hmac-sha256"}, {"unkeyed_head", std::string(prev_hash)}};
  row.record = Canonical(j, seq, at, row.kind, prev_hash);
  row.hash = AuditHash(key, prev_hash, row.record);
  return row;
}

AuditRow MakePruneRow(std::uint64_t seq, absl::Time at,
                      std::string_view prev_hash, std::string_view key,
                      std::uint64_t through_seq, std::string_view through_hash,
                      std::uint64_t rows, absl::Time before) {
  AuditRow row;
  row.kind = "prune";
  Json j = {{"through_seq", through_seq},
            {"through_hash", std::string(through_hash)},
            {"rows", rows},
            {"before", Micros(before)}};
  row.record = Canonical(j, seq, at, row.kind, prev_hash);
  row.hash = AuditHash(key, prev_hash, row.record);
  return row;
}

AuditRow MakeAuditRow(std::uint64_t seq, const policy::AuditRecord& record,
                      std::string_view prev_hash, std::string_view key) {
  AuditRow row;
  Json j = Json::object();
  std::visit(
      [&](const auto& what) {
        using T = std::decay_t<decltype(what)>;
        if constexpr (std::is_same_v<T, policy::DecisionAudit>) {
          row.kind = "decision";
        } else if constexpr (std::is_same_v<T, policy::PolicyAudit>) {
          row.kind = "policy";
        } else if constexpr (std::is_same_v<T, policy::ExemptionAudit>) {
          row.kind = "exemption";
        } else if constexpr (std::is_same_v<T, policy::AccessAudit>) {
          row.kind = "access";
        } else if constexpr (std::is_same_v<T, policy::SiemDropAudit>) {
          row.kind = "siem_dropped";
        } else {
          row.kind = "accept_broken";
        }
        Fill(what, j);
      },
      record.what);
  row.record = Canonical(j, seq, record.at, row.kind, prev_hash);
  row.hash = AuditHash(key, prev_hash, row.record);
  return row;
}

}  // namespace hijackguard::store
