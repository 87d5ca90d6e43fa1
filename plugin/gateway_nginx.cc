#include "plugin/gateway_nginx.h"

#include <arpa/inet.h>

#include "common/status_macros.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "plugin/gateway_refusal.h"
#include "plugin/validate.h"

namespace hijackguard::plugin {
namespace {

struct Url {
  bool tls = false;
  std::string host;  // as written ("[::1]" keeps its brackets)
  int port = 0;
  std::string HostPort() const { return StrCat(host, ":", port); }
  // The host without IPv6 brackets, for Host headers and TLS names.
  std::string Name() const {
    return host.size() > 2 && host.front() == '['
               ? host.substr(1, host.size() - 2)
               : host;
  }
};

// Characters nginx and Lua take inside a double-quoted string as they are.
bool Quotable(std::string_view s) {
  for (char c : s) {
    if (c <= ' ' || c > '~' || c == '"' || c == '\\' || c == '\'' || c == '$' ||
        c == ';' || c == '{' || c == '}') {
      return false;
    }
  }
  return true;
}

absl::StatusOr<Url> ParseUrl(std::string_view flag, std::string_view text) {
  Url url;
  std::string_view rest = text;
  if (rest.starts_with("https://")) {
    url.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    return absl::InvalidArgumentError(StrCat(
        flag, " ", QuoteInput(text), ": not an http:// or https:// URL"));
  }
  if (rest.ends_with("/")) rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos ||
      rest.find('?') != std::string_view::npos ||
      rest.find('@') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        StrCat(flag, " ", QuoteInput(text),
               ": give scheme://host[:port] only (no path, query or user)"));
  }
  const std::size_t close = rest.rfind(']');
  const std::size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos &&
      (close == std::string_view::npos || colon > close)) {
    const std::string_view digits = rest.substr(colon + 1);
    int port = 0;
    for (char c : digits) {
      if (c < '0' || c > '9' || port > 65535) {
        port = -1;
        break;
      }
      port = port * 10 + (c - '0');
    }
    if (digits.empty() || port <= 0 || port > 65535) {
      return absl::InvalidArgumentError(
          StrCat(flag, " ", QuoteInput(text), ": the port is not 1-65535"));
    }
    url.port = port;
    rest = rest.substr(0, colon);
  } else {
    url.port = url.tls ? 443 : 80;
  }
  url.host = std::string(rest);
  if (url.host.empty() || !Quotable(url.host)) {
    return absl::InvalidArgumentError(
        StrCat(flag, " ", QuoteInput(text), ": the host is not valid"));
  }
  return url;
}

