// `hijackguard gateway nginx-config`: the nginx configuration that puts
// hijackguard in front of Exchange (docs/gateway.md), and the files it reads
// from its prefix (the token, the refusal pages, the capture script).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace hijackguard::plugin {

struct NginxGatewayOptions {
  std::string listen = "127.0.0.1:8080";  // where nginx listens (HOST:PORT)
  std::string exchange_url;               // http(s)://host[:port]
  std::string hijackguard_url = "http://127.0.0.1:8081";
  std::string tenant;
  bool has_token = false;  // the token file is included
  bool fail_open = false;
  std::size_t max_body = 1 << 20;  // capture limit per body
  std::string prefix;              // absolute; nginx -p PREFIX
  std::string hijackguard_ca;      // CA for an https hijackguard URL
  std::string exchange_ca;         // CA for an https Exchange URL
  // The IP address --hijackguard's host resolves to, for the Lua module
  // (its sockets resolve names only through a `resolver`, never
  // /etc/hosts); "" when the host is an IP address already.
  std::string hijackguard_ip;
  // Replicas sharing one PostgreSQL database (--replica, repeatable): when
  // given, they replace hijackguard_url; each device's requests go to one
  // of them. `replica_ips` as hijackguard_ip, one per URL.
  std::vector<std::string> replica_urls;
  std::vector<std::string> replica_ips;
};

// The host of an http(s) URL ("" when it cannot be read), and whether it is
// an IP address.
std::string UrlHost(std::string_view url, bool* is_ip);

struct NginxConfig {
  std::string http_part;    // goes inside http { }
  std::string server_part;  // goes inside the server { } that serves EAS
  std::string full;         // a complete nginx.conf around both
};

// INVALID_ARGUMENT naming the flag for a bad option.
absl::StatusOr<NginxConfig> MakeNginxConfig(const NginxGatewayOptions& options);

struct NginxFile {
  std::string path;  // relative to the prefix
  std::string content;
  unsigned mode = 0644;
};
// The files under the prefix: hijackguard/token and token.conf (0600, only
// with a token), hijackguard/refusal/<page>,
// hijackguard/hijackguard.lua. INVALID_ARGUMENT for a token nginx
// cannot quote.
absl::StatusOr<std::vector<NginxFile>> NginxFiles(
    const NginxGatewayOptions& options, std::string_view token);

// The Lua module (examples/nginx/hijackguard.lua), compiled in.
std::string_view GatewayScript();

}  // namespace hijackguard::plugin
