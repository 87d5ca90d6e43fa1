#include "common/base64.h"
#include "detector/eas/request.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hijackguard::detector::eas {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

std::vector<std::string> Codes(const ParsedRequest& p) {
  std::vector<std::string> codes;
  for (const auto& i : p.issues) {
    codes.emplace_back(RequestIssueCodeName(i.code));
  }
  return codes;
}

TEST(EasRequestTest, SpecBase64ExampleDecodesToTheDocumentedFields) {
  // MS-ASHTTP: version 14.0, Sync, locale 0x0409, device id "v140Device", no
  // policy key, device type "SmartPhone".
  const ParsedRequest p = ParseEasRequest(
      "/Microsoft-Server-ActiveSync?jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l", {});
  EXPECT_THAT(p.issues, IsEmpty());
  const EasRequest& r = p.request;
  EXPECT_EQ(r.form, QueryForm::kBase64);
  EXPECT_EQ(r.path, "/Microsoft-Server-ActiveSync");
  EXPECT_EQ(r.protocol_version, "14.0");
  EXPECT_EQ(r.command, Command::kSync);
  EXPECT_EQ(r.locale, 0x0409);
  EXPECT_EQ(r.device_id, "v140Device");
  EXPECT_FALSE(r.policy_key.has_value());
  EXPECT_EQ(r.device_type, "SmartPhone");
  EXPECT_THAT(r.parameters, IsEmpty());
}

TEST(EasRequestTest, PlainFormAsIos61SendsIt) {
  // The shape of KB 2814847's capture (iOS 6.1 on an iPad).
  const ParsedRequest p = ParseEasRequest(
      "/Microsoft-Server-ActiveSync?User=contoso%5Cbob&DeviceId="
      "ApplDMPFXZABDFHW"
      "&DeviceType=iPad&Cmd=MeetingResponse",
      {{"MS-ASProtocolVersion", "14.1"},
       {"X-MS-PolicyKey", "3942919513"},
       {"User-Agent", "Apple-iPad2C1/1002.141"},
       {"Content-Type", "application/vnd.ms-sync.wbxml"},
       {"Accept-Language", "en-us"}});
  EXPECT_THAT(p.issues, IsEmpty());
  const EasRequest& r = p.request;
  EXPECT_EQ(r.form, QueryForm::kPlain);
  EXPECT_EQ(r.command, Command::kMeetingResponse);
  EXPECT_EQ(r.user, "contoso\\bob");
  EXPECT_EQ(r.device_id, "ApplDMPFXZABDFHW");
  EXPECT_EQ(r.device_type, "iPad");
  EXPECT_EQ(r.protocol_version, "14.1");
  EXPECT_EQ(r.policy_key, 3942919513u);
  EXPECT_EQ(r.user_agent, "Apple-iPad2C1/1002.141");
  EXPECT_EQ(r.content_type, "application/vnd.ms-sync.wbxml");
}

TEST(EasRequestTest, PlainParametersInAnyOrderWithCommandParameters) {
  const ParsedRequest p = ParseEasRequest(
      "https://mail.example.com/Microsoft-Server-ActiveSync?cmd=smartreply"
      "&ItemId=5%3A3&CollectionId=5&SaveInSent=T&DeviceType=iPhone"
      "&DeviceId=Appl1&User=a+b%40example.com",
      {});
  EXPECT_THAT(p.issues, IsEmpty());
  EXPECT_EQ(p.request.path, "/Microsoft-Server-ActiveSync");
  EXPECT_EQ(p.request.command, Command::kSmartReply);
  EXPECT_EQ(p.request.command_name, "SmartReply");
  EXPECT_EQ(p.request.user, "a b@example.com");
  EXPECT_THAT(p.request.parameters,
              ElementsAre(Pair("ItemId", "5:3"), Pair("CollectionId", "5"),
                          Pair("SaveInSent", "T")));
}

std::string Base64Query(const std::string& bytes) {
  return "/Microsoft-Server-ActiveSync?" + Base64Encode(bytes);
}

