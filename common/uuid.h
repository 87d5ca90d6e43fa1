// Time-ordered unique ids for decisions (UUID version 7, RFC 9562).
#pragma once

#include <string>

#include "absl/time/time.h"

namespace hijackguard {

// Returns a UUIDv7 in the 8-4-4-4-12 lower-case hex form: 48 bits of Unix
// milliseconds from `now`, then 74 random bits from a per-thread generator
// seeded by the OS. Ids sort by time. Thread-safe.
std::string NewUuidV7(absl::Time now);

}  // namespace hijackguard
