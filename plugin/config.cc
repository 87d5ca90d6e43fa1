#include "plugin/config.h"

#include "absl/status/status.h"
#include "common/file.h"
#include "common/json_reader.h"
#include "common/strings.h"

namespace hijackguard::plugin {
namespace {

constexpr std::size_t kMaxConfigBytes = 1 << 20;

}  // namespace

absl::StatusOr<ServerConfig> ParseServerConfig(std::string_view text,
                                               std::string_view origin) {
  json::Problems problems;
  ServerConfig config;
  if (auto doc = json::ParseJson(text, &problems)) {
    json::ObjectReader root(*doc, "", &problems);
    root.Skip("$comment");
    if (auto v = root.String("listen", false)) {
      config.listen = *v;
    }
    if (auto v = root.String("catalog", false)) {
      config.catalog_path = *v;
    }
    if (auto v = root.String("state_dir", false)) {
      config.state_dir = *v;
    }
    if (auto v = root.Integer("max_request_bytes", false, 4096, 64 << 20)) {
      config.max_request_bytes = static_cast<int>(*v);
    }
    if (auto v = root.Integer("decision_validity_seconds", false, 1,
                              7LL * 24 * 3600)) {
      config.decision_validity = absl::Seconds(*v);
    }
    if (auto v = root.Integer("shutdown_grace_seconds", false, 0, 3600)) {
      config.shutdown_grace = absl::Seconds(*v);
    }
    if (const auto* tls = root.Member("tls", false)) {
      json::ObjectReader t(*tls, root.PointerTo("tls"), &problems);
      TlsConfig c;
      c.cert_file = t.String("cert_file", true).value_or("");
      c.key_file = t.String("key_file", true).value_or("");
      c.client_ca_file = t.String("client_ca_file", false).value_or("");
      config.tls = c;
    }
  }
  if (!problems.empty()) {
    return problems.ToStatus(origin);
  }
  return config;
}

absl::StatusOr<ServerConfig> LoadServerConfig(const std::string& path) {
  auto text = ReadFileToString(path, kMaxConfigBytes);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        StrCat("configuration ", text.status().message()));
  }
  return ParseServerConfig(*text, StrCat("configuration ", path));
}

}  // namespace hijackguard::plugin
