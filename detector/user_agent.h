// Parsing of the ActiveSync User-Agent header into a client family and, for
// Apple's built-in client, the model code and iOS build (activesync.md §4.1).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detector/apple_models.h"
#include "detector/ios_build.h"
#include "detector/platform.h"

namespace hijackguard::detector {

// What one User-Agent says. Fields that the string does not carry stay empty;
// `problems` explains every part that was present but could not be read.
struct UserAgentInfo {
  Platform platform = Platform::kUnknown;
  // Stable id of the client family: "apple-ios", "outlook-ios",
  // "outlook-android", "outlook-mobile", "android-exchange", "android-email",
  // "samsung-email", "windows-phone", "windows-mobile", "windows-mail",
  // "touchdown", "blackberry", "outlook-desktop", "motorola-email",
  // "nokia-mail-for-exchange"; "unrecognized" when no family matched; "" for
  // an empty User-Agent.
  std::string family;
  std::string
      client_version;      // the client's own version when it sends one ("2.0")
  std::string model_code;  // Apple: canonical "iPhone4C1"; Samsung: "SM-G930F"
  // Apple: the device a User-Agent names without its model ("Apple-iPhone/").
  AppleDeviceFamily device_family = AppleDeviceFamily::kUnknown;
  std::string
      eas_build;  // Apple: the Exchange build exactly as sent ("1001.403")
  std::optional<IosBuild> build;  // Apple: the iOS build it converts to
  std::string os_version;  // when the string carries the OS version (Android,
                           // WP, iOS/x)
  std::vector<std::string> problems;
};

// Parses a User-Agent of any length and content (empty, binary, invalid UTF-8);
// never fails and runs in time linear in the input. Every string it returns is
// printable UTF-8. Thread-safe.
UserAgentInfo ParseUserAgent(std::string_view user_agent);

}  // namespace hijackguard::detector
