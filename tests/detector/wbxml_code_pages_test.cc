// The compiled code-page tables against their data file.
#include "common/file.h"
#include "detector/wbxml/code_pages.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace hijackguard::detector::wbxml {
namespace {

nlohmann::json DataFile() {
  auto text = ReadFileToString(
      HIJACKGUARD_SOURCE_DIR "/detector/wbxml/codepages.json", 1 << 20);
  EXPECT_TRUE(text.ok());
  return nlohmann::json::parse(*text);
}

TEST(CodePagesTest, TablesMatchTheDataFileTokenForToken) {
  const nlohmann::json data = DataFile();
  std::size_t tokens = 0;
  std::size_t aliases = 0;
  ASSERT_EQ(data["pages"].size(), AllCodePages().size());
  for (const auto& page : data["pages"]) {
    const auto number = page["page"].get<int>();
    const CodePage* cp = FindCodePage(static_cast<std::uint8_t>(number));
    ASSERT_NE(cp, nullptr) << number;
    EXPECT_EQ(cp->name, page["name"].get<std::string>());
    EXPECT_EQ(cp->xml_namespace, page["namespace"].get<std::string>());
    for (int token = 0; token < 64; ++token) {
      char key[8];
      std::snprintf(key, sizeof(key), "0x%02X", token);
      const std::string expected = page["tags"].value(key, "");
      EXPECT_EQ(TagName(cp->number, static_cast<std::uint8_t>(token)), expected)
          << cp->name << " " << key;
      if (!expected.empty()) {
        ++tokens;
        EXPECT_EQ(FindTag(cp->number, expected), token) << expected;
      }
    }
    for (const auto& [key, names] : page["alt_names"].items()) {
      for (const auto& name : names) {
        ++aliases;
        EXPECT_EQ(FindTag(cp->number, name.get<std::string>()),
                  std::stoi(key, nullptr, 16))
            << cp->name << " alias " << name;
      }
    }
  }
  EXPECT_EQ(tokens, 660u) << "656 standard tokens and WindowsLive's 4";
  EXPECT_EQ(aliases, AllTagAliases().size());
}

TEST(CodePagesTest, AllTwentySixStandardPagesAndTheirCounts) {
  // activesync.md §1.4.
  const std::pair<int, int> counts[] = {
      {0, 37},  {1, 58},  {2, 59},  {3, 19},  {4, 56},  {5, 8},   {6, 10},
      {7, 20},  {8, 13},  {9, 34},  {10, 25}, {11, 6},  {12, 10}, {13, 10},
      {14, 55}, {15, 31}, {16, 14}, {17, 40}, {18, 38}, {19, 8},  {20, 21},
      {21, 19}, {22, 18}, {23, 5},  {24, 20}, {25, 22}};
  for (const auto& [page, count] : counts) {
    int n = 0;
    for (int t = 0; t < 64; ++t) {
      n +=
          TagName(static_cast<std::uint8_t>(page), static_cast<std::uint8_t>(t))
                  .empty()
              ? 0
              : 1;
    }
    EXPECT_EQ(n, count) << "page " << page;
  }
  EXPECT_EQ(FindCodePage(26), nullptr);
  EXPECT_NE(FindCodePage(254), nullptr);
}

TEST(CodePagesTest, LookupIgnoresCaseAndAcceptsLegacyNames) {
  EXPECT_EQ(FindTag(4, "Timezone"), 0x05);
  EXPECT_EQ(FindTag(4, "TimeZone"), 0x05);
  EXPECT_EQ(FindTag(4, "organizeremail"), 0x19);
  EXPECT_EQ(FindTag(4, "Organizer_Email"), 0x19);
  EXPECT_EQ(FindTag(4, "Attendee_Email"), 0x09);
  EXPECT_EQ(FindTag(0, "Synchronize"), 0x05);
  EXPECT_EQ(FindTag(24, "ReplyAllowed"), 0x0A)
      << "Syncroton's swap is not an alias";
  EXPECT_EQ(FindTag(4, "NoSuchElement"), std::nullopt);
  EXPECT_EQ(FindTag(99, "Sync"), std::nullopt);
  EXPECT_EQ(FindCodePageByNamespace("Calendar:")->number, 4);
  EXPECT_EQ(FindCodePageByNamespace("calendar")->number, 4);
  EXPECT_EQ(FindCodePageByNamespace("POOMCAL:")->number, 4);
  EXPECT_EQ(FindCodePageByNamespace("ItemEstimate")->number, 6);
  EXPECT_EQ(FindCodePageByNamespace("Nope:"), nullptr);
}

}  // namespace
}  // namespace hijackguard::detector::wbxml
