// The compiled-in known-issue catalog, made once per test process.
#pragma once

#include <memory>

#include "detector/known_issues.h"

namespace hijackguard::testing {

inline std::shared_ptr<const detector::KnownIssueCatalog> BuiltinCatalog() {
  static const auto* const catalog =
      new std::shared_ptr<const detector::KnownIssueCatalog>(
          std::make_shared<const detector::KnownIssueCatalog>(
              *detector::KnownIssueCatalog::Builtin()));
  return *catalog;
}

}  // namespace hijackguard::testing
