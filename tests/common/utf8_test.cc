#include "common/utf8.h"

#include "common/strings.h"
#include "common/uuid.h"
#include "gtest/gtest.h"

namespace hijackguard {
namespace {

TEST(Utf8Test, FindsFirstIllFormedByte) {
  EXPECT_EQ(FindInvalidUtf8("plain"), std::string_view::npos);
  EXPECT_EQ(FindInvalidUtf8("caf\xC3\xA9"), std::string_view::npos);
  EXPECT_EQ(FindInvalidUtf8("\xF0\x9F\x93\x85"),
            std::string_view::npos);                    // calendar emoji
  EXPECT_EQ(FindInvalidUtf8("ab\xC0\xAF"), 2u);         // overlong '/'
  EXPECT_EQ(FindInvalidUtf8("\xED\xA0\x80"), 0u);       // surrogate
  EXPECT_EQ(FindInvalidUtf8("x\xF4\x90\x80\x80"), 1u);  // above U+10FFFF
  EXPECT_EQ(FindInvalidUtf8("abc\xE2\x82"), 3u);        // truncated
  EXPECT_EQ(FindInvalidUtf8("\xFF"), 0u);
}

TEST(Utf8Test, SanitizeReplacesBadBytesAndControls) {
  EXPECT_EQ(SanitizeText("ok\ttab"), "ok\ttab");
  EXPECT_EQ(SanitizeText(std::string("a\0b", 3)),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(SanitizeText("a\xFF"
                         "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(SanitizeText("line\nbreak"),
            "line\xEF\xBF\xBD"
            "break");
  EXPECT_TRUE(IsValidUtf8(SanitizeText("\xC0\xAF\xED\xA0\x80\xF5")));
}

TEST(Utf8Test, TruncateNeverSplitsASequence) {
  EXPECT_EQ(TruncateUtf8("short", 10), "short");
  EXPECT_EQ(TruncateUtf8("caf\xC3\xA9s", 4), "caf\xE2\x80\xA6");
  EXPECT_TRUE(IsValidUtf8(TruncateUtf8("\xE6\x97\xA5\xE6\x9C\xAC", 4)));
}

TEST(StringsTest, ConcatenatesMixedArguments) {
  const std::string s = "str";
  const std::string_view v = "view";
  EXPECT_EQ(
      StrCat(s, "-", v, "-", 42, "-", -7L, "-", absl::string_view("absl")),
      "str-view-42--7-absl");
  EXPECT_TRUE(EqualsIgnoreCase("iPhone", "IPHONE"));
  EXPECT_TRUE(StartsWithIgnoreCase("apple-iphone", "Apple-"));
  EXPECT_FALSE(StartsWithIgnoreCase("App", "Apple-"));
  EXPECT_EQ(StrJoin({"a", "b", "c"}, ", "), "a, b, c");
}

TEST(UuidTest, IsVersion7AndTimeOrdered) {
  const absl::Time t = absl::FromUnixMillis(1700000000123);
  const std::string a = NewUuidV7(t);
  const std::string b = NewUuidV7(t + absl::Milliseconds(1));
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '7');
  EXPECT_TRUE(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b');
  EXPECT_EQ(a.substr(0, 13),
            "018bcfe5-687b");  // 1700000000123 ms = 0x18BCFE5687B
  EXPECT_LT(a, b);
  EXPECT_NE(NewUuidV7(t), NewUuidV7(t));
}

}  // namespace
}  // namespace hijackguard
