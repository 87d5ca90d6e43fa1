// The shipped configuration, in process: what `hijackguard serve --config
// examples/hijackguard.json` builds (scripts/run), for the load benchmarks.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "plugin/config.h"
#include "plugin/server.h"
#include "plugin/server_options.h"

namespace hijackguard::bench {

// The shipped configuration in process: examples/hijackguard.json under
// `source_dir`, what `hijackguard serve` builds from it, its state in
// `state_dir` and listening on a free port.
inline absl::StatusOr<std::unique_ptr<plugin::PluginServer>> StartShipped(
    const std::string& source_dir, const std::filesystem::path& state_dir) {
  const std::filesystem::path root(source_dir);
  auto config = plugin::LoadServerConfig(
      (root / "examples" / "hijackguard.json").string());
  if (!config.ok()) return config.status();
  config->listen = "127.0.0.1:0";
  config->catalog_path = (root / config->catalog_path).string();
  config->policy_path = (root / config->policy_path).string();
  config->state_dir = state_dir.string();
  std::filesystem::create_directories(state_dir);
  auto catalog = detector::KnownIssueCatalog::LoadFile(config->catalog_path);
  if (!catalog.ok()) return catalog.status();
  return plugin::BuildServer(plugin::ServerOptionsFrom(
      *config, false,
      std::make_shared<const detector::KnownIssueCatalog>(
          *std::move(catalog))));
}

}  // namespace hijackguard::bench
