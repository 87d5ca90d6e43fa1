// gzip bodies (RFC 1952), as an HTTP server sends them with
// Content-Encoding: gzip: Exchange compresses ActiveSync responses for clients
// that accept it, and a gateway sees them so.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hijackguard {

// Whether `data` starts with gzip's magic bytes (1f 8b).
bool LooksGzipped(std::string_view data);

// The decompressed bytes (every member, as HTTP allows several), at most
// `max_bytes` of them. INVALID_ARGUMENT with the byte offset for corrupt
// input, RESOURCE_EXHAUSTED when the output would pass `max_bytes`.
absl::StatusOr<std::string> Gunzip(std::string_view data,
                                   std::size_t max_bytes);

}  // namespace hijackguard
