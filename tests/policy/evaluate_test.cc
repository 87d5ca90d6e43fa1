// Decisions as a pure function: golden tables over builds, evidence, time,
// modes, exemptions and tenants; decay and grace over simulated weeks; every
// locale's alert.
#include "policy/evaluate.h"

#include <cmath>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/builtin_catalog.h"

namespace hijackguard::policy {
namespace {

using detector::EventKind;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

const detector::KnownIssueCatalog& Catalog() {
  return *::hijackguard::testing::BuiltinCatalog();
}

// iOS 6.0 10A403: confirmed organizer hijack (prior 30 by default).
constexpr std::string_view kIos60 = "Apple-iPhone4C1/1001.403";
// iOS 6.0.1 10A523: no known hijack issue.
constexpr std::string_view kIos601 = "Apple-iPhone4C1/1001.523";
// iOS 5.1.1 9B206: reported hijack (prior 15).
constexpr std::string_view kIos511 = "Apple-iPhone4C1/902.206";
// iOS 6.1 10B141: a server-load issue only (no prior by default).
constexpr std::string_view kIos61 = "Apple-iPhone4C1/1002.141";

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

detector::Fingerprint Fp(std::string_view user_agent) {
  detector::Fingerprint fp =
      detector::ComputeFingerprint({.user_agent = user_agent});
  fp.known_issues = Catalog().Match(fp);
  return fp;
}

std::shared_ptr<const Policy> Parse(std::string_view json) {
  std::vector<PolicyProblem> problems;
  auto p = Policy::Parse(json, Catalog(), &problems);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : Policy::Default(Catalog());
}

EvidenceEvent Ev(EventKind kind, absl::Duration age, int attendees = 2) {
  return {kind, attendees, kNow - age, kNow - age};
}

struct Case {
  const char* name;
  std::string_view user_agent;
  std::vector<EvidenceEvent> events;
  absl::Duration at_warn_for = absl::ZeroDuration();  // 0: not at WARN
  Action enforced;
  Action evaluated;
  double score;
};

Evaluation Decide(const Policy& policy, std::string_view ua,
                  std::span<const EvidenceEvent> events,
                  absl::Time warn_since = absl::InfiniteFuture(),
                  std::string_view tenant = "acme",
                  std::string_view locale = "",
                  const ExemptionIndex* exemptions = nullptr,
                  absl::Time now = kNow) {
  static thread_local detector::Fingerprint fp;
  fp = Fp(ua);
  EvaluationInput in;
  in.policy = &policy;
  in.fingerprint = &fp;
  in.events = events;
  in.subject.tenant_id = tenant;
  in.subject.eas_device_id = "ApplDMPFXZABDFHW";
  in.subject.mdm_device_id = "mdm-1";
  in.subject.user_principal = "alice@example.com";
  in.subject.locale = locale;
  in.history.warn_since = warn_since;
  in.exemptions = exemptions;
  in.now = now;
  return Evaluate(in);
}

constexpr std::string_view kEnforce =
    R"json({"apiVersion": "hijackguard/v1", "mode": "enforce"})json";
constexpr std::string_view kMonitor =
    R"json({"apiVersion": "hijackguard/v1", "mode": "monitor"})json";

// Default weights: ORGANIZER_REWRITE 60, OWNERSHIP_CLAIM 60,
// ATTENDEE_CANCEL 80, SUSPECTED_SELF_ORGANIZER 10; half-life 168 h;
// thresholds 25/50/none; grace 72 h.
const std::vector<Case>& GoldenCases() {
  const absl::Duration week = absl::Hours(168);
  static const auto* cases = new std::vector<Case>{
      {"fixed build, no evidence",
       kIos601,
       {},
       {},
       Action::kAllow,
       Action::kAllow,
       0},
      {"server-load issue only",
       kIos61,
       {},
       {},
       Action::kAllow,
       Action::kAllow,
       0},
      {"reported hijack build",
       kIos511,
       {},
       {},
       Action::kAllow,
       Action::kAllow,
       15},
      {"confirmed hijack build: warn",
       kIos60,
       {},
       {},
       Action::kWarn,
       Action::kWarn,
       30},
      {"confirmed build at WARN for 71 h: still warn",
       kIos60,
       {},
       absl::Hours(71),
       Action::kWarn,
       Action::kWarn,
       30},
      {"confirmed build at WARN for 72 h: quarantined",
       kIos60,
       {},
       absl::Hours(72),
       Action::kQuarantine,
       Action::kQuarantine,
       30},
      {"fresh rewrite on a fixed build",
       kIos601,
       {Ev(EventKind::kOrganizerRewrite, absl::ZeroDuration())},
       {},
       Action::kQuarantine,
       Action::kQuarantine,
       60},
      {"rewrite one half-life ago",
       kIos601,
       {Ev(EventKind::kOrganizerRewrite, week)},
       {},
       Action::kWarn,
       Action::kWarn,
       30},
      {"rewrite two half-lives ago",
       kIos601,
       {Ev(EventKind::kOrganizerRewrite, 2 * week)},
       {},
       Action::kAllow,
       Action::kAllow,
       15},
      {"rewrite on a 12-attendee meeting",
       kIos601,
       {Ev(EventKind::kOrganizerRewrite, absl::ZeroDuration(), 12)},
       {},
       Action::kQuarantine,
       Action::kQuarantine,
       75},
      {"rewrite on an all-hands",
       kIos601,
       {Ev(EventKind::kOrganizerRewrite, absl::ZeroDuration(), 400)},
       {},
       Action::kQuarantine,
       Action::kQuarantine,
       90},
      {"weak evidence only",
       kIos601,
       {Ev(EventKind::kSuspectedSelfOrganizer, absl::ZeroDuration())},
       {},
       Action::kAllow,
       Action::kAllow,
       10},
      {"name change is information",
       kIos601,
       {Ev(EventKind::kOrganizerNameChange, absl::ZeroDuration())},
       {},
       Action::kAllow,
       Action::kAllow,
       0},
      {"hijack build and its rewrite and cancel: capped at 100",
       kIos60,
       {Ev(EventKind::kOrganizerRewrite, absl::Hours(1)),
        Ev(EventKind::kAttendeeCancel, absl::Hours(1))},
       {},
       Action::kQuarantine,
       Action::kQuarantine,
       100},
      {"three weak events add up to WARN",
       kIos601,
       {Ev(EventKind::kSuspectedSelfOrganizer, absl::ZeroDuration()),
        Ev(EventKind::kSuspectedSelfOrganizer, absl::ZeroDuration()),
        Ev(EventKind::kSuspectedSelfOrganizer, absl::ZeroDuration())},
       {},
       Action::kWarn,
       Action::kWarn,
       30},
      {"evidence from the future counts in full (no negative age)",
       kIos601,
       {Ev(EventKind::kOrganizerRewrite, -absl::Hours(2))},
       {},
       Action::kQuarantine,
       Action::kQuarantine,
       60},
  };
  return *cases;
}

TEST(EvaluateGoldenTest, EnforceAndMonitorAgreeOnTheEvaluatedAction) {
  const auto enforce = Parse(kEnforce);
  const auto monitor = Parse(kMonitor);
  for (const Case& c : GoldenCases()) {
    SCOPED_TRACE(c.name);
    const absl::Time warn_since = c.at_warn_for == absl::ZeroDuration()
                                      ? absl::InfiniteFuture()
                                      : kNow - c.at_warn_for;
    const Evaluation e = Decide(*enforce, c.user_agent, c.events, warn_since);
    EXPECT_EQ(e.enforced_action, c.enforced);
    EXPECT_EQ(e.evaluated_action, c.evaluated);
    EXPECT_NEAR(e.score, c.score, 0.01);
    EXPECT_EQ(e.user_alert.has_value(), c.enforced != Action::kAllow);
    EXPECT_EQ(e.mode, Mode::kEnforce);

    const Evaluation m = Decide(*monitor, c.user_agent, c.events, warn_since);
    EXPECT_EQ(m.enforced_action, Action::kAllow);
    EXPECT_EQ(m.evaluated_action, c.evaluated);
    EXPECT_EQ(m.score, e.score);
    EXPECT_FALSE(m.user_alert.has_value());
    ASSERT_FALSE(m.reasons.empty());
    EXPECT_EQ(m.reasons[0].code, kReasonMonitorMode);
    EXPECT_THAT(m.matched_rules, Contains("/mode"));
  }
}

TEST(EvaluateGoldenTest, ReasonsExplainTheScore) {
  const auto policy = Parse(kEnforce);
  // Two rewrites one half-life old: 30 + 30, and the build's 15.
  const std::vector<EvidenceEvent> events = {
      Ev(EventKind::kOrganizerRewrite, absl::Hours(168), 3),
      Ev(EventKind::kOrganizerRewrite, absl::Hours(168), 3)};
  const Evaluation e = Decide(*policy, kIos511, events);
  EXPECT_EQ(e.score, 75);
  double sum = 0;
  for (const Reason& r : e.reasons) {
    sum += r.contribution;
  }
  EXPECT_NEAR(sum, e.score, 0.011);
  ASSERT_GE(e.reasons.size(), 2u);
  // The largest contribution first: the rewrites, then the build's prior.
  EXPECT_EQ(e.reasons[0].code, kReasonObservedOrganizerRewrite);
  EXPECT_THAT(e.reasons[0].message, HasSubstr("2 ORGANIZER_REWRITE events"));
  EXPECT_EQ(e.reasons[1].code, kReasonKnownIssuePrior);
  EXPECT_EQ(e.reasons[1].contribution, 15);
  EXPECT_EQ(e.reasons[1].known_issue_id, "ios6-meeting-organizer-hijack");
  EXPECT_THAT(e.matched_rules,
              ElementsAre("/priors/ios6-meeting-organizer-hijack/reported",
                          "/events/weights/ORGANIZER_REWRITE",
                          "/events/half_life_hours", "/thresholds/quarantine",
                          "/restrict/quarantine"));
  EXPECT_EQ(e.level, Level::kHigh);
  EXPECT_EQ(e.policy_revision, policy->revision());
}

TEST(EvaluateTest, DecayOverSimulatedWeeksReleasesTheDevice) {
  const auto policy = Parse(kEnforce);
  // One rewrite at t0 on a fixed build; decide every 12 hours for 4 weeks.
  const absl::Time t0 = kNow;
  const std::vector<EvidenceEvent> events = {
      {EventKind::kOrganizerRewrite, 2, t0, t0}};
  absl::Time warn_since = absl::InfiniteFuture();
  std::vector<std::pair<double, Action>> timeline;
  double previous = 101;
  for (int step = 0; step <= 56; ++step) {
    const absl::Time now = t0 + absl::Hours(12 * step);
    const Evaluation e =
        Decide(*policy, kIos601, events, warn_since, "acme", "", nullptr, now);
    warn_since = e.history.warn_since;
    EXPECT_LE(e.score, previous) << "step " << step;
    previous = e.score;
    timeline.emplace_back(absl::ToDoubleHours(now - t0), e.enforced_action);
    const double expected = 60 * std::exp2(-12.0 * step / 168);
    EXPECT_NEAR(e.score, expected, 0.006) << "step " << step;
  }
  // QUARANTINE while >= 50 (until ~44 h), then WARN; the device has been at
  // or above WARN since 0 h, so the 72 h grace ends at 72 h and it is
  // quarantined again until its score falls under 25 (~212 h): released.
  auto action_at = [&](double hours) {
    for (const auto& [h, a] : timeline) {
      if (h == hours) return a;
    }
    return Action::kBlock;
  };
  EXPECT_EQ(action_at(0), Action::kQuarantine);
  EXPECT_EQ(action_at(36), Action::kQuarantine);
  EXPECT_EQ(action_at(48), Action::kWarn);
  EXPECT_EQ(action_at(60), Action::kWarn);
  EXPECT_EQ(action_at(72), Action::kQuarantine);  // grace from 0 h ended
  EXPECT_EQ(action_at(204), Action::kQuarantine);
  EXPECT_EQ(action_at(216), Action::kAllow);
  EXPECT_EQ(action_at(672), Action::kAllow);
  EXPECT_EQ(warn_since, absl::InfiniteFuture());
}

TEST(EvaluateTest, GraceRunsFromFirstWarnAndSetsADeadline) {
  const auto policy = Parse(kEnforce);
  Evaluation e = Decide(*policy, kIos60, {});
  EXPECT_EQ(e.enforced_action, Action::kWarn);
  EXPECT_EQ(e.history.warn_since, kNow);
  ASSERT_TRUE(e.deadline.has_value());
  EXPECT_EQ(*e.deadline, kNow + absl::Hours(72));
  EXPECT_THAT(e.matched_rules, Contains("/escalation/grace_hours"));
  ASSERT_TRUE(e.user_alert.has_value());
  EXPECT_THAT(e.user_alert->message, HasSubstr("2027-01-18 08:00 UTC"))
      << "the deadline notice names the deadline";

  // 73 hours later the same device is quarantined, the reason first.
  e = Decide(*policy, kIos60, {}, kNow, "acme", "", nullptr,
             kNow + absl::Hours(73));
  EXPECT_EQ(e.enforced_action, Action::kQuarantine);
  EXPECT_EQ(e.reasons[0].code, kReasonGraceExpired);
  EXPECT_FALSE(e.deadline.has_value());
  EXPECT_EQ(e.history.warn_since, kNow) << "the grace start is kept";
}

TEST(EvaluateTest, NoGraceMeansWarnStaysWarn) {
  const auto policy = Parse(
      R"json({"apiVersion": "hijackguard/v1", "mode": "enforce",
          "escalation": {"grace_hours": 0}})json");
  const Evaluation e = Decide(*policy, kIos60, {}, kNow - absl::Hours(1000));
  EXPECT_EQ(e.enforced_action, Action::kWarn);
  EXPECT_FALSE(e.deadline.has_value());
}

TEST(EvaluateTest, UpgradeDropsThePriorAtOnceAndReleases) {
  const auto policy = Parse(kEnforce);
  // Quarantined after the grace on iOS 6.0 ...
  Evaluation e = Decide(*policy, kIos60, {}, kNow - absl::Hours(100));
  EXPECT_EQ(e.enforced_action, Action::kQuarantine);
  EXPECT_EQ(e.admin_remediation,
            "Set-CASMailbox -Identity 'alice@example.com' "
            "-ActiveSyncBlockedDeviceIDs @{Add='ApplDMPFXZABDFHW'}");
  // ... the same device on 6.0.1 at its next check-in: released.
  e = Decide(*policy, kIos601, {}, e.history.warn_since);
  EXPECT_EQ(e.enforced_action, Action::kAllow);
  EXPECT_EQ(e.score, 0);
  EXPECT_EQ(e.history.warn_since, absl::InfiniteFuture());
  EXPECT_EQ(e.admin_remediation,
            "Set-CASMailbox -Identity 'alice@example.com' "
            "-ActiveSyncBlockedDeviceIDs @{Remove='ApplDMPFXZABDFHW'}");
  // Evidence from before the upgrade still counts until it decays.
  const std::vector<EvidenceEvent> events = {
      Ev(EventKind::kOrganizerRewrite, absl::Hours(1))};
  e = Decide(*policy, kIos601, events);
  EXPECT_EQ(e.enforced_action, Action::kQuarantine);
}

TEST(EvaluateTest, BlockOnlyWhenThePolicyAsks) {
  const auto strict = Parse(
      R"json({"apiVersion": "hijackguard/v1", "mode": "enforce",
          "thresholds": {"warn": 20, "quarantine": 45, "block": 95}})json");
  const std::vector<EvidenceEvent> events = {
      Ev(EventKind::kOrganizerRewrite, absl::Hours(1)),
      Ev(EventKind::kAttendeeCancel, absl::Hours(1))};
  Evaluation e = Decide(*strict, kIos60, events);
  EXPECT_EQ(e.enforced_action, Action::kBlock);
  EXPECT_EQ(e.scope, Scope::kDevice);
  EXPECT_EQ(e.level, Level::kCritical);
  EXPECT_THAT(e.matched_rules, Contains("/thresholds/block"));
  e = Decide(*Parse(kEnforce), kIos60, events);
  EXPECT_EQ(e.enforced_action, Action::kQuarantine);
}

