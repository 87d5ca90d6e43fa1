// Standard base64 (RFC 4648 §4, with padding) through OpenSSL's EVP encoder.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hijackguard {

// Encodes `bytes`. Thread-safe.
std::string Base64Encode(std::string_view bytes);

// Decodes `text` (padding required when the length is not a multiple of 4;
// no whitespace). INVALID_ARGUMENT with the offset of the first bad character
// otherwise. Thread-safe.
absl::StatusOr<std::string> Base64Decode(std::string_view text);

}  // namespace hijackguard