TEST(EasRequestTest, Base64FormWithPolicyKeyParametersAndBinaryDeviceId) {
  std::string b;
  b += static_cast<char>(141);                  // 14.1
  b += static_cast<char>(15);                   // MeetingResponse
  b += std::string("\x07\x04", 2);              // locale 0x0407
  b += std::string("\x04\xDE\xAD\xBE\xEF", 5);  // binary device id
  b += std::string("\x04\x01\x02\x03\x04", 5);  // policy key 0x04030201
  b += "\x06"
       "iPhone";
  b += std::string("\x01\x01", 2) + "5";    // CollectionId 5
  b += std::string("\x03\x03", 2) + "5:5";  // ItemId
  b += std::string("\x07\x01\x01", 3);      // Options: SaveInSent
  b += std::string("\x08\x03", 2) + "bob";  // User
  const ParsedRequest p = ParseEasRequest(Base64Query(b), {});
  EXPECT_THAT(p.issues, IsEmpty());
  const EasRequest& r = p.request;
  EXPECT_EQ(r.protocol_version, "14.1");
  EXPECT_EQ(r.command, Command::kMeetingResponse);
  EXPECT_EQ(r.locale, 0x0407);
  EXPECT_EQ(r.device_id, "DEADBEEF");
  EXPECT_EQ(r.policy_key, 0x04030201u);
  EXPECT_EQ(r.device_type, "iPhone");
  EXPECT_EQ(r.user, "bob");
  EXPECT_THAT(
      r.parameters,
      ElementsAre(Pair("CollectionId", "5"), Pair("ItemId", "5:5"),
                  Pair("SaveInSent", "T"), Pair("AcceptMultiPart", "F")));
}

TEST(EasRequestTest, PercentEncodedBase64Padding) {
  // 26 bytes need one '=' of padding; send it escaped as %3D.
  const std::string b64 = Base64Encode(
      std::string("\x8C\x00\x09\x04\x0Av140Device\x00\x09SmartPhon", 26));
  ASSERT_EQ(b64.back(), '=');
  std::string escaped = b64;
  for (std::size_t at; (at = escaped.find('=')) != std::string::npos;) {
    escaped.replace(at, 1, "%3D");
  }
  const ParsedRequest p =
      ParseEasRequest("/Microsoft-Server-ActiveSync?" + escaped, {});
  EXPECT_THAT(Codes(p), IsEmpty()) << (p.ok() ? "" : p.issues[0].message);
  EXPECT_EQ(p.request.device_type, "SmartPhon");
}

TEST(EasRequestTest, OptionsNeedsNoQuery) {
  EXPECT_THAT(
      ParseEasRequest("/Microsoft-Server-ActiveSync", {}, "OPTIONS").issues,
      IsEmpty());
  EXPECT_THAT(Codes(ParseEasRequest("/Microsoft-Server-ActiveSync", {})),
              ElementsAre("MISSING_QUERY"));
}

struct BadRequest {
  std::string name;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::string> codes;
  std::size_t first_position;
  friend void PrintTo(const BadRequest& b, std::ostream* os) { *os << b.name; }
};

std::string Truncated(std::size_t n) {
  const std::string full("\x8C\x00\x09\x04\x0Av140Device\x00\x0ASmartPhone",
                         26);
  return "/a?" + Base64Encode(full.substr(0, n));
}

