#include "detector/ios_build.h"

#include "detector/ios_releases.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"

namespace hijackguard::detector {
namespace {

using ::hijackguard::testing::IsOk;
using ::hijackguard::testing::StatusIs;
using ::testing::HasSubstr;

TEST(IosBuildTest, EveryCatalogBuildRoundTripsThroughTheExchangeForm) {
  for (const IosRelease& release : AllIosReleases()) {
    SCOPED_TRACE(release.build);
    auto build = ParseIosBuild(release.build);
    ASSERT_THAT(build, IsOk());
    EXPECT_EQ(build->ToString(), release.build);
    const std::string eas = build->ToExchangeBuild();
    auto back = ParseExchangeBuild(eas);
    ASSERT_THAT(back, IsOk());
    EXPECT_EQ(*back, *build);
    EXPECT_EQ(back->ToString(), release.build);
  }
}

struct Pair {
  const char* build;
  const char* eas;
  friend void PrintTo(const Pair& p, std::ostream* os) {
    *os << p.build << " " << p.eas;
  }
};

class IosBuildPairTest : public ::testing::TestWithParam<Pair> {};

TEST_P(IosBuildPairTest, ConvertsBothWays) {
  auto build = ParseIosBuild(GetParam().build);
  ASSERT_THAT(build, IsOk());
  EXPECT_EQ(build->ToExchangeBuild(), GetParam().eas);
  auto back = ParseExchangeBuild(GetParam().eas);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->ToString(), GetParam().build);
}

// Apple's and Horde's examples (activesync.md §4.1).
INSTANTIATE_TEST_SUITE_P(
    AppleRule, IosBuildPairTest,
    ::testing::Values(Pair{"10A523", "1001.523"}, Pair{"10A403", "1001.403"},
                      Pair{"10B141", "1002.141"}, Pair{"7E18", "705.018"},
                      Pair{"10A8426", "1001.8426"},
                      Pair{"11A470a", "1101.47000001"},
                      Pair{"11B554a", "1102.55400001"},
                      Pair{"8C148a", "803.14800001"},
                      Pair{"15D100", "1504.100"}, Pair{"8G4", "807.004"}));

TEST(IosBuildTest, AcceptsUppercaseSuffixFromApplesOwnExample) {
  auto build = ParseIosBuild("5H11A");
  ASSERT_THAT(build, IsOk());
  EXPECT_EQ(build->ToExchangeBuild(), "508.01100001");
  EXPECT_EQ(build->ToString(), "5H11a");
}

// Modern iOS writes numbers below 100 without padding: Apple-iPhone9C4/1602.92
// is iOS 12.1 (16B92).
TEST(IosBuildTest, TwoDigitBuildsParseUnpadded) {
  EXPECT_EQ(ParseExchangeBuild("1602.92")->ToString(), "16B92");
  EXPECT_EQ(ParseExchangeBuild("1602.092")->ToString(), "16B92");
  EXPECT_EQ(ParseExchangeBuild("2106.90")->ToString(), "21F90");
  EXPECT_EQ(ParseExchangeBuild("1905.9")->ToString(), "19E9");
}

TEST(IosBuildTest, TrainsWhereTheLetterGivesTheMinorRelease) {
  auto train = [](const char* build) {
    return IosTrainForBuild(*ParseIosBuild(build)).value_or("none");
  };
  EXPECT_EQ(train("19A346"), "15.0");
  EXPECT_EQ(train("19G71"), "15.6");
  EXPECT_EQ(train("19H12"), "none") << "19H is 15.7 and 15.8";
  EXPECT_EQ(train("20E247"), "16.4");
  EXPECT_EQ(train("20H19"), "16.7");
  EXPECT_EQ(train("21F90"), "17.5") << "17.5.1: the train, not the version";
  EXPECT_EQ(train("21A5248v"), "17.0") << "a beta";
  EXPECT_EQ(train("22G86"), "18.6");
  EXPECT_EQ(train("23A341"), "26.0");
  EXPECT_EQ(train("21J1"), "none") << "a letter not seen yet";
  // Older trains skip letters.
  for (const char* build :
       {"11D167", "16E227", "17E255", "18A8395", "10A403"}) {
    EXPECT_EQ(train(build), "none") << build;
  }
}

TEST(IosBuildTest, OneDigitBuildsParseWithAndWithoutPadding) {
  for (const char* build : {"8G4", "8H7", "8H8", "8J2", "8J3", "8K2", "8L1"}) {
    SCOPED_TRACE(build);
    auto expected = ParseIosBuild(build);
    ASSERT_THAT(expected, IsOk());
    const std::string padded = expected->ToExchangeBuild();
    const std::string unpadded = padded.substr(0, padded.find('.') + 1) +
                                 std::to_string(expected->number);
    EXPECT_EQ(*ParseExchangeBuild(padded), *expected);
    EXPECT_EQ(*ParseExchangeBuild(unpadded), *expected);
  }
  EXPECT_EQ(ParseExchangeBuild("807.4")->ToString(), "8G4");
  EXPECT_EQ(ParseExchangeBuild("807.004")->ToString(), "8G4");
}

TEST(IosBuildTest, OrdersByTrainLetterNumberSuffix) {
  EXPECT_LT(*ParseIosBuild("10A403"), *ParseIosBuild("10A407"));
  EXPECT_LT(*ParseIosBuild("10A407"), *ParseIosBuild("10B141"));
  EXPECT_LT(*ParseIosBuild("9B206"), *ParseIosBuild("10A403"));
  EXPECT_LT(*ParseIosBuild("10B329"), *ParseIosBuild("10B329a"));
}

struct BadInput {
  const char* text;
  const char* message;
  friend void PrintTo(const BadInput& b, std::ostream* os) {
    *os << '"' << b.text << '"';
  }
};

class BadIosBuildTest : public ::testing::TestWithParam<BadInput> {};

TEST_P(BadIosBuildTest, IsRejectedWithAReason) {
  EXPECT_THAT(ParseIosBuild(GetParam().text),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(GetParam().message)));
}

