#include "detector/known_issues.h"

#include <regex>

#include "common/file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"

namespace hijackguard::detector {
namespace {

using ::hijackguard::testing::IsOk;
using ::hijackguard::testing::StatusIs;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const KnownIssueCatalog& Shipped() {
  static const KnownIssueCatalog* const catalog = [] {
    auto c = KnownIssueCatalog::LoadFile(HIJACKGUARD_SOURCE_DIR
                                         "/detector/catalog/known_issues.json");
    EXPECT_THAT(c, IsOk());
    return new KnownIssueCatalog(*std::move(c));
  }();
  return *catalog;
}

std::vector<std::string> MatchedIds(const Fingerprint& fp) {
  std::vector<std::string> ids;
  for (const KnownIssueMatch& m : Shipped().Match(fp)) {
    ids.push_back(m.issue->id + ":" +
                  std::string(ConfidenceName(m.confidence)));
  }
  return ids;
}

std::vector<std::string> MatchUserAgent(const std::string& ua) {
  return MatchedIds(ComputeFingerprint({.user_agent = ua}));
}

TEST(KnownIssueCatalogTest, ShippedCatalogHasTheRequiredEntries) {
  const KnownIssueCatalog& c = Shipped();
  const KnownIssue* hijack = c.Find("ios6-meeting-organizer-hijack");
  ASSERT_NE(hijack, nullptr);
  EXPECT_EQ(hijack->category, kCategoryOrganizerHijack);
  EXPECT_FALSE(hijack->fixed_in.has_value())
      << "no source confirms the fix release";
  EXPECT_THAT(hijack->fix_note, HasSubstr("No available source confirms"));
  EXPECT_THAT(hijack->references, Contains(HasSubstr("2768774")));
  const KnownIssue* logs = c.Find("ios61-transaction-log-growth");
  ASSERT_NE(logs, nullptr);
  ASSERT_TRUE(logs->fixed_in.has_value());
  EXPECT_EQ(logs->fixed_in->ToString(), "6.1.2");
  EXPECT_NE(c.Find("ios9-recurring-meeting-response-repeat"), nullptr);
  EXPECT_NE(c.Find("ios10-attendee-forwards-invitation"), nullptr);
  EXPECT_NE(c.Find("eas-missing-instanceid-series-update"), nullptr);
  for (const KnownIssue& issue : c.issues()) {
    EXPECT_FALSE(issue.remediation.empty()) << issue.id;
    EXPECT_FALSE(issue.references.empty()) << issue.id;
  }
}

TEST(KnownIssueCatalogTest, BuiltinCatalogEqualsTheShippedFile) {
  auto builtin = KnownIssueCatalog::Builtin();
  ASSERT_THAT(builtin, IsOk());
  ASSERT_EQ(builtin->issues().size(), Shipped().issues().size());
  EXPECT_EQ(builtin->catalog_version(), Shipped().catalog_version());
  for (std::size_t i = 0; i < builtin->issues().size(); ++i) {
    EXPECT_EQ(builtin->issues()[i].id, Shipped().issues()[i].id);
    EXPECT_EQ(builtin->issues()[i].title, Shipped().issues()[i].title);
  }
}

TEST(KnownIssueMatchTest, Ios60BuildsAreConfirmedHijack) {
  for (const char* ua :
       {"Apple-iPhone4C1/1001.403", "Apple-iPhone5C1/1001.405",
        "Apple-iPhone5C2/1001.406", "Apple-iPhone5C2/1001.407"}) {
    EXPECT_THAT(MatchUserAgent(ua),
                ElementsAre("ios6-meeting-organizer-hijack:confirmed"))
        << ua;
  }
}

TEST(KnownIssueMatchTest, UncataloguedBuildInsideTheRangeStillMatches) {
  const Fingerprint fp =
      ComputeFingerprint({.user_agent = "Apple-iPhone4C1/1001.404"});
  EXPECT_FALSE(fp.build_in_catalog);
  const auto matches = Shipped().Match(fp);
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_THAT(matches[0].matched_by,
              HasSubstr("within the affected builds 10A403 to 10A407"));
}

TEST(KnownIssueMatchTest, VersionOnlyDevicesMatchByVersion) {
  EXPECT_THAT(MatchedIds(ComputeFingerprint({.device_os = "iOS 6.0"})),
              ElementsAre("ios6-meeting-organizer-hijack:confirmed"));
  EXPECT_THAT(
      MatchedIds(ComputeFingerprint({.inventory_product_name = "iPhone4,1",
                                     .inventory_os_version = "5.1"})),
      ElementsAre("ios6-meeting-organizer-hijack:reported"));
}

TEST(KnownIssueMatchTest, LaterAndEarlierBuilds) {
  EXPECT_THAT(MatchUserAgent("Apple-iPhone4C1/1001.523"), IsEmpty()) << "6.0.1";
  EXPECT_THAT(MatchUserAgent("Apple-iPhone5C2/1002.146"), IsEmpty()) << "6.1.2";
  EXPECT_THAT(MatchUserAgent("Apple-iPhone5C2/1002.329"), IsEmpty()) << "6.1.3";
  EXPECT_THAT(MatchUserAgent("Apple-iPhone4C1/1002.141"),
              ElementsAre("ios61-transaction-log-growth:confirmed"));
  EXPECT_THAT(MatchUserAgent("Apple-iPhone4C1/1002.145"),
              ElementsAre("ios61-transaction-log-growth:confirmed"));
  EXPECT_THAT(MatchUserAgent("Apple-iPhone4C1/902.206"),
              ElementsAre("ios6-meeting-organizer-hijack:reported"))
      << "5.1.1 is in the reported range";
  EXPECT_THAT(MatchUserAgent("Apple-iPhone3C1/806.190"),
              ElementsAre("ios6-meeting-organizer-hijack:reported"))
      << "4.3";
  EXPECT_THAT(MatchUserAgent("Apple-iPhone3C1/807.4"),
              ElementsAre("ios6-meeting-organizer-hijack:reported"))
      << "4.3.1 unpadded";
  EXPECT_THAT(MatchUserAgent("Apple-iPhone3C1/803.148"), IsEmpty()) << "4.2.1";
  EXPECT_THAT(MatchedIds(ComputeFingerprint({.device_os = "iOS 9.2.1 13D15"})),
              ElementsAre("ios9-recurring-meeting-response-repeat:confirmed"));
  EXPECT_THAT(MatchedIds(ComputeFingerprint({.device_os = "iOS 9.3 13E233"})),
              IsEmpty());
  EXPECT_THAT(MatchedIds(ComputeFingerprint({.device_os = "iOS 10.3.2 14F89"})),
              ElementsAre("ios10-attendee-forwards-invitation:confirmed"));
}

TEST(KnownIssueMatchTest, ThirdPartyClientOnIos60DoesNotGetTheIosClientsIssue) {
  EXPECT_THAT(
      MatchedIds(ComputeFingerprint({.user_agent = "TouchDown(MSEAS)/8.1.00052",
                                     .device_type = "iPhone",
                                     .inventory_build_version = "10A403"})),
      IsEmpty());
}

TEST(KnownIssueMatchTest, OtherPlatformsNeverMatchIosIssues) {
  EXPECT_THAT(
      MatchedIds(ComputeFingerprint({.user_agent = "Outlook-iOS/2.0",
                                     .inventory_product_name = "iPhone4,1",
                                     .inventory_os_version = "6.0"})),
      IsEmpty());
  EXPECT_THAT(MatchUserAgent("Android/4.4.2-EAS-2.0"), IsEmpty());
}

// --- Broken catalogs: every problem reported at once, with its JSON pointer.

constexpr const char* kValidIssue = R"({
  "id": "x-issue", "title": "t", "category": "organizer-hijack", "platform": "ios",
  "summary": "s", "remediation": "r", "fixed_in": "6.1.2", "references": ["kb"],
  "affects": [{"builds": ["10A403"], "confidence": "confirmed"}]})";