std::vector<BadRequest> BadRequests() {
  const std::string ok = "/a?Cmd=Sync&User=u&DeviceId=d&DeviceType=t";
  return {
      {"MissingCommand",
       "/a?User=u&DeviceId=d&DeviceType=t",
       {},
       {"MISSING_COMMAND"},
       3},
      {"UnknownCommand",
       "/a?Cmd=Frobnicate&User=u&DeviceId=d&DeviceType=t",
       {},
       {"UNKNOWN_COMMAND"},
       3},
      {"MissingIdentity",
       "/a?Cmd=Sync",
       {},
       {"MISSING_PARAMETER", "MISSING_PARAMETER", "MISSING_PARAMETER"},
       3},
      {"Duplicate", ok + "&User=v", {}, {"DUPLICATE_PARAMETER"}, 43},
      {"BadPercent",
       "/a?Cmd=Sync&User=u%4&DeviceId=d&DeviceType=t",
       {},
       {"BAD_PERCENT_ENCODING", "MISSING_PARAMETER"},
       18},
      {"InvalidUtf8",
       "/a?Cmd=Sync&User=%FF&DeviceId=d&DeviceType=t",
       {},
       {"INVALID_UTF8", "MISSING_PARAMETER"},
       12},
      {"NotBase64", "/a?!!!!", {}, {"BAD_BASE64"}, 3},
      {"TruncatedHeader", Truncated(3), {}, {"TRUNCATED_BASE64_QUERY"}, 0},
      {"TruncatedDeviceId", Truncated(8), {}, {"TRUNCATED_BASE64_QUERY"}, 5},
      {"TruncatedPolicyLength",
       Truncated(15),
       {},
       {"TRUNCATED_BASE64_QUERY"},
       15},
      {"TruncatedDeviceType",
       Truncated(20),
       {},
       {"TRUNCATED_BASE64_QUERY"},
       17},
      {"UnknownTag",
       "/a?" + Base64Encode(
                   std::string("\x8C\x00\x09\x04\x01x\x00\x01y\x09\x01z", 12)),
       {},
       {"UNKNOWN_PARAMETER_TAG"},
       9},
      {"VersionTooOld",
       "/a?" + Base64Encode(std::string("\x78\x00\x09\x04\x01x\x00\x01y", 9)),
       {},
       {"BAD_PROTOCOL_VERSION"},
       0},
      {"UnknownCommandCode",
       "/a?" + Base64Encode(std::string("\x8C\x05\x09\x04\x01x\x00\x01y", 9)),
       {},
       {"UNKNOWN_COMMAND"},
       1},
      {"PolicyKeyLength",
       "/a?" + Base64Encode(
                   std::string("\x8C\x00\x09\x04\x01x\x02\x01\x02\x01y", 11)),
       {},
       {"BAD_POLICY_KEY"},
       6},
      {"VersionMismatch",
       "/a?jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l",
       {{"MS-ASProtocolVersion", "14.1"}},
       {"PROTOCOL_VERSION_MISMATCH"},
       0},
      {"BadVersionHeader",
       ok,
       {{"ms-asprotocolversion", "fourteen"}},
       {"BAD_PROTOCOL_VERSION"},
       0},
      {"BadPolicyKeyHeader",
       ok,
       {{"X-MS-PolicyKey", "99999999999"}},
       {"BAD_POLICY_KEY"},
       0},
      {"HeaderNotUtf8", ok, {{"User-Agent", "Apple-\xff"}}, {"BAD_HEADER"}, 6},
      {"TargetTooLong",
       "/a?" + std::string(20000, 'x'),
       {},
       {"TOO_LONG"},
       16384},
  };
}

class BadRequestTest : public ::testing::TestWithParam<BadRequest> {};

TEST_P(BadRequestTest, ReportsCodesAndPositions) {
  const BadRequest& b = GetParam();
  std::vector<Header> headers;
  for (const auto& [n, v] : b.headers) {
    headers.emplace_back(n, v);
  }
  const ParsedRequest p = ParseEasRequest(b.target, headers);
  EXPECT_EQ(Codes(p), b.codes);
  ASSERT_FALSE(p.issues.empty());
  EXPECT_EQ(p.issues[0].position, b.first_position) << p.issues[0].message;
  EXPECT_FALSE(p.issues[0].message.empty());
}

INSTANTIATE_TEST_SUITE_P(Requests, BadRequestTest,
                         ::testing::ValuesIn(BadRequests()),
                         [](const auto& test_info) {
                           return test_info.param.name;
                         });

TEST(EasRequestTest, CommandTables) {
  EXPECT_EQ(CommandFromCode(0), Command::kSync);
  EXPECT_EQ(CommandFromCode(15), Command::kMeetingResponse);
  EXPECT_EQ(CommandFromCode(22), Command::kValidateCert);
  for (int unassigned : {5, 6, 7, 8, 23, 255}) {
    EXPECT_EQ(CommandFromCode(static_cast<std::uint8_t>(unassigned)),
              Command::kUnknown);
  }
  EXPECT_EQ(CommandFromName("meetingresponse"), Command::kMeetingResponse);
  EXPECT_EQ(CommandName(Command::kGetItemEstimate), "GetItemEstimate");
}

}  // namespace
}  // namespace hijackguard::detector::eas
