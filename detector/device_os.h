// Parsing of the ActiveSync DeviceOS value (Settings DeviceInformation "OS",
// also shown by Exchange as DeviceOS): "iOS 6.0.1 10A523", "Android 4.4.2",
// "Windows Phone 8.0".
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detector/apple_models.h"
#include "detector/ios_build.h"
#include "detector/platform.h"
#include "detector/version.h"

namespace hijackguard::detector {

struct DeviceOsInfo {
  Platform platform = Platform::kUnknown;
  std::optional<Version> version;
  std::optional<IosBuild> build;  // iOS only
  // kIpad for "iPadOS" (the only name that says which device it runs on).
  AppleDeviceFamily family = AppleDeviceFamily::kUnknown;
  std::vector<std::string> problems;
};

// Parses "<OS name> <version> [<build>]". OS names: "iOS" and "iPhone OS"
// (iOS), "Android", "Windows Phone"/"WP" (Windows Phone); any other name gives
// Platform::kOther. Never fails; linear time; thread-safe.
DeviceOsInfo ParseDeviceOs(std::string_view device_os);

}  // namespace hijackguard::detector
