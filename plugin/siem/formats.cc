#include "plugin/siem/formats.h"

#include <algorithm>
#include <cmath>

#include "common/strings.h"
#include "nlohmann/json.hpp"

namespace hijackguard::plugin::siem {
namespace {

using Json = nlohmann::json;

// Syslog severities (RFC 5424 table 2) by action.
int SyslogSeverity(const SiemEvent& e) {
  if (e.kind == SiemEvent::Kind::kAuditCheckpoint) return 6;  // informational
  if (e.new_action == "BLOCK") return 2;                      // critical
  if (e.new_action == "QUARANTINE") return 3;                 // error
  if (e.new_action == "WARN") return 4;                       // warning
  return 6;
}

// RFC 5424 header fields: printable US-ASCII without spaces, at most `max`
// characters, "-" when empty.
std::string HeaderField(std::string_view s, std::size_t max) {
  std::string out;
  for (char c : s.substr(0, max)) {
    out.push_back(c > ' ' && c < 127 ? c : '_');
  }
  return out.empty() ? "-" : out;
}

void Extension(std::string* out, std::string_view key, std::string_view value) {
  if (value.empty()) return;
  if (!out->empty() && out->back() != '|') out->push_back(' ');
  StrAppend(out, key, "=", CefValueEscape(value));
}

// A custom field with its label, both left out when the value is empty.
void Labeled(std::string* out, std::string_view key, std::string_view label,
             std::string_view value) {
  if (value.empty()) return;
  Extension(out, StrCat(key, "Label"), label);
  Extension(out, key, value);
}

Json EventJson(const SiemEvent& e) {
  if (e.kind == SiemEvent::Kind::kAuditCheckpoint) {
    return {{"type", "audit_checkpoint"},
            {"id", e.id},
            {"time",
             absl::FormatTime(absl::RFC3339_full, e.at, absl::UTCTimeZone())},
            {"audit_seq", e.audit_seq},
            {"audit_head", e.audit_head},
            {"checkpoint", e.checkpoint_line}};
  }
  Json reasons = Json::array();
  for (const SiemReason& r : e.reasons) {
    reasons.push_back({{"code", r.code},
                       {"message", r.message},
                       {"known_issue_id", r.known_issue_id},
                       {"contribution", r.contribution}});
  }
  return {
      {"type", "alert"},
      {"id", e.id},
      {"time", absl::FormatTime(absl::RFC3339_full, e.at, absl::UTCTimeZone())},
      {"trigger", e.trigger},
      {"tenant_id", e.tenant_id},
      {"device", e.device},
      {"mdm_device_id", e.mdm_device_id},
      {"user", e.user},
      {"old_action", e.old_action},
      {"new_action", e.new_action},
      {"enforced_action", e.enforced_action},
      {"mode", e.mode},
      {"score", e.score},
      {"reasons", std::move(reasons)},
      {"policy_revision", e.policy_revision},
      {"decision_id", e.decision_id}};
}

std::string Dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::string CefHeaderEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\r' || c == '\n') {
      out.push_back(' ');  // a header has no escape for a line break
      continue;
    }
    if (c == '\\' || c == '|') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::string CefValueEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\' || c == '=') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

int CefSeverity(std::string_view action) {
  if (action == "WARN") return 5;
  if (action == "QUARANTINE") return 8;
  if (action == "BLOCK") return 10;
  return 1;
}

std::string FormatCef(const SiemEvent& e, std::string_view version) {
  const bool alert = e.kind == SiemEvent::Kind::kAlert;
  const std::string signature =
      alert ? StrCat(e.trigger, ":", e.new_action) : "AUDIT:CHECKPOINT";
  const std::string name = alert ? StrCat("Device evaluated action ",
                                          e.old_action, " -> ", e.new_action)
                                 : "Audit log checkpoint";
  std::string out =
      StrCat("CEF:0|hijackguard|hijackguard|",
             CefHeaderEscape(version.empty() ? "unknown" : version), "|",
             CefHeaderEscape(signature), "|", CefHeaderEscape(name), "|",
             alert ? CefSeverity(e.new_action) : 1, "|");
  std::string ext;
  Extension(&ext, "rt", StrCat(absl::ToUnixMillis(e.at)));
  Extension(&ext, "externalId", e.id);
  if (alert) {
    Extension(&ext, "act", e.new_action);
    Extension(&ext, "cat", e.trigger);
    Labeled(&ext, "flexString1", "mode", e.mode);
    Extension(&ext, "duser", e.user);
    Labeled(&ext, "cs1", "easDeviceId", e.device);
    Labeled(&ext, "cs2", "tenant", e.tenant_id);
    Labeled(&ext, "cs3", "enforcedAction", e.enforced_action);
    Labeled(&ext, "cs4", "previousAction", e.old_action);
    Labeled(&ext, "cs5", "policyRevision", e.policy_revision);
    Labeled(&ext, "cs6", "decisionId", e.decision_id);
    Labeled(&ext, "cn1", "score", StrCat(std::lround(e.score)));
    std::string codes;
    std::string messages;
    for (const SiemReason& r : e.reasons) {
      StrAppend(&codes, codes.empty() ? "" : ",", r.code);
      StrAppend(&messages, messages.empty() ? "" : "\n", r.message);
    }
    Extension(&ext, "reason", codes);
    Extension(&ext, "msg", messages);
  } else {
    Labeled(&ext, "cn1", "auditSeq", StrCat(e.audit_seq));
    Labeled(&ext, "cs1", "auditHead", e.audit_head);
    Extension(&ext, "msg", e.checkpoint_line);
  }
  return out + ext;
}

std::string FormatSyslog(const SiemEvent& e, const SyslogOptions& options) {
  const int pri = options.facility * 8 + SyslogSeverity(e);
  const std::string cef = FormatCef(e, options.version);
  // RFC 5424 6.4: a UTF-8 MSG starts with the byte order mark; an ASCII one
  // is MSG-ANY and goes as it is.
  const bool ascii = std::all_of(cef.begin(), cef.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x80;
  });
  return StrCat(
      "<", pri, ">1 ",
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", e.at, absl::UTCTimeZone()), " ",
      HeaderField(options.hostname, 255), " ",
      HeaderField(options.app_name, 48), " ", HeaderField(options.procid, 128),
      " ", e.kind == SiemEvent::Kind::kAlert ? "alert" : "checkpoint", " - ",
      ascii ? "" : "\xEF\xBB\xBF", cef);
}

std::string OctetCounted(std::string_view message) {
  return StrCat(message.size(), " ", message);
}

std::string FormatJson(const SiemEvent& event) {
  return Dump(EventJson(event));
}

std::string FormatSplunkHec(std::span<const SiemEvent> events,
                            std::string_view host) {
  std::string out;
  for (const SiemEvent& e : events) {
    out += Dump({{"time", absl::ToDoubleMilliseconds(e.at - absl::UnixEpoch()) /
                              1000.0},
                 {"host", std::string(host)},
                 {"source", "hijackguard"},
                 {"sourcetype", e.kind == SiemEvent::Kind::kAlert
                                    ? "hijackguard:alert"
                                    : "hijackguard:audit_checkpoint"},
                 {"event", EventJson(e)}});
    out.push_back('\n');
  }
  return out;
}

}  // namespace hijackguard::plugin::siem
