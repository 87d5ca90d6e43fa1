// The server's options from its configuration file: what `hijackguard serve`
// runs with, and what benchmarks use to run the shipped configuration in
// process.
#pragma once

#include <memory>

#include "detector/known_issues.h"
#include "plugin/config.h"
#include "plugin/server.h"

namespace hijackguard::plugin {

// `config` as ServerOptions, with `catalog` (the one config.catalog_path
// names, loaded by the caller). Logs a warning when `accept_broken_audit`.
ServerOptions ServerOptionsFrom(
    const ServerConfig& config, bool accept_broken_audit,
    std::shared_ptr<const detector::KnownIssueCatalog> catalog);

}  // namespace hijackguard::plugin
