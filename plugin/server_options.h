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

// What the hijackguard binary sets for its whole process before anything
// runs; the in-process load benchmarks call it too, so that they measure the
// server as shipped. In release builds (NDEBUG): Abseil's run-time lock-cycle
// detection off. Debian's Abseil runs it in every build, a graph update on
// every lock and every mutex's destruction (3-4% of a saturated server's
// CPU); the dev and asan builds, and so the tests, keep it, and the lock
// annotations are checked at compile time in every build.
void ApplyProcessDefaults();

}  // namespace hijackguard::plugin
