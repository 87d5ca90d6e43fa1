#include "detector/device_os.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hijackguard::detector {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(DeviceOsTest, ParsesIosWithBuild) {
  const DeviceOsInfo info = ParseDeviceOs("iOS 6.0.1 10A523");
  EXPECT_EQ(info.platform, Platform::kIos);
  ASSERT_TRUE(info.version.has_value());
  EXPECT_EQ(info.version->ToString(), "6.0.1");
  ASSERT_TRUE(info.build.has_value());
  EXPECT_EQ(info.build->ToString(), "10A523");
  EXPECT_THAT(info.problems, IsEmpty());
}

TEST(DeviceOsTest, ParsesOtherPlatformsAndNames) {
  struct Case {
    const char* text;
    Platform platform;
    const char* version;
  };
  for (const Case& c :
       {Case{"iPhone OS 4.3.3 8J2", Platform::kIos, "4.3.3"},
        Case{"Android 4.4.2", Platform::kAndroid, "4.4.2"},
        Case{"Windows Phone 8.0", Platform::kWindowsPhone, "8.0"},
        Case{"  ios   7.1.2   11D257  ", Platform::kIos, "7.1.2"}}) {
    SCOPED_TRACE(c.text);
    const DeviceOsInfo info = ParseDeviceOs(c.text);
    EXPECT_EQ(info.platform, c.platform);
    ASSERT_TRUE(info.version.has_value());
    EXPECT_EQ(info.version->ToString(), c.version);
    EXPECT_THAT(info.problems, IsEmpty());
  }
}

TEST(DeviceOsTest, ProblemsAreReportedNotThrown) {
  struct Case {
    std::string text;
    const char* problem;
  };
  const Case cases[] = {
      {"", "DeviceOS is empty"},
      {"iOS", "has no version"},
      {"6.0.1 10A523", "names no operating system"},
      {"iOS 6.x 10A523", "expected a digit at offset 2"},
      {"iOS 6.0.1 10A52X3", "unexpected character"},
      {"iOS 6.0.1 10A523 extra", "unexpected trailing text"},
      {"PalmOS 5.4", "unrecognized OS"},
      {std::string("iOS 6.0\0.1 10A523", 17), "unexpected character"},
      {"iOS 99999999999999999999.0", "exceeds"},
      {"iOS 1.2.3.4.5", "more than 4 components"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_THAT(ParseDeviceOs(c.text).problems, Contains(HasSubstr(c.problem)));
  }
}

}  // namespace
}  // namespace hijackguard::detector
