#include "store/store_time.h"

#include <limits>

namespace hijackguard::store {

std::int64_t ToUs(absl::Time t) {
  if (t == absl::InfiniteFuture()) {
    return std::numeric_limits<std::int64_t>::max();
  }
  if (t == absl::InfinitePast()) {
    return std::numeric_limits<std::int64_t>::min();
  }
  return absl::ToUnixMicros(t);
}

absl::Time FromUs(std::int64_t us) {
  if (us == std::numeric_limits<std::int64_t>::max()) {
    return absl::InfiniteFuture();
  }
  if (us == std::numeric_limits<std::int64_t>::min()) {
    return absl::InfinitePast();
  }
  return absl::FromUnixMicros(us);
}

}  // namespace hijackguard::store