TEST(EvaluateTest, RestrictCalendarScopesWarnAndQuarantine) {
  const auto policy = Parse(
      R"json({"apiVersion": "hijackguard/v1", "mode": "enforce",
          "restrict": {"warn": "calendar", "quarantine": "calendar"}})json");
  Evaluation e = Decide(*policy, kIos60, {});
  EXPECT_EQ(e.enforced_action, Action::kWarn);
  EXPECT_EQ(e.scope, Scope::kCalendar);
  EXPECT_THAT(e.user_alert->title, HasSubstr("Calendar sync paused"));
  const std::vector<EvidenceEvent> events = {
      Ev(EventKind::kOrganizerRewrite, absl::Hours(1))};
  e = Decide(*policy, kIos601, events);
  EXPECT_EQ(e.enforced_action, Action::kQuarantine);
  EXPECT_EQ(e.scope, Scope::kCalendar);
  EXPECT_THAT(e.user_alert->message, HasSubstr("Mail keeps working"));
  e = Decide(*Parse(kEnforce), kIos601, events);
  EXPECT_EQ(e.scope, Scope::kDevice);
}

TEST(EvaluateTest, ExemptDevicesAreAllowedButStillScored) {
  const auto policy = Parse(R"json({
    "apiVersion": "hijackguard/v1", "mode": "enforce",
    "exemptions": [
      {"kind": "user", "value": "Alice@Example.com", "reason": "CEO",
       "expires": "2027-06-01T00:00:00Z"}
    ]})json");
  const std::vector<EvidenceEvent> events = {
      Ev(EventKind::kOrganizerRewrite, absl::Hours(1))};
  Evaluation e = Decide(*policy, kIos60, events);
  EXPECT_EQ(e.enforced_action, Action::kAllow);
  EXPECT_EQ(e.evaluated_action, Action::kAllow);
  EXPECT_EQ(e.score, 89.75);  // 30 + 60 * 2^(-1/168)
  EXPECT_EQ(e.reasons[0].code, kReasonExempt);
  EXPECT_THAT(e.reasons[0].message,
              HasSubstr("Without the exemption: QUARANTINE"));
  EXPECT_THAT(e.matched_rules, Contains("/exemptions/0"));
  EXPECT_EQ(e.history.warn_since, absl::InfiniteFuture())
      << "no grace runs while exempt";
  ASSERT_TRUE(e.exemption.has_value());

  // After the expiry the exemption no longer applies.
  e = Decide(*policy, kIos60, events, absl::InfiniteFuture(), "acme", "",
             nullptr, absl::FromUnixSeconds(1'812'000'000));
  EXPECT_EQ(e.evaluated_action, Action::kWarn) << "the rewrite decayed";
  EXPECT_FALSE(e.exemption.has_value());
}

TEST(EvaluateTest, ApiExemptionsByDeviceAndGroupWithExpiry) {
  const auto policy = Parse(kEnforce);
  Exemption device{Exemption::Kind::kDevice,
                   "ApplDMPFXZABDFHW",
                   "test phone",
                   kNow + absl::Hours(1),
                   "acme",
                   "api",
                   "acme/device/ApplDMPFXZABDFHW",
                   ""};
  const ExemptionIndex index({device});
  Evaluation e =
      Decide(*policy, kIos60, {}, absl::InfiniteFuture(), "acme", "", &index);
  EXPECT_EQ(e.enforced_action, Action::kAllow);
  EXPECT_THAT(e.matched_rules,
              Contains("exemption:acme/device/ApplDMPFXZABDFHW"));
  // Another tenant's device with the same id is not exempt.
  e = Decide(*policy, kIos60, {}, absl::InfiniteFuture(), "other", "", &index);
  EXPECT_EQ(e.enforced_action, Action::kWarn);
  // Expired.
  e = Decide(*policy, kIos60, {}, absl::InfiniteFuture(), "acme", "", &index,
             kNow + absl::Hours(1));
  EXPECT_EQ(e.enforced_action, Action::kWarn);
}

TEST(EvaluateTest, TenantOverridesApplyToTheirTenantOnly) {
  const auto policy = Parse(R"json({
    "apiVersion": "hijackguard/v1", "mode": "monitor",
    "tenants": {
      "acme": {"mode": "enforce", "thresholds": {"quarantine": 30},
               "priors": {"ios6-meeting-organizer-hijack": {"confirmed": 35}}}
    }})json");
  Evaluation e = Decide(*policy, kIos60, {}, absl::InfiniteFuture(), "acme");
  EXPECT_EQ(e.enforced_action, Action::kQuarantine);
  EXPECT_EQ(e.score, 35);
  EXPECT_THAT(e.matched_rules,
              ElementsAre("/tenants/acme/priors/ios6-meeting-organizer-hijack/"
                          "confirmed",
                          "/tenants/acme/thresholds/quarantine",
                          "/restrict/quarantine"));
  e = Decide(*policy, kIos60, {}, absl::InfiniteFuture(), "globex");
  EXPECT_EQ(e.enforced_action, Action::kAllow);
  EXPECT_EQ(e.evaluated_action, Action::kWarn);
  EXPECT_EQ(e.score, 30);
}

