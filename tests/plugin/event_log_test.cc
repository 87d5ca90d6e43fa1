// The decision and detection log lines: their level, their fields, and
// pseudonyms in place of devices and users.
#include "plugin/event_log.h"

#include "common/log.h"
#include "detector/fingerprint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "plugin/request_context.h"

namespace hijackguard::plugin {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The one line of `out` whose message is `msg` (other threads of the process
// may write lines of their own meanwhile).
nlohmann::json OnlyLine(const std::string& out, std::string_view msg) {
  nlohmann::json found;
  int count = 0;
  for (std::size_t at = 0, nl; (nl = out.find('\n', at)) != std::string::npos;
       at = nl + 1) {
    const auto line = nlohmann::json::parse(out.substr(at, nl - at), nullptr,
                                            /*allow_exceptions=*/false);
    if (line.is_object() && line.value("msg", "") == msg) {
      found = line;
      ++count;
    }
  }
  EXPECT_EQ(count, 1) << out;
  return found;
}

class EventLogTest : public ::testing::Test {
 protected:
  void SetUp() override { SetLogFormat(LogFormat::kJson); }
  void TearDown() override {
    SetLogFormat(LogFormat::kText);
    SetLogLevel(LogLevel::kInfo);
  }

  static policy::DecisionNote Note(policy::Action previous,
                                   policy::Action evaluated) {
    return {.decision_id = "d-1",
            .trigger = "CHECK_IN",
            .tenant_id = "acme",
            .eas_device_id = "ApplDEVICE1",
            .user_principal = "alice@example.com",
            .enforced_action = policy::Action::kAllow,
            .evaluated_action = evaluated,
            .previous_action = previous,
            .mode = policy::Mode::kMonitor,
            .score = 71.6,
            .policy_revision = "rev"};
  }

  store::Pseudonymizer pseudonym_{"0123456789abcdef0123456789abcdef", false};
  EventLog log_{&pseudonym_};
};

TEST_F(EventLogTest, AChangedDecisionIsOneInfoLineWithPseudonyms) {
  const ScopedRequestContext request("mdm-acme",
                                     "4bf92f3577b34da6a3ce929d0e0e4736");
  ::testing::internal::CaptureStderr();
  log_.Decision(Note(policy::Action::kAllow, policy::Action::kQuarantine));
  const std::string out = ::testing::internal::GetCapturedStderr();
  const auto line = OnlyLine(out, "decision changed");
  EXPECT_EQ(line["level"], "INFO");
  EXPECT_EQ(line["msg"], "decision changed");
  EXPECT_EQ(line["decision_id"], "d-1");
  EXPECT_EQ(line["tenant"], "acme");
  EXPECT_EQ(line["device"], pseudonym_("ApplDEVICE1"));
  EXPECT_EQ(line["user"], pseudonym_("alice@example.com"));
  EXPECT_EQ(line["previous"], "ALLOW");
  EXPECT_EQ(line["evaluated"], "QUARANTINE");
  EXPECT_EQ(line["score"], "72");
  EXPECT_EQ(line["principal"], "mdm-acme");
  EXPECT_EQ(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_THAT(out, Not(HasSubstr("alice")));
  EXPECT_THAT(out, Not(HasSubstr("ApplDEVICE1")));
}

TEST_F(EventLogTest, AnUnchangedDecisionIsLoggedOnlyAtDebug) {
  ::testing::internal::CaptureStderr();
  log_.Decision(Note(policy::Action::kWarn, policy::Action::kWarn));
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  SetLogLevel(LogLevel::kDebug);
  ::testing::internal::CaptureStderr();
  log_.Decision(Note(policy::Action::kWarn, policy::Action::kWarn));
  const auto line =
      OnlyLine(::testing::internal::GetCapturedStderr(), "decision");
  EXPECT_EQ(line["level"], "DEBUG");
  EXPECT_EQ(line["msg"], "decision");
  EXPECT_FALSE(line.contains("previous"));
  EXPECT_FALSE(line.contains("principal")) << "no request on this thread";
}

TEST_F(EventLogTest, ADetectionEventNamesItsKindAndMailboxByPseudonym) {
  detector::DetectionEvent e;
  e.kind = detector::EventKind::kOrganizerRewrite;
  e.tenant_id = "acme";
  e.eas_device_id = "ApplDEVICE1";
  e.mailbox = "alice@example.com";
  e.command = "Change";
  e.sequence = 17;
  ::testing::internal::CaptureStderr();
  log_.Detection(e);
  const std::string out = ::testing::internal::GetCapturedStderr();
  const auto line = OnlyLine(out, "detection event");
  EXPECT_EQ(line["kind"], "ORGANIZER_REWRITE");
  EXPECT_EQ(line["user"], pseudonym_("alice@example.com"));
  EXPECT_EQ(line["sequence"], "17");
  EXPECT_THAT(out, Not(HasSubstr("alice")));
}

TEST_F(EventLogTest, PiiModeLogsInClear) {
  store::Pseudonymizer clear("0123456789abcdef0123456789abcdef", true);
  EventLog log(&clear);
  ::testing::internal::CaptureStderr();
  log.Decision(Note(policy::Action::kAllow, policy::Action::kWarn));
  const auto line =
      OnlyLine(::testing::internal::GetCapturedStderr(), "decision changed");
  EXPECT_EQ(line["user"], "alice@example.com");
  EXPECT_EQ(line["device"], "ApplDEVICE1");
}

TEST_F(EventLogTest, TheDecisionLogHasTheInputsAndTheResultPseudonymized) {
  detector::FingerprintInput input;
  input.user_agent = "Apple-iPhone4C1/1001.403";
  const detector::Fingerprint fp = detector::ComputeFingerprint(input);
  policy::Evaluation eval;
  eval.level = policy::Level::kHigh;
  for (std::string_view code :
       {"MONITOR_MODE", "CONFIRMED_ORGANIZER_HIJACK_BUILD"}) {
    policy::Reason reason;
    reason.code = code;
    eval.reasons.push_back(reason);
  }
  policy::DecisionNote note =
      Note(policy::Action::kWarn, policy::Action::kWarn);
  note.fingerprint = &fp;
  note.evaluation = &eval;
  const EventLog all(&pseudonym_, 1.0);
  ::testing::internal::CaptureStderr();
  all.Decision(note);
  const std::string out = ::testing::internal::GetCapturedStderr();
  const auto line = OnlyLine(out, "decision log");
  EXPECT_EQ(line["level"], "INFO");
  EXPECT_EQ(line["decision_id"], "d-1");
  EXPECT_EQ(line["device"], pseudonym_("ApplDEVICE1"));
  EXPECT_EQ(line["user"], pseudonym_("alice@example.com"));
  EXPECT_EQ(line["platform"], "ios");
  EXPECT_EQ(line["os_version"], "6.0");
  EXPECT_EQ(line["build"], "10A403");
  EXPECT_EQ(line["model"], "iPhone4C1");
  EXPECT_EQ(line["user_agent"], "Apple-iPhone4C1/1001.403");
  EXPECT_EQ(line["risk_level"], "HIGH");
  EXPECT_EQ(line["reasons"], "MONITOR_MODE,CONFIRMED_ORGANIZER_HIJACK_BUILD");
  EXPECT_EQ(line["policy_revision"], "rev");
  EXPECT_THAT(out, Not(HasSubstr("alice")));
  EXPECT_THAT(out, Not(HasSubstr("ApplDEVICE1")));
  // Off by default, and nothing at a sample of 0.
  for (const EventLog* off : {&log_, new EventLog(&pseudonym_, 0.0)}) {
    ::testing::internal::CaptureStderr();
    off->Decision(note);
    EXPECT_THAT(::testing::internal::GetCapturedStderr(),
                Not(HasSubstr("decision log")));
    if (off != &log_) delete off;
  }
}

TEST_F(EventLogTest, TheDecisionLogSamplesByDecisionId) {
  int kept = 0;
  for (int i = 0; i < 10'000; ++i) {
    const std::string id = "019a" + std::to_string(i * 7919);
    const bool sampled = EventLog::Sampled(id, 0.1);
    EXPECT_EQ(sampled, EventLog::Sampled(id, 0.1));  // the same every time
    kept += sampled ? 1 : 0;
  }
  EXPECT_GT(kept, 800);
  EXPECT_LT(kept, 1200);
  EXPECT_TRUE(EventLog::Sampled("x", 1.0));
  EXPECT_FALSE(EventLog::Sampled("x", 0.0));
}

}  // namespace
}  // namespace hijackguard::plugin
