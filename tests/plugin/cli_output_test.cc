// The CLI's output convention (README, "Output"): proto3 JSON naming
// everywhere, UTF-8 unescaped, exactly one newline at the end.
#include <algorithm>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/plugin/run_cli.h"

namespace hijackguard::plugin {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// An enum value used as a map key ("EVENT_KIND_ORGANIZER_REWRITE").
bool IsEnumName(const std::string& key) {
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// True when every key of every object in `j` is lowerCamelCase (no '_'),
// apart from enum names used as map keys.
bool AllKeysCamelCase(const nlohmann::json& j, std::string* bad) {
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      if (key.find('_') != std::string::npos && !IsEnumName(key)) {
        *bad = key;
        return false;
      }
      if (!AllKeysCamelCase(value, bad)) return false;
    }
  } else if (j.is_array()) {
    for (const auto& value : j) {
      if (!AllKeysCamelCase(value, bad)) return false;
    }
  }
  return true;
}

void ExpectOneDocumentLikeTheApi(const RunResult& r) {
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.back(), '\n');
  EXPECT_THAT(r.out, Not(HasSubstr("\n\n")));
  EXPECT_THAT(r.out, Not(HasSubstr("\\u00")));
  std::string bad;
  EXPECT_TRUE(AllKeysCamelCase(ParseJson(r.out), &bad)) << bad << "\n" << r.out;
}

TEST(CliOutputTest, FingerprintNamesDisagreeingFieldsAsItsJsonDoes) {
  const RunResult r = RunHijackguard(
      {"fingerprint", "--user-agent", "Apple-iPhone4C1/1001.523", "--device-os",
       "iOS 6.1.2 10B146", "--device-type", "iPad"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectOneDocumentLikeTheApi(r);
  const nlohmann::json fp = ParseJson(r.out);
  std::vector<std::string> fields;
  for (const auto& d : fp["disagreements"]) {
    fields.push_back(d["field"]);
  }
  EXPECT_THAT(fields, ::testing::IsSupersetOf({"build", "osVersion"}));
  for (const std::string& field : fields) {
    EXPECT_TRUE(fp.contains(field)) << field << " is not a Fingerprint key";
  }
}

TEST(CliOutputTest, ArrowsAndAmpersandsAreNotEscaped) {
  // An unknown build's note says "train 10 -> iOS 6"-like text; the raw
  // User-Agent keeps "<&>" as sent.
  const RunResult r = RunHijackguard(
      {"fingerprint", "--user-agent", "Apple-iPhone<&>/1002.141"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectOneDocumentLikeTheApi(r);
  EXPECT_THAT(r.out, HasSubstr("Apple-iPhone<&>/1002.141"));
}

TEST(CliOutputTest, ParseRequestIsCamelCase) {
  const RunResult r = RunHijackguard(
      {"parse-request", "--target",
       "/Microsoft-Server-ActiveSync?Cmd=Sync&User=a&DeviceId=D1&"
       "DeviceType=iPhone",
       "-H", "MS-ASProtocolVersion: 14.1", "-H",
       "User-Agent: Apple-iPhone9C4/1602.92"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectOneDocumentLikeTheApi(r);
  const nlohmann::json j = ParseJson(r.out);
  EXPECT_EQ(j["deviceId"], "D1");
  EXPECT_EQ(j["protocolVersion"], "14.1");
  EXPECT_EQ(j["userAgent"], "Apple-iPhone9C4/1602.92");
}

TEST(CliOutputTest, DecodeJsonIsCamelCase) {
  const RunResult r = RunHijackguardWithInput(
      {"decode", "--json"}, std::string("\x03\x01\x6a\x00\x00\x00\x45\x01", 8));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ExpectOneDocumentLikeTheApi(r);
  const nlohmann::json j = ParseJson(r.out);
  EXPECT_EQ(j["header"]["publicId"], 1);
  EXPECT_EQ(j["events"][0]["name"], "Sync");
}

TEST(CliOutputTest, ReplayJsonLinesAreCamelCaseOneObjectPerLine) {
  const RunResult r =
      RunHijackguard({"replay", "--json",
                      std::string(HIJACKGUARD_SOURCE_DIR) +
                          "/examples/traces/ios60_hijack.jsonl"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.back(), '\n');
  std::size_t lines = 0;
  std::size_t start = 0;
  bool saw_event = false;
  bool saw_summary = false;
  while (start < r.out.size()) {
    const std::size_t end = r.out.find('\n', start);
    const std::string line = r.out.substr(start, end - start);
    start = end + 1;
    ++lines;
    const nlohmann::json j = ParseJson(line);
    std::string bad;
    EXPECT_TRUE(AllKeysCamelCase(j, &bad)) << bad << " in " << line;
    saw_event = saw_event || j.contains("easDeviceId");
    saw_summary = saw_summary || j.contains("summary");
  }
  EXPECT_GT(lines, 2u);
  EXPECT_TRUE(saw_event);
  EXPECT_TRUE(saw_summary);
  EXPECT_THAT(r.out, HasSubstr("\"EVENT_KIND_ORGANIZER_REWRITE\":1"));
}

}  // namespace
}  // namespace hijackguard::plugin