absl::Status CheckListen(std::string_view listen) {
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon == 0 ||
      colon + 1 == listen.size() || !Quotable(listen) ||
      listen.substr(colon + 1).find_first_not_of("0123456789") !=
          std::string_view::npos) {
    return absl::InvalidArgumentError(
        StrCat("--listen ", QuoteInput(listen), ": not HOST:PORT"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string UrlHost(std::string_view url, bool* is_ip) {
  auto parsed = ParseUrl("--hijackguard", url);
  if (!parsed.ok()) return "";
  std::string name = parsed->Name();
  in6_addr v6;
  in_addr v4;
  *is_ip = inet_pton(AF_INET, name.c_str(), &v4) == 1 ||
           inet_pton(AF_INET6, name.c_str(), &v6) == 1;
  return name;
}

namespace {

// The options once checked, as the configuration's text uses them.
struct CheckedOptions {
  Url exchange;
  Url hg;                        // the (first) replica
  std::vector<Url> all;          // every replica (hg alone without --replica)
  std::vector<std::string> ips;  // the Lua module's address of each
  std::string exchange_ca;       // the CA file that verifies Exchange
  std::string ca;                // the CA file that verifies hijackguard
};

absl::StatusOr<CheckedOptions> CheckOptions(const NginxGatewayOptions& o) {
  if (o.prefix.empty() || o.prefix.front() != '/' || !Quotable(o.prefix)) {
    return absl::InvalidArgumentError(
        StrCat("--prefix ", QuoteInput(o.prefix),
               ": give an absolute directory path without spaces or quotes"));
  }
  if (absl::Status s = CheckListen(o.listen); !s.ok()) return s;
  if (o.exchange_url.empty()) {
    return absl::InvalidArgumentError(
        "--exchange is required: the Exchange server's URL, e.g. "
        "https://mail.example.com");
  }
  auto exchange = ParseUrl("--exchange", o.exchange_url);
  if (!exchange.ok()) return exchange.status();
  std::vector<Url> all;
  std::vector<std::string> ips;
  if (o.replica_urls.empty()) {
    auto hg = ParseUrl("--hijackguard", o.hijackguard_url);
    if (!hg.ok()) return hg.status();
    all.push_back(*std::move(hg));
    ips.push_back(o.hijackguard_ip);
  }
  for (std::size_t i = 0; i < o.replica_urls.size(); ++i) {
    auto replica = ParseUrl("--replica", o.replica_urls[i]);
    if (!replica.ok()) return replica.status();
    for (const Url& other : all) {
      if (other.HostPort() == replica->HostPort()) {
        return absl::InvalidArgumentError(StrCat(
            "--replica ", QuoteInput(o.replica_urls[i]), ": given twice"));
      }
      if (other.tls != replica->tls) {
        return absl::InvalidArgumentError(
            "--replica: give every replica over http, or every one over "
            "https");
      }
      if (replica->tls && other.Name() != replica->Name()) {
        // nginx verifies one name per upstream.
        return absl::InvalidArgumentError(
            "--replica: replicas over https must be given with one host name "
            "(nginx verifies one name for all the servers of an upstream); "
            "give them http on a private network instead");
      }
    }
    all.push_back(*std::move(replica));
    ips.push_back(i < o.replica_ips.size() ? o.replica_ips[i] : "");
  }
  if (all.size() > 64) {
    return absl::InvalidArgumentError("--replica: at most 64 replicas");
  }
  if (absl::Status s = ValidateTenantId(o.tenant); !s.ok()) {
    return absl::InvalidArgumentError(StrCat("--tenant: ", s.message()));
  }
  if (!Quotable(o.tenant)) {
    return absl::InvalidArgumentError(
        StrCat("--tenant ", QuoteInput(o.tenant),
               ": nginx cannot carry it in a header"));
  }
  // Both bodies of an exchange, in base64, must fit one post that
  // hijackguard's default http.max_body_bytes (16 MiB) accepts.
  if (o.max_body < 1024 || o.max_body > (4u << 20)) {
    return absl::InvalidArgumentError(
        StrCat("--max-body ", o.max_body, ": give 1024 to 4194304 bytes"));
  }
  if (!o.hijackguard_ca.empty() && !Quotable(o.hijackguard_ca)) {
    return absl::InvalidArgumentError(
        "--hijackguard-ca: a path without "
        "spaces or quotes");
  }
  if (!o.exchange_ca.empty() && !Quotable(o.exchange_ca)) {
    return absl::InvalidArgumentError(
        "--exchange-ca: a path without spaces or quotes");
  }
  CheckedOptions k;
  k.exchange = *std::move(exchange);
  k.hg = all.front();
  k.all = std::move(all);
  k.ips = std::move(ips);
  k.exchange_ca = o.exchange_ca.empty()
                      ? std::string("/etc/ssl/certs/ca-certificates.crt")
                      : o.exchange_ca;
  k.ca = o.hijackguard_ca.empty()
             ? std::string("/etc/ssl/certs/ca-certificates.crt")
             : o.hijackguard_ca;
  return k;
}

// hijackguard's upstream: its HTTP listener, or its replicas'.
std::string Upstream(const CheckedOptions& k) {
  // Each open connection holds one of hijackguard's http.max_connections;
  // closed by nginx before hijackguard's idle timeout can close them.
  constexpr std::string_view kKeep =
      "    # Shared by the workers, so that all learn at once that one is "
      "down.\n"
      "    zone hijackguard_http 64k;\n"
      "    # Each open connection holds one of hijackguard's "
      "http.max_connections.\n"
      "    keepalive 8;\n"
      "    # Closed by nginx before hijackguard's idle timeout can close it.\n"
      "    keepalive_timeout 5s;\n"
      "}\n";
  if (k.all.size() == 1) {
    return StrCat(
        "# hijackguard's HTTP listener. The second, disabled server lets "
        "nginx\n"
        "# mark the first unavailable for fail_timeout after 3 failures (it\n"
        "# never does so for a lone server), so that while hijackguard is\n"
        "# unreachable requests get the --fail answer at once.\n"
        "upstream hijackguard_http {\n"
        "    server ",
        k.hg.HostPort(),
        " max_fails=3 fail_timeout=2s;\n"
        "    server 127.0.0.1:9 down;\n",
        kKeep);
  }
  std::string servers;
  for (const Url& u : k.all) {
    StrAppend(&servers, "    server ", u.HostPort(),
              " max_fails=3 fail_timeout=2s;\n");
  }
  return StrCat(
      "# hijackguard's replicas. Each device's decisions are asked of one of\n"
      "# them, by a hash of its DeviceId ($hg_device, set from the Lua\n"
      "# module's argument), the next while that one is unavailable.\n"
      "upstream hijackguard_http {\n"
      "    hash $hg_device consistent;\n",
      servers, kKeep);
}

// The Lua module's list of replicas.
std::string LuaReplicas(const CheckedOptions& k) {
  std::string out;
  for (std::size_t i = 0; i < k.all.size(); ++i) {
    const Url& u = k.all[i];
    StrAppend(&out, "            { host = \"",
              k.ips[i].empty() ? u.Name() : k.ips[i], "\", server_name = \"",
              u.Name(), "\", port = ", u.port, " },\n");
  }
  return out;
}

// The http-level part: log format, hijackguard's upstream, Lua settings.
std::string HttpPart(const NginxGatewayOptions& o, const CheckedOptions& k) {
  const std::string& p = o.prefix;
  const std::string& ca = k.ca;
  return StrCat(
      "# hijackguard gateway: http-level part (docs/gateway.md).\n"
      "# Decisions in the access log, without the query (it names the "
      "user).\n"
      "log_format hijackguard '$remote_addr [$time_local] \"$request_method "
      "$uri\" '\n"
      "                       '$status $body_bytes_sent $request_time '\n"
      "                       'action=$hg_action evaluated=$hg_evaluated '\n"
      "                       'decision=$hg_decision_id';\n",
      Upstream(k),
      "upstream hijackguard_exchange {\n"
      "    server ",
      k.exchange.HostPort(),
      ";\n"
      "    keepalive 64;\n"
      "}\n"
      "lua_package_path \"",
      p,
      "/hijackguard/?.lua;;\";\n"
      "lua_shared_dict hijackguard 1m;\n"
      "# hijackguard's answers, kept for as long as it says "
      "(X-Hijackguard-Reuse).\n"
      "lua_shared_dict hijackguard_decisions 32m;\n"
      "# Devices whose decisions changed (hijackguard's change feed).\n"
      "lua_shared_dict hijackguard_changed 16m;\n"
      "init_worker_by_lua_block { require(\"hijackguard\").init_worker() }\n",
      k.hg.tls ? StrCat("lua_ssl_trusted_certificate ", ca,
                        ";\n"
                        "lua_ssl_verify_depth 4;\n")
               : "",
      "init_by_lua_block {\n"
      "    require(\"hijackguard\").init({\n"
      "        replicas = {\n",
      LuaReplicas(k), "        },\n        tls = ", k.hg.tls ? "true" : "false",
      ",\n"
      "        tenant = \"",
      o.tenant, "\", max_body = ", o.max_body, ",\n",
      "        -- --fail: what to do when hijackguard does not answer.\n",
      "        fail_open = ", o.fail_open ? "true" : "false", ",\n",
      o.has_token
          ? StrCat("        token_file = \"", p, "/hijackguard/token\",\n")
          : "",
      "    })\n"
      "}\n");
}

// The server-level part: the ActiveSync location and hijackguard's.
std::string ServerPart(const NginxGatewayOptions& o, const CheckedOptions& k) {
  const std::string& p = o.prefix;
  const std::string& ca = k.ca;
  const std::string& exchange_ca = k.exchange_ca;
  return StrCat(
      "# hijackguard gateway: server-level part (docs/gateway.md).\n"
      "# Any spelling: Exchange does not tell the path's case apart.\n"
      "location ~* ^/Microsoft-Server-ActiveSync(/|$) {\n"
      "    auth_request /_hijackguard/authorize;\n"
      "    auth_request_set $hg_action $sent_http_x_hijackguard_action;\n"
      "    auth_request_set $hg_evaluated "
      "$sent_http_x_hijackguard_evaluated;\n"
      "    auth_request_set $hg_decision_id "
      "$sent_http_x_hijackguard_decision_id;\n"
      "    auth_request_set $hg_refusal $sent_http_x_hijackguard_refusal;\n"
      "    # A refused device gets what Exchange answers a blocked one.\n"
      "    error_page 401 403 = /_hijackguard/refusal/$hg_refusal;\n"
      "    # auth_request answers 500 when the decision could not be had.\n"
      "    error_page 500 = /_hijackguard/unavailable;\n"
      "    # Mail with attachments is large; captured request bodies must "
      "stay\n"
      "    # in memory, and responses must not be spilled to temporary files\n"
      "    # (the capture sees only what is in memory).\n"
      "    client_max_body_size 64m;\n"
      "    client_body_buffer_size ",
      o.max_body,
      ";\n"
      "    proxy_max_temp_file_size 0;\n"
      "    proxy_pass ",
      k.exchange.tls ? "https" : "http",
      "://hijackguard_exchange;\n"
      "    proxy_http_version 1.1;\n"
      "    proxy_set_header Connection \"\";\n"
      "    proxy_set_header Host \"",
      k.exchange.Name(), "\";\n",
      k.exchange.tls ? StrCat("    proxy_ssl_server_name on;\n"
                              "    proxy_ssl_name \"",
                              k.exchange.Name(),
                              "\";\n"
                              "    proxy_ssl_verify on;\n"
                              "    proxy_ssl_verify_depth 4;\n"
                              "    proxy_ssl_trusted_certificate ",
                              exchange_ca, ";\n")
                     : "",
      "    # Ping holds a request for up to an hour.\n"
      "    proxy_read_timeout 3660s;\n"
      "    body_filter_by_lua_block { "
      "require(\"hijackguard\").body_filter() }\n"
      "    log_by_lua_block { require(\"hijackguard\").log() }\n"
      "}\n"
      "# Answered from hijackguard's kept answers, or by asking it.\n"
      "location = /_hijackguard/authorize {\n"
      "    internal;\n"
      "    content_by_lua_block { require(\"hijackguard\").authorize() }\n"
      "}\n"
      "location = /_hijackguard/authorize_upstream {\n"
      "    internal;\n"
      "    # The device's hash, which picks the replica; not passed on.\n"
      "    set $hg_device $arg_hg_device;\n"
      "    set $args \"\";\n"
      "    proxy_pass ",
      k.hg.tls ? "https" : "http",
      "://hijackguard_http/v1/activesync/authorize;\n"
      "    proxy_pass_request_body off;\n"
      "    proxy_set_header Content-Length \"\";\n"
      "    # The client's credentials belong to Exchange alone.\n"
      "    proxy_set_header Authorization \"\";\n"
      "    proxy_set_header Cookie \"\";\n"
      "    proxy_set_header X-Original-URI $request_uri;\n"
      "    proxy_set_header X-Original-Method $request_method;\n"
      "    proxy_set_header X-Hijackguard-Tenant \"",
      o.tenant, "\";\n",
      o.has_token ? StrCat("    include ", p, "/hijackguard/token.conf;\n")
                  : "",
      k.hg.tls ? StrCat("    proxy_ssl_server_name on;\n"
                        "    proxy_ssl_name \"",
                        k.hg.Name(),
                        "\";\n"
                        "    proxy_ssl_verify on;\n"
                        "    proxy_ssl_verify_depth 4;\n"
                        "    proxy_ssl_trusted_certificate ",
                        ca, ";\n")
               : "",

      "    proxy_http_version 1.1;\n"
      "    proxy_set_header Connection \"\";\n"
      "    proxy_connect_timeout 500ms;\n"
      "    proxy_send_timeout 2s;\n"
      "    proxy_read_timeout 2s;\n"
      "    proxy_next_upstream off;\n"
      "}\n"
      "location /_hijackguard/refusal/ {\n"
      "    internal;\n"
      "    alias ",
      p,
      "/hijackguard/refusal/;\n"
      "    default_type application/vnd.ms-sync.wbxml;\n"
      "    # Protocol 12.1 and older, and commands without a WBXML answer.\n"
      "    location = /_hijackguard/refusal/http403 {\n"
      "        content_by_lua_block {\n"
      "            ngx.status = 403\n"
      "            ngx.header[\"Content-Length\"] = 0\n"
      "            ngx.send_headers()\n"
      "            ngx.exit(ngx.OK)\n"
      "        }\n"
      "    }\n"
      "    # No page: hijackguard did not decide (a bad token, say).\n"
      "    location = /_hijackguard/refusal/ {\n"
      "        add_header Retry-After 30 always;\n"
      "        return 503 \"\";\n"
      "    }\n"
      "}\n"
      "location = /_hijackguard/unavailable {\n"
      "    internal;\n"
      "    add_header Retry-After 30 always;\n"
      "    return 503 \"\";\n"
      "}\n"
      "# Capture counters, for the operator on this machine.\n"
      "location = /_hijackguard/stats {\n"
      "    allow 127.0.0.1;\n"
      "    allow ::1;\n"
      "    deny all;\n"
      "    content_by_lua_block { require(\"hijackguard\").stats() }\n"
      "}\n");
}

// `text` with `pad` before each non-empty line.
std::string Indent(const std::string& text, std::string_view pad) {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) StrAppend(&out, pad);
    out.append(text, start, end - start);
    out.push_back('\n');
    start = end + 1;
  }
  return out;
}

// A whole nginx.conf around the two parts.
std::string FullConfig(const NginxGatewayOptions& o, const NginxConfig& c) {
  const std::string& p = o.prefix;
  return StrCat(
      "# nginx in front of Exchange with hijackguard (docs/gateway.md).\n"
      "# Generated by `hijackguard gateway nginx-config`; run as\n"
      "#   nginx -p ",
      p,
      " -c <this file>\n"
      "load_module /usr/lib/nginx/modules/ndk_http_module.so;\n"
      "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;\n"
      "worker_processes auto;\n"
      "pid ",
      p,
      "/nginx.pid;\n"
      "error_log ",
      p,
      "/logs/error.log error;\n"
      "events {\n"
      "    worker_connections 4096;\n"
      "}\n"
      "http {\n"
      "    client_body_temp_path ",
      p,
      "/tmp/client_body;\n"
      "    proxy_temp_path ",
      p,
      "/tmp/proxy;\n"
      "    fastcgi_temp_path ",
      p,
      "/tmp/fastcgi;\n"
      "    uwsgi_temp_path ",
      p,
      "/tmp/uwsgi;\n"
      "    scgi_temp_path ",
      p, "/tmp/scgi;\n", Indent(c.http_part, "    "), "    access_log ", p,
      "/logs/access.log hijackguard;\n"
      "    server {\n"
      "        listen ",
      o.listen,
      ";\n"
      "        # ActiveSync bodies (mail with attachments) may be large.\n"
      "        client_max_body_size 64m;\n",
      Indent(c.server_part, "        "),
      "    }\n"
      "}\n");
}

}  // namespace

absl::StatusOr<NginxConfig> MakeNginxConfig(const NginxGatewayOptions& o) {
  ASSIGN_OR_RETURN(const CheckedOptions k, CheckOptions(o));
  NginxConfig c;
  c.http_part = HttpPart(o, k);
  c.server_part = ServerPart(o, k);
  c.full = FullConfig(o, c);
  return c;
}

absl::StatusOr<std::vector<NginxFile>> NginxFiles(
    const NginxGatewayOptions& options, std::string_view token) {
  std::vector<NginxFile> files;
  if (options.has_token) {
    if (token.empty() || !Quotable(token)) {
      return absl::InvalidArgumentError(
          "--token-file: the token must be one line of printable ASCII "
          "without quotes, spaces or $;{}\\");
    }
    files.push_back({"hijackguard/token", StrCat(token, "\n"), 0600});
    files.push_back(
        {"hijackguard/token.conf",
         StrCat("proxy_set_header X-Hijackguard-Token \"", token, "\";\n"),
         0600});
  }
  for (const RefusalBody& body : RefusalBodies()) {
    files.push_back(
        {StrCat("hijackguard/refusal/", body.page), body.wbxml, 0644});
  }
  files.push_back(
      {"hijackguard/hijackguard.lua", std::string(GatewayScript()), 0644});
  return files;
}

}  // namespace hijackguard::plugin
