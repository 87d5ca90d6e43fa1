// SHA-256 through OpenSSL.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace hijackguard {

using Sha256Digest = std::array<unsigned char, 32>;

// The SHA-256 digest of `data`.
Sha256Digest Sha256(std::string_view data);

// Lower-case hex SHA-256 of `data` (64 characters).
std::string Sha256Hex(std::string_view data);

}  // namespace hijackguard
