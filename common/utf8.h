// UTF-8 validation and repair for text that came from devices, flags or files
// and will be placed in proto3 string fields (which must hold valid UTF-8) or
// printed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace hijackguard {

// Returns the byte offset of the first byte that does not start a well-formed
// UTF-8 sequence (overlong forms, surrogates and code points above U+10FFFF are
// ill-formed), or std::string_view::npos when `text` is entirely valid.
// Thread-safe.
std::size_t FindInvalidUtf8(std::string_view text);

// Returns the length (1-4) of the well-formed UTF-8 sequence starting at
// text[i], or 0 when the bytes there are not one. `i` must be < text.size().
std::size_t Utf8SequenceLength(std::string_view text, std::size_t i);

// Returns true when `text` is well-formed UTF-8.
inline bool IsValidUtf8(std::string_view text) {
  return FindInvalidUtf8(text) == std::string_view::npos;
}

// Returns `text` with each ill-formed sequence replaced by U+FFFD and each C0
// control character other than tab replaced by U+FFFD, so the result is safe to
// log and to put in a proto3 string. Text that needs no change is copied
// unchanged.
std::string SanitizeText(std::string_view text);

// Returns how many characters (code points) `text` holds: bytes that do not
// continue a sequence. `text` should be valid UTF-8.
std::size_t CountUtf8Chars(std::string_view text);

// Returns `text` shortened to at most `max_bytes` bytes without splitting a
// UTF-8 sequence, with "…" appended when anything was cut. `text` must be valid
// UTF-8.
std::string TruncateUtf8(std::string_view text, std::size_t max_bytes);

// An input value as an error message may quote it: in double quotes, at most
// kMaxQuotedBytes of it (cut at a character boundary and ended with U+2026,
// control characters shown as U+FFFD), followed by " (N bytes)" when it was
// longer. Messages never echo more of what a caller sent.
inline constexpr std::size_t kMaxQuotedBytes = 64;
std::string QuoteInput(std::string_view value);

}  // namespace hijackguard
