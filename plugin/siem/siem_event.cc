#include "plugin/siem/siem_event.h"

#include "absl/strings/ascii.h"
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

// Bytes of UTF-8 sequences count as letters (internationalized addresses).
bool LocalPartChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         static_cast<unsigned char>(c) >= 0x80 ||
         std::string_view("!#$%&'*+/=?^_`{|}~.-").find(c) !=
             std::string_view::npos;
}

bool DomainChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         static_cast<unsigned char>(c) >= 0x80 || c == '.' || c == '-';
}

bool WordChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         static_cast<unsigned char>(c) >= 0x80;
}

// `text` with every occurrence of `value` as a whole word (ASCII case
// ignored, as the pseudonyms ignore it) replaced by `pseudonym` of it.
std::string ReplaceValue(std::string text, std::string_view value,
                         const Pseudonym& pseudonym) {
  if (value.size() < 3) return text;  // too short to stand for anything
  const std::string replacement = pseudonym(value);
  if (replacement == value) return text;
  const std::string needle = absl::AsciiStrToLower(std::string(value));
  std::string lower = absl::AsciiStrToLower(text);
  for (std::size_t at = lower.find(needle); at != std::string::npos;) {
    const std::size_t end = at + needle.size();
    const bool whole = (at == 0 || !WordChar(text[at - 1])) &&
                       (end == text.size() || !WordChar(text[end]));
    if (!whole) {
      at = lower.find(needle, at + 1);
      continue;
    }
    text.replace(at, needle.size(), replacement);
    lower.replace(at, needle.size(), replacement);
    at = lower.find(needle, at + replacement.size());
  }
  return text;
}

}  // namespace

std::string PseudonymizeAddresses(std::string_view text,
                                  const Pseudonym& pseudonym) {
  std::string out;
  std::size_t copied = 0;
  for (std::size_t at = text.find('@'); at != std::string_view::npos;
       at = text.find('@', at + 1)) {
    std::size_t begin = at;
    while (begin > copied && LocalPartChar(text[begin - 1])) --begin;
    std::size_t end = at + 1;
    while (end < text.size() && DomainChar(text[end])) ++end;
    while (end > at + 1 && (text[end - 1] == '.' || text[end - 1] == '-')) {
      --end;  // the sentence's full stop, not the domain's
    }
    while (begin < at && text[begin] == '.') ++begin;
    const std::string_view domain = text.substr(at + 1, end - at - 1);
    if (begin == at || domain.find('.') == std::string_view::npos) {
      continue;
    }
    StrAppend(&out, text.substr(copied, begin - copied),
              pseudonym(text.substr(begin, end - begin)));
    copied = end;
    at = end - 1;
  }
  if (copied == 0) return std::string(text);
  StrAppend(&out, text.substr(copied));
  return out;
}

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
    // The head too: the same seq can stand for another head after a restore.
    e.id = StrCat("checkpoint-", e.audit_seq, "-", e.audit_head.substr(0, 16));
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
  const std::string raw_mdm_device_id = e.mdm_device_id;
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
    // Reasons cite mailboxes ("organizer bob@example.com"), the device
    // ("Exempt (device ApplX...)") and the user. Addresses first, so that an
    // address is replaced whole, as it is everywhere else.
    reason.message = PseudonymizeAddresses(reason.message, pseudonym);
    for (std::string_view value :
         {std::string_view(device), std::string_view(raw_mdm_device_id),
          std::string_view(user)}) {
      reason.message =
          ReplaceValue(std::move(reason.message), value, pseudonym);
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
