#include "plugin/config.h"

#include <algorithm>
#include <set>

#include "absl/status/status.h"
#include "common/file.h"
#include "common/json_reader.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "plugin/auth_config.h"
#include "store/postgres/pg_conn.h"

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

std::optional<bool> Bool(json::ObjectReader& r, std::string_view key,
                         json::Problems* problems) {
  const nlohmann::json* v = r.Member(key, false);
  if (v == nullptr) {
    return std::nullopt;
  }
  if (!v->is_boolean()) {
    problems->Add(r.PointerTo(key), "must be true or false");
    return std::nullopt;
  }
  return v->get<bool>();
}

TlsConfig ReadTls(const nlohmann::json& value, const std::string& pointer,
                  json::Problems* problems) {
  json::ObjectReader t(value, pointer, problems);
  TlsConfig c;
  c.cert_file = t.String("cert_file", true).value_or("");
  c.key_file = t.String("key_file", true).value_or("");
  c.client_ca_file = t.String("client_ca_file", false).value_or("");
  if (auto v = t.String("client_cert", false)) {
    if (*v == "optional" || *v == "require") {
      c.client_cert_optional = *v == "optional";
    } else {
      problems->Add(
          t.PointerTo("client_cert"),
          StrCat(QuoteInput(*v), " is not \"require\" or \"optional\""));
    }
    if (c.client_ca_file.empty()) {
      problems->Add(t.PointerTo("client_cert"),
                    "needs client_ca_file (the CA that signs client "
                    "certificates)");
    }
  }
  return c;
}

void ReadHttp(const nlohmann::json& value, const std::string& pointer,
              json::Problems* problems, HttpConfig* http) {
  json::ObjectReader h(value, pointer, problems);
  if (auto v = h.String("listen", false)) {
    http->listen = *v;
  }
  if (const auto* tls = h.Member("tls", false)) {
    http->tls = ReadTls(*tls, h.PointerTo("tls"), problems);
  }
  if (auto v = h.Integer("max_body_bytes", false, 4096, 1LL << 30)) {
    http->max_body_bytes = static_cast<std::size_t>(*v);
  }
  if (auto v = h.Integer("max_connections", false, 1, 4096)) {
    http->max_connections = static_cast<int>(*v);
  }
  if (auto v = h.Integer("idle_timeout_seconds", false, 1, 3600)) {
    http->idle_timeout = absl::Seconds(*v);
  }
  if (auto v = h.Integer("gateway_cache_seconds", false, 0, 3600)) {
    http->gateway_cache = absl::Seconds(*v);
  }
}

void ReadPostgres(json::ObjectReader& root, json::Problems& problems,
                  ServerConfig& config) {
  if (const auto* p = root.Member("postgres", false)) {
    json::ObjectReader pg(*p, root.PointerTo("postgres"), &problems);
    if (auto v = pg.String("dsn", false)) {
      // Checked here, so that a password never reaches a log line.
      if (absl::Status s = store::pg::CheckNoPassword(*v, "postgres.dsn");
          !s.ok()) {
        problems.Add(pg.PointerTo("dsn"), std::string(s.message()));
      } else {
        config.postgres.dsn = *v;
      }
    }
    if (auto v = pg.String("password_file", false)) {
      config.postgres.password_file = *v;
    }
    if (auto v = pg.Integer("readers", false, 1, 64)) {
      config.postgres.readers = static_cast<int>(*v);
    }
    if (auto v = pg.Integer("list_readers", false, 1, 16)) {
      config.postgres.list_readers = static_cast<int>(*v);
    }
  }
  if (config.state_store == "postgres" && config.postgres.dsn.empty()) {
    problems.Add(root.PointerTo("postgres"),
                 "state_store \"postgres\" needs postgres.dsn, the database "
                 "every replica shares");
  }
}

