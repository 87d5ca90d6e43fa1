#include "plugin/siem/siem_config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "common/json_reader.h"
#include "common/strings.h"
#include "common/utf8.h"

namespace hijackguard::plugin::siem {
namespace {

// A host of "host:port", "[v6]:port" or a URL's authority.
std::string HostOf(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    return std::string(
        authority.substr(1, close == std::string_view::npos ? 0 : close - 1));
  }
  return std::string(authority.substr(0, authority.rfind(':')));
}

// Only an address literal in 127.0.0.0/8 or ::1, or the name localhost: a
// name such as 127.example.com resolves anywhere.
bool LoopbackHost(std::string_view host) {
  if (host == "localhost") return true;
  const std::string h(host);
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  return inet_pton(AF_INET6, h.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

std::optional<bool> ReadBool(json::ObjectReader& r, std::string_view key,
                             json::Problems* problems) {
  const nlohmann::json* v = r.Member(key, false);
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) {
    problems->Add(r.PointerTo(key), "must be true or false");
    return std::nullopt;
  }
  return v->get<bool>();
}

void ReadTlsMembers(json::ObjectReader& s, SinkConfig* sink) {
  sink->ca_file = s.String("ca_file", false).value_or("");
  sink->server_name = s.String("server_name", false).value_or("");
  sink->cert_file = s.String("cert_file", false).value_or("");
  sink->key_file = s.String("key_file", false).value_or("");
}

void ReadSyslog(json::ObjectReader& s, json::Problems* problems,
                SinkConfig* sink) {
  sink->address = s.String("address", true).value_or("");
  if (!sink->address.empty()) {
    const std::size_t colon = sink->address.rfind(':');
    int port = 0;
    if (colon == std::string::npos ||
        !absl::SimpleAtoi(sink->address.substr(colon + 1), &port) ||
        port <= 0 || port > 65535 || HostOf(sink->address).empty()) {
      problems->Add(s.PointerTo("address"),
                    StrCat(QuoteInput(sink->address),
                           " is not host:port (e.g. \"siem.example:6514\")"));
    }
  }
  if (auto v = ReadBool(s, "tls", problems)) sink->tls = *v;
  if (!sink->tls && !sink->address.empty() &&
      !LoopbackHost(HostOf(sink->address))) {
    problems->Add(s.PointerTo("tls"),
                  "must be true for a receiver that is not on loopback: "
                  "alerts name devices and users");
  }
  if (!sink->tls) {
    for (const auto& [key, value] :
         {std::pair{"ca_file", &sink->ca_file},
          std::pair{"server_name", &sink->server_name},
          std::pair{"cert_file", &sink->cert_file},
          std::pair{"key_file", &sink->key_file}}) {
      if (!value->empty()) {
        problems->Add(s.PointerTo(key), "needs \"tls\": true");
      }
    }
  }
  if (auto v = s.String("format", false); v && *v != "cef") {
    problems->Add(
        s.PointerTo("format"),
        StrCat(QuoteInput(*v), " is not \"cef\" (syslog carries CEF)"));
  }
  if (auto v = s.Integer("facility", false, 0, 23)) {
    sink->facility = static_cast<int>(*v);
  }
  sink->format = SinkConfig::Format::kCef;
}

void ReadWebhook(json::ObjectReader& s, json::Problems* problems,
                 SinkConfig* sink) {
  sink->url = s.String("url", true).value_or("");
  if (!sink->url.empty()) {
    std::string_view rest = sink->url;
    const bool https = rest.starts_with("https://");
    const bool http = rest.starts_with("http://");
    rest.remove_prefix(https ? 8 : http ? 7 : 0);
    const std::string_view authority =
        rest.substr(0, rest.find_first_of("/?#"));
    const std::string host = HostOf(authority);
    if (authority.find('@') != std::string_view::npos) {
      problems->Add(s.PointerTo("url"),
                    "must not hold credentials: put the token in token_file");
    } else if (!https && !http) {
      problems->Add(s.PointerTo("url"), "must be an https:// URL");
    } else if (host.empty() ||
               !std::all_of(authority.begin(), authority.end(), [](char c) {
                 return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                        std::string_view(".-:[]").find(c) !=
                            std::string_view::npos;
               })) {
      problems->Add(s.PointerTo("url"),
                    "names no host, or a host that is not a name or address "
                    "(with an optional :port)");
    } else if (rest.find('#') != std::string_view::npos) {
      problems->Add(s.PointerTo("url"), "must not have a #fragment");
    } else if (http && !LoopbackHost(host)) {
      problems->Add(s.PointerTo("url"),
                    "must be https:// for a receiver that is not on "
                    "loopback: alerts name devices and users");
    }
    sink->tls = https;
  }
  if (!sink->server_name.empty()) {
    problems->Add(s.PointerTo("server_name"),
                  "is for syslog over TLS; a webhook checks its URL's host");
  }
  if (auto v = s.String("format", false)) {
    if (*v == "json") {
      sink->format = SinkConfig::Format::kJson;
    } else if (*v == "splunk_hec") {
      sink->format = SinkConfig::Format::kSplunkHec;
    } else {
      problems->Add(
          s.PointerTo("format"),
          StrCat(QuoteInput(*v), " is not \"json\" or \"splunk_hec\""));
    }
  } else {
    sink->format = SinkConfig::Format::kJson;
  }
  sink->token_file = s.String("token_file", false).value_or("");
  if (auto v = s.String("header", false)) {
    sink->header = *v;
    const bool token_char = std::all_of(v->begin(), v->end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
             c == '_';
    });
    if (!token_char) {
      problems->Add(s.PointerTo("header"),
                    "must be a header name (letters, digits, - and _)");
    }
    if (sink->token_file.empty()) {
      problems->Add(s.PointerTo("header"), "needs token_file");
    }
    for (std::string_view reserved : {"host", "content-length", "content-type",
                                      "transfer-encoding", "connection"}) {
      if (EqualsIgnoreCase(*v, reserved)) {
        problems->Add(s.PointerTo("header"),
                      StrCat(QuoteInput(*v), " is set by HTTP itself"));
      }
    }
  }
}

}  // namespace