TEST(EvaluateTest, EveryLocaleRendersEveryAlertKind) {
  const auto policy = Parse(R"json({
    "apiVersion": "hijackguard/v1", "mode": "enforce",
    "thresholds": {"warn": 20, "quarantine": 45, "block": 95},
    "alerts": {"admin_insert": "Help: +1 555 0100"}})json");
  const auto calendar = Parse(R"json({
    "apiVersion": "hijackguard/v1", "mode": "enforce",
    "restrict": {"warn": "calendar", "quarantine": "calendar"}})json");
  const std::vector<EvidenceEvent> none;
  const std::vector<EvidenceEvent> rewrite = {
      Ev(EventKind::kOrganizerRewrite, absl::Hours(1))};
  const std::vector<EvidenceEvent> worst = {
      Ev(EventKind::kOrganizerRewrite, absl::Hours(1)),
      Ev(EventKind::kAttendeeCancel, absl::Hours(1))};
  struct Variant {
    const Policy* policy;
    const std::vector<EvidenceEvent>* events;
    std::string_view ua;
    Action action;
  };
  const Variant variants[] = {
      {policy.get(), &none, kIos60, Action::kWarn},
      {calendar.get(), &none, kIos60, Action::kWarn},
      {policy.get(), &rewrite, kIos601, Action::kQuarantine},
      {calendar.get(), &rewrite, kIos601, Action::kQuarantine},
      {policy.get(), &worst, kIos60, Action::kBlock},
  };
  for (const char* locale : {"en", "de", "fr", "es", "ja", "de-CH", "ja_JP"}) {
    std::set<std::string> titles;
    for (const Variant& v : variants) {
      const Evaluation e = Decide(*v.policy, v.ua, *v.events,
                                  absl::InfiniteFuture(), "acme", locale);
      SCOPED_TRACE(std::string(locale) + " " +
                   std::string(ActionName(v.action)));
      ASSERT_EQ(e.enforced_action, v.action);
      ASSERT_TRUE(e.user_alert.has_value());
      const UserAlert& a = *e.user_alert;
      EXPECT_EQ(a.locale, std::string(locale).substr(0, 2));
      for (const std::string* text : {&a.title, &a.message, &a.remediation}) {
        EXPECT_FALSE(text->empty());
        EXPECT_EQ(text->find('{'), std::string::npos) << *text;
        EXPECT_EQ(text->find('}'), std::string::npos) << *text;
      }
      EXPECT_THAT(a.title + a.message, HasSubstr("iPhone 4S"));
      if (v.policy == policy.get()) {
        EXPECT_THAT(a.message, HasSubstr("Help: +1 555 0100"));
      }
      titles.insert(a.title);
    }
    EXPECT_GE(titles.size(), 3u) << "kinds have their own titles";
  }
  // An unknown language falls back to English.
  const Evaluation e =
      Decide(*policy, kIos60, {}, absl::InfiniteFuture(), "acme", "pt-BR");
  EXPECT_EQ(e.user_alert->locale, "en");
  EXPECT_THAT(e.user_alert->title, HasSubstr("Update iOS"));
}

