// Times as the stores keep them: Unix µs, with the infinities at the int64
// ends.
#pragma once

#include <cstdint>

#include "absl/time/time.h"

namespace hijackguard::store {

std::int64_t ToUs(absl::Time t);
absl::Time FromUs(std::int64_t us);

}  // namespace hijackguard::store
