// Reading form bodies and queries (common/url_form.h): decoding, and the
// byte offset of what cannot be read.
#include "common/url_form.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hijackguard {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

TEST(UrlFormTest, DecodesNamesAndValues) {
  auto f = ParseForm("token=a%2Bb+c&empty=&x%3Dy=%E2%82%AC");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_THAT(*f, ElementsAre(Pair("token", "a+b c"), Pair("empty", ""),
                              Pair("x=y", "\xE2\x82\xAC")));
  EXPECT_EQ(FormValue(*f, "token"), "a+b c");
  EXPECT_EQ(FormValue(*f, "missing"), "");
  auto none = ParseForm("");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto skipped = ParseForm("&&a=1&");
  ASSERT_TRUE(skipped.ok());
  EXPECT_THAT(*skipped, ElementsAre(Pair("a", "1")));
}

TEST(UrlFormTest, ErrorsNameTheByte) {
  EXPECT_EQ(ParseForm("a=1&b=%4").status().message(),
            "the '%' at byte 6 is not followed by two hex digits");
  EXPECT_EQ(ParseForm("a=1&b=%zz").status().message(),
            "the '%' at byte 6 is not followed by two hex digits");
  EXPECT_EQ(ParseForm("a=1&flag").status().message(),
            "the field at byte 4 has no '='");
  EXPECT_EQ(ParseForm("a=%FF").status().message(),
            "the field at byte 2 is not UTF-8 (decoded byte 0)");
  EXPECT_EQ(ParseForm("a=1&b=2&c=3", 2).status().message(),
            "there are more than 2 fields");
}

TEST(UrlFormTest, AQueryMayHaveBareNames) {
  auto f = ParseForm("flag&a=1", 64, /*bare_names=*/true);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_THAT(*f, ElementsAre(Pair("flag", ""), Pair("a", "1")));
}

}  // namespace
}  // namespace hijackguard
