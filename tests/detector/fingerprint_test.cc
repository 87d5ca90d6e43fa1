#include "detector/fingerprint.h"

#include <random>

#include "common/utf8.h"
#include "detector/ios_releases.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hijackguard::detector {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string VersionText(const Fingerprint& fp) {
  return fp.os_version ? fp.os_version->ToString() : "";
}
std::string BuildText(const Fingerprint& fp) {
  return fp.build ? fp.build->ToString() : "";
}

TEST(FingerprintTest, UserAgentAloneGivesVersionBuildAndModel) {
  const Fingerprint fp =
      ComputeFingerprint({.user_agent = "Apple-iPhone4C1/1001.403"});
  EXPECT_EQ(fp.platform, Platform::kIos);
  EXPECT_EQ(VersionText(fp), "6.0");
  EXPECT_EQ(BuildText(fp), "10A403");
  EXPECT_EQ(fp.eas_build, "1001.403");
  EXPECT_EQ(fp.model_code, "iPhone4C1");
  EXPECT_EQ(fp.model_name, "iPhone 4S");
  EXPECT_EQ(fp.device_family, AppleDeviceFamily::kIphone);
  EXPECT_TRUE(fp.build_in_catalog);
  EXPECT_TRUE(fp.consistent());
  EXPECT_THAT(fp.sources, ElementsAre(FingerprintSource::kUserAgent));
  EXPECT_THAT(fp.notes, IsEmpty());
}

// An iPhone of this decade (iPhone 7 Plus, iOS 12.1): the build unpadded, not
// in the catalog, still gives its build, major version and model.
TEST(FingerprintTest, TodaysIphoneGivesBuildMajorVersionAndModel) {
  const Fingerprint fp =
      ComputeFingerprint({.user_agent = "Apple-iPhone9C4/1602.92"});
  EXPECT_EQ(fp.platform, Platform::kIos);
  EXPECT_EQ(BuildText(fp), "16B92");
  EXPECT_EQ(fp.os_major_version, 12);
  EXPECT_EQ(VersionText(fp), "") << "never a guess";
  EXPECT_EQ(fp.os_train, "") << "train 16's letters skip";
  EXPECT_EQ(fp.model_name, "iPhone 7 Plus");
  EXPECT_THAT(fp.notes, ElementsAre(HasSubstr("makes it iOS 12.x")));
}

TEST(FingerprintTest, ModernBuildsGiveTheirTrain) {
  const Fingerprint fp =
      ComputeFingerprint({.user_agent = "Apple-iPhone16C1/2106.90",
                          .device_os = "iOS 17.5.1 21F90"});
  EXPECT_EQ(BuildText(fp), "21F90");
  EXPECT_EQ(fp.os_train, "17.5");
  EXPECT_EQ(VersionText(fp), "17.5.1") << "from DeviceOS";
  EXPECT_EQ(fp.os_major_version, 17);
  EXPECT_EQ(fp.model_name, "iPhone 15 Pro");
  EXPECT_TRUE(fp.consistent());
  EXPECT_EQ(ComputeFingerprint({.device_os = "iOS 26.0 23A341"}).os_train,
            "26.0");
  EXPECT_EQ(ComputeFingerprint({.device_os = "iOS 15.8 19H370"}).os_train, "")
      << "19H holds 15.7 and 15.8";
}

TEST(FingerprintTest, IpadOsNamesTheFamily) {
  const Fingerprint fp = ComputeFingerprint({.device_os = "iPadOS 16.6 20G75"});
  EXPECT_EQ(fp.device_family, AppleDeviceFamily::kIpad);
  EXPECT_EQ(fp.os_train, "16.6");
  const Fingerprint odd = ComputeFingerprint(
      {.device_os = "iPadOS 16.6 20G75", .device_model = "iPhone14C5"});
  EXPECT_EQ(odd.device_family, AppleDeviceFamily::kIphone) << "the model wins";
  EXPECT_THAT(odd.disagreements,
              Contains(Field(&Disagreement::field, "deviceFamily")));
}

