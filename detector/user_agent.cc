#include "detector/user_agent.h"

#include <array>

#include "common/strings.h"
#include "detector/apple_models.h"
#include "detector/internal/text.h"
#include "detector/version.h"

namespace hijackguard::detector {
namespace {

using internal::Quote;

constexpr std::size_t kMaxTokenBytes = 64;

// The token starting at `text` up to whitespace, ';' or '(' (or the end).
std::string_view Token(std::string_view text) {
  std::size_t n = 0;
  while (n < text.size() && !internal::IsSpace(text[n]) && text[n] != ';' &&
         text[n] != '(') {
    ++n;
  }
  return text.substr(0, n);
}

// True for a short token of letters, digits, '.', '_' and '-' only: safe to
// report verbatim.
bool IsCleanToken(std::string_view token) {
  if (token.empty() || token.size() > kMaxTokenBytes) {
    return false;
  }
  for (char c : token) {
    if (!internal::IsAlpha(c) && !internal::IsDigit(c) && c != '.' &&
        c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

// Keeps `token` as a version string only when it is clean; otherwise notes why
// not.
std::string CleanVersion(std::string_view token, std::string_view what,
                         UserAgentInfo* info) {
  if (token.empty()) {
    return "";
  }
  if (!IsCleanToken(token)) {
    info->problems.push_back(
        StrCat(what, " \"", Quote(token), "\" is not a version"));
    return "";
  }
  return std::string(token);
}

void ParseAppleNative(std::string_view rest, UserAgentInfo* info) {
  info->platform = Platform::kIos;
  info->family = "apple-ios";
  const std::size_t slash = rest.find('/');
  const std::string_view model = rest.substr(0, slash);
  if (model.empty()) {
    info->problems.push_back("User-Agent has no model code after \"Apple-\"");
  } else if (auto code = CanonicalAppleModelCode(model)) {
    info->model_code = *std::move(code);
  } else if (const AppleDeviceFamily family = ParseAppleDeviceType(model);
             family != AppleDeviceFamily::kUnknown) {
    // iPhone OS 3 sent the device without its model: "Apple-iPhone/705.18".
    info->device_family = family;
  } else {
    info->problems.push_back(StrCat("User-Agent model code \"", Quote(model),
                                    "\" is not an Apple model code"));
  }
  if (slash == std::string_view::npos) {
    info->problems.push_back("User-Agent has no Exchange build (no '/')");
    return;
  }
  const std::string_view build = Token(rest.substr(slash + 1));
  if (build.empty()) {
    info->problems.push_back("User-Agent has no Exchange build after '/'");
    return;
  }
  auto parsed = ParseExchangeBuild(build);
  if (!parsed.ok()) {
    info->problems.push_back(StrCat("User-Agent: ", parsed.status().message()));
    return;
  }
  info->eas_build = std::string(build);
  info->build = *parsed;
}

// "iOS/11.2.6 (15D100) dataaccessd/1.0" (DeviceInformation UserAgent) or
// "iOS/1002.329".
void ParseIosSlash(std::string_view rest, UserAgentInfo* info) {
  info->platform = Platform::kIos;
  info->family = "apple-ios";
  const std::string_view token = Token(rest);
  if (auto eas = ParseExchangeBuild(token); eas.ok()) {
    info->eas_build = std::string(token);
    info->build = *eas;
    return;
  }
  if (auto v = Version::Parse(token); v.ok()) {
    info->os_version = v->ToString();
  } else if (!token.empty()) {
    info->problems.push_back(StrCat("User-Agent: ", v.status().message()));
  }
  std::string_view after = internal::Trim(rest.substr(token.size()));
  if (!after.empty() && after.front() == '(') {
    const std::size_t close = after.find(')');
    if (close != std::string_view::npos) {
      const std::string_view build_text = after.substr(1, close - 1);
      if (auto b = ParseIosBuild(build_text); b.ok()) {
        info->build = *b;
      } else {
        info->problems.push_back(StrCat("User-Agent: ", b.status().message()));
      }
    }
  }
}

// "Android/4.4.2-EAS-2.0"; Android 2.x sent "Android/0.3" with no OS version.
void ParseAndroidExchange(std::string_view rest, UserAgentInfo* info) {
  info->platform = Platform::kAndroid;
  info->family = "android-exchange";
  const std::string_view token = Token(rest);
  const std::size_t eas = token.find("-EAS-");
  if (eas == std::string_view::npos) {
    info->client_version = CleanVersion(token, "Android client version", info);
    return;
  }
  if (auto v = Version::Parse(token.substr(0, eas)); v.ok()) {
    info->os_version = v->ToString();
  } else {
    info->problems.push_back(
        StrCat("User-Agent Android version: ", v.status().message()));
  }
  info->client_version =
      CleanVersion(token.substr(eas + 5), "Android EAS client version", info);
}

// A vendor's build of Android's own client: "SonyD2403/4.4.4-EAS-2.0",
// "LGE612f/4.0.3-EAS-1.3" (the model, then the Android version).
bool ParseVendorAndroid(std::string_view ua, UserAgentInfo* info) {
  const std::string_view token = Token(ua);
  const std::size_t slash = token.find('/');
  const std::size_t eas = token.find("-EAS-");
  if (slash == std::string_view::npos || slash == 0 ||
      eas == std::string_view::npos || eas < slash ||
      !IsCleanToken(token.substr(0, slash))) {
    return false;
  }
  ParseAndroidExchange(token.substr(slash + 1), info);
  info->model_code = std::string(token.substr(0, slash));
  return true;
}

// "SAMSUNG-SM-G930F/101.60000" or "Android-SAMSUNG-SM-G930F/101.60000".
void ParseSamsung(std::string_view rest, UserAgentInfo* info) {
  info->platform = Platform::kAndroid;
  info->family = "samsung-email";
  const std::string_view token = Token(rest);
  const std::size_t slash = token.find('/');
  const std::string_view model = token.substr(0, slash);
  if (IsCleanToken(model)) {
    info->model_code = std::string(model);
  } else if (!model.empty()) {
    info->problems.push_back(StrCat("User-Agent Samsung model \"", Quote(model),
                                    "\" contains unexpected characters"));
  }
  if (slash != std::string_view::npos) {
    info->client_version =
        CleanVersion(token.substr(slash + 1), "Samsung client version", info);
  }
}

// Families identified by a prefix and carrying "<prefix><version>".
struct SimpleFamily {
  std::string_view prefix;
  std::string_view family;
  Platform platform;
  bool version_is_os;     // the version after the prefix is the OS version, not
                          // the client's
  bool versioned = true;  // a version follows the prefix
};

constexpr std::array kSimpleFamilies = {
    // Longest prefixes first: "Outlook-iOS-Android/" before "Outlook-iOS/".
    SimpleFamily{"Outlook-iOS-Android/", "outlook-mobile",
                 Platform::kOutlookMobile, false},
    SimpleFamily{"Outlook-iOS/", "outlook-ios", Platform::kOutlookMobile,
                 false},
    SimpleFamily{"Outlook-Android/", "outlook-android",
                 Platform::kOutlookMobile, false},
    SimpleFamily{"Android-Mail/", "android-email", Platform::kAndroid, false},
    SimpleFamily{"MSFT-WP/", "windows-phone", Platform::kWindowsPhone, true},
    SimpleFamily{"MSFT-PPC/", "windows-mobile", Platform::kWindowsPhone, true},
    SimpleFamily{"MSFT-SPhone/", "windows-mobile", Platform::kWindowsPhone,
                 true},
    SimpleFamily{"MSFT-WIN-3/", "windows-mail", Platform::kOther, false},
    // TouchDown ran on several OSes: its platform comes from DeviceType or
    // DeviceOS.
    SimpleFamily{"TouchDown(MSEAS)/", "touchdown", Platform::kUnknown, false},
    SimpleFamily{"TouchDown(MSRPC)/", "touchdown", Platform::kUnknown, false},
    SimpleFamily{"BlackBerry", "blackberry", Platform::kOther, false, false},
    // BlackBerry 10: "RIM-Q10-SQN100-3/10.2.0.1443" (the device, then the OS).
    SimpleFamily{"RIM-", "blackberry", Platform::kOther, false, false},
    // Outlook on Windows with an Outlook.com account: "Microsoft.Outlook.15",
    // "Outlook/16.0 (16.0.7167.6539; C2R; x86)".
    SimpleFamily{"Microsoft.Outlook.", "outlook-desktop", Platform::kOther,
                 false},
    SimpleFamily{"Outlook/", "outlook-desktop", Platform::kOther, false},
    // Motorola's own client: "MOTOROLA-Droid(4D6F7869SAM)/2.1707",
    // "Moto-DROID2/4.5.1".
    SimpleFamily{"MOTOROLA-", "motorola-email", Platform::kAndroid, false,
                 false},
    SimpleFamily{"Moto-", "motorola-email", Platform::kAndroid, false, false},
    // Nokia's Mail for Exchange (Symbian): "NokiaE521/2.00()MailforExchange".
    SimpleFamily{"Nokia", "nokia-mail-for-exchange", Platform::kOther, false,
                 false},
};

// The families kSimpleFamilies lists, else "unrecognized".
void ParseSimpleFamily(std::string_view ua, UserAgentInfo* info_ptr) {
  UserAgentInfo& info = *info_ptr;
  for (const SimpleFamily& f : kSimpleFamilies) {
    if (!StartsWithIgnoreCase(ua, f.prefix)) {
      continue;
    }
    info.platform = f.platform;
    info.family = std::string(f.family);
    const std::string_view token = Token(ua.substr(f.prefix.size()));
    if (!f.versioned) {
      break;
    }
    if (f.version_is_os) {
      if (auto v = Version::Parse(token); v.ok()) {
        info.os_version = v->ToString();
      } else if (!token.empty()) {
        info.problems.push_back(
            StrCat("User-Agent OS version: ", v.status().message()));
      }
    } else {
      info.client_version = CleanVersion(token, "client version", &info);
    }
    break;
  }
  if (info.family.empty()) {
    info.family = "unrecognized";
    info.problems.push_back(StrCat("User-Agent \"", Quote(ua),
                                   "\" matches no known EAS client family"));
  }
}

}  // namespace

UserAgentInfo ParseUserAgent(std::string_view user_agent) {
  UserAgentInfo info;
  const std::string_view ua = internal::Trim(user_agent);
  if (ua.empty()) {
    info.problems.push_back("User-Agent is empty");
    return info;
  }
  if (StartsWithIgnoreCase(ua, "Apple-")) {
    ParseAppleNative(ua.substr(6), &info);
  } else if (StartsWithIgnoreCase(ua, "iOS/")) {
    ParseIosSlash(ua.substr(4), &info);
  } else if (StartsWithIgnoreCase(ua, "Android-SAMSUNG-")) {
    ParseSamsung(ua.substr(16), &info);
  } else if (StartsWithIgnoreCase(ua, "SAMSUNG-")) {
    ParseSamsung(ua.substr(8), &info);
  } else if (StartsWithIgnoreCase(ua, "SAMSUNG")) {
    ParseSamsung(ua.substr(7), &info);  // "SAMSUNGSPHD700/100.202"
  } else if (StartsWithIgnoreCase(ua, "Android/")) {
    ParseAndroidExchange(ua.substr(8), &info);
  } else if (!ParseVendorAndroid(ua, &info)) {
    ParseSimpleFamily(ua, &info);
  }
  return info;
}

}  // namespace hijackguard::detector
