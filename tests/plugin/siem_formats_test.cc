// SIEM formats: CEF read back field by field by a parser that follows the
// specification (values with `|`, `\`, `=` and line breaks included), RFC
// 5424 framing, and the JSON and Splunk HEC bodies.
#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "plugin/siem/formats.h"
#include "policy/alerts.h"
#include "tests/common/status_matchers.h"

namespace hijackguard::plugin::siem {
namespace {

using ::hijackguard::testing::IsOk;
using ::testing::HasSubstr;

struct Cef {
  std::vector<std::string> header;  // the 6 fields after "CEF:0"
  std::map<std::string, std::string> extension;
};

// A CEF reader as the specification describes it: the header is split at
// unescaped '|'; the extension is key=value pairs whose values run to the
// next " key=" (an unescaped '=' after a space-separated key).
Cef ParseCef(std::string_view line) {
  Cef out;
  EXPECT_TRUE(line.starts_with("CEF:0|")) << line;
  std::size_t i = 6;
  std::string field;
  while (out.header.size() < 6 && i < line.size()) {
    const char c = line[i++];
    if (c == '\\' && i < line.size()) {
      field.push_back(line[i++]);
    } else if (c == '|') {
      out.header.push_back(field);
      field.clear();
    } else {
      field.push_back(c);
    }
  }
  // Extension: find each unescaped '=' and the key before it.
  std::vector<std::pair<std::size_t, std::size_t>> keys;  // [key start, '=')
  for (std::size_t j = i; j < line.size(); ++j) {
    if (line[j] == '\\') {
      ++j;
      continue;
    }
    if (line[j] == '=') {
      std::size_t k = j;
      while (k > i && line[k - 1] != ' ') --k;
      keys.emplace_back(k, j);
    }
  }
  for (std::size_t n = 0; n < keys.size(); ++n) {
    const auto [start, eq] = keys[n];
    const std::size_t end =
        n + 1 < keys.size() ? keys[n + 1].first - 1 : line.size();
    std::string value;
    for (std::size_t j = eq + 1; j < end; ++j) {
      if (line[j] == '\\' && j + 1 < end) {
        const char e = line[++j];
        value.push_back(e == 'n' ? '\n' : e == 'r' ? '\r' : e);
      } else {
        value.push_back(line[j]);
      }
    }
    out.extension[std::string(line.substr(start, eq - start))] = value;
  }
  return out;
}

SiemEvent Alert() {
  SiemEvent e;
  e.id = "0193a9b0-0000-7000-8000-000000000001";
  e.at = absl::FromUnixMillis(1764756902417);
  e.trigger = "TRAFFIC";
  e.tenant_id = "acme";
  e.device = "3f0c1d2e3f405162";
  e.user = "odd|user\\name=x\r\ny";
  e.old_action = "ALLOW";
  e.new_action = "QUARANTINE";
  e.enforced_action = "ALLOW";
  e.mode = "monitor";
  e.score = 72.4;
  e.reasons = {{"ORGANIZER_REWRITE", "rewrote a=b | c\\d\nsecond line",
                "ios6-meeting-organizer-hijack", 60}};
  e.policy_revision = "5be1";
  e.decision_id = "d-1";
  return e;
}

TEST(SiemFormatsTest, CefEscapesAsTheSpecificationSays) {
  EXPECT_EQ(CefHeaderEscape("a|b\\c=d\r\n"), "a\\|b\\\\c=d  ");
  EXPECT_EQ(CefValueEscape("a|b\\c=d\r\ne"), "a|b\\\\c\\=d\\r\\ne");
  EXPECT_EQ(CefSeverity("ALLOW"), 1);
  EXPECT_EQ(CefSeverity("WARN"), 5);
  EXPECT_EQ(CefSeverity("QUARANTINE"), 8);
  EXPECT_EQ(CefSeverity("BLOCK"), 10);
}

TEST(SiemFormatsTest, AnAlertReadsBackFieldByField) {
  const SiemEvent e = Alert();
  const std::string line = FormatCef(e, "1.2|3");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const Cef cef = ParseCef(line);
  ASSERT_EQ(cef.header.size(), 6u);
  EXPECT_EQ(cef.header[0], "hijackguard");
  EXPECT_EQ(cef.header[1], "hijackguard");
  EXPECT_EQ(cef.header[2], "1.2|3");
  EXPECT_EQ(cef.header[3], "TRAFFIC:QUARANTINE");
  EXPECT_EQ(cef.header[4], "Device evaluated action ALLOW -> QUARANTINE");
  EXPECT_EQ(cef.header[5], "8");
  EXPECT_EQ(cef.extension.at("rt"), "1764756902417");
  EXPECT_EQ(cef.extension.at("externalId"), e.id);
  EXPECT_EQ(cef.extension.at("act"), "QUARANTINE");
  EXPECT_EQ(cef.extension.at("duser"), e.user);
  EXPECT_EQ(cef.extension.at("cs1Label"), "easDeviceId");
  EXPECT_EQ(cef.extension.at("cs1"), e.device);
  EXPECT_EQ(cef.extension.at("cs2"), "acme");
  EXPECT_EQ(cef.extension.at("cn1"), "72");
  EXPECT_EQ(cef.extension.at("reason"), "ORGANIZER_REWRITE");
  EXPECT_EQ(cef.extension.at("msg"), e.reasons[0].message);
}

TEST(SiemFormatsTest, SyslogFramesOneMessage) {
  SyslogOptions options;
  options.hostname = "hg 1";
  options.procid = "4242";
  options.version = "0.1.0";
  const std::string message = FormatSyslog(Alert(), options);
  // local0 (16) * 8 + err (3).
  EXPECT_THAT(message,
              ::testing::StartsWith(
                  "<131>1 2025-12-03T10:15:02.417Z hg_1 hijackguard "
                  "4242 alert - CEF:0|hijackguard|hijackguard|0.1.0|"));
  // An ASCII message goes as it is; a UTF-8 one starts with the BOM.
  EXPECT_EQ(message.find("\xEF\xBB\xBF"), std::string::npos);
  SiemEvent utf8 = Alert();
  utf8.user = "j\xC3\xB6rg";
  EXPECT_THAT(FormatSyslog(utf8, options), HasSubstr(" alert - \xEF\xBB\xBF"
                                                     "CEF:0|"));
  // A reference line, written by hand from the CEF specification.
  SiemEvent plain = Alert();
  plain.user = "bob";
  plain.reasons = {{"R", "a=b", "", 1}};
  EXPECT_EQ(
      FormatCef(plain, ""),
      "CEF:0|hijackguard|hijackguard|unknown|TRAFFIC:QUARANTINE|Device "
      "evaluated action ALLOW -> QUARANTINE|8|rt=1764756902417 "
      "externalId=0193a9b0-0000-7000-8000-000000000001 act=QUARANTINE "
      "cat=TRAFFIC flexString1Label=mode flexString1=monitor duser=bob "
      "cs1Label=easDeviceId cs1=3f0c1d2e3f405162 cs2Label=tenant cs2=acme "
      "cs3Label=enforcedAction cs3=ALLOW cs4Label=previousAction cs4=ALLOW "
      "cs5Label=policyRevision cs5=5be1 cs6Label=decisionId cs6=d-1 "
      "cn1Label=score cn1=72 reason=R msg=a\\=b");
  EXPECT_EQ(OctetCounted("abc"), "3 abc");
  EXPECT_EQ(OctetCounted(message),
            std::to_string(message.size()) + " " + message);
}

TEST(SiemFormatsTest, JsonAndSplunkEnvelopes) {
  const SiemEvent e = Alert();
  const auto doc = nlohmann::json::parse(FormatJson(e));
  EXPECT_EQ(doc["type"], "alert");
  EXPECT_EQ(doc["id"], e.id);
  EXPECT_EQ(doc["user"], e.user);
  EXPECT_EQ(doc["reasons"][0]["message"], e.reasons[0].message);
  const std::vector<SiemEvent> two = {e, e};
  const std::string hec = FormatSplunkHec(two, "hg1");
  std::size_t lines = 0;
  for (std::size_t at = 0, nl; (nl = hec.find('\n', at)) != std::string::npos;
       at = nl + 1) {
    const auto envelope = nlohmann::json::parse(hec.substr(at, nl - at));
    EXPECT_EQ(envelope["sourcetype"], "hijackguard:alert");
    EXPECT_EQ(envelope["host"], "hg1");
    EXPECT_DOUBLE_EQ(envelope["time"].get<double>(), 1764756902.417);
    EXPECT_EQ(envelope["event"]["id"], e.id);
    ++lines;
  }
  EXPECT_EQ(lines, 2u);
}

TEST(SiemFormatsTest, OutboxPayloadsReadBackPseudonymized) {
  const std::string json =
      R"({"v":1,"type":"alert","alert_id":"a1","emitted_at":"2026-12-03T10:15:02.417Z",)"
      R"("trigger":"CHECK_IN","tenant_id":"acme","eas_device_id":"ApplX","mdm_device_id":"",)"
      R"("user_principal":"alice@example.com","old_action":"ALLOW","new_action":"WARN",)"
      R"("enforced_action":"WARN","mode":"enforce","score":41.5,"reasons":[],)"
      R"("policy_revision":"r","decision_id":"d"})";
  auto e = ParseOutboxPayload(
      json, [](std::string_view v) { return "p(" + std::string(v) + ")"; });
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ(e->user, "p(alice@example.com)");
  EXPECT_EQ(e->device, "p(ApplX)");
  EXPECT_EQ(e->mdm_device_id, "");
  EXPECT_EQ(e->new_action, "WARN");
  auto bad =
      ParseOutboxPayload(R"({"v":1,"type":"alert"})",
                         [](std::string_view v) { return std::string(v); });
  EXPECT_THAT(bad.status().message(), HasSubstr("emitted_at"));
  auto checkpoint = ParseOutboxPayload(
      CheckpointPayload(42, "abcd", absl::FromUnixSeconds(1764756902),
                        R"({"seq":42})"),
      [](std::string_view v) { return std::string(v); });
  ASSERT_THAT(checkpoint, IsOk());
  EXPECT_EQ(checkpoint->id, "checkpoint-42-abcd");
  const Cef cef = ParseCef(FormatCef(*checkpoint, "0.1.0"));
  EXPECT_EQ(cef.header[3], "AUDIT:CHECKPOINT");
  EXPECT_EQ(cef.extension.at("msg"), R"({"seq":42})");
  EXPECT_EQ(cef.extension.at("cn1"), "42");
}

TEST(SiemFormatsTest, TheEnginesAlertJsonReadsBack) {
  policy::ComplianceAlert a;
  a.alert_id = "0193a9b0-0000-7000-8000-000000000002";
  a.emitted_at = absl::FromUnixMillis(1764756902417);
  a.trigger = "GATEWAY";
  a.tenant_id = "acme";
  a.eas_device_id = "ApplDMPFXZABDFHW";
  a.user_principal = "alice@example.com";
  a.old_action = policy::Action::kWarn;
  a.new_action = policy::Action::kBlock;
  a.enforced_action = policy::Action::kBlock;
  a.mode = policy::Mode::kEnforce;
  a.score = 91;
  a.reasons.push_back({"ORGANIZER_REWRITE", "it rewrote", "", 60});
  a.policy_revision = "rev";
  a.decision_id = "dec";
  auto e = ParseOutboxPayload(
      policy::AlertJson(a), [](std::string_view v) { return std::string(v); });
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ(e->id, a.alert_id);
  EXPECT_EQ(e->at, a.emitted_at);
  EXPECT_EQ(e->trigger, "GATEWAY");
  EXPECT_EQ(e->device, "ApplDMPFXZABDFHW");
  EXPECT_EQ(e->user, "alice@example.com");
  EXPECT_EQ(e->old_action, "WARN");
  EXPECT_EQ(e->new_action, "BLOCK");
  EXPECT_EQ(e->mode, "enforce");
  ASSERT_EQ(e->reasons.size(), 1u);
  EXPECT_EQ(e->reasons[0].code, "ORGANIZER_REWRITE");
  EXPECT_EQ(e->reasons[0].contribution, 60);
}

}  // namespace
}  // namespace hijackguard::plugin::siem