TEST(FingerprintTest, EveryCatalogBuildResolvesFromItsUserAgentInBothPaddings) {
  for (const IosRelease& r : AllIosReleases()) {
    SCOPED_TRACE(r.build);
    const IosBuild build = *ParseIosBuild(r.build);
    std::vector<std::string> forms = {build.ToExchangeBuild()};
    if (build.number < 10 && build.suffix == '\0') {
      forms.push_back(
          build.ToExchangeBuild().substr(0, forms[0].find('.') + 1) +
          std::to_string(build.number));
    }
    for (const std::string& eas : forms) {
      const std::string ua = "Apple-iPhone4C1/" + eas;
      const Fingerprint fp = ComputeFingerprint({.user_agent = ua});
      EXPECT_EQ(BuildText(fp), r.build) << ua;
      EXPECT_EQ(VersionText(fp), r.version) << ua;
      EXPECT_EQ(fp.eas_build, eas);
      EXPECT_TRUE(fp.build_in_catalog);
    }
  }
}

TEST(FingerprintTest, AllSourcesAgreeing) {
  const Fingerprint fp =
      ComputeFingerprint({.user_agent = "Apple-iPhone4C1/1001.523",
                          .device_type = "iPhone",
                          .device_os = "iOS 6.0.1 10A523",
                          .device_model = "iPhone4C1",
                          .protocol_version = "14.1",
                          .inventory_product_name = "iPhone4,1",
                          .inventory_os_version = "6.0.1",
                          .inventory_build_version = "10A523",
                          .inventory_model_name = "iPhone 4S"});
  EXPECT_TRUE(fp.consistent());
  EXPECT_EQ(VersionText(fp), "6.0.1");
  EXPECT_EQ(fp.protocol_version, "14.1");
  EXPECT_THAT(fp.sources, ElementsAre(FingerprintSource::kUserAgent,
                                      FingerprintSource::kDeviceOs,
                                      FingerprintSource::kDeviceType,
                                      FingerprintSource::kDeviceModel,
                                      FingerprintSource::kInventory));
}

TEST(FingerprintTest, InventoryNewerThanEasClientIsSpelledOut) {
  // The MDM says 6.1.2 but the EAS partnership still reports 6.0.1: a second or
  // stale partnership. Decisions follow the EAS client.
  const Fingerprint fp =
      ComputeFingerprint({.user_agent = "Apple-iPhone4C1/1001.523",
                          .inventory_product_name = "iPhone4,1",
                          .inventory_os_version = "6.1.2",
                          .inventory_build_version = "10B146"});
  EXPECT_FALSE(fp.consistent());
  EXPECT_EQ(VersionText(fp), "6.0.1");
  EXPECT_EQ(BuildText(fp), "10A523");
  ASSERT_EQ(fp.disagreements.size(), 2u);
  EXPECT_EQ(fp.disagreements[0].field, "build");
  EXPECT_THAT(fp.disagreements[0].values,
              ElementsAre(Field(&SourcedValue::value, "10A523 (iOS 6.0.1)"),
                          Field(&SourcedValue::value, "10B146 (iOS 6.1.2)")));
  EXPECT_EQ(fp.disagreements[1].field, "osVersion");
  EXPECT_THAT(fp.disagreements[1].explanation,
              HasSubstr("stale EAS partnership"));
}

TEST(FingerprintTest, DeviceTypeContradictingModelIsReported) {
  const Fingerprint fp = ComputeFingerprint(
      {.user_agent = "Apple-iPhone4C1/1001.523", .device_type = "iPad"});
  ASSERT_EQ(fp.disagreements.size(), 1u);
  EXPECT_EQ(fp.disagreements[0].field, "deviceFamily");
}

TEST(FingerprintTest, PlatformContradictionIsReported) {
  const Fingerprint fp = ComputeFingerprint(
      {.user_agent = "Apple-iPhone4C1/1001.523", .device_os = "Android 4.4"});
  EXPECT_EQ(fp.platform, Platform::kIos);
  EXPECT_THAT(fp.disagreements,
              Contains(Field(&Disagreement::field, "platform")));
}

TEST(FingerprintTest, UnknownBuildIsUnknownWithTheTrainsMajorVersion) {
  const Fingerprint fp =
      ComputeFingerprint({.user_agent = "Apple-iPhone5C2/1001.999"});
  EXPECT_EQ(BuildText(fp), "10A999");
  EXPECT_FALSE(fp.build_in_catalog);
  EXPECT_FALSE(fp.os_version.has_value()) << "no version may be guessed";
  EXPECT_EQ(fp.os_major_version, 6);
  EXPECT_THAT(fp.notes, Contains(HasSubstr("not in the iOS build catalog")));
  EXPECT_THAT(fp.notes, Contains(HasSubstr("iOS 6.x, exact version unknown")));
}

