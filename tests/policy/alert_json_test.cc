// Alerts as JSON: what ReplicaAlertJson writes reads back whole, and what is
// not an alert is refused naming the field.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "policy/alerts.h"

namespace hijackguard::policy {
namespace {

using ::testing::HasSubstr;

ComplianceAlert Sample() {
  ComplianceAlert a;
  a.alert_id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
  a.emitted_at = absl::FromUnixMicros(1'800'000'000'123'456);
  a.trigger = "TRAFFIC";
  a.tenant_id = "acme";
  a.eas_device_id = "ApplDNPGK1";
  a.mdm_device_id = "mdm-7";
  a.user_principal = "Zoë@example.com";
  a.old_action = Action::kAllow;
  a.new_action = Action::kQuarantine;
  a.enforced_action = Action::kWarn;
  a.mode = Mode::kEnforce;
  a.score = 82.5;
  a.reasons.push_back(
      {kReasonObservedOrganizerRewrite, "rewrote 1 meeting", "KB2768774", 60});
  a.reasons.push_back({kReasonGracePeriod, "grace until noon", "", 0});
  a.user_alert = UserAlert{"Update iOS", "Your phone changed a meeting",
                           "Install iOS 6.1.2", "de"};
  a.policy_revision = "r42";
  a.decision_id = "d-1";
  return a;
}

TEST(AlertJsonTest, TheFeedFormReadsBackWhole) {
  const ComplianceAlert a = Sample();
  absl::StatusOr<ComplianceAlert> b = ParseAlertJson(ReplicaAlertJson(a));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->alert_id, a.alert_id);
  EXPECT_EQ(b->emitted_at, a.emitted_at);
  EXPECT_EQ(b->trigger, a.trigger);
  EXPECT_EQ(b->tenant_id, a.tenant_id);
  EXPECT_EQ(b->eas_device_id, a.eas_device_id);
  EXPECT_EQ(b->mdm_device_id, a.mdm_device_id);
  EXPECT_EQ(b->user_principal, a.user_principal);
  EXPECT_EQ(b->old_action, a.old_action);
  EXPECT_EQ(b->new_action, a.new_action);
  EXPECT_EQ(b->enforced_action, a.enforced_action);
  EXPECT_EQ(b->mode, a.mode);
  EXPECT_EQ(b->score, a.score);
  ASSERT_EQ(b->reasons.size(), 2u);
  EXPECT_EQ(b->reasons[0].code, kReasonObservedOrganizerRewrite);
  // Only the issue id needs a copy of its own: known codes are constants.
  ASSERT_NE(b->text, nullptr);
  EXPECT_EQ(b->text->size(), 1u);
  EXPECT_EQ(b->reasons[0].message, "rewrote 1 meeting");
  EXPECT_EQ(b->reasons[0].known_issue_id, "KB2768774");
  EXPECT_EQ(b->reasons[0].contribution, 60);
  EXPECT_EQ(b->reasons[1].code, kReasonGracePeriod);
  EXPECT_EQ(b->reasons[1].known_issue_id, "");
  ASSERT_TRUE(b->user_alert.has_value());
  EXPECT_EQ(b->user_alert->title, "Update iOS");
  EXPECT_EQ(b->user_alert->message, "Your phone changed a meeting");
  EXPECT_EQ(b->user_alert->remediation, "Install iOS 6.1.2");
  EXPECT_EQ(b->user_alert->locale, "de");
  EXPECT_EQ(b->policy_revision, "r42");
  EXPECT_EQ(b->decision_id, "d-1");
  // The SIEM form has no end-user alert and reads back without one.
  absl::StatusOr<ComplianceAlert> c = ParseAlertJson(AlertJson(a));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->user_alert.has_value());
}

TEST(AlertJsonTest, AnUnknownReasonCodeIsKeptWithTheAlertsOwnCopy) {
  nlohmann::json doc = nlohmann::json::parse(ReplicaAlertJson(Sample()));
  doc["reasons"][1]["code"] = "A_CODE_OF_A_NEWER_BUILD";
  absl::StatusOr<ComplianceAlert> b = ParseAlertJson(doc.dump());
  ASSERT_TRUE(b.ok()) << b.status();
  ComplianceAlert copy = *b;  // the views stay valid in copies
  b = absl::InternalError("gone");
  EXPECT_EQ(copy.reasons[1].code, "A_CODE_OF_A_NEWER_BUILD");
  EXPECT_EQ(copy.reasons[0].known_issue_id, "KB2768774");
  EXPECT_GT(AlertBytes(copy), AlertBytes(Sample()) - 64);
}

TEST(AlertJsonTest, WhatIsNotAnAlertIsRefusedNamingTheField) {
  const nlohmann::json good = nlohmann::json::parse(ReplicaAlertJson(Sample()));
  struct Case {
    std::function<void(nlohmann::json&)> spoil;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](nlohmann::json& d) { d.erase("alert_id"); }, "alert_id is missing"},
      {[](nlohmann::json& d) { d["v"] = 2; }, "v is not 1"},
      {[](nlohmann::json& d) { d["type"] = "checkpoint"; }, "type is not"},
      {[](nlohmann::json& d) { d["emitted_at"] = "yesterday"; },
       "emitted_at is not an RFC 3339 time"},
      {[](nlohmann::json& d) { d["mode"] = "loud"; }, "mode is not"},
      {[](nlohmann::json& d) { d["new_action"] = "ERASE"; },
       "new_action is not ALLOW"},
      {[](nlohmann::json& d) { d["score"] = "high"; }, "score is not a number"},
      {[](nlohmann::json& d) { d["reasons"] = 3; }, "reasons is not an array"},
      {[](nlohmann::json& d) { d["reasons"][1].erase("contribution"); },
       "reasons[1].contribution is missing"},
      {[](nlohmann::json& d) { d["reasons"][0]["code"] = 7; },
       "reasons[0].code is not a string"},
      {[](nlohmann::json& d) { d["user_alert"]["locale"] = nullptr; },
       "user_alert.locale is not a string"},
  };
  for (const Case& c : cases) {
    nlohmann::json doc = good;
    c.spoil(doc);
    absl::StatusOr<ComplianceAlert> got = ParseAlertJson(doc.dump());
    ASSERT_FALSE(got.ok()) << c.field;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(got.status().message(), HasSubstr(c.field));
  }
  EXPECT_THAT(ParseAlertJson("{\"v\": 1,").status().message(),
              HasSubstr("not JSON"));
  EXPECT_THAT(ParseAlertJson("[1]").status().message(),
              HasSubstr("not an object"));
}

}  // namespace
}  // namespace hijackguard::policy