std::string Catalog(const std::string& issues) {
  return R"({"format": 1, "catalog_version": "t", "issues": [)" + issues + "]}";
}

TEST(KnownIssueCatalogTest, MinimalCatalogParses) {
  auto c = KnownIssueCatalog::Parse(Catalog(kValidIssue));
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->issues().size(), 1u);
}

struct BrokenCase {
  friend void PrintTo(const BrokenCase& c, std::ostream* os) { *os << c.name; }
  std::string name;
  std::string json;
  std::vector<std::string> problems;  // each must appear in the message
};

std::vector<BrokenCase> BrokenCases() {
  return {
      {"SyntaxError",
       "{\n  \"format\": 1,\n  \"issues\": [,]\n}",
       {"line 3, column 14"}},
      {"NotAnObject", "[]", {"/: must be an object"}},
      // Found by catalog_fuzz: nlohmann reports a number too large for a
      // double as out_of_range, not parse_error.
      {"NumberOverflow",
       "{\n  \"format\": 1e999\n}",
       {"JSON value out of range at line 2, column 13", "number overflow"}},
      {"MissingTopLevel",
       "{}",
       {"/format: is required", "/issues: is required"}},
      {"UnknownTopLevelKey",
       R"({"format": 1, "catalog_version": "t", "issues": [], "isues": []})",
       {"/isues: unknown key"}},
      {"WrongFormat",
       R"({"format": 2, "catalog_version": "t", "issues": []})",
       {"/format: must be between 1 and 1"}},
      {"UnknownIssueKey",
       Catalog(R"({"id": "a", "titel": "x"})"),
       {"/issues/0/titel: unknown key", "/issues/0/title: is required",
        "/issues/0/category: is required", "/issues/0/affects: is required"}},
      {"BadValues",
       Catalog(
           R"({"id": "Bad Id", "title": "t", "category": "hijack", "platform": "ios9",
        "summary": "s", "remediation": "r", "fixed_in": "6.x", "references": [],
        "affects": [{"builds": ["10A4O3"], "confidence": "sure"}]})"),
       {"/issues/0/id: must be", "/issues/0/category: must be",
        "/issues/0/platform: must be", "/issues/0/fixed_in: version \"6.x\"",
        "/issues/0/references: must list",
        "/issues/0/affects/0/confidence: must be",
        "/issues/0/affects/0/builds/0: build"}},
      {"NullFixWithoutNote",
       Catalog(
           R"({"id": "a", "title": "t", "category": "server-load", "platform": "ios",
        "summary": "s", "remediation": "r", "fixed_in": null, "references": ["kb"],
        "affects": []})"),
       {"/issues/0/fix_note: is required when \"fixed_in\" is null"}},
      {"AffectsForms",
       Catalog(
           R"({"id": "a", "title": "t", "category": "server-load", "platform": "ios",
        "summary": "s", "remediation": "r", "fixed_in": "7.0", "references": ["kb"],
        "affects": [{"confidence": "confirmed"},
                    {"builds": ["10A403"], "versions": {"first": "6.0", "last": "6.0"},
                     "confidence": "confirmed"},
                    {"build_range": {"first": "10A407", "last": "10A403"}, "confidence": "reported"},
                    {"versions": {"first": "6.1", "last": "6.1.1", "before": "6.2"},
                     "confidence": "reported"},
                    {"versions": {"first": "6.1", "before": "6.1"}, "confidence": "reported"}]})"),
       {"/issues/0/affects/0: must have exactly one of",
        "/issues/0/affects/1: must have exactly",
        "/issues/0/affects/2/build_range: \"last\" comes before \"first\"",
        "/issues/0/affects/3/versions: must have exactly one of \"last\"",
        "/issues/0/affects/4/versions: the range is empty"}},
      {"DuplicateIds",
       Catalog(std::string(kValidIssue) + "," + kValidIssue),
       {"/issues/1/id: duplicate id \"x-issue\""}},
  };
}

class BrokenCatalogTest : public ::testing::TestWithParam<BrokenCase> {};

TEST_P(BrokenCatalogTest, IsRejectedListingEveryProblem) {
  auto result = KnownIssueCatalog::Parse(GetParam().json, "test.json");
  ASSERT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("test.json")));
  // Every problem is located in the document; matched here without it.
  const std::string located(result.status().message());
  EXPECT_THAT(located, HasSubstr("(line "));
  const std::string message = std::regex_replace(
      located, std::regex(R"( \(line \d+, column \d+\))"), "");
  for (const std::string& p : GetParam().problems) {
    EXPECT_THAT(message, HasSubstr(p));
  }
}

INSTANTIATE_TEST_SUITE_P(Catalogs, BrokenCatalogTest,
                         ::testing::ValuesIn(BrokenCases()),
                         [](const auto& test_info) {
                           return test_info.param.name;
                         });

TEST(KnownIssueCatalogTest, MissingFileIsNotFound) {
  EXPECT_THAT(KnownIssueCatalog::LoadFile("/nonexistent/catalog.json"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("/nonexistent/catalog.json")));
}

}  // namespace
}  // namespace hijackguard::detector
