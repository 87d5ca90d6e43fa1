// `hijackguard alerts backlog`: how far each SIEM sink got through the
// outbox, read from the state (a state directory's database or the store a
// configuration names; safe while servers run).
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "common/strings.h"
#include "nlohmann/json.hpp"
#include "plugin/cli/commands.h"
#include "plugin/cli/offline_state.h"
#include "plugin/config.h"
#include "store/sqlite/sqlite_store.h"

namespace hijackguard::plugin::cli {
namespace {

struct BacklogFlags {
  std::string state = "./var";
  std::string config;
  bool json = false;
};

struct Row {
  std::string sink;
  bool configured = false;
  bool started = false;  // has a cursor
  std::uint64_t delivered = 0;
  std::uint64_t dropped = 0;
  std::uint64_t backlog = 0;
};

int RunBacklog(const BacklogFlags& f) {
  std::vector<std::string> configured;
  if (!f.config.empty()) {
    absl::StatusOr<ServerConfig> config = LoadServerConfig(f.config);
    if (!config.ok()) {
      std::fprintf(stderr, "alerts backlog: %s\n",
                   std::string(config.status().message()).c_str());
      return kExitUsage;
    }
    if (config->state_store == "memory") {
      std::fprintf(stderr,
                   "alerts backlog: %s keeps its state in memory, so is its "
                   "outbox: read hijackguard_siem_backlog from the server's "
                   "/metrics instead\n",
                   f.config.c_str());
      return kExitUsage;
    }
    for (const siem::SinkConfig& s : config->siem.sinks) {
      configured.push_back(s.name);
    }
  }
  absl::StatusOr<std::unique_ptr<OfflineState>> source = OfflineState::Open(
      {.state_dir = f.state, .config = f.config, .key_file = ""});
  absl::StatusOr<policy::OutboxState> state =
      source.ok() ? (*source)->Outbox()
                  : absl::StatusOr<policy::OutboxState>(source.status());
  if (!state.ok()) {
    std::fprintf(stderr, "alerts backlog: %s\n",
                 std::string(state.status().message()).c_str());
    return kExitFailed;
  }
  std::map<std::string, Row> rows;
  for (const policy::SinkCursor& c : state->cursors) {
    Row& r = rows[c.sink];
    r.sink = c.sink;
    r.started = true;
    r.delivered = c.delivered;
    r.dropped = c.dropped;
    r.backlog = state->head > c.delivered ? state->head - c.delivered : 0;
  }
  for (const std::string& name : configured) {
    Row& r = rows[name];
    r.sink = name;
    r.configured = true;
    if (!r.started) {
      // A new sink starts at the oldest entry kept.
      const std::uint64_t from =
          state->oldest > 0 ? state->oldest - 1 : state->head;
      r.backlog = state->head - from;
    }
  }
  const std::uint64_t kept =
      state->oldest > 0 ? state->head - state->oldest + 1 : 0;
  if (f.json) {
    nlohmann::json out = {{"head", state->head},
                          {"oldest", state->oldest},
                          {"kept", kept},
                          {"sinks", nlohmann::json::array()}};
    for (const auto& [name, r] : rows) {
      nlohmann::json s = {{"sink", r.sink},
                          {"backlog", r.backlog},
                          {"delivered_through", r.delivered},
                          {"dropped", r.dropped},
                          {"started", r.started}};
      if (!f.config.empty()) s["configured"] = r.configured;
      out["sinks"].push_back(std::move(s));
    }
    std::printf("%s\n", out.dump().c_str());
    return kExitDone;
  }
  std::printf("outbox: %ju entries kept, newest seq %ju\n",
              static_cast<std::uintmax_t>(kept),
              static_cast<std::uintmax_t>(state->head));
  if (rows.empty()) {
    std::printf(
        "no sink has delivered from this outbox yet%s\n",
        f.config.empty() ? " (--config FILE lists configured ones)" : "");
    return kExitDone;
  }
  std::printf("%-24s %10s %18s %10s\n", "SINK", "BACKLOG", "DELIVERED THROUGH",
              "DROPPED");
  for (const auto& [name, r] : rows) {
    std::string note;
    if (!r.started) note = "  (not started)";
    if (!f.config.empty() && !r.configured) note = "  (not configured)";
    std::printf("%-24s %10ju %18ju %10ju%s\n", r.sink.c_str(),
                static_cast<std::uintmax_t>(r.backlog),
                static_cast<std::uintmax_t>(r.delivered),
                static_cast<std::uintmax_t>(r.dropped), note.c_str());
  }
  return kExitDone;
}

}  // namespace

void AddAlertsBacklogCommand(CLI::App& alerts, RunFn* run) {
  auto f = std::make_shared<BacklogFlags>();
  CLI::App* c = alerts.add_subcommand(
      "backlog",
      "How many alerts and checkpoints each SIEM sink has not delivered yet, "
      "from the state database (safe while the server runs)");
  c->add_option("--state", f->state, "State directory")->capture_default_str();
  c->add_option("--config", f->config,
                "Server configuration: its state directory, and its sinks "
                "(also those that have delivered nothing yet)");
  c->add_flag("--json", f->json, "One JSON object");
  c->callback([f, run] { *run = [f] { return RunBacklog(*f); }; });
}

}  // namespace hijackguard::plugin::cli
