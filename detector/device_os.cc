#include "detector/device_os.h"

#include <array>
#include <utility>

#include "common/strings.h"
#include "detector/internal/text.h"

namespace hijackguard::detector {
namespace {

constexpr std::array<std::pair<std::string_view, Platform>, 6> kOsNames = {{
    {"iOS", Platform::kIos},
    {"iPhone OS", Platform::kIos},
    {"iPadOS", Platform::kIos},
    {"Android", Platform::kAndroid},
    {"Windows Phone", Platform::kWindowsPhone},
    {"WP", Platform::kWindowsPhone},
}};

std::string_view NextToken(std::string_view* text) {
  *text = internal::Trim(*text);
  std::size_t n = 0;
  while (n < text->size() && !internal::IsSpace((*text)[n])) {
    ++n;
  }
  const std::string_view token = text->substr(0, n);
  text->remove_prefix(n);
  return token;
}

}  // namespace

DeviceOsInfo ParseDeviceOs(std::string_view device_os) {
  DeviceOsInfo info;
  std::string_view rest = internal::Trim(device_os);
  if (rest.empty()) {
    info.problems.push_back("DeviceOS is empty");
    return info;
  }
  // The OS name is everything before the first token that starts with a digit.
  std::size_t name_end = 0;
  while (name_end < rest.size()) {
    const bool token_start =
        name_end == 0 || internal::IsSpace(rest[name_end - 1]);
    if (token_start && internal::IsDigit(rest[name_end])) {
      break;
    }
    ++name_end;
  }
  const std::string_view name = internal::Trim(rest.substr(0, name_end));
  rest.remove_prefix(name_end);
  info.platform = name.empty() ? Platform::kUnknown : Platform::kOther;
  for (const auto& [os_name, platform] : kOsNames) {
    if (EqualsIgnoreCase(name, os_name)) {
      info.platform = platform;
      break;
    }
  }
  if (EqualsIgnoreCase(name, "iPadOS")) {
    info.family = AppleDeviceFamily::kIpad;
  }
  if (name.empty()) {
    info.problems.push_back(StrCat("DeviceOS \"", internal::Quote(device_os),
                                   "\" names no operating system"));
  } else if (info.platform == Platform::kOther) {
    info.problems.push_back(StrCat("DeviceOS names an unrecognized OS \"",
                                   internal::Quote(name), "\""));
  }
  const std::string_view version_text = NextToken(&rest);
  if (version_text.empty()) {
    info.problems.push_back("DeviceOS has no version");
    return info;
  }
  if (auto v = Version::Parse(version_text); v.ok()) {
    info.version = *v;
  } else {
    info.problems.push_back(StrCat("DeviceOS: ", v.status().message()));
  }
  const std::string_view build_text = NextToken(&rest);
  if (!build_text.empty() && info.platform == Platform::kIos) {
    if (auto b = ParseIosBuild(build_text); b.ok()) {
      info.build = *b;
    } else {
      info.problems.push_back(StrCat("DeviceOS: ", b.status().message()));
    }
  }
  if (!internal::Trim(rest).empty()) {
    info.problems.push_back(StrCat("DeviceOS has unexpected trailing text \"",
                                   internal::Quote(internal::Trim(rest)),
                                   "\""));
  }
  return info;
}

}  // namespace hijackguard::detector
