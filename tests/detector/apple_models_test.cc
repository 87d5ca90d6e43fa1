#include "detector/apple_models.h"

#include "gtest/gtest.h"

namespace hijackguard::detector {
namespace {

TEST(AppleModelsTest, CanonicalisesCodesAndHardwareIdentifiers) {
  EXPECT_EQ(CanonicalAppleModelCode("iPhone4C1"), "iPhone4C1");
  EXPECT_EQ(CanonicalAppleModelCode("iphone4c1"), "iPhone4C1");
  EXPECT_EQ(CanonicalAppleModelCode("iPhone4,1"), "iPhone4C1");
  EXPECT_EQ(CanonicalAppleModelCode(" IPAD3,4 "), "iPad3C4");
  EXPECT_EQ(CanonicalAppleModelCode("iPod5C1"), "iPod5C1");
  EXPECT_EQ(CanonicalAppleModelCode("iPhone10C6"), "iPhone10C6");
}

TEST(AppleModelsTest, RejectsAnythingElse) {
  for (const char* bad :
       {"", "iPhone", "iPhone4", "iPhone4C", "iPhone4C1x", "iPhone04C1",
        "iPhone123C1", "iPhoneC1", "Galaxy4C1", "iPhone4;1"}) {
    EXPECT_EQ(CanonicalAppleModelCode(bad), std::nullopt) << bad;
  }
}

TEST(AppleModelsTest, NamesAndFamilies) {
  ASSERT_NE(FindAppleModel("iPhone4C1"), nullptr);
  EXPECT_EQ(FindAppleModel("iPhone4C1")->name, "iPhone 4S");
  EXPECT_EQ(FindAppleModel("iPad3C4")->name, "iPad (4th generation, Wi-Fi)");
  EXPECT_EQ(FindAppleModel("iPhone99C1"), nullptr);
  EXPECT_EQ(FamilyOfModelCode("iPad2C5"), AppleDeviceFamily::kIpad);
  EXPECT_EQ(FamilyOfModelCode("iPod4C1"), AppleDeviceFamily::kIpod);
  EXPECT_EQ(FamilyOfModelCode("SM-G930F"), AppleDeviceFamily::kUnknown);
  EXPECT_EQ(ParseAppleDeviceType("IPHONE"), AppleDeviceFamily::kIphone);
  EXPECT_EQ(ParseAppleDeviceType("ipad"), AppleDeviceFamily::kIpad);
  EXPECT_EQ(ParseAppleDeviceType("Android"), AppleDeviceFamily::kUnknown);
}

TEST(AppleModelsTest, EveryCatalogCodeIsCanonical) {
  for (const AppleModel& m : AllAppleModels()) {
    EXPECT_EQ(CanonicalAppleModelCode(m.code), std::string(m.code));
  }
}

}  // namespace
}  // namespace hijackguard::detector