TEST(FingerprintTest, UnknownBuildTakesTheVersionDeviceOsStates) {
  const Fingerprint fp = ComputeFingerprint(
      {.user_agent = "Apple-iPhone7C2/1303.075", .device_os = "iOS 9.2 13C75"});
  EXPECT_EQ(BuildText(fp), "13C75");
  EXPECT_EQ(VersionText(fp), "9.2");
  EXPECT_TRUE(fp.consistent());
  EXPECT_THAT(fp.notes, Contains(HasSubstr("comes from device_os")));
}

TEST(FingerprintTest, InventoryOnly) {
  const Fingerprint fp =
      ComputeFingerprint({.inventory_product_name = "iPad3,4",
                          .inventory_os_version = "6.0",
                          .inventory_build_version = "10A403"});
  EXPECT_EQ(fp.platform, Platform::kIos);
  EXPECT_EQ(fp.model_name, "iPad (4th generation, Wi-Fi)");
  EXPECT_EQ(VersionText(fp), "6.0");
  EXPECT_THAT(fp.sources, ElementsAre(FingerprintSource::kInventory));
}

TEST(FingerprintTest, OutlookOnIosIsOutlookMobileNotIos) {
  const Fingerprint fp =
      ComputeFingerprint({.user_agent = "Outlook-iOS/2.0",
                          .device_type = "Outlook",
                          .inventory_product_name = "iPhone5,2",
                          .inventory_os_version = "6.0"});
  EXPECT_EQ(fp.platform, Platform::kOutlookMobile);
  EXPECT_TRUE(fp.consistent())
      << "Outlook runs on iOS; that is no contradiction";
  EXPECT_EQ(fp.client_family, "outlook-ios");
}

TEST(FingerprintTest, ThirdPartyClientOnAnIphoneIsNotTheIosClient) {
  for (const char* ua : {"TouchDown(MSEAS)/8.1.00052", "FancyMail/3.1"}) {
    const Fingerprint fp =
        ComputeFingerprint({.user_agent = ua,
                            .device_type = "iPhone",
                            .device_os = "iOS 6.0 10A403",
                            .inventory_build_version = "10A403"});
    EXPECT_EQ(fp.platform, Platform::kOther) << ua;
    EXPECT_EQ(VersionText(fp), "6.0") << "the device facts stay";
    EXPECT_EQ(fp.device_family, AppleDeviceFamily::kIphone);
    EXPECT_TRUE(fp.consistent())
        << "a third-party app on iOS contradicts nothing";
    EXPECT_THAT(fp.notes,
                Contains(HasSubstr("not the device's built-in client")));
  }
}

TEST(FingerprintTest, VersionOfAnotherBuildIsNotTakenForAnUnknownBuild) {
  // The User-Agent's build is uncatalogued; the inventory names another build
  // (10B146 = 6.1.2) and, contradicting itself, version 6.0. Neither version
  // describes the build that syncs.
  const Fingerprint fp =
      ComputeFingerprint({.user_agent = "Apple-iPhone4C1/1001.999",
                          .inventory_os_version = "6.0",
                          .inventory_build_version = "10B146"});
  EXPECT_EQ(BuildText(fp), "10A999");
  EXPECT_FALSE(fp.os_version.has_value());
  EXPECT_EQ(fp.os_major_version, 6);
  ASSERT_EQ(fp.disagreements.size(), 2u);
  EXPECT_EQ(fp.disagreements[1].field, "osVersion");
  EXPECT_THAT(fp.disagreements[1].values,
              ElementsAre(Field(&SourcedValue::value, "6.0"),
                          Field(&SourcedValue::value, "6.1.2")));
}

TEST(FingerprintTest, VersionWithoutBuildMustMatchTheBuildsMajorVersion) {
  EXPECT_EQ(
      VersionText(ComputeFingerprint({.user_agent = "Apple-iPhone4C1/1001.999",
                                      .inventory_os_version = "6.0"})),
      "6.0");
  EXPECT_EQ(
      VersionText(ComputeFingerprint({.user_agent = "Apple-iPhone4C1/1001.999",
                                      .inventory_os_version = "7.0"})),
      "");
}

