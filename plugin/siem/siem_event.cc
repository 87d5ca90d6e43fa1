#include "plugin/siem/siem_event.h"

#include "common/strings.h"
#include "common/utf8.h"
#include "nlohmann/json.hpp"

namespace hijackguard::plugin::siem {
namespace {

using Json = nlohmann::json;

// A string member; problems name the member.
bool Text(const Json& doc, const char* key, std::string* out,
          std::string* problem) {
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_string()) {
    *problem = StrCat(key, ": missing or not a string");
    return false;
  }
  *out = it->get<std::string>();
  return true;
}

absl::StatusOr<absl::Time> Rfc3339(const std::string& text, const char* key) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &error)) {
    return absl::InvalidArgumentError(
        StrCat("outbox payload: ", key, ": not an RFC 3339 time"));
  }
  return t;
}

}  // namespace

absl::StatusOr<SiemEvent> ParseOutboxPayload(std::string_view json,
                                             const Pseudonym& pseudonym) {
  const Json doc = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError("outbox payload: not a JSON object");
  }
  if (!doc.contains("v") || !doc["v"].is_number_integer() || doc["v"] != 1) {
    return absl::InvalidArgumentError("outbox payload: v: not version 1");
  }
  SiemEvent e;
  std::string problem;
  std::string type;
  std::string at;
  if (!Text(doc, "type", &type, &problem) ||
      !Text(doc, "emitted_at", &at, &problem)) {
    return absl::InvalidArgumentError(StrCat("outbox payload: ", problem));
  }
  auto time = Rfc3339(at, "emitted_at");
  if (!time.ok()) return time.status();
  e.at = *time;
  if (type == "audit_checkpoint") {
    e.kind = SiemEvent::Kind::kAuditCheckpoint;
    if (!doc.contains("seq") || !doc["seq"].is_number_unsigned() ||
        !Text(doc, "head", &e.audit_head, &problem) ||
        !Text(doc, "line", &e.checkpoint_line, &problem)) {
      return absl::InvalidArgumentError(StrCat(
          "outbox payload: ", problem.empty() ? "seq: missing" : problem));
    }
    e.audit_seq = doc["seq"].get<std::uint64_t>();
    e.id = StrCat("checkpoint-", e.audit_seq);
    return e;
  }
  if (type != "alert") {
    return absl::InvalidArgumentError(
        StrCat("outbox payload: type: ", QuoteInput(type), " is not known"));
  }
  std::string device;
  std::string user;
  for (auto [key, out] :
       {std::pair{"alert_id", &e.id}, std::pair{"trigger", &e.trigger},
        std::pair{"tenant_id", &e.tenant_id},
        std::pair{"eas_device_id", &device},
        std::pair{"mdm_device_id", &e.mdm_device_id},
        std::pair{"user_principal", &user},
        std::pair{"old_action", &e.old_action},
        std::pair{"new_action", &e.new_action},
        std::pair{"enforced_action", &e.enforced_action},
        std::pair{"mode", &e.mode},
        std::pair{"policy_revision", &e.policy_revision},
        std::pair{"decision_id", &e.decision_id}}) {
    if (!Text(doc, key, out, &problem)) {
      return absl::InvalidArgumentError(StrCat("outbox payload: ", problem));
    }
  }
  e.device = device.empty() ? device : pseudonym(device);
  e.user = user.empty() ? user : pseudonym(user);
  if (!e.mdm_device_id.empty()) e.mdm_device_id = pseudonym(e.mdm_device_id);
  if (!doc.contains("score") || !doc["score"].is_number()) {
    return absl::InvalidArgumentError("outbox payload: score: not a number");
  }
  e.score = doc["score"].get<double>();
  if (!doc.contains("reasons") || !doc["reasons"].is_array()) {
    return absl::InvalidArgumentError("outbox payload: reasons: not an array");
  }
  for (const Json& r : doc["reasons"]) {
    SiemReason reason;
    if (!r.is_object() || !Text(r, "code", &reason.code, &problem) ||
        !Text(r, "message", &reason.message, &problem) ||
        !Text(r, "known_issue_id", &reason.known_issue_id, &problem)) {
      return absl::InvalidArgumentError(
          StrCat("outbox payload: reasons: ",
                 problem.empty() ? "not an object" : problem));
    }
    if (r.contains("contribution") && r["contribution"].is_number()) {
      reason.contribution = r["contribution"].get<double>();
    }
    e.reasons.push_back(std::move(reason));
  }
  return e;
}

std::string CheckpointPayload(std::uint64_t seq, std::string_view head,
                              absl::Time at, std::string_view line) {
  return Json{{"v", 1},
              {"type", "audit_checkpoint"},
              {"emitted_at",
               absl::FormatTime(absl::RFC3339_full, at, absl::UTCTimeZone())},
              {"seq", seq},
              {"head", std::string(head)},
              {"line", std::string(line)}}
      .dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace hijackguard::plugin::siem
