// Small ASCII helpers for the detector's hand-written parsers (no std::regex:
// input can be 100 KiB of hostile bytes and must parse in linear time without
// recursion).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace hijackguard::detector::internal {

constexpr bool IsDigit(char c) { return c >= '0' && c <= '9'; }
constexpr bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
constexpr bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
constexpr bool IsAlpha(char c) { return IsUpper(c) || IsLower(c); }
constexpr char ToLowerAscii(char c) {
  return IsUpper(c) ? static_cast<char>(c - 'A' + 'a') : c;
}
constexpr bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Returns `text` without leading and trailing ASCII whitespace.
std::string_view Trim(std::string_view text);

// Returns a short, printable rendition of untrusted `text` for messages: at
// most 64 bytes, invalid UTF-8 and control characters replaced by U+FFFD, "…"
// when cut. Never throws.
std::string Quote(std::string_view text);

}  // namespace hijackguard::detector::internal