void ReadSecurity(json::ObjectReader& root, json::Problems& problems,
                  ServerConfig& config) {
  if (const auto* a = root.Member("auth", false)) {
    AuthConfig auth;
    ReadAuthSection(*a, root.PointerTo("auth"), &problems, &auth);
    config.auth = std::move(auth);
  }
  if (auto v = Bool(root, "allow_insecure_remote", &problems)) {
    config.allow_insecure_remote = *v;
  }
  if (auto v = Bool(root, "reflection", &problems)) {
    config.reflection = *v;
  }
  if (const auto* a = root.Member("audit", false)) {
    json::ObjectReader audit(*a, root.PointerTo("audit"), &problems);
    if (auto v = audit.String("key_file", false)) {
      config.audit_key_file = *v;
    }
    if (auto v =
            audit.Integer("checkpoint_seconds", false, 10, 7LL * 24 * 3600)) {
      config.audit_checkpoint_interval = absl::Seconds(*v);
    }
  }
  if (const auto* c = root.Member("console", false)) {
    json::ObjectReader console(*c, root.PointerTo("console"), &problems);
    if (auto v = Bool(console, "enabled", &problems)) {
      config.console.enabled = *v;
    }
    if (auto v =
            console.Integer("session_seconds", false, 300, 7LL * 24 * 3600)) {
      config.console.session_ttl = absl::Seconds(*v);
    }
    if (auto v = console.Integer("max_event_streams", false, 0, 1024)) {
      config.console.max_event_streams = static_cast<int>(*v);
    }
    if (auto v = console.Integer("audit_verify_seconds", false, 10,
                                 7LL * 24 * 3600)) {
      config.console.audit_verify_interval = absl::Seconds(*v);
    }
  }
  // The gateway must always find a free thread.
  if (config.console.enabled && !config.http.listen.empty() &&
      config.console.max_event_streams >
          MaxEventStreams(config.http.max_connections)) {
    problems.Add(
        root.PointerTo("console") + "/max_event_streams",
        StrCat("is ", config.console.max_event_streams, ": with ",
               config.http.max_connections,
               " listener threads (http.max_connections) it may be at most ",
               MaxEventStreams(config.http.max_connections),
               ", so that a thread stays free for the gateway while every "
               "feed and both CSV exports run"));
  }
  if (const auto* d = root.Member("decision_log", false)) {
    json::ObjectReader log(*d, root.PointerTo("decision_log"), &problems);
    config.decision_log_sample = log.Number("sample", false, 0, 1).value_or(1);
  }
  if (const auto* s = root.Member("siem", false)) {
    siem::ReadSiemSection(*s, root.PointerTo("siem"), &problems, &config.siem);
  }
  if (const auto* l = root.Member("logging", false)) {
    json::ObjectReader logging(*l, root.PointerTo("logging"), &problems);
    if (auto v = Bool(logging, "pii", &problems)) {
      config.logging_pii = *v;
    }
    if (auto v = logging.String("format", false)) {
      if (*v == "text" || *v == "json") {
        config.log_format = *v == "json" ? LogFormat::kJson : LogFormat::kText;
      } else {
        problems.Add(logging.PointerTo("format"),
                     StrCat(QuoteInput(*v), " is not \"text\" or \"json\""));
      }
    }
    if (auto v = logging.String("level", false)) {
      if (auto level = ParseLogLevel(*v)) {
        config.log_level = *level;
      } else {
        problems.Add(
            logging.PointerTo("level"),
            StrCat(QuoteInput(*v), " is not one of debug, info, warn, error"));
      }
    }
  }
}