INSTANTIATE_TEST_SUITE_P(
    Hostile, BadIosBuildTest,
    ::testing::Values(BadInput{"", "empty"}, BadInput{"A403", "offset 0"},
                      BadInput{"10", "train letter"},
                      BadInput{"10A", "build number"},
                      BadInput{"100A1", "train number"},
                      BadInput{"0A1", "train number"},
                      BadInput{"10A12345", "more than 4 digits"},
                      BadInput{"10A1b2", "unexpected character (offset 5)"},
                      BadInput{"10A403 ", "unexpected character"},
                      BadInput{"99999999999999999999A1", "train number"}));

class BadExchangeBuildTest : public ::testing::TestWithParam<BadInput> {};

TEST_P(BadExchangeBuildTest, IsRejectedWithAReason) {
  EXPECT_THAT(ParseExchangeBuild(GetParam().text),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(GetParam().message)));
}

INSTANTIATE_TEST_SUITE_P(
    Hostile, BadExchangeBuildTest,
    ::testing::Values(
        BadInput{"", "empty"}, BadInput{"1001", "expected '.'"},
        BadInput{"1001.", "0 digits after '.'"},
        BadInput{"10.403", "3 or 4 digits"},
        BadInput{"12345.1", "3 or 4 digits"},
        BadInput{"0801.293", "no leading zero"},
        BadInput{"1000.403", "letter position must be 01..26"},
        BadInput{"1027.403", "letter position must be 01..26"},
        BadInput{"1001.05", "2 digits after '.' do not follow Apple's rule"},
        BadInput{"1001.0", "1 digits after '.' do not follow Apple's rule"},
        BadInput{"1001.0403", "4 digits after '.' do not follow"},
        BadInput{"1001.12345", "5 digits after '.'"},
        BadInput{"1001.000001", "6 digits after '.'"},
        BadInput{"1001.4700001", "7 digits after '.'"},
        BadInput{"1001.47000000", "suffix letter position"},
        BadInput{"1001.47000027", "suffix letter position"},
        BadInput{"1001.1234500001", "more than 9 digits"},
        BadInput{"1001.4030000000000000001", "more than 9 digits"},
        BadInput{"99999999999999999999.1", "3 or 4 digits"},
        BadInput{"1001.-1", "unexpected character (offset 5)"},
        BadInput{"1001.403x", "unexpected character (offset 8)"}));

TEST(IosBuildTest, NulInsideExchangeBuildIsRejectedAtItsOffset) {
  const std::string text(
      "1001.4\0"
      "03",
      8);
  EXPECT_THAT(
      ParseExchangeBuild(text),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("offset 6")));
}

TEST(IosBuildTest, MajorVersionFromTrain) {
  EXPECT_EQ(IosMajorForTrain(5), 2);  // 5A347 = iPhone OS 2.0
  EXPECT_EQ(IosMajorForTrain(6), std::nullopt);
  EXPECT_EQ(IosMajorForTrain(7), 3);
  EXPECT_EQ(IosMajorForTrain(8), 4);
  EXPECT_EQ(IosMajorForTrain(10), 6);
  EXPECT_EQ(IosMajorForTrain(11), 7);
  EXPECT_EQ(IosMajorForTrain(22), 18);
  EXPECT_EQ(IosMajorForTrain(23), 26);
  EXPECT_EQ(IosMajorForTrain(4), std::nullopt);
  EXPECT_EQ(IosMajorForTrain(1), std::nullopt);
  EXPECT_EQ(IosMajorForTrain(24), std::nullopt);
}

}  // namespace
}  // namespace hijackguard::detector
