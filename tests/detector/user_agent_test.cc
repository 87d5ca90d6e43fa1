#include "detector/user_agent.h"

#include <random>

#include "common/utf8.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hijackguard::detector {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

struct UaCase {
  friend void PrintTo(const UaCase& c, std::ostream* os) { *os << c.ua; }
  const char* ua;
  Platform platform;
  const char* family;
  const char* model_code;
  const char* build;  // Apple build, "" when none
  const char* os_version;
  const char* client_version;
};

class UserAgentFamilyTest : public ::testing::TestWithParam<UaCase> {};

TEST_P(UserAgentFamilyTest, Recognises) {
  const UaCase& c = GetParam();
  const UserAgentInfo info = ParseUserAgent(c.ua);
  EXPECT_EQ(info.platform, c.platform);
  EXPECT_EQ(info.family, c.family);
  EXPECT_EQ(info.model_code, c.model_code);
  EXPECT_EQ(info.build ? info.build->ToString() : "", c.build);
  EXPECT_EQ(info.os_version, c.os_version);
  EXPECT_EQ(info.client_version, c.client_version);
  EXPECT_THAT(info.problems, IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(
    Families, UserAgentFamilyTest,
    ::testing::Values(
        UaCase{"Apple-iPhone4C1/1001.403", Platform::kIos, "apple-ios",
               "iPhone4C1", "10A403", "", ""},
        UaCase{"Apple-iPad2C1/1002.141", Platform::kIos, "apple-ios", "iPad2C1",
               "10B141", "", ""},
        UaCase{"Apple-iPhone2C1/705.018", Platform::kIos, "apple-ios",
               "iPhone2C1", "7E18", "", ""},
        UaCase{"Apple-iPod5C1/1102.55400001", Platform::kIos, "apple-ios",
               "iPod5C1", "11B554a", "", ""},
        UaCase{"apple-iphone4c1/1001.403", Platform::kIos, "apple-ios",
               "iPhone4C1", "10A403", "", ""},
        UaCase{"Apple-iPhone3C1/807.4", Platform::kIos, "apple-ios",
               "iPhone3C1", "8G4", "", ""},
        UaCase{"iOS/11.2.6 (15D100) dataaccessd/1.0", Platform::kIos,
               "apple-ios", "", "15D100", "11.2.6", ""},
        UaCase{"iOS/1002.329", Platform::kIos, "apple-ios", "", "10B329", "",
               ""},
        UaCase{"Outlook-iOS/2.0", Platform::kOutlookMobile, "outlook-ios", "",
               "", "", "2.0"},
        UaCase{"Outlook-Android/2.0", Platform::kOutlookMobile,
               "outlook-android", "", "", "", "2.0"},
        UaCase{"Outlook-iOS-Android/1.0", Platform::kOutlookMobile,
               "outlook-mobile", "", "", "", "1.0"},
        UaCase{"Android/4.4.2-EAS-2.0", Platform::kAndroid, "android-exchange",
               "", "", "4.4.2", "2.0"},
        UaCase{"Android/0.3", Platform::kAndroid, "android-exchange", "", "",
               "", "0.3"},
        UaCase{"SAMSUNG-GT-I9300/101.40102", Platform::kAndroid,
               "samsung-email", "GT-I9300", "", "", "101.40102"},
        UaCase{"Android-SAMSUNG-SM-G930F/101.60000", Platform::kAndroid,
               "samsung-email", "SM-G930F", "", "", "101.60000"},
        UaCase{"MSFT-WP/8.0.10517", Platform::kWindowsPhone, "windows-phone",
               "", "", "8.0.10517", ""},
        UaCase{"MSFT-PPC/5.2.5082", Platform::kWindowsPhone, "windows-mobile",
               "", "", "5.2.5082", ""},
        UaCase{"MSFT-WIN-3/6.3.9600", Platform::kOther, "windows-mail", "", "",
               "", "6.3.9600"},
        UaCase{"TouchDown(MSEAS)/8.1.00052", Platform::kUnknown, "touchdown",
               "", "", "", "8.1.00052"},
        UaCase{"BlackBerry10/10.3.1", Platform::kOther, "blackberry", "", "",
               "", ""}));

TEST(UserAgentTest, UnknownClientKeepsNoFactsAndSaysWhy) {
  const UserAgentInfo info = ParseUserAgent("FancyMail/3.1 (Linux)");
  EXPECT_EQ(info.platform, Platform::kUnknown);
  EXPECT_EQ(info.family, "unrecognized");
  EXPECT_THAT(info.problems,
              Contains(HasSubstr("matches no known EAS client family")));
}

TEST(UserAgentTest, BadModelCodeKeepsTheBuildAndSaysWhy) {
  for (const std::string ua :
       {"Apple-Toaster9/1001.403", "Apple-\xff\xfe/1001.403"}) {
    const UserAgentInfo info = ParseUserAgent(ua);
    EXPECT_EQ(info.platform, Platform::kIos);
    EXPECT_EQ(info.model_code, "");
    ASSERT_TRUE(info.build.has_value());
    EXPECT_EQ(info.build->ToString(), "10A403");
    EXPECT_THAT(info.problems,
                Contains(HasSubstr("is not an Apple model code")));
    for (const std::string& p : info.problems) {
      EXPECT_TRUE(IsValidUtf8(p)) << p;
    }
  }
}

struct HostileCase {
  friend void PrintTo(const HostileCase& c, std::ostream* os) { *os << c.name; }
  std::string name;
  std::string ua;
  std::string problem;  // substring of one problem
};

std::vector<HostileCase> HostileCases() {
  return {
      {"Empty", "", "User-Agent is empty"},
      {"Blank", "   \t ", "User-Agent is empty"},
      {"NoModelNoBuild", "Apple-/", "no model code"},
      {"NoBuild", "Apple-iPhone4C1/", "no Exchange build after '/'"},
      {"NoSlash", "Apple-iPhone4C1", "no Exchange build (no '/')"},
      {"HugeTrain", "Apple-iPhone4C1/99999999999999999999.403",
       "3 or 4 digits"},
      {"HugeNumber", "Apple-iPhone4C1/1001.99999999999999999999",
       "more than 9 digits"},
      {"NulInBuild",
       std::string("Apple-iPhone4C1/1001.4\0"
                   "03",
                   24),
       "unexpected character"},
      {"HundredKiB", "Apple-iPhone4C1/" + std::string(100 * 1024, '9'),
       "3 or 4 digits"},
      {"HundredKiBFraction",
       "Apple-iPhone4C1/1001." + std::string(100 * 1024, '9'),
       "more than 9 digits"},
      {"HundredKiBGarbage", std::string(100 * 1024, '\x80'),
       "matches no known EAS client"},
  };
}

class HostileUserAgentTest : public ::testing::TestWithParam<HostileCase> {};

TEST_P(HostileUserAgentTest, GivesUnknownBuildWithAReason) {
  const UserAgentInfo info = ParseUserAgent(GetParam().ua);
  EXPECT_FALSE(info.build.has_value());
  EXPECT_THAT(info.problems, Contains(HasSubstr(GetParam().problem)));
  for (const std::string& p : info.problems) {
    EXPECT_TRUE(IsValidUtf8(p)) << p;
    EXPECT_LT(p.size(), 300u) << "messages quote a bounded prefix of the input";
  }
  EXPECT_TRUE(IsValidUtf8(info.model_code));
  EXPECT_TRUE(IsValidUtf8(info.client_version));
}

INSTANTIATE_TEST_SUITE_P(Hostile, HostileUserAgentTest,
                         ::testing::ValuesIn(HostileCases()),
                         [](const auto& test_info) {
                           return test_info.param.name;
                         });

TEST(UserAgentTest, RandomBytesNeverCrashAndYieldPrintableText) {
  std::mt19937 rng(20121023);  // the Exchange Team blog post's date
  const std::string prefixes[] = {"",         "Apple-",      "Apple-iPhone4C1/",
                                  "iOS/",     "Android/",    "SAMSUNG-",
                                  "MSFT-WP/", "Outlook-iOS/"};
  for (int i = 0; i < 20000; ++i) {
    std::string ua =
        prefixes[static_cast<std::size_t>(i) % std::size(prefixes)];
    const int len = static_cast<int>(rng() % 40);
    for (int k = 0; k < len; ++k) {
      ua.push_back(static_cast<char>(rng() % 256));
    }
    const UserAgentInfo info = ParseUserAgent(ua);
    ASSERT_TRUE(IsValidUtf8(info.family));
    ASSERT_TRUE(IsValidUtf8(info.model_code));
    ASSERT_TRUE(IsValidUtf8(info.client_version));
    ASSERT_TRUE(IsValidUtf8(info.eas_build));
    ASSERT_TRUE(IsValidUtf8(info.os_version));
    for (const std::string& p : info.problems) {
      ASSERT_TRUE(IsValidUtf8(p));
    }
  }
}

}  // namespace
}  // namespace hijackguard::detector