const char* SinkTypeName(SinkConfig::Type type) {
  return type == SinkConfig::Type::kSyslog ? "syslog" : "webhook";
}

const char* SinkFormatName(SinkConfig::Format format) {
  switch (format) {
    case SinkConfig::Format::kCef:
      return "cef";
    case SinkConfig::Format::kJson:
      return "json";
    case SinkConfig::Format::kSplunkHec:
      return "splunk_hec";
  }
  return "cef";
}

void ReadSiemSection(const nlohmann::json& value, const std::string& pointer,
                     json::Problems* problems, SiemConfig* out) {
  json::ObjectReader siem(value, pointer, problems);
  if (auto v = ReadBool(siem, "pii", problems)) out->pii = *v;
  if (auto v = siem.Integer("max_backlog", false, 100, 100'000'000)) {
    out->max_backlog = static_cast<std::uint64_t>(*v);
  }
  const nlohmann::json* sinks = siem.Array("sinks", false);
  if (sinks == nullptr) return;
  std::set<std::string> names;
  for (std::size_t i = 0; i < sinks->size(); ++i) {
    json::ObjectReader s((*sinks)[i], StrCat(siem.PointerTo("sinks"), "/", i),
                         problems);
    if (!s.is_object()) continue;
    SinkConfig sink;
    sink.name = s.String("name", true).value_or("");
    if (!sink.name.empty()) {
      const bool ok =
          sink.name.size() <= 64 &&
          std::all_of(sink.name.begin(), sink.name.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
                   c == '_' || c == '.';
          });
      if (!ok) {
        problems->Add(s.PointerTo("name"),
                      "must be at most 64 letters, digits, '-', '_' or '.' "
                      "(it labels metrics)");
      } else if (!names.insert(sink.name).second) {
        problems->Add(s.PointerTo("name"),
                      StrCat(QuoteInput(sink.name), " names two sinks"));
      }
    }
    const std::string type = s.String("type", true).value_or("");
    ReadTlsMembers(s, &sink);
    if (type == "syslog") {
      sink.type = SinkConfig::Type::kSyslog;
      ReadSyslog(s, problems, &sink);
    } else if (type == "webhook") {
      sink.type = SinkConfig::Type::kWebhook;
      ReadWebhook(s, problems, &sink);
    } else if (!type.empty()) {
      problems->Add(
          s.PointerTo("type"),
          StrCat(QuoteInput(type), " is not \"syslog\" or \"webhook\""));
    }
    if (sink.cert_file.empty() != sink.key_file.empty()) {
      problems->Add(
          s.PointerTo(sink.cert_file.empty() ? "cert_file" : "key_file"),
          "cert_file and key_file go together");
    }
    if (auto v = s.Number("retry_min_seconds", false, 0.01, 3600)) {
      sink.retry_min = absl::Seconds(*v);
    }
    if (auto v = s.Number("retry_max_seconds", false, 0.01, 3600)) {
      sink.retry_max = absl::Seconds(*v);
    }
    if (sink.retry_max < sink.retry_min) {
      problems->Add(s.PointerTo("retry_max_seconds"),
                    "must not be below retry_min_seconds");
    }
    if (auto v = s.Number("timeout_seconds", false, 0.1, 300)) {
      sink.timeout = absl::Seconds(*v);
    }
    if (auto v = s.Integer("batch", false, 1, 10'000)) {
      sink.batch = static_cast<std::size_t>(*v);
    }
    out->sinks.push_back(std::move(sink));
  }
}

}  // namespace hijackguard::plugin::siem
