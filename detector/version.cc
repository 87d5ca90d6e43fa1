#include "detector/version.h"

#include "absl/status/status.h"
#include "common/strings.h"
#include "detector/internal/text.h"

namespace hijackguard::detector {

absl::StatusOr<Version> Version::Parse(std::string_view text) {
  Version v;
  if (text.empty()) {
    return absl::InvalidArgumentError("version is empty");
  }
  std::size_t i = 0;
  while (true) {
    if (v.size_ == kMaxComponents) {
      return absl::InvalidArgumentError(
          StrCat("version \"", internal::Quote(text), "\" has more than ",
                 kMaxComponents, " components (offset ", i, ")"));
    }
    const std::size_t start = i;
    long long value = 0;
    while (i < text.size() && internal::IsDigit(text[i])) {
      value = value * 10 + (text[i] - '0');
      if (value > kMaxComponentValue) {
        return absl::InvalidArgumentError(StrCat(
            "version \"", internal::Quote(text), "\": component at offset ",
            start, " exceeds ", kMaxComponentValue));
      }
      ++i;
    }
    if (i == start) {
      return absl::InvalidArgumentError(
          StrCat("version \"", internal::Quote(text),
                 "\": expected a digit at offset ", i));
    }
    v.parts_[static_cast<std::size_t>(v.size_++)] = static_cast<int>(value);
    if (i == text.size()) {
      return v;
    }
    if (text[i] != '.') {
      return absl::InvalidArgumentError(
          StrCat("version \"", internal::Quote(text),
                 "\": unexpected character at offset ", i));
    }
    ++i;
  }
}

std::string Version::ToString() const {
  std::string out;
  for (int i = 0; i < size_; ++i) {
    if (i > 0) {
      out.push_back('.');
    }
    StrAppend(&out, parts_[static_cast<std::size_t>(i)]);
  }
  return out;
}

std::strong_ordering operator<=>(const Version& a, const Version& b) {
  for (int i = 0; i < Version::kMaxComponents; ++i) {
    if (auto c = a.component(i) <=> b.component(i); std::is_neq(c)) {
      return c;
    }
  }
  return std::strong_ordering::equal;
}

}  // namespace hijackguard::detector
