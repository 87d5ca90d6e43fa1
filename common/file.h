// Reading small files (configuration, catalogs, policies) whole.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace hijackguard {

// Returns the contents of the file at `path`. NOT_FOUND when it cannot be
// opened, INVALID_ARGUMENT when it is larger than `max_bytes`, DATA_LOSS on a
// read error. Messages start with the path.
absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                             std::size_t max_bytes);

}  // namespace hijackguard