TEST(EvaluateTest, PolicyTemplatesOverrideAndAddLocales) {
  const auto policy = Parse(R"json({
    "apiVersion": "hijackguard/v1", "mode": "enforce",
    "alerts": {"admin_insert": "Ticket: {user}",
      "templates": {
        "en": {"warn": {"title": "Please update {device_name} ({user})"}},
        "pt-br": {
          "latest_release": "a versão mais recente do iOS",
          "deadline_notice": "Prazo: {deadline}.",
          "warn": {"title": "Atualize o iOS", "message": "{os_version}. {admin_insert}", "remediation": "Instale {fixed_in}."},
          "warn_calendar": {"title": "t", "message": "m", "remediation": "r"},
          "quarantine": {"title": "t", "message": "m", "remediation": "r"},
          "quarantine_calendar": {"title": "t", "message": "m", "remediation": "r"},
          "block": {"title": "t", "message": "m", "remediation": "r"}}}}})json");
  Evaluation e = Decide(*policy, kIos60, {});
  EXPECT_EQ(e.user_alert->title, "Please update iPhone 4S (alice@example.com)");
  e = Decide(*policy, kIos60, {}, absl::InfiniteFuture(), "acme", "pt-BR");
  EXPECT_EQ(e.user_alert->locale, "pt-br");
  EXPECT_EQ(e.user_alert->title, "Atualize o iOS");
  EXPECT_EQ(e.user_alert->message,
            "iOS 6.0 (10A403). Ticket: {user} Prazo: 2027-01-18 08:00 UTC.");
  EXPECT_EQ(e.user_alert->remediation, "Instale a versão mais recente do iOS.");
}

