// The `siem` configuration section: where alerts and audit checkpoints are
// delivered (docs/operations.md, "SIEM delivery").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "nlohmann/json_fwd.hpp"

namespace hijackguard::json {
class Problems;
}

namespace hijackguard::plugin::siem {

struct SinkConfig {
  enum class Type { kSyslog, kWebhook };
  enum class Format { kCef, kJson, kSplunkHec };
  std::string name;  // unique; names the sink's cursor, metrics and logs
  Type type = Type::kSyslog;
  Format format = Format::kCef;  // syslog: cef; webhook: json or splunk_hec
  // syslog: "host:port" over TCP, TLS when `tls` (RFC 5425 framing either
  // way). webhook: an https:// URL (http:// only to a loopback host).
  std::string address;
  std::string url;
  bool tls = false;
  std::string ca_file;      // verifies the receiver; "" = the system's CAs
  std::string server_name;  // the name its certificate must hold; "" = host
  // Client certificate, when the receiver asks for one.
  std::string cert_file;
  std::string key_file;
  // webhook: the token, read from this file, sent as `Authorization: Bearer`
  // (Splunk HEC: `Authorization: Splunk`), or in `header` when set.
  std::string token_file;
  std::string header;
  int facility = 16;  // syslog facility (local0)
  // Backoff while the sink fails: doubles from min to max.
  absl::Duration retry_min = absl::Seconds(1);
  absl::Duration retry_max = absl::Seconds(60);
  absl::Duration timeout = absl::Seconds(10);  // connect, send, answer
  std::size_t batch = 100;                     // events per delivery
};

struct SiemConfig {
  std::vector<SinkConfig> sinks;
  // User principals, addresses and device ids in clear instead of the log's
  // pseudonyms.
  bool pii = false;
  // Undelivered entries kept per sink; beyond it the oldest are dropped
  // (counted and audited).
  std::uint64_t max_backlog = 100'000;
};

// Reads `siem` (every problem recorded with its JSON pointer).
void ReadSiemSection(const nlohmann::json& value, const std::string& pointer,
                     json::Problems* problems, SiemConfig* out);

const char* SinkTypeName(SinkConfig::Type type);
const char* SinkFormatName(SinkConfig::Format format);

}  // namespace hijackguard::plugin::siem
