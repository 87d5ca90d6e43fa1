#include "detector/apple_models.h"

#include <array>

#include "common/strings.h"
#include "detector/internal/text.h"

namespace hijackguard::detector {
namespace {

// iOS-6-capable models and their names are from activesync.md §4.3 (The iPhone
// Wiki model definition file); the others are Apple's published hardware
// identifiers of the EAS era.
constexpr std::array kModels = {
    AppleModel{"iPhone1C1", "iPhone"},
    AppleModel{"iPhone1C2", "iPhone 3G"},
    AppleModel{"iPhone2C1", "iPhone 3GS"},
    AppleModel{"iPhone3C1", "iPhone 4 (GSM)"},
    AppleModel{"iPhone3C2", "iPhone 4 (GSM rev A)"},
    AppleModel{"iPhone3C3", "iPhone 4 (CDMA)"},
    AppleModel{"iPhone4C1", "iPhone 4S"},
    AppleModel{"iPhone5C1", "iPhone 5 (GSM/LTE)"},
    AppleModel{"iPhone5C2", "iPhone 5 (global)"},
    AppleModel{"iPhone5C3", "iPhone 5c"},
    AppleModel{"iPhone5C4", "iPhone 5c"},
    AppleModel{"iPhone6C1", "iPhone 5s"},
    AppleModel{"iPhone6C2", "iPhone 5s"},
    AppleModel{"iPhone7C1", "iPhone 6 Plus"},
    AppleModel{"iPhone7C2", "iPhone 6"},
    AppleModel{"iPhone8C1", "iPhone 6s"},
    AppleModel{"iPhone8C2", "iPhone 6s Plus"},
    AppleModel{"iPhone8C4", "iPhone SE"},
    AppleModel{"iPad1C1", "iPad"},
    AppleModel{"iPad2C1", "iPad 2 (Wi-Fi)"},
    AppleModel{"iPad2C2", "iPad 2 (GSM)"},
    AppleModel{"iPad2C3", "iPad 2 (CDMA)"},
    AppleModel{"iPad2C4", "iPad 2 (Wi-Fi, rev A)"},
    AppleModel{"iPad2C5", "iPad mini (Wi-Fi)"},
    AppleModel{"iPad2C6", "iPad mini (GSM/LTE)"},
    AppleModel{"iPad2C7", "iPad mini (global)"},
    AppleModel{"iPad3C1", "iPad (3rd generation, Wi-Fi)"},
    AppleModel{"iPad3C2", "iPad (3rd generation, cellular)"},
    AppleModel{"iPad3C3", "iPad (3rd generation, cellular)"},
    AppleModel{"iPad3C4", "iPad (4th generation, Wi-Fi)"},
    AppleModel{"iPad3C5", "iPad (4th generation, cellular)"},
    AppleModel{"iPad3C6", "iPad (4th generation, cellular)"},
    AppleModel{"iPod1C1", "iPod touch"},
    AppleModel{"iPod2C1", "iPod touch (2nd generation)"},
    AppleModel{"iPod3C1", "iPod touch (3rd generation)"},
    AppleModel{"iPod4C1", "iPod touch (4th generation)"},
    AppleModel{"iPod5C1", "iPod touch (5th generation)"},
};

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

std::span<const AppleModel> AllAppleModels() { return kModels; }

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
  for (const AppleModel& m : kModels) {
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