TEST(EvaluateTest, InformationalReasonsFollowTheScoredOnes) {
  const auto policy = Parse(kEnforce);
  const Evaluation e = Decide(*policy, "", {});
  EXPECT_EQ(e.enforced_action, Action::kAllow);
  std::vector<std::string> codes;
  for (const Reason& r : e.reasons) {
    codes.emplace_back(r.code);
  }
  EXPECT_THAT(codes, ElementsAre(std::string(kReasonBelowThreshold),
                                 std::string(kReasonNoConfirmedHijackIssue),
                                 std::string(kReasonClientUnidentified)));
  EXPECT_THAT(codes, Not(Contains(std::string(kReasonMonitorMode))));
}

TEST(EvaluateTest, AdminRemediationQuotesForPowerShell) {
  const auto policy = Parse(kEnforce);
  detector::Fingerprint fp = Fp(kIos60);
  EvaluationInput in;
  in.policy = policy.get();
  in.fingerprint = &fp;
  in.subject.tenant_id = "acme";
  in.subject.eas_device_id = "Appl'X";
  in.subject.primary_smtp_address = "o'brien@example.com";
  in.now = kNow;
  EXPECT_EQ(Evaluate(in).admin_remediation,
            "Set-CASMailbox -Identity 'o''brien@example.com' "
            "-ActiveSyncBlockedDeviceIDs @{Remove='Appl''X'}");
  in.subject.eas_device_id = "";
  EXPECT_EQ(Evaluate(in).admin_remediation, "");
}

