// Fingerprinting of an ActiveSync client down to the iOS build, from everything
// the MDM knows: the EAS User-Agent, DeviceOS, DeviceType and Model, and the
// MDM's own inventory.
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

// Where a fact came from.
enum class FingerprintSource {
  kUserAgent,
  kDeviceOs,
  kDeviceType,
  kDeviceModel,
  kInventory
};

// "user_agent", "device_os", "device_type", "device_model", "inventory".
std::string_view FingerprintSourceName(FingerprintSource source);

// What the caller knows about a device; every field may be empty. The views
// must stay valid for the duration of ComputeFingerprint() only.
struct FingerprintInput {
  std::string_view user_agent =
      {};  // EAS User-Agent: "Apple-iPhone4C1/1001.403"
  std::string_view device_type = {};       // EAS DeviceType: "iPhone"
  std::string_view device_os = {};         // EAS DeviceOS: "iOS 6.0 10A403"
  std::string_view device_model = {};      // EAS Model: "iPhone4C1"
  std::string_view protocol_version = {};  // MS-ASProtocolVersion: "14.1"
  std::string_view inventory_product_name = {};   // MDM: "iPhone4,1"
  std::string_view inventory_os_version = {};     // MDM: "6.0"
  std::string_view inventory_build_version = {};  // MDM: "10A403"
  std::string_view inventory_model_name = {};     // MDM: "iPhone 4S"
};

struct SourcedValue {
  FingerprintSource source;
  std::string value;
};

// Two or more sources that disagree on one fact, and what that usually means.
struct Disagreement {
  // The fact, named as the API's JSON names the Fingerprint field: "platform",
  // "build", "osVersion", "modelCode" or "deviceFamily".
  std::string field;
  std::vector<SourcedValue> values;
  std::string explanation;
};

struct KnownIssue;  // detector/known_issues.h

// How sure the catalog is that a build suffers from an issue. Ordered:
// kConfirmed is highest.
enum class Confidence { kSuspected = 1, kReported = 2, kConfirmed = 3 };

// "suspected", "reported", "confirmed".
std::string_view ConfidenceName(Confidence confidence);

struct KnownIssueMatch {
  const KnownIssue* issue =
      nullptr;  // points into the catalog, which must outlive this
  Confidence confidence = Confidence::kSuspected;
  std::string matched_by;  // why it matched: "build 10A403 is listed"
};

// The combined picture. Text fields are printable UTF-8 and empty when unknown.
struct Fingerprint {
  Platform platform = Platform::kUnknown;
  std::string client_family;  // UserAgentInfo::family
  std::string
      client_version;  // the mail client's own version, when it sends one
  std::string
      raw_user_agent;  // the User-Agent as received (sanitized), kept for audit

  std::optional<Version>
      os_version;  // marketing version ("6.0"); nullopt when unknown
  std::optional<int>
      os_major_version;  // also known when only the build train is
  std::string os_train;  // "17.5": IosTrainForBuild of `build`, or empty
  std::optional<IosBuild> build;  // the build the EAS client runs
  bool build_in_catalog = false;  // `build` is in the iOS release catalog
  std::string eas_build;  // the Exchange build as sent in the User-Agent

  std::string
      model_code;  // canonical Apple model code ("iPhone4C1") or a vendor model
  std::string model_name;  // "iPhone 4S"
  AppleDeviceFamily device_family = AppleDeviceFamily::kUnknown;
  std::string protocol_version;

  std::vector<FingerprintSource>
      sources;  // sources that contributed a fact, in order
  std::vector<Disagreement> disagreements;  // empty when all sources agree
  std::vector<KnownIssueMatch>
      known_issues;                // filled by KnownIssueCatalog::Match
  std::vector<std::string> notes;  // why anything is unknown or was ignored

  // True when no two sources disagree.
  bool consistent() const { return disagreements.empty(); }
};

// Combines the sources. Precedence for the OS build and version is User-Agent,
// then DeviceOS, then the MDM inventory: the EAS client's own report describes
// the software that actually syncs the calendar, and where it disagrees with
// the inventory the disagreement is reported. A build that the catalog does not
// know is reported as such, with the major version taken from its train; no
// version is guessed. Never fails; thread-safe.
Fingerprint ComputeFingerprint(const FingerprintInput& input);

}  // namespace hijackguard::detector
