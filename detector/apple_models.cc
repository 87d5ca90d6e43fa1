#include "detector/apple_models.h"

#include <array>

#include "common/strings.h"
#include "detector/apple_model_table.h"
#include "detector/internal/text.h"

namespace hijackguard::detector {
namespace {

struct FamilyPrefix {
  std::string_view prefix;
  AppleDeviceFamily family;
};
constexpr std::array kFamilies = {
    FamilyPrefix{"iPhone", AppleDeviceFamily::kIphone},
    FamilyPrefix{"iPad", AppleDeviceFamily::kIpad},
    FamilyPrefix{"iPod", AppleDeviceFamily::kIpod},
};

// Reads 1-2 digits at `*i` (no leading zero); false if there are none or more
// than two.
bool ReadSmallNumber(std::string_view text, std::size_t* i) {
  const std::size_t start = *i;
  while (*i < text.size() && internal::IsDigit(text[*i])) {
    ++*i;
  }
  const std::size_t n = *i - start;
  return n >= 1 && n <= 2 && text[start] != '0';
}

}  // namespace

std::string_view AppleDeviceFamilyName(AppleDeviceFamily family) {
  for (const auto& f : kFamilies) {
    if (f.family == family) {
      return f.prefix;
    }
  }
  return "";
}

AppleDeviceFamily ParseAppleDeviceType(std::string_view device_type) {
  const std::string_view t = internal::Trim(device_type);
  for (const auto& f : kFamilies) {
    if (EqualsIgnoreCase(t, f.prefix)) {
      return f.family;
    }
  }
  return AppleDeviceFamily::kUnknown;
}

std::span<const AppleModel> AllAppleModels() {
  return internal::AppleModelTable();
}

std::optional<std::string> CanonicalAppleModelCode(std::string_view text) {
  text = internal::Trim(text);
  for (const auto& f : kFamilies) {
    if (!StartsWithIgnoreCase(text, f.prefix)) {
      continue;
    }
    std::size_t i = f.prefix.size();
    const std::size_t major_at = i;
    if (!ReadSmallNumber(text, &i)) {
      return std::nullopt;
    }
    const std::string_view major = text.substr(major_at, i - major_at);
    if (i >= text.size() ||
        (text[i] != 'C' && text[i] != 'c' && text[i] != ',')) {
      return std::nullopt;
    }
    ++i;
    const std::size_t minor_at = i;
    if (!ReadSmallNumber(text, &i) || i != text.size()) {
      return std::nullopt;
    }
    std::string out(f.prefix);
    out.append(major);
    out.push_back('C');
    out.append(text.substr(minor_at));
    return out;
  }
  return std::nullopt;
}

const AppleModel* FindAppleModel(std::string_view canonical_code) {
  for (const AppleModel& m : internal::AppleModelTable()) {
    if (m.code == canonical_code) {
      return &m;
    }
  }
  return nullptr;
}

AppleDeviceFamily FamilyOfModelCode(std::string_view canonical_code) {
  for (const auto& f : kFamilies) {
    if (canonical_code.starts_with(f.prefix)) {
      return f.family;
    }
  }
  return AppleDeviceFamily::kUnknown;
}

}  // namespace hijackguard::detector
