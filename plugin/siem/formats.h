// How an event looks to each kind of SIEM sink:
//   * CEF (ArcSight Common Event Format, version 0) in an RFC 5424 syslog
//     message, framed by octet counting (RFC 6587, as RFC 5425 requires over
//     TLS);
//   * JSON for a generic webhook, or in Splunk HTTP Event Collector
//     envelopes.
// CEF escaping follows its specification: in header fields `\` and `|`; in
// extension values `\`, `=`, CR and LF (never `|`).
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "plugin/siem/siem_event.h"

namespace hijackguard::plugin::siem {

std::string CefHeaderEscape(std::string_view text);
std::string CefValueEscape(std::string_view text);
// ALLOW 1, WARN 5, QUARANTINE 8, BLOCK 10 (anything else 1).
int CefSeverity(std::string_view action);

// "CEF:0|hijackguard|hijackguard|<version>|<signature>|<name>|<severity>|<extension>".
// The signature id of an alert is its trigger and new action
// ("TRAFFIC:QUARANTINE"); a checkpoint's is "AUDIT:CHECKPOINT".
std::string FormatCef(const SiemEvent& event, std::string_view version);

struct SyslogOptions {
  int facility = 16;  // local0
  std::string hostname = "-";
  std::string app_name = "hijackguard";
  std::string procid = "-";
  std::string version;  // the build's, in the CEF header
};
// One RFC 5424 message (no framing): PRI from the facility (0-23) and the
// action, version 1, the event's time, MSGID "alert" or "checkpoint", no
// structured data, the CEF record as MSG (after a byte order mark when it is
// not ASCII, as RFC 5424 asks of UTF-8).
std::string FormatSyslog(const SiemEvent& event, const SyslogOptions& options);
// RFC 6587 octet counting: "<length> <message>".
std::string OctetCounted(std::string_view message);

// The generic webhook's JSON object for one event.
std::string FormatJson(const SiemEvent& event);
// Splunk HEC: one {"time", "host", "source", "sourcetype", "event"} envelope
// per event, concatenated (HEC's batch form).
std::string FormatSplunkHec(std::span<const SiemEvent> events,
                            std::string_view host);

}  // namespace hijackguard::plugin::siem
