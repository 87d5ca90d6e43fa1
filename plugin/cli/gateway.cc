// `hijackguard gateway nginx-config`: prints the nginx configuration for the
// ActiveSync gateway (docs/gateway.md) and writes the files it reads under
// --prefix (the token only into a 0600 file, never to standard output).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "absl/strings/ascii.h"
#include "common/file.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "plugin/cli/commands.h"
#include "plugin/gateway_nginx.h"

namespace hijackguard::plugin::cli {
namespace {

struct GatewayFlags {
  NginxGatewayOptions options;
  std::string token_file;
  std::string fail = "closed";
  bool snippet = false;
  bool hijackguard_given = false;  // --hijackguard on the command line
};

absl::Status WriteFileAtomically(const std::filesystem::path& path,
                                 const std::string& content, unsigned mode) {
  const std::string tmp = path.string() + ".tmp";
  ::unlink(tmp.c_str());  // never through a planted link
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
             static_cast<mode_t>(mode));
  if (fd < 0) {
    return absl::UnavailableError(
        StrCat(tmp, ": cannot be written: ", std::strerror(errno)));
  }
  bool ok = ::fchmod(fd, static_cast<mode_t>(mode)) == 0;
  std::size_t done = 0;
  while (ok && done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<std::size_t>(n);
  }
  ok = ::close(fd) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return absl::UnavailableError(
        StrCat(path.string(), ": cannot be written: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// The address `url`'s host resolves to; "" when it is an address already
// (or not a URL: MakeNginxConfig says why).
absl::StatusOr<std::string> ResolveHost(std::string_view flag,
                                        const std::string& url) {
  bool is_ip = false;
  const std::string host = UrlHost(url, &is_ip);
  if (host.empty() || is_ip) return std::string();
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 ||
      found == nullptr) {
    return absl::InvalidArgumentError(
        StrCat(flag, ": the host ", QuoteInput(host), " does not resolve"));
  }
  char text[INET6_ADDRSTRLEN] = {};
  const void* addr =
      found->ai_family == AF_INET6
          ? static_cast<const void*>(
                &reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr)
          : static_cast<const void*>(
                &reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr);
  inet_ntop(found->ai_family, addr, text, sizeof(text));
  freeaddrinfo(found);
  return std::string(text);
}

int RunNginxConfig(GatewayFlags& flags) {
  NginxGatewayOptions& o = flags.options;
  if (flags.fail != "open" && flags.fail != "closed") {
    LogError(StrCat("--fail ", QuoteInput(flags.fail),
                    ": give \"open\" or \"closed\""));
    return kExitUsage;
  }
  o.fail_open = flags.fail == "open";
  std::error_code ec;
  if (!o.prefix.empty()) {
    o.prefix = std::filesystem::absolute(o.prefix, ec).lexically_normal();
    while (o.prefix.size() > 1 && o.prefix.back() == '/') o.prefix.pop_back();
  }
  std::string token;
  if (!flags.token_file.empty()) {
    auto text = ReadNamedFile("token file", flags.token_file, 4096);
    if (!text.ok()) {
      LogError(StrCat(text.status().message()));
      return kExitUsage;
    }
    token = std::string(absl::StripAsciiWhitespace(*text));
    o.has_token = true;
  }
  if (!o.replica_urls.empty() && flags.hijackguard_given) {
    LogError(
        "give --replica for each replica, or --hijackguard for one server, "
        "not both");
    return kExitUsage;
  }
  // The Lua module's sockets cannot read /etc/hosts: give it the addresses.
  absl::StatusOr<std::string> ip =
      o.replica_urls.empty() ? ResolveHost("--hijackguard", o.hijackguard_url)
                             : std::string();
  if (!ip.ok()) {
    LogError(StrCat(ip.status().message()));
    return kExitUsage;
  }
  o.hijackguard_ip = *ip;
  o.replica_ips.clear();
  for (const std::string& url : o.replica_urls) {
    ip = ResolveHost("--replica", url);
    if (!ip.ok()) {
      LogError(StrCat(ip.status().message()));
      return kExitUsage;
    }
    o.replica_ips.push_back(*ip);
  }
  auto config = MakeNginxConfig(o);
  if (!config.ok()) {
    LogError(StrCat(config.status().message()));
    return kExitUsage;
  }
  auto files = NginxFiles(o, token);
  if (!files.ok()) {
    LogError(StrCat(files.status().message()));
    return kExitUsage;
  }
  const std::filesystem::path prefix(o.prefix);
  for (const char* dir : {"logs", "tmp", "hijackguard/refusal"}) {
    std::filesystem::create_directories(prefix / dir, ec);
    if (ec) {
      LogError(StrCat("--prefix: cannot create ", (prefix / dir).string(), ": ",
                      ec.message()));
      return kExitFailed;
    }
  }
  for (const NginxFile& f : *files) {
    if (absl::Status s =
            WriteFileAtomically(prefix / f.path, f.content, f.mode);
        !s.ok()) {
      LogError(StrCat(s.message()));
      return kExitFailed;
    }
  }
  if (flags.snippet) {
    std::cout << "# ---- inside http { } ----\n"
              << config->http_part
              << "\n# ---- inside the server { } that serves ActiveSync ----\n"
              << config->server_part;
  } else {
    std::cout << config->full;
  }
  std::cout.flush();
  return std::cout.good() ? kExitDone : kExitFailed;
}

}  // namespace

void AddGatewayCommands(CLI::App& app, RunFn* run) {
  CLI::App* gateway = app.add_subcommand(
      "gateway", "Put hijackguard in front of Exchange (docs/gateway.md)");
  gateway->require_subcommand(1);
  auto flags = std::make_shared<GatewayFlags>();
  CLI::App* c = gateway->add_subcommand(
      "nginx-config",
      "Print an nginx configuration that enforces decisions and feeds "
      "traffic, and write the files it reads under --prefix");
  NginxGatewayOptions& o = flags->options;
  c->add_option("--listen", o.listen,
                "HOST:PORT nginx listens on (default 127.0.0.1:8080)");
  c->add_option("--exchange", o.exchange_url,
                "The Exchange server, e.g. https://mail.example.com")
      ->required();
  CLI::Option* hijackguard =
      c->add_option("--hijackguard", o.hijackguard_url,
                    "hijackguard's HTTP listener (http.listen), default "
                    "http://127.0.0.1:8081");
  c->add_option("--replica", o.replica_urls,
                "A replica's HTTP listener, for replicas sharing one "
                "PostgreSQL database (repeat for each; replaces "
                "--hijackguard): each device's requests go to one of them");
  c->add_option("--hijackguard-ca", o.hijackguard_ca,
                "CA bundle for an https --hijackguard (default: the system's)");
  c->add_option("--exchange-ca", o.exchange_ca,
                "CA bundle for an https --exchange (default: the system's)");
  c->add_option("--tenant", o.tenant, "The tenant this gateway serves")
      ->required();
  c->add_option("--token-file", flags->token_file,
                "File holding the gateway principal's token (copied into a "
                "0600 file under --prefix; never printed)");
  c->add_option("--fail", flags->fail,
                "When hijackguard does not answer: closed (503 with "
                "Retry-After, the default) or open (pass the request on)");
  c->add_option("--max-body", o.max_body,
                "Largest request or response body captured, in bytes "
                "(default 1048576); larger ones pass through unobserved");
  c->add_option("--prefix", o.prefix,
                "nginx's prefix directory (nginx -p): logs, temporary files "
                "and hijackguard's files go under it")
      ->required();
  c->add_flag("--snippet", flags->snippet,
              "Print only the http-level and server-level parts, for an "
              "existing configuration");
  c->callback([flags, run, hijackguard] {
    flags->hijackguard_given = hijackguard->count() > 0;
    *run = [flags] { return RunNginxConfig(*flags); };
  });
}

}  // namespace hijackguard::plugin::cli
