// Apple hardware model codes as ActiveSync reports them ("iPhone4C1": the
// hardware identifier "iPhone4,1" with the comma replaced by "C"), their
// marketing names and device families.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace hijackguard::detector {

enum class AppleDeviceFamily { kUnknown, kIphone, kIpad, kIpod };

// "iPhone", "iPad", "iPod" or "" for kUnknown.
std::string_view AppleDeviceFamilyName(AppleDeviceFamily family);

// Parses a DeviceType value ("iPhone", "IPAD", "ipod"...), ignoring ASCII case;
// kUnknown for anything else.
AppleDeviceFamily ParseAppleDeviceType(std::string_view device_type);

struct AppleModel {
  std::string_view code;    // canonical model code: "iPhone4C1"
  std::string_view name;    // marketing name: "iPhone 4S"
  std::string_view source;  // where the row was checked (a title and URL)
};

// Every catalogued model: Apple's identifiers up to those released in
// September 2025, in identifier order. Static data.
std::span<const AppleModel> AllAppleModels();

// Normalises a model code or hardware identifier to the canonical model code:
// "iPhone4C1", "iphone4c1" and "iPhone4,1" all give "iPhone4C1". Returns
// nullopt unless the text is (iPhone|iPad|iPod)<1-2 digits>(C|,)<1-2 digits>,
// ignoring case.
std::optional<std::string> CanonicalAppleModelCode(std::string_view text);

// Returns the catalogued model for a canonical code, or nullptr. Thread-safe.
const AppleModel* FindAppleModel(std::string_view canonical_code);

// The family of a canonical model code, by its prefix.
AppleDeviceFamily FamilyOfModelCode(std::string_view canonical_code);

}  // namespace hijackguard::detector
