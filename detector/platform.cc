#include "detector/platform.h"

#include <array>
#include <utility>

namespace hijackguard::detector {
namespace {

constexpr std::array<std::pair<Platform, std::string_view>, 6> kNames = {{
    {Platform::kUnknown, "unknown"},
    {Platform::kIos, "ios"},
    {Platform::kAndroid, "android"},
    {Platform::kWindowsPhone, "windows-phone"},
    {Platform::kOutlookMobile, "outlook-mobile"},
    {Platform::kOther, "other"},
}};

}  // namespace

std::string_view PlatformName(Platform platform) {
  for (const auto& [p, name] : kNames) {
    if (p == platform) {
      return name;
    }
  }
  return "unknown";
}

std::optional<Platform> ParsePlatformName(std::string_view name) {
  for (const auto& [p, n] : kNames) {
    if (n == name) {
      return p;
    }
  }
  return std::nullopt;
}

}  // namespace hijackguard::detector