// Where a PowerShell single-quoted string that starts at `at` ends: the
// first single quote (any of the five) not doubled. npos when it never does.
std::size_t PsStringEnd(const std::string& text, std::size_t at) {
  auto quote_len = [&](std::size_t i) -> std::size_t {
    if (text[i] == '\'') return 1;
    if (i + 2 < text.size() && text.compare(i, 2, "\xE2\x80") == 0 &&
        static_cast<unsigned char>(text[i + 2]) >= 0x98 &&
        static_cast<unsigned char>(text[i + 2]) <= 0x9B) {
      return 3;
    }
    return 0;
  };
  for (std::size_t i = at + 1; i < text.size();) {
    if (const std::size_t n = quote_len(i); n > 0) {
      const std::size_t next = i + n;
      if (next < text.size() && quote_len(next) > 0) {
        i = next + quote_len(next);  // a doubled quote: one literal quote
        continue;
      }
      return i;
    }
    ++i;
  }
  return std::string::npos;
}

TEST(EvaluateTest, AdminRemediationQuotesEveryPowerShellQuote) {
  const auto policy = Parse(kEnforce);
  detector::Fingerprint fp = Fp(kIos60);
  EvaluationInput in;
  in.policy = policy.get();
  in.fingerprint = &fp;
  in.subject.tenant_id = "acme";
  in.subject.primary_smtp_address = "owner@example.com";
  in.now = kNow;
  const std::string tail =
      "; Remove-Mailbox -Identity ceo@acme.com -Confirm:$false; ";
  // single: U+0027, U+2018, U+2019, U+201A, U+201B; double: U+0022,
  // U+201C, U+201D, U+201E (literal inside a single-quoted string).
  for (const std::string quote : {"'", "\u2018", "\u2019", "\u201A", "\u201B",
                                  "\"", "\u201C", "\u201D", "\u201E"}) {
    SCOPED_TRACE(quote);
    in.subject.eas_device_id = "Appl" + quote + tail + quote;
    const std::string command = Evaluate(in).admin_remediation;
    const std::size_t open = command.find("Remove=") + 7;
    ASSERT_EQ(command[open], '\'');
    const std::size_t end = PsStringEnd(command, open);
    ASSERT_NE(end, std::string::npos) << command;
    EXPECT_EQ(command.substr(end), "'}")
        << "the device id ends the string early: " << command;
  }
}

}  // namespace
}  // namespace hijackguard::policy
