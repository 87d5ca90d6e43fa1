// The shipped default policy in enforce mode, for tests that check what an
// MDM is told (the shipped default runs in monitor mode).
#pragma once

#include <cstdlib>
#include <memory>

#include "detector/known_issues.h"
#include "policy/policy.h"

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

}  // namespace hijackguard::plugin
