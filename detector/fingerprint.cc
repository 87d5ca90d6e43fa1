#include "detector/fingerprint.h"

#include <algorithm>
#include <array>

#include "common/strings.h"
#include "common/utf8.h"
#include "detector/device_os.h"
#include "detector/internal/text.h"
#include "detector/ios_releases.h"
#include "detector/user_agent.h"

namespace hijackguard::detector {
namespace {

constexpr std::size_t kMaxEchoedBytes = 256;

template <typename T>
struct Candidate {
  FingerprintSource source;
  T value;
};

// Collects the sources that contributed, once each, in first-contribution
// order.
class SourceSet {
 public:
  void Add(FingerprintSource s) {
    if (std::find(list_.begin(), list_.end(), s) == list_.end()) {
      list_.push_back(s);
    }
  }
  std::vector<FingerprintSource> Sorted() && {
    std::sort(list_.begin(), list_.end());
    return std::move(list_);
  }

 private:
  std::vector<FingerprintSource> list_;
};

Platform PlatformOfDeviceType(std::string_view device_type) {
  const std::string_view t = internal::Trim(device_type);
  if (ParseAppleDeviceType(t) != AppleDeviceFamily::kUnknown) {
    return Platform::kIos;
  }
  if (StartsWithIgnoreCase(t, "Android") ||
      StartsWithIgnoreCase(t, "SAMSUNG")) {
    return Platform::kAndroid;
  }
  if (EqualsIgnoreCase(t, "WP") || EqualsIgnoreCase(t, "WP8") ||
      EqualsIgnoreCase(t, "WindowsPhone")) {
    return Platform::kWindowsPhone;
  }
  if (EqualsIgnoreCase(t, "Outlook")) {
    return Platform::kOutlookMobile;
  }
  return Platform::kUnknown;
}

// The OS a platform runs on, for comparing sources: Outlook mobile runs on iOS
// and Android and so agrees with either; "other" and "unknown" say nothing.
bool PlatformsConflict(Platform a, Platform b) {
  auto concrete = [](Platform p) {
    return p == Platform::kIos || p == Platform::kAndroid ||
           p == Platform::kWindowsPhone;
  };
  return concrete(a) && concrete(b) && a != b;
}

std::string BuildLabel(const IosBuild& b) {
  std::string text = b.ToString();
  if (const IosRelease* r = FindIosRelease(text)) {
    return StrCat(text, " (iOS ", r->version, ")");
  }
  return text;
}

bool InvolvesEasAndInventory(const std::vector<SourcedValue>& values) {
  bool inventory = false;
  bool eas = false;
  for (const SourcedValue& v : values) {
    (v.source == FingerprintSource::kInventory ? inventory : eas) = true;
  }
  return inventory && eas;
}
constexpr std::string_view kStalePartnership =
    "The EAS client and the MDM inventory disagree: the device may have a "
    "second or stale EAS partnership (another device or an old backup using "
    "the same account), or it has not synced mail since it was updated. "
    "Decisions follow what the EAS client reports.";
constexpr std::string_view kSelfContradiction =
    "Values that describe the same software contradict each other (the EAS "
    "client's own reports, or the inventory's version and build): a proxy, a "
    "modified client or an inventory error may be the cause.";

// Adds a disagreement when `candidates` hold two different values (per
// `equal`).
template <typename T, typename Equal, typename Label>
void CheckAgreement(std::string_view field,
                    const std::vector<Candidate<T>>& candidates, Equal equal,
                    Label label, std::vector<Disagreement>* out) {
  bool differ = false;
  for (std::size_t i = 1; i < candidates.size(); ++i) {
    if (!equal(candidates[0].value, candidates[i].value)) {
      differ = true;
    }
  }
  if (!differ) {
    return;
  }
  Disagreement d;
  d.field = std::string(field);
  for (const auto& c : candidates) {
    d.values.push_back({c.source, label(c.value)});
  }
  d.explanation =
      std::string(InvolvesEasAndInventory(d.values) ? kStalePartnership
                                                    : kSelfContradiction);
  out->push_back(std::move(d));
}

void AddProblems(const std::vector<std::string>& problems,
                 std::vector<std::string>* notes) {
  notes->insert(notes->end(), problems.begin(), problems.end());
}

}  // namespace

std::string_view FingerprintSourceName(FingerprintSource source) {
  switch (source) {
    case FingerprintSource::kUserAgent:
      return "user_agent";
    case FingerprintSource::kDeviceOs:
      return "device_os";
    case FingerprintSource::kDeviceType:
      return "device_type";
    case FingerprintSource::kDeviceModel:
      return "device_model";
    case FingerprintSource::kInventory:
      return "inventory";
  }
  return "unknown";
}

std::string_view ConfidenceName(Confidence confidence) {
  switch (confidence) {
    case Confidence::kSuspected:
      return "suspected";
    case Confidence::kReported:
      return "reported";
    case Confidence::kConfirmed:
      return "confirmed";
  }
  return "unknown";
}

namespace {

// What each source says, parsed (problems noted in `fp`).
struct ParsedSources {
  std::optional<UserAgentInfo> ua;
  std::optional<DeviceOsInfo> dos;
  std::optional<IosBuild> inventory_build;
  std::optional<Version> inventory_version;
  std::optional<std::string> model_from_eas;
  std::string vendor_model;
  std::optional<std::string> model_from_inventory;
  AppleDeviceFamily type_family = AppleDeviceFamily::kUnknown;
};

// The facts each step chose from, by source (every source that yielded a
// fact counts, not only the ones that won).
struct Claims {
  std::vector<Candidate<Platform>> platforms;
  std::vector<Candidate<IosBuild>> builds;
  std::vector<Candidate<Version>> versions;
  std::vector<Candidate<std::string>> models;
};

ParsedSources ParseSources(const FingerprintInput& in, Fingerprint& fp) {
  ParsedSources src;
  if (!internal::Trim(in.user_agent).empty()) {
    src.ua = ParseUserAgent(in.user_agent);
    AddProblems(src.ua->problems, &fp.notes);
    fp.raw_user_agent = SanitizeText(in.user_agent);
    fp.client_family = src.ua->family;
    fp.client_version = src.ua->client_version;
    fp.eas_build = src.ua->eas_build;
  }
  if (!internal::Trim(in.device_os).empty()) {
    src.dos = ParseDeviceOs(in.device_os);
    AddProblems(src.dos->problems, &fp.notes);
  }
  if (const auto text = internal::Trim(in.inventory_build_version);
      !text.empty()) {
    if (auto b = ParseIosBuild(text); b.ok()) {
      src.inventory_build = *b;
    } else {
      fp.notes.push_back(
          StrCat("inventory build_version: ", b.status().message()));
    }
  }
  if (const auto text = internal::Trim(in.inventory_os_version);
      !text.empty()) {
    if (auto v = Version::Parse(text); v.ok()) {
      src.inventory_version = *v;
    } else {
      fp.notes.push_back(
          StrCat("inventory os_version: ", v.status().message()));
    }
  }
  if (const auto text = internal::Trim(in.device_model); !text.empty()) {
    src.model_from_eas = CanonicalAppleModelCode(text);
    if (!src.model_from_eas) {
      src.vendor_model = SanitizeText(text.substr(0, kMaxEchoedBytes));
    }
  }
  if (const auto text = internal::Trim(in.inventory_product_name);
      !text.empty()) {
    src.model_from_inventory = CanonicalAppleModelCode(text);
    if (!src.model_from_inventory) {
      fp.notes.push_back(StrCat("inventory product_name \"",
                                internal::Quote(text),
                                "\" is not an Apple hardware identifier"));
    }
  }
  src.type_family = ParseAppleDeviceType(in.device_type);
  if (!internal::Trim(in.device_type).empty() &&
      PlatformOfDeviceType(in.device_type) == Platform::kUnknown) {
    fp.notes.push_back(StrCat("DeviceType \"", internal::Quote(in.device_type),
                              "\" does not identify a platform"));
  }

  return src;
}

// The mail client's platform, checked against every source's.
void DecidePlatform(const FingerprintInput& in, const ParsedSources& src,
                    Fingerprint& fp, Claims& claims) {
  using S = FingerprintSource;
  auto add_platform = [&](S s, Platform p) {
    if (p != Platform::kUnknown) {
      claims.platforms.push_back({s, p});
    }
  };
  if (src.ua) {
    add_platform(S::kUserAgent, src.ua->platform);
  }
  if (src.dos) {
    add_platform(S::kDeviceOs, src.dos->platform);
  }
  add_platform(S::kDeviceType, PlatformOfDeviceType(in.device_type));
  if (src.model_from_eas) {
    add_platform(S::kDeviceModel, Platform::kIos);
  }
  if (src.model_from_inventory) {
    add_platform(S::kInventory, Platform::kIos);
  }
  // The platform is the mail client's. A User-Agent names the client: when it
  // is a third-party app (TouchDown, or one we do not recognise) the device
  // may still be an iPhone, but the built-in client's bugs do not apply.
  if (src.ua) {
    fp.platform = src.ua->platform != Platform::kUnknown ? src.ua->platform
                                                         : Platform::kOther;
    if (src.ua->platform == Platform::kUnknown && !claims.platforms.empty()) {
      fp.notes.push_back(
          StrCat("the mail client (", src.ua->family,
                 ") is not the device's built-in client; its issues are not "
                 "those of the OS client"));
    }
  } else if (!claims.platforms.empty()) {
    fp.platform = claims.platforms.front().value;
  }
  {
    std::vector<Candidate<Platform>> concrete;
    for (const auto& c : claims.platforms) {
      if (c.value != Platform::kOther && c.value != Platform::kOutlookMobile) {
        concrete.push_back(c);
      }
    }
    CheckAgreement(
        "platform", concrete,
        [](Platform a, Platform b) { return !PlatformsConflict(a, b); },
        [](Platform p) { return std::string(PlatformName(p)); },
        &fp.disagreements);
  }
}

// The iOS build, from the first source that states one.
void DecideBuild(const ParsedSources& src, Fingerprint& fp, Claims& claims) {
  using S = FingerprintSource;
  if (src.ua && src.ua->build) {
    claims.builds.push_back({S::kUserAgent, *src.ua->build});
  }
  if (src.dos && src.dos->build) {
    claims.builds.push_back({S::kDeviceOs, *src.dos->build});
  }
  if (src.inventory_build) {
    claims.builds.push_back({S::kInventory, *src.inventory_build});
  }
  if (!claims.builds.empty()) {
    fp.build = claims.builds.front().value;
    fp.build_in_catalog = FindIosRelease(fp.build->ToString()) != nullptr;
    fp.os_train = IosTrainForBuild(*fp.build).value_or("");
  }
  CheckAgreement(
      "build", claims.builds,
      [](const IosBuild& a, const IosBuild& b) { return a == b; }, BuildLabel,
      &fp.disagreements);
}

// The OS version: the first claim that can describe the chosen build; a
// build missing from the catalog is noted with what is known of it.
void DecideOsVersion(const ParsedSources& src, Fingerprint& fp,
                     Claims& claims) {
  using S = FingerprintSource;
  std::optional<FingerprintSource> version_source;
  // --- OS version. Each source's own claim, with the build the same source
  // states (a catalogued build speaks for its source). The fingerprint takes
  // the first claim that can describe the chosen build: one from a source
  // naming another build, or another major version, describes other software.
  std::vector<std::optional<IosBuild>>
      claimed_builds;  // parallel to claims.versions
  auto add_version = [&](S source, const Version& v,
                         const std::optional<IosBuild>& build) {
    claims.versions.push_back({source, v});
    claimed_builds.push_back(build);
  };
  auto catalog_version =
      [](const std::optional<IosBuild>& b) -> std::optional<Version> {
    if (!b) {
      return std::nullopt;
    }
    const IosRelease* r = FindIosRelease(b->ToString());
    if (r == nullptr) {
      return std::nullopt;
    }
    auto v = Version::Parse(r->version);
    return v.ok() ? std::optional<Version>(*v) : std::nullopt;
  };
  if (src.ua) {
    if (auto v = catalog_version(src.ua->build)) {
      add_version(S::kUserAgent, *v, src.ua->build);
    } else if (!src.ua->os_version.empty()) {
      if (auto parsed = Version::Parse(src.ua->os_version); parsed.ok()) {
        add_version(S::kUserAgent, *parsed, src.ua->build);
      }
    }
  }
  if (src.dos && src.dos->version) {
    add_version(S::kDeviceOs, *src.dos->version, src.dos->build);
  }
  const std::optional<Version> inventory_build_version =
      catalog_version(src.inventory_build);
  if (src.inventory_version) {
    add_version(S::kInventory, *src.inventory_version, src.inventory_build);
  }
  if (inventory_build_version &&
      (!src.inventory_version ||
       *src.inventory_version != *inventory_build_version)) {
    // Also the inventory's build, so an inventory contradicting itself shows.
    add_version(S::kInventory, *inventory_build_version, src.inventory_build);
  }
  for (std::size_t i = 0; i < claims.versions.size(); ++i) {
    const std::optional<IosBuild>& claimed = claimed_builds[i];
    bool describes_build = true;
    if (fp.build && claimed) {
      describes_build = *claimed == *fp.build;
    } else if (fp.build && fp.platform == Platform::kIos) {
      const std::optional<int> major = IosMajorForTrain(fp.build->train);
      describes_build = !major || *major == claims.versions[i].value.major();
    }
    if (describes_build) {
      fp.os_version = claims.versions[i].value;
      fp.os_major_version = fp.os_version->major();
      if (i > 0 || !fp.build_in_catalog) {
        version_source = claims.versions[i].source;
      }
      break;
    }
  }
  CheckAgreement(
      "osVersion", claims.versions,
      [](const Version& a, const Version& b) { return a == b; },
      [](const Version& v) { return v.ToString(); }, &fp.disagreements);
  if (fp.build && !fp.build_in_catalog) {
    if (!fp.os_major_version && fp.platform == Platform::kIos) {
      fp.os_major_version = IosMajorForTrain(fp.build->train);
    }
    std::string note = StrCat("build ", fp.build->ToString(),
                              " is not in the iOS build catalog");
    if (fp.os_version && version_source) {
      StrAppend(&note, "; the version ", fp.os_version->ToString(),
                " comes from ", FingerprintSourceName(*version_source));
    } else if (fp.os_major_version) {
      StrAppend(&note, "; its train ", fp.build->train, " makes it iOS ",
                *fp.os_major_version, ".x, exact version unknown");
    } else {
      StrAppend(&note, "; its version is unknown");
    }
    fp.notes.push_back(std::move(note));
  }
}

// The model code and name.
void DecideModel(const FingerprintInput& in, const ParsedSources& src,
                 Fingerprint& fp, Claims& claims, SourceSet& sources) {
  using S = FingerprintSource;
  if (src.ua && !src.ua->model_code.empty()) {
    claims.models.push_back({S::kUserAgent, src.ua->model_code});
  }
  if (src.model_from_eas) {
    claims.models.push_back({S::kDeviceModel, *src.model_from_eas});
  } else if (!src.vendor_model.empty()) {
    claims.models.push_back({S::kDeviceModel, src.vendor_model});
  }
  if (src.model_from_inventory) {
    claims.models.push_back({S::kInventory, *src.model_from_inventory});
  }
  if (!claims.models.empty()) {
    fp.model_code = claims.models.front().value;
  }
  CheckAgreement(
      "modelCode", claims.models,
      [](const std::string& a, const std::string& b) { return a == b; },
      [](const std::string& s) { return s; }, &fp.disagreements);
  if (const AppleModel* m = FindAppleModel(fp.model_code)) {
    fp.model_name = std::string(m->name);
  } else if (const auto name = internal::Trim(in.inventory_model_name);
             !name.empty()) {
    fp.model_name = SanitizeText(name.substr(0, kMaxEchoedBytes));
    sources.Add(S::kInventory);
  }
}

// The device family: the model decides; DeviceType, then a User-Agent that
// names the device without its model, then an iPadOS DeviceOS fill in.
void DecideFamily(const ParsedSources& src, const Claims& claims,
                  Fingerprint& fp, SourceSet& sources) {
  using S = FingerprintSource;
  const AppleDeviceFamily model_family = FamilyOfModelCode(fp.model_code);
  const AppleDeviceFamily os_family =
      src.dos ? src.dos->family : AppleDeviceFamily::kUnknown;
  const AppleDeviceFamily ua_family =
      src.ua ? src.ua->device_family : AppleDeviceFamily::kUnknown;
  fp.device_family = model_family != AppleDeviceFamily::kUnknown ? model_family
                     : src.type_family != AppleDeviceFamily::kUnknown
                         ? src.type_family
                     : ua_family != AppleDeviceFamily::kUnknown ? ua_family
                                                                : os_family;
  if (const AppleDeviceFamily other =
          model_family != AppleDeviceFamily::kUnknown ? model_family
                                                      : src.type_family;
      os_family != AppleDeviceFamily::kUnknown &&
      other != AppleDeviceFamily::kUnknown && other != os_family) {
    fp.disagreements.push_back(Disagreement{
        "deviceFamily",
        {{S::kDeviceOs, std::string(AppleDeviceFamilyName(os_family))},
         {model_family != AppleDeviceFamily::kUnknown
              ? claims.models.front().source
              : S::kDeviceType,
          std::string(AppleDeviceFamilyName(other))}},
        "DeviceOS names iPadOS, which runs on iPads only."});
  }
  if (src.type_family != AppleDeviceFamily::kUnknown) {
    sources.Add(S::kDeviceType);
  }
  if (model_family != AppleDeviceFamily::kUnknown &&
      src.type_family != AppleDeviceFamily::kUnknown &&
      model_family != src.type_family) {
    fp.disagreements.push_back(Disagreement{
        "deviceFamily",
        {{S::kDeviceType, std::string(AppleDeviceFamilyName(src.type_family))},
         {claims.models.front().source, fp.model_code}},
        "DeviceType names a different kind of device than the model code."});
  }
}

}  // namespace

Fingerprint ComputeFingerprint(const FingerprintInput& in) {
  Fingerprint fp;
  SourceSet sources;
  const ParsedSources parsed = ParseSources(in, fp);
  Claims claims;
  DecidePlatform(in, parsed, fp, claims);
  DecideBuild(parsed, fp, claims);
  DecideOsVersion(parsed, fp, claims);
  DecideModel(in, parsed, fp, claims, sources);
  DecideFamily(parsed, claims, fp, sources);
  // Every source that yielded a fact counts, not only the ones that won.
  for (const auto& c : claims.platforms) {
    sources.Add(c.source);
  }
  for (const auto& c : claims.builds) {
    sources.Add(c.source);
  }
  for (const auto& c : claims.versions) {
    sources.Add(c.source);
  }
  for (const auto& c : claims.models) {
    sources.Add(c.source);
  }
  fp.sources = std::move(sources).Sorted();

  if (const auto pv = internal::Trim(in.protocol_version); !pv.empty()) {
    fp.protocol_version = SanitizeText(pv.substr(0, 16));
  }
  return fp;
}

}  // namespace hijackguard::detector
