// The client platforms hijackguard tells apart.
#pragma once

#include <optional>
#include <string_view>

namespace hijackguard::detector {

// The platform of the ActiveSync *client*: Outlook mobile is its own platform
// whatever OS it runs on, because it does not use the OS's Exchange stack (and
// so not its bugs).
enum class Platform {
  kUnknown,  // nothing identified the client
  kIos,      // Apple's built-in Exchange client (Mail/Calendar, dataaccessd)
  kAndroid,  // Android's own and vendor Exchange clients
  kWindowsPhone,   // Windows Phone and Windows Mobile
  kOutlookMobile,  // Outlook for iOS / Android
  kOther,          // recognised or not, none of the above
};

// Stable lower-case name: "unknown", "ios", "android", "windows-phone",
// "outlook-mobile", "other". Used in catalogs and JSON.
std::string_view PlatformName(Platform platform);

// Inverse of PlatformName; nullopt for anything else.
std::optional<Platform> ParsePlatformName(std::string_view name);

}  // namespace hijackguard::detector