TEST(FingerprintTest, InventoryContradictingItselfIsReported) {
  const Fingerprint fp =
      ComputeFingerprint({.inventory_product_name = "iPhone4,1",
                          .inventory_os_version = "6.0",
                          .inventory_build_version = "10B146"});
  ASSERT_EQ(fp.disagreements.size(), 1u);
  EXPECT_EQ(fp.disagreements[0].field, "osVersion");
  EXPECT_THAT(fp.disagreements[0].explanation,
              HasSubstr("inventory's version and build"));
  EXPECT_EQ(VersionText(fp), "6.0") << "the inventory's own version, flagged";
}

TEST(FingerprintTest, AndroidDevice) {
  const Fingerprint fp =
      ComputeFingerprint({.user_agent = "Android/4.4.2-EAS-2.0",
                          .device_type = "Android",
                          .device_os = "Android 4.4.2",
                          .device_model = "Nexus 5"});
  EXPECT_EQ(fp.platform, Platform::kAndroid);
  EXPECT_EQ(VersionText(fp), "4.4.2");
  EXPECT_EQ(fp.model_code, "Nexus 5");
  EXPECT_FALSE(fp.build.has_value());
  EXPECT_TRUE(fp.consistent());
}

TEST(FingerprintTest, NothingKnownIsUnknown) {
  const Fingerprint fp = ComputeFingerprint({});
  EXPECT_EQ(fp.platform, Platform::kUnknown);
  EXPECT_THAT(fp.sources, IsEmpty());
  EXPECT_TRUE(fp.consistent());
}

TEST(FingerprintTest, HostileInputsEverywhereGiveUnknownsAndValidText) {
  const std::string big(100 * 1024, 'A');
  const std::string nul(
      "iOS 6.0 10A\0"
      "403",
      14);
  const std::string bad_utf8 = "\xC0\xAF\xED\xA0\x80\xF5\x80\x80\x80";
  const Fingerprint fp = ComputeFingerprint({.user_agent = bad_utf8 + big,
                                             .device_type = nul,
                                             .device_os = nul,
                                             .device_model = bad_utf8,
                                             .protocol_version = bad_utf8,
                                             .inventory_product_name = big,
                                             .inventory_os_version = bad_utf8,
                                             .inventory_build_version = nul,
                                             .inventory_model_name = bad_utf8});
  EXPECT_FALSE(fp.build.has_value());
  EXPECT_TRUE(IsValidUtf8(fp.raw_user_agent));
  EXPECT_TRUE(IsValidUtf8(fp.model_code));
  EXPECT_TRUE(IsValidUtf8(fp.model_name));
  EXPECT_TRUE(IsValidUtf8(fp.protocol_version));
  EXPECT_FALSE(fp.notes.empty());
  for (const std::string& n : fp.notes) {
    EXPECT_TRUE(IsValidUtf8(n)) << n;
  }
}

TEST(FingerprintTest, RandomInputsNeverCrash) {
  std::mt19937 rng(2768774);  // KB 2768774
  auto random_text = [&](std::string prefix) {
    const int len = static_cast<int>(rng() % 24);
    for (int k = 0; k < len; ++k) {
      prefix.push_back(static_cast<char>(rng() % 256));
    }
    return prefix;
  };
  for (int i = 0; i < 5000; ++i) {
    const std::string ua = random_text(i % 2 ? "Apple-iPhone4C1/100" : "");
    const std::string os = random_text(i % 3 ? "iOS 6." : "");
    const std::string inv_build = random_text(i % 5 ? "10A" : "");
    const std::string model = random_text("");
    const Fingerprint fp =
        ComputeFingerprint({.user_agent = ua,
                            .device_os = os,
                            .device_model = model,
                            .inventory_build_version = inv_build});
    ASSERT_TRUE(IsValidUtf8(fp.raw_user_agent));
    ASSERT_TRUE(IsValidUtf8(fp.model_code));
    for (const auto& d : fp.disagreements) {
      for (const auto& v : d.values) {
        ASSERT_TRUE(IsValidUtf8(v.value));
      }
    }
  }
}

}  // namespace
}  // namespace hijackguard::detector
