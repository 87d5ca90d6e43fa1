// How long the console's pages take on the server at fleet size: the
// shipped configuration (durable state on) started in process on a state
// that `fleet_state generate` made, with the console on a loopback HTTP
// listener, and every page fetched --runs times. The server's own time
// (its Server-Timing header, from routing to the finished page) and the
// time the client waited are printed, median and slowest, per page.
//
//   build/bin/fleet_state generate --dir /tmp/hg-console --source-dir .
//       --devices 100000 --meetings 5 --audit-rows 1000000
//   build/bin/console_pages --dir /tmp/hg-console --source-dir . [--runs 9]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "httplib.h"
#include "plugin/config.h"
#include "plugin/server.h"
#include "plugin/server_options.h"

namespace hijackguard::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct Timing {
  std::vector<double> server_ms;
  std::vector<double> client_ms;
  std::size_t bytes = 0;
  int status = 0;
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double Max(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
}

// The value of "app;dur=12.3" in ms, or -1.
double ServerTime(const httplib::Response& r) {
  const std::string t = r.get_header_value("Server-Timing");
  const std::size_t at = t.find("dur=");
  return at == std::string::npos ? -1 : std::stod(t.substr(at + 4));
}

// The first value of `attribute="` after `marker` in `body`.
std::string After(const std::string& body, const std::string& marker,
                  const std::string& attribute) {
  const std::size_t m = body.find(marker);
  if (m == std::string::npos) return "";
  const std::size_t a = body.find(attribute + "=\"", m);
  if (a == std::string::npos) return "";
  const std::size_t start = a + attribute.size() + 2;
  std::string value = body.substr(start, body.find('"', start) - start);
  // Attribute values are HTML-escaped.
  for (std::size_t p; (p = value.find("&amp;")) != std::string::npos;) {
    value.replace(p, 5, "&");
  }
  return value;
}

// The address of the page's rel="next" link, or "".
std::string NextLink(const std::string& body) {
  const std::size_t rel = body.find("rel=\"next\"");
  if (rel == std::string::npos) return "";
  const std::size_t a = body.rfind("href=\"", rel);
  if (a == std::string::npos) return "";
  return After(body.substr(a), "", "href");
}

int Run(const std::string& dir, const std::string& source_dir, int runs) {
  const std::filesystem::path root(source_dir);
  auto config = plugin::LoadServerConfig(
      (root / "examples" / "hijackguard.json").string());
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(config.status().message()).c_str());
    return 1;
  }
  config->listen = "127.0.0.1:0";
  config->catalog_path = (root / config->catalog_path).string();
  config->policy_path = (root / config->policy_path).string();
  config->state_dir = dir;
  // The shipped configuration has no token principals: the console is
  // open on loopback (development mode), as `scripts/run` serves it.
  config->http.listen = "127.0.0.1:0";
  auto catalog = detector::KnownIssueCatalog::LoadFile(config->catalog_path);
  if (!catalog.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(catalog.status().message()).c_str());
    return 1;
  }
  const auto started = SteadyClock::now();
  auto server = plugin::BuildServer(plugin::ServerOptionsFrom(
      *config, false,
      std::make_shared<const detector::KnownIssueCatalog>(
          *std::move(catalog))));
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  std::printf(
      "server started on %s in %.1f s\n", dir.c_str(),
      std::chrono::duration<double>(SteadyClock::now() - started).count());
  const std::string address = (*server)->http_address();
  httplib::Client client(address.substr(0, address.rfind(':')),
                         std::stoi(address.substr(address.rfind(':') + 1)));
  client.set_read_timeout(120, 0);

  auto fetch = [&](const std::string& path, Timing* t) -> std::string {
    const auto start = SteadyClock::now();
    auto r = client.Get(path);
    const double waited =
        std::chrono::duration<double, std::milli>(SteadyClock::now() - start)
            .count();
    if (!r) return "";
    if (t != nullptr) {
      t->client_ms.push_back(waited);
      t->server_ms.push_back(ServerTime(*r));
      t->bytes = r->body.size();
      t->status = r->status;
    }
    return r->body;
  };
  // The chain's first verification runs in the background from the start:
  // pages are timed once it is done, and how long it took is printed.
  for (int i = 0; i < 600; ++i) {
    const std::string audit = fetch("/ui/audit", nullptr);
    const std::size_t at = audit.find("INTACT</span>");
    if (at != std::string::npos || audit.find("BROKEN") != std::string::npos) {
      const std::size_t in = audit.find(" in ", at);
      std::printf(
          "the audit chain was verified in the background in %s\n",
          in == std::string::npos
              ? "(not said)"
              : audit.substr(in + 4, audit.find(':', in) - in - 4).c_str());
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  // Pages that need an address from another page: found once, up front.
  const std::string devices = fetch("/ui/devices", nullptr);
  const std::string next_devices = NextLink(devices);
  const std::string device = After(devices, "<tbody>", "href");
  const std::string repair = fetch("/ui/repair", nullptr);
  const std::string next_repair = NextLink(repair);
  const std::string audit = fetch("/ui/audit", nullptr);
  const std::string older_audit =
      After(audit, "aria-label=\"Audit pages\"", "href");
  std::vector<std::pair<std::string, std::string>> pages = {
      {"fleet", "/ui/"},
      {"devices", "/ui/devices"},
      {"devices, next page", next_devices},
      {"devices, level HIGH", "/ui/devices?level=HIGH"},
      {"devices, evaluated QUAR.", "/ui/devices?evaluated=QUARANTINE"},
      {"devices, tenant, BLOCK", "/ui/devices?tenant=tenant-3&evaluated=BLOCK"},
      {"devices, one user", "/ui/devices?user=user77%40example.com"},
      {"devices, one tenant", "/ui/devices?tenant=tenant-3&evaluated=ALLOW"},
      {"device", device},
      {"repair list", "/ui/repair"},
      {"repair list, next page", next_repair},
      {"policy", "/ui/policy"},
      {"alerts", "/ui/alerts"},
      {"audit", "/ui/audit"},
      {"audit, older rows", older_audit},
      {"audit, policy rows", "/ui/audit?kind=policy"},
      {"repair list CSV (whole)", "/ui/repair.csv"},
  };
  std::printf(
      "%d runs per page; ms: server (Server-Timing) and client "
      "(loopback, whole answer)\n",
      runs);
  std::printf("%-26s %6s %9s %11s %11s %11s %11s\n", "page", "status", "bytes",
              "server med", "server max", "client med", "client max");
  int over = 0;
  for (const auto& [name, path] : pages) {
    if (path.empty()) {
      std::printf("%-26s (no such page in this state)\n", name.c_str());
      continue;
    }
    Timing t;
    fetch(path, nullptr);  // warm the caches once
    for (int i = 0; i < runs; ++i) fetch(path, &t);
    const bool page = name.find("CSV") == std::string::npos;
    if (page && Max(t.server_ms) >= 100) ++over;
    std::printf("%-26s %6d %9zu %11.1f %11.1f %11.1f %11.1f%s\n", name.c_str(),
                t.status, t.bytes, Median(t.server_ms), Max(t.server_ms),
                Median(t.client_ms), Max(t.client_ms),
                page && Max(t.server_ms) >= 100 ? "  OVER 100 ms" : "");
  }
  std::printf(
      "%d of the pages took 100 ms or more on the server at least "
      "once\n",
      over);
  (*server)->Shutdown(absl::ZeroDuration());
  return 0;
}

}  // namespace
}  // namespace hijackguard::bench

int main(int argc, char** argv) {
  CLI::App app("The console's pages at fleet size");
  std::string dir;
  std::string source_dir = ".";
  int runs = 9;
  app.add_option("--dir", dir, "a state directory fleet_state generated")
      ->required();
  app.add_option("--source-dir", source_dir, "the repository");
  app.add_option("--runs", runs, "fetches per page")
      ->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);
  return hijackguard::bench::Run(dir, source_dir, runs);
}
