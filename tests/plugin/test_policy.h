// The shipped default policy in enforce mode, for tests that check what an
// MDM is told (the shipped default runs in monitor mode), and a server's
// options with it.
#pragma once

#include <cstdlib>
#include <memory>

#include "common/clock.h"
#include "detector/known_issues.h"
#include "plugin/server.h"
#include "policy/policy.h"
#include "tests/common/builtin_catalog.h"

namespace hijackguard::plugin {

inline std::shared_ptr<const policy::Policy> EnforceDefaults(
    const detector::KnownIssueCatalog& catalog) {
  auto p = policy::Policy::Parse(
      R"({"apiVersion": "hijackguard/v1", "mode": "enforce"})", catalog,
      nullptr);
  if (!p.ok()) {
    std::abort();
  }
  return *p;
}

// A server's options with the built-in catalog and EnforceDefaults.
inline ServerOptions EnforcingOptions(const Clock* clock = &RealClock()) {
  ServerOptions options;
  options.catalog = ::hijackguard::testing::BuiltinCatalog();
  options.policy = EnforceDefaults(*options.catalog);
  options.clock = clock;
  return options;
}

}  // namespace hijackguard::plugin
