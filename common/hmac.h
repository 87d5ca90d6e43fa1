// Keyed hashing and key material through OpenSSL: HMAC-SHA256, HKDF-SHA256,
// random bytes, constant-time comparison and hex.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hijackguard {

// HMAC-SHA256(key, data): 32 raw bytes, or 64 lower-case hex characters.
std::string HmacSha256(std::string_view key, std::string_view data);
std::string HmacSha256Hex(std::string_view key, std::string_view data);

// Raw SHA-256 (32 bytes).
std::string Sha256Raw(std::string_view data);

// HKDF-SHA256 (RFC 5869) with an empty salt: `length` bytes derived from
// `key` for the purpose named by `info`.
std::string HkdfSha256(std::string_view key, std::string_view info,
                       std::size_t length);

// `n` bytes from OpenSSL's CSPRNG.
std::string RandomBytes(std::size_t n);

// Equal length and bytes, in time that depends only on the length.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

std::string HexEncode(std::string_view bytes);
// INVALID_ARGUMENT naming the offset of the first character that is not hex
// (or an odd length).
absl::StatusOr<std::string> HexDecode(std::string_view hex);

}  // namespace hijackguard
