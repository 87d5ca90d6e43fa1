#include "detector/apple_models.h"

#include <string>
#include <tuple>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hijackguard::detector {
namespace {

using ::testing::HasSubstr;

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

TEST(AppleModelsTest, EveryRowHasASourceAndTheTableIsInIdentifierOrder) {
  auto order = [](std::string_view code) {
    const auto family = FamilyOfModelCode(code);
    const std::size_t digits = AppleDeviceFamilyName(family).size();
    const std::size_t c = code.find('C', digits);
    return std::tuple(static_cast<int>(family),
                      std::stoi(std::string(code.substr(digits, c - digits))),
                      std::stoi(std::string(code.substr(c + 1))));
  };
  const auto models = AllAppleModels();
  for (std::size_t i = 0; i < models.size(); ++i) {
    SCOPED_TRACE(models[i].code);
    EXPECT_THAT(models[i].source, HasSubstr("https://"));
    EXPECT_FALSE(models[i].name.empty());
    if (i > 0) {
      EXPECT_LT(order(models[i - 1].code), order(models[i].code));
    }
  }
}

// The devices of 2024 and 2025 a fleet has today, as Apple names them.
TEST(AppleModelsTest, NamesTodaysDevices) {
  const std::pair<const char*, const char*> cases[] = {
      {"iPhone9C4", "iPhone 7 Plus"},
      {"iPhone14C5", "iPhone 13"},
      {"iPhone17C5", "iPhone 16e"},
      {"iPhone18C1", "iPhone 17 Pro"},
      {"iPhone18C3", "iPhone 17"},
      {"iPhone18C4", "iPhone Air"},
      {"iPad16C1", "iPad mini (A17 Pro, Wi-Fi)"},
      {"iPad15C8", "iPad (A16, cellular)"},
      {"iPod9C1", "iPod touch (7th generation)"},
  };
  for (const auto& [code, name] : cases) {
    const AppleModel* m = FindAppleModel(code);
    ASSERT_NE(m, nullptr) << code;
    EXPECT_EQ(m->name, name);
  }
  EXPECT_EQ(FindAppleModel("iPhone19C1"), nullptr) << "not released yet";
}

}  // namespace
}  // namespace hijackguard::detector
