#include "plugin/config.h"

#include "absl/status/status.h"
#include "common/file.h"
#include "common/json_reader.h"
#include "common/strings.h"

namespace hijackguard::plugin {
namespace {

constexpr std::size_t kMaxConfigBytes = 1 << 20;

// "aliases": {"<tenant>": {"<address>": ["<alias>", ...]}}.
void ReadAliases(
    const nlohmann::json& value, const std::string& pointer,
    json::Problems* problems,
    std::map<std::string, std::map<std::string, std::vector<std::string>>>*
        out) {
  if (!value.is_object()) {
    problems->Add(pointer, "must be an object of tenants");
    return;
  }
  for (const auto& [tenant, addresses] : value.items()) {
    const std::string tp = StrCat(pointer, "/", json::PointerEscape(tenant));
    if (!addresses.is_object()) {
      problems->Add(tp, "must be an object of addresses");
      continue;
    }
    for (const auto& [address, aliases] : addresses.items()) {
      const std::string ap = StrCat(tp, "/", json::PointerEscape(address));
      if (!aliases.is_array()) {
        problems->Add(ap, "must be an array of addresses");
        continue;
      }
      std::vector<std::string>& list = (*out)[tenant][address];
      for (std::size_t i = 0; i < aliases.size(); ++i) {
        if (!aliases[i].is_string() || aliases[i].get<std::string>().empty()) {
          problems->Add(StrCat(ap, "/", i), "must be a non-empty string");
          continue;
        }
        list.push_back(aliases[i].get<std::string>());
      }
    }
  }
}

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
    if (auto v = root.String("policy", false)) {
      config.policy_path = *v;
    }
    if (auto v = root.String("catalog", false)) {
      config.catalog_path = *v;
    }
    if (auto v = root.String("state_dir", false)) {
      config.state_dir = *v;
    }
    if (auto v = root.String("state_store", false)) {
      if (*v == "sqlite" || *v == "memory") {
        config.state_store = *v;
      } else {
        problems.Add(root.PointerTo("state_store"),
                     StrCat("\"", *v, "\" is not \"sqlite\" or \"memory\""));
      }
    }
    if (auto v = root.String("state_synchronous", false)) {
      if (*v == "full" || *v == "normal" || *v == "off") {
        config.state_synchronous = *v;
      } else {
        problems.Add(
            root.PointerTo("state_synchronous"),
            StrCat("\"", *v, "\" is not \"full\", \"normal\" or \"off\""));
      }
    }
    if (auto v = root.Integer("max_request_bytes", false, 4096, 64 << 20)) {
      config.max_request_bytes = static_cast<int>(*v);
    }
    if (auto v =
            root.Integer("max_traffic_request_bytes", false, 4096, 64 << 20)) {
      config.max_traffic_request_bytes = static_cast<int>(*v);
    }
    if (const auto* d = root.Member("detector", false)) {
      json::ObjectReader det(*d, root.PointerTo("detector"), &problems);
      if (auto v = det.Integer("ledger_max_entries", false, 1, 100'000'000)) {
        config.ledger_max_entries = static_cast<std::size_t>(*v);
      }
      if (auto v =
              det.Integer("ledger_ttl_seconds", false, 60, 365LL * 24 * 3600)) {
        config.ledger_ttl = absl::Seconds(*v);
      }
      if (auto v = det.Integer("max_events_per_device", false, 1, 1'000'000)) {
        config.max_events_per_device = static_cast<std::size_t>(*v);
      }
      if (const auto* a = det.Member("aliases", false)) {
        ReadAliases(*a, det.PointerTo("aliases"), &problems, &config.aliases);
      }
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
