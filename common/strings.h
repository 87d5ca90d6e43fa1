// String concatenation and comparison over std::string_view.
//
// Debian's Abseil is built with its own absl::string_view
// (ABSL_OPTION_USE_STD_STRING_VIEW 0), which does not convert from
// std::string_view, so absl::StrCat and absl/strings/match.h cannot take our
// std::string_view arguments. These helpers accept std::string_view,
// std::string, C strings, absl::string_view (e.g. absl::Status::message()) and
// integers.
#pragma once

#include <charconv>
#include <concepts>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace hijackguard {

// `t` in UTC as "2026-12-03T14:00:05Z" (`rfc3339`) or "2026-12-03 14:00
// UTC", in a small buffer (no allocation): much faster than absl::FormatTime,
// which decisions would call often. Times outside years 0-9999 are clamped.
class UtcText {
 public:
  explicit UtcText(absl::Time t, bool rfc3339 = true);
  std::string_view view() const { return {buf_, size_}; }
  operator std::string_view() const { return view(); }  // NOLINT

 private:
  char buf_[24];
  std::size_t size_ = 0;
};
inline std::string FormatUtc(absl::Time t, bool rfc3339 = true) {
  return std::string(UtcText(t, rfc3339).view());
}

namespace strings_internal {

inline void Append(std::string* out, std::string_view s) { out->append(s); }
inline void Append(std::string* out, const std::string& s) { out->append(s); }
inline void Append(std::string* out, const char* s) { out->append(s); }
inline void Append(std::string* out, absl::string_view s) {
  out->append(s.data(), s.size());
}
inline void Append(std::string* out, const UtcText& s) {
  out->append(s.view());
}

template <std::integral T>
requires(!std::same_as<T, bool> &&
         !std::same_as<T, char>) void Append(std::string* out, T value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out->append(buffer, result.ptr);
}

// Doubles in their shortest exact form ("0.5", "60", "1e+20").
template <std::floating_point T>
void Append(std::string* out, T value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out->append(buffer, result.ptr);
}

// An upper bound of what Append adds, to reserve once.
inline std::size_t Size(std::string_view s) { return s.size(); }
inline std::size_t Size(const std::string& s) { return s.size(); }
inline std::size_t Size(const char* s) {
  return std::char_traits<char>::length(s);
}
inline std::size_t Size(absl::string_view s) { return s.size(); }
inline std::size_t Size(const UtcText& s) { return s.view().size(); }
template <typename T>
requires(std::integral<T> || std::floating_point<T>) std::size_t Size(T) {
  return 24;
}

}  // namespace strings_internal

// Appends the arguments to `*out`.
template <typename... Args>
void StrAppend(std::string* out, const Args&... args) {
  (strings_internal::Append(out, args), ...);
}

// Returns the concatenation of the arguments.
template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  out.reserve((std::size_t{0} + ... + strings_internal::Size(args)));
  StrAppend(&out, args...);
  return out;
}

// `value` with `digits` digits after the point ("47.3").
std::string FormatFixed(double value, int digits);

// Returns the parts joined by `separator`.
std::string StrJoin(const std::vector<std::string>& parts,
                    std::string_view separator);

// "line L, column C" of byte `offset` in `text` (both 1-based; an offset
// past the end counts to the end).
std::string LineColumn(std::string_view text, std::size_t offset);

// The candidate nearest to `word` within `max_edits` edits (Levenshtein), for
// "did you mean"; null when none is that close. Ties go to the first.
const std::string* Nearest(std::string_view word,
                           const std::vector<std::string>& candidates,
                           std::size_t max_edits = 2);

// ASCII case-insensitive comparisons.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix);

// A std::string_view of an absl::string_view (e.g. absl::Status::message()).
inline std::string_view ToStd(absl::string_view s) {
  return {s.data(), s.size()};
}

}  // namespace hijackguard
