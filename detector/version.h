// Dotted numeric versions ("6.0.1", "4.3", "8.0.10517") and their ordering.
#pragma once

#include <array>
#include <compare>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hijackguard::detector {

// A version of one to four numeric components. Comparison treats missing
// trailing components as zero, so "6.0" == "6.0.0" and "6.0" < "6.0.1".
// Immutable and cheap to copy.
class Version {
 public:
  static constexpr int kMaxComponents = 4;
  static constexpr int kMaxComponentValue = 999999;

  Version() = default;

  // Parses "N(.N){0,3}" with each N in 0..999999 (leading zeros allowed).
  // Returns INVALID_ARGUMENT naming the first offending byte offset for
  // anything else.
  static absl::StatusOr<Version> Parse(std::string_view text);

  // Number of components as written (0 for a default-constructed Version).
  int size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Component `i` (0-based), or 0 beyond size().
  int component(int i) const {
    return i < size_ ? parts_[static_cast<std::size_t>(i)] : 0;
  }
  int major() const { return component(0); }

  // Canonical text: components as written, without leading zeros ("06.0" ->
  // "6.0").
  std::string ToString() const;

  friend std::strong_ordering operator<=>(const Version& a, const Version& b);
  friend bool operator==(const Version& a, const Version& b) {
    return (a <=> b) == std::strong_ordering::equal;
  }

 private:
  std::array<int, kMaxComponents> parts_{};
  int size_ = 0;
};

}  // namespace hijackguard::detector
