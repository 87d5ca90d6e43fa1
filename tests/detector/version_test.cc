#include "detector/version.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"

namespace hijackguard::detector {
namespace {

using ::hijackguard::testing::IsOk;
using ::hijackguard::testing::StatusIs;
using ::testing::HasSubstr;

Version V(std::string_view text) { return *Version::Parse(text); }

TEST(VersionTest, ComparesWithMissingComponentsAsZero) {
  EXPECT_EQ(V("6.0"), V("6.0.0"));
  EXPECT_LT(V("6.0"), V("6.0.1"));
  EXPECT_LT(V("6.1.1"), V("6.1.2"));
  EXPECT_LT(V("4.3"), V("4.10"));
  EXPECT_GT(V("10.3.3"), V("9.3"));
}

TEST(VersionTest, CanonicalTextDropsLeadingZeros) {
  EXPECT_EQ(V("06.0.01").ToString(), "6.0.1");
  EXPECT_EQ(V("6").ToString(), "6");
  EXPECT_EQ(V("6.0").major(), 6);
}

TEST(VersionTest, RejectsMalformedTextWithOffsets) {
  EXPECT_THAT(Version::Parse(""), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      Version::Parse("6..1"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("offset 2")));
  EXPECT_THAT(
      Version::Parse("6.1."),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("offset 4")));
  EXPECT_THAT(Version::Parse("v6"), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("offset 0")));
  EXPECT_THAT(
      Version::Parse("1.2.3.4.5"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("more than 4")));
  EXPECT_THAT(
      Version::Parse("12345678901234567890"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exceeds")));
  EXPECT_THAT(Version::Parse("1.2.3.4"), IsOk());
}

}  // namespace
}  // namespace hijackguard::detector
