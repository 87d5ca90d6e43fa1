// The log line formats: one line per event whatever the values hold, fields
// that split unambiguously in text, and JSON that parses.
#include "common/log.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace hijackguard {
namespace {

constexpr char kTime[] = "2026-12-03T10:00:00.000Z";

TEST(LogTest, TextLinesKeepPlainValuesBareAndQuoteTheRest) {
  EXPECT_EQ(FormatLogLine(LogFormat::kText, kTime, LogLevel::kInfo,
                          "decision changed",
                          {{"tenant", "acme"},
                           {"reason", "a b"},
                           {"empty", ""},
                           {"q", "say \"hi\"=x"}}),
            "2026-12-03T10:00:00.000Z INFO decision changed tenant=acme "
            "reason=\"a b\" q=\"say \\\"hi\\\"=x\"");
}

TEST(LogTest, NoValueOrMessageBreaksTheLine) {
  const std::string line =
      FormatLogLine(LogFormat::kText, kTime, LogLevel::kWarning,
                    "first\nsecond", {{"v", "x\ny\r\x01"}});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\r'), std::string::npos);
  EXPECT_THAT(line,
              ::testing::HasSubstr("WARN first second v=\"x\\ny\\r\\u0001\""));
}

TEST(LogTest, JsonLinesParseWithEveryField) {
  const std::string line =
      FormatLogLine(LogFormat::kJson, kTime, LogLevel::kError, "it \"broke\"\n",
                    {{"tenant", "acme"}, {"skipped", ""}, {"odd", "\\\t\x7f"}});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const nlohmann::json doc = nlohmann::json::parse(line);
  EXPECT_EQ(doc["time"], kTime);
  EXPECT_EQ(doc["level"], "ERROR");
  EXPECT_EQ(doc["msg"], "it \"broke\"\n");
  EXPECT_EQ(doc["tenant"], "acme");
  EXPECT_FALSE(doc.contains("skipped"));
  EXPECT_EQ(doc["odd"], "\\\t\x7f");
}

TEST(LogTest, LevelsByName) {
  EXPECT_EQ(ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(ParseLogLevel("warn"), LogLevel::kWarning);
  EXPECT_EQ(ParseLogLevel("WARN"), std::nullopt);
  EXPECT_EQ(ParseLogLevel("verbose"), std::nullopt);
  SetLogLevel(LogLevel::kWarning);
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  SetLogLevel(LogLevel::kInfo);
}

}  // namespace
}  // namespace hijackguard