void ReadLimits(json::ObjectReader& root, json::Problems& problems,
                ServerConfig& config) {
  if (auto v = root.Integer("wal_autocheckpoint_pages", false, 1, 1'000'000)) {
    config.wal_autocheckpoint_pages = static_cast<int>(*v);
  }
  if (auto v = root.Integer("max_policy_bytes", false, 1024, 4 << 20)) {
    config.max_policy_bytes = static_cast<std::size_t>(*v);
  }
  if (const auto* a = root.Member("alerts", false)) {
    json::ObjectReader alerts(*a, root.PointerTo("alerts"), &problems);
    if (auto v =
            alerts.Integer("max_queue_bytes", false, 64 << 10, 1LL << 30)) {
      config.alerts.max_queue_bytes = static_cast<std::size_t>(*v);
    }
    if (auto v =
            alerts.Integer("max_total_bytes", false, 64 << 10, 4LL << 30)) {
      config.alerts.max_total_bytes = static_cast<std::size_t>(*v);
    }
    if (auto v = alerts.Integer(
            "max_subscribers_per_principal", false, 1,
            static_cast<std::int64_t>(config.alerts.max_subscribers))) {
      config.alerts.max_subscribers_per_owner = static_cast<std::size_t>(*v);
    }
    if (config.alerts.max_total_bytes < config.alerts.max_queue_bytes) {
      problems.Add(alerts.PointerTo("max_total_bytes"),
                   StrCat("is less than max_queue_bytes (",
                          config.alerts.max_queue_bytes, ")"));
    }
  }
  if (const auto* r = root.Member("retention", false)) {
    json::ObjectReader retention(*r, root.PointerTo("retention"), &problems);
    auto days = [&](const char* key, int* out) {
      if (auto v = retention.Integer(key, false, 0, std::int64_t{100} * 366)) {
        *out = static_cast<int>(*v);
      }
    };
    days("device_days", &config.retention.device_days);
    days("history_days", &config.retention.history_days);
    days("pending_days", &config.retention.pending_days);
    days("audit_days", &config.retention.audit_days);
  }
}

}  // namespace

