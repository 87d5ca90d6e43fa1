#include "policy/interim_rule.h"

#include "detector/known_issues.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hijackguard::policy {
namespace {

using ::testing::Contains;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::Not;

const detector::KnownIssueCatalog& Catalog() {
  static const auto* const catalog =
      new detector::KnownIssueCatalog(*detector::KnownIssueCatalog::Builtin());
  return *catalog;
}

Decision Decide(const detector::FingerprintInput& input) {
  detector::Fingerprint fp = detector::ComputeFingerprint(input);
  fp.known_issues = Catalog().Match(fp);
  return DecideFromFingerprint(fp);
}

TEST(InterimRuleTest, ConfirmedHijackBuildIsWarnedWithAlert) {
  const Decision d = Decide({.user_agent = "Apple-iPhone4C1/1001.403"});
  EXPECT_EQ(d.action, Action::kWarn);
  ASSERT_FALSE(d.reasons.empty());
  EXPECT_EQ(d.reasons[0].code, kReasonConfirmedHijackBuild);
  EXPECT_EQ(d.reasons[0].known_issue_id, "ios6-meeting-organizer-hijack");
  EXPECT_THAT(d.reasons[0].message, HasSubstr("iOS 6.0 (10A403)"));
  ASSERT_TRUE(d.user_alert.has_value());
  EXPECT_EQ(d.user_alert->title, "Update iOS on your iPhone 4S");
  EXPECT_THAT(d.user_alert->message, HasSubstr("iOS 6.0 (10A403)"));
  EXPECT_THAT(d.user_alert->remediation, HasSubstr("Update iOS"));
  EXPECT_THAT(d.user_alert->remediation, HasSubstr("in Outlook"));
  EXPECT_EQ(d.user_alert->locale, "en");
}

TEST(InterimRuleTest, FixedBuildIsAllowed) {
  const Decision d = Decide({.user_agent = "Apple-iPhone5C2/1002.146"});
  EXPECT_EQ(d.action, Action::kAllow);
  EXPECT_EQ(d.reasons[0].code, kReasonNoConfirmedHijackIssue);
  EXPECT_THAT(d.reasons[0].message, HasSubstr("iOS 6.1.2 (10B146)"));
  EXPECT_FALSE(d.user_alert.has_value());
}

TEST(InterimRuleTest, ReportedOnlyAndOtherIssuesAreInformational) {
  const Decision reported = Decide({.user_agent = "Apple-iPhone4C1/902.206"});
  EXPECT_EQ(reported.action, Action::kAllow);
  EXPECT_THAT(reported.reasons,
              Contains(Field(&Reason::code,
                             std::string(kReasonKnownIssueInformational))));
  const Decision logs = Decide({.user_agent = "Apple-iPhone4C1/1002.141"});
  EXPECT_EQ(logs.action, Action::kAllow);
  EXPECT_THAT(logs.reasons,
              Contains(Field(&Reason::known_issue_id,
                             std::string("ios61-transaction-log-growth"))));
}

TEST(InterimRuleTest, AndroidIsAllowed) {
  const Decision d = Decide({.user_agent = "Android/4.4.2-EAS-2.0"});
  EXPECT_EQ(d.action, Action::kAllow);
  EXPECT_THAT(d.reasons[0].message, HasSubstr("android"));
}

TEST(InterimRuleTest, InconsistentAndUnknownAreExplained) {
  const Decision d = Decide({.user_agent = "Apple-iPhone4C1/1001.999",
                             .inventory_os_version = "6.1.2",
                             .inventory_build_version = "10B146"});
  EXPECT_EQ(d.action, Action::kAllow);
  EXPECT_THAT(
      d.reasons,
      Contains(Field(&Reason::code, std::string(kReasonBuildNotInCatalog))));
  EXPECT_THAT(d.reasons,
              Contains(Field(&Reason::code,
                             std::string(kReasonFingerprintInconsistent))));
  const Decision none = Decide({});
  EXPECT_THAT(
      none.reasons,
      Contains(Field(&Reason::code, std::string(kReasonClientUnidentified))));
  EXPECT_THAT(none.reasons,
              Not(Contains(Field(&Reason::code,
                                 std::string(kReasonConfirmedHijackBuild)))));
}

}  // namespace
}  // namespace hijackguard::policy