absl::Status CheckListenAddress(const std::string& listen, bool has_auth,
                                bool has_tls, bool allow_insecure_remote,
                                std::string_view tls_key) {
  if (IsLoopbackListen(listen)) {
    return absl::OkStatus();
  }
  if (has_auth && has_tls) {
    return absl::OkStatus();
  }
  const std::string missing =
      !has_auth && !has_tls
          ? StrCat("an auth section and ", tls_key)
          : (!has_auth ? std::string("an auth section") : std::string(tls_key));
  if (allow_insecure_remote) {
    LogWarning(StrCat("listening on ", listen,
                      ", which is not a loopback address, without ", missing,
                      " because allow_insecure_remote is true: anyone who "
                      "can reach it ",
                      !has_auth ? "is an administrator of every tenant"
                                : "can read the bearer tokens in transit"));
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(StrCat(
      "refusing to listen on ", listen,
      ": an address other than loopback (127.0.0.0/8, ::1) or a Unix socket "
      "needs ",
      missing,
      " (docs/security.md); set \"allow_insecure_remote\": true to override"));
}

bool IsLoopbackListen(std::string_view listen) {
  if (listen.starts_with("unix:") || listen.starts_with("unix-abstract:")) {
    return true;
  }
  std::string_view host = listen;
  if (host.starts_with("[")) {
    const std::size_t close = host.find(']');
    host = close == std::string_view::npos ? "" : host.substr(1, close - 1);
  } else if (const std::size_t colon = host.rfind(':');
             colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (host == "localhost" || host == "::1") {
    return true;
  }
  // 127.0.0.0/8, four decimal parts.
  if (!host.starts_with("127.")) {
    return false;
  }
  int parts = 0;
  std::size_t i = 0;
  while (i <= host.size()) {
    const std::size_t dot = std::min(host.find('.', i), host.size());
    const std::string_view part = host.substr(i, dot - i);
    if (part.empty() || part.size() > 3 ||
        part.find_first_not_of("0123456789") != std::string_view::npos ||
        std::stoi(std::string(part)) > 255) {
      return false;
    }
    ++parts;
    i = dot + 1;
  }
  return parts == 4;
}

std::vector<std::string> KeysNeedingRestart(const std::string& a_json,
                                            const std::string& b_json) {
  const nlohmann::json a = nlohmann::json::parse(a_json, nullptr, false);
  const nlohmann::json b = nlohmann::json::parse(b_json, nullptr, false);
  std::vector<std::string> keys;
  if (!a.is_object() || !b.is_object()) {
    return keys;
  }
  auto differs = [&](const std::string& key) {
    const auto ia = a.find(key);
    const auto ib = b.find(key);
    if ((ia == a.end()) != (ib == b.end())) return true;
    return ia != a.end() && *ia != *ib;
  };
  std::set<std::string> all;
  for (const auto& [k, v] : a.items()) all.insert(k);
  for (const auto& [k, v] : b.items()) all.insert(k);
  for (const std::string& k : all) {
    if (k == "$comment") continue;
    // The principals and the TLS files are swapped in; everything else (the
    // policy file's path, the listen address...) is read at start.
    if (k == "auth" && a.contains("auth") && b.contains("auth")) continue;
    if (k == "http" && a.contains("http") && b.contains("http") &&
        a["http"].is_object() && b["http"].is_object()) {
      nlohmann::json ha = a["http"], hb = b["http"];
      if (ha.contains("tls") && hb.contains("tls") && ha["tls"].is_object() &&
          hb["tls"].is_object()) {
        // (A new client CA needs a restart: it is not re-read.)
        for (const char* f : {"cert_file", "key_file"}) {
          ha["tls"].erase(f);
          hb["tls"].erase(f);
        }
      }
      if (ha == hb) continue;
      keys.push_back(k);
      continue;
    }
    if (k == "tls" && a.contains("tls") && b.contains("tls")) {
      nlohmann::json ta = a["tls"], tb = b["tls"];
      if (ta.is_object() && tb.is_object()) {
        for (const char* f : {"cert_file", "key_file", "client_ca_file"}) {
          ta.erase(f);
          tb.erase(f);
        }
        if (ta == tb) continue;
      }
    }
    if (differs(k)) keys.push_back(k);
  }
  return keys;
}

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
      if (*v == "sqlite" || *v == "postgres" || *v == "memory") {
        config.state_store = *v;
      } else {
        problems.Add(root.PointerTo("state_store"),
                     StrCat(QuoteInput(*v),
                            " is not \"sqlite\", \"postgres\" or \"memory\""));
      }
    }
    if (auto v = root.String("state_synchronous", false)) {
      if (*v == "full" || *v == "normal" || *v == "off") {
        config.state_synchronous = *v;
      } else {
        problems.Add(
            root.PointerTo("state_synchronous"),
            StrCat(QuoteInput(*v), " is not \"full\", \"normal\" or \"off\""));
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
      if (auto v = det.Integer("max_devices", false, 16, 100'000'000)) {
        config.max_devices = static_cast<std::size_t>(*v);
      }
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
    if (const auto* l = root.Member("ledger", false)) {
      json::ObjectReader ledger(*l, root.PointerTo("ledger"), &problems);
      if (auto v = Bool(ledger, "keep_subjects", &problems)) {
        config.keep_subjects = *v;
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
      config.tls = ReadTls(*tls, root.PointerTo("tls"), &problems);
    }
    if (const auto* h = root.Member("http", false)) {
      ReadHttp(*h, root.PointerTo("http"), &problems, &config.http);
    }
    ReadSecurity(root, problems, config);
    ReadLimits(root, problems, config);
    ReadPostgres(root, problems, config);
  }
  if (!problems.empty()) {
    return problems.ToStatus(origin, text);
  }
  return config;
}

absl::StatusOr<ServerConfig> LoadServerConfig(const std::string& path) {
  auto text = ReadNamedFile("configuration", path, kMaxConfigBytes);
  if (!text.ok()) {
    return text.status();
  }
  return ParseServerConfig(*text, StrCat("configuration ", path));
}

}  // namespace hijackguard::plugin
