// PolicyAdmin and WatchAlerts on the real server (127.0.0.1:0, in-process),
// the new CheckIn decision fields, and policy reloads under continuous
// CheckIn load with zero failed calls.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "hijackguard/v1/policy_admin.grpc.pb.h"
#include "plugin/server.h"
#include "tests/common/builtin_catalog.h"
#include "tests/common/status_matchers.h"
#include "tests/common/test_dir.h"
#include "tests/plugin/test_policy.h"

namespace hijackguard::plugin {
namespace {

using ::hijackguard::testing::IsOk;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr std::string_view kMonitor =
    R"({"apiVersion": "hijackguard/v1", "mode": "monitor"})";
constexpr std::string_view kEnforce =
    R"({"apiVersion": "hijackguard/v1", "mode": "enforce"})";

std::shared_ptr<const detector::KnownIssueCatalog> Catalog() {
  return ::hijackguard::testing::BuiltinCatalog();
}

v1::CheckInRequest Ios60(std::string device_id = "ApplDMPFXZABDFHW") {
  v1::CheckInRequest r;
  r.set_tenant_id("acme");
  r.mutable_device()->set_eas_device_id(std::move(device_id));
  r.mutable_device()->set_user_principal("alice@example.com");
  r.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
  return r;
}

class PolicyServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::hijackguard::testing::FreshTestDir("policy");
    policy_path_ = (dir_ / "policy.json").string();
    WritePolicy(kMonitor);
    ServerOptions options;
    options.catalog = Catalog();
    options.clock = &clock_;
    options.policy_path = policy_path_;
    auto server = BuildServer(options);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(server_->address(),
                                   grpc::InsecureChannelCredentials());
    plugin_ = v1::CompliancePlugin::NewStub(channel_);
    admin_ = v1::PolicyAdmin::NewStub(channel_);
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  void WritePolicy(std::string_view text) {
    std::ofstream(policy_path_, std::ios::trunc) << text;
  }

  v1::CheckInResponse CheckIn(const v1::CheckInRequest& request) {
    grpc::ClientContext context;
    v1::CheckInResponse response;
    const grpc::Status s = plugin_->CheckIn(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  grpc::Status Apply(std::string_view json, v1::ApplyPolicyResponse* response,
                     std::string expected = "", bool dry_run = false) {
    grpc::ClientContext context;
    v1::ApplyPolicyRequest request;
    request.set_policy_json(std::string(json));
    request.set_expected_revision(std::move(expected));
    request.set_dry_run(dry_run);
    return admin_->ApplyPolicy(&context, request, response);
  }

  FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  std::filesystem::path dir_;
  std::string policy_path_;
  std::unique_ptr<PluginServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CompliancePlugin::Stub> plugin_;
  std::unique_ptr<v1::PolicyAdmin::Stub> admin_;
};

TEST_F(PolicyServiceTest, CheckInCarriesTheWholeDecision) {
  v1::CheckInResponse r = CheckIn(Ios60());
  EXPECT_EQ(r.action(), v1::ACTION_ALLOW);
  EXPECT_EQ(r.enforced_action(), v1::ACTION_ALLOW);
  EXPECT_EQ(r.evaluated_action(), v1::ACTION_WARN);
  EXPECT_EQ(r.mode(), v1::POLICY_MODE_MONITOR);
  EXPECT_EQ(r.score(), 30);
  EXPECT_EQ(r.level(), v1::RISK_LEVEL_ELEVATED);
  EXPECT_EQ(r.scope(), v1::SCOPE_NONE);
  EXPECT_EQ(r.policy_revision().size(), 64u);
  EXPECT_THAT(r.matched_rules(), Contains("/thresholds/warn"));
  EXPECT_TRUE(r.has_deadline());
  EXPECT_FALSE(r.has_user_alert());
  EXPECT_EQ(r.reasons(0).code(), "MONITOR_MODE");
  EXPECT_EQ(r.reasons(1).code(), "CONFIRMED_ORGANIZER_HIJACK_BUILD");
  EXPECT_EQ(r.reasons(1).contribution(), 30);
  EXPECT_THAT(r.admin_remediation(), HasSubstr("@{Remove='ApplDMPFXZABDFHW'}"));

  v1::ApplyPolicyResponse applied;
  ASSERT_TRUE(Apply(kEnforce, &applied).ok());
  v1::CheckInRequest german = Ios60();
  german.set_locale("de-DE");
  r = CheckIn(german);
  EXPECT_EQ(r.action(), v1::ACTION_WARN);
  EXPECT_EQ(r.evaluated_action(), v1::ACTION_WARN);
  EXPECT_EQ(r.policy_revision(), applied.revision());
  ASSERT_TRUE(r.has_user_alert());
  EXPECT_EQ(r.user_alert().locale(), "de");
  EXPECT_THAT(r.user_alert().title(), HasSubstr("iPhone 4S"));
}

TEST_F(PolicyServiceTest, CheckInRejectsBadLocaleAndGroups) {
  v1::CheckInRequest r = Ios60();
  r.set_locale("de;DE");
  grpc::ClientContext context;
  v1::CheckInResponse response;
  grpc::Status s = plugin_->CheckIn(&context, r, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("locale"));
  EXPECT_THAT(s.error_message(), HasSubstr("offset 2"));
  r.set_locale("");
  for (int i = 0; i < 65; ++i) {
    r.mutable_device()->add_groups("g");
  }
  grpc::ClientContext context2;
  s = plugin_->CheckIn(&context2, r, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("device.groups"));
}

TEST_F(PolicyServiceTest, GetValidateApply) {
  grpc::ClientContext c1;
  v1::GetPolicyResponse got;
  ASSERT_TRUE(admin_->GetPolicy(&c1, {}, &got).ok());
  EXPECT_EQ(got.policy_json(), kMonitor);
  EXPECT_EQ(got.origin(), "file:" + policy_path_);

  grpc::ClientContext c2;
  v1::ValidatePolicyRequest vr;
  vr.set_policy_json(R"({
  "apiVersion": "hijackguard/v1",
  "mode": "enforse",
  "thresholds": {"warn": 200}
})");
  v1::ValidatePolicyResponse validated;
  ASSERT_TRUE(admin_->ValidatePolicy(&c2, vr, &validated).ok());
  EXPECT_FALSE(validated.valid());
  ASSERT_THAT(validated.problems(), SizeIs(2));
  EXPECT_EQ(validated.problems(0).pointer(), "/mode");
  EXPECT_EQ(validated.problems(0).line(), 3);
  EXPECT_EQ(validated.problems(0).column(), 3);
  EXPECT_EQ(validated.problems(1).pointer(), "/thresholds/warn");
  EXPECT_EQ(validated.problems(1).line(), 4);

  // An invalid policy is never applied.
  v1::ApplyPolicyResponse applied;
  grpc::Status s = Apply(vr.policy_json(), &applied);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("/thresholds/warn"));
  EXPECT_EQ(server_->engine().policy()->revision(), got.revision());

  // Dry run: validated and compared, nothing changes.
  ASSERT_TRUE(Apply(kEnforce, &applied, got.revision(), true).ok());
  EXPECT_FALSE(applied.applied());
  EXPECT_EQ(applied.previous_revision(), got.revision());
  EXPECT_EQ(server_->engine().policy()->revision(), got.revision());

  // Compare-and-set.
  s = Apply(kEnforce, &applied, std::string(64, 'a'));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  ASSERT_TRUE(Apply(kEnforce, &applied, got.revision()).ok());
  EXPECT_TRUE(applied.applied());
  // The same document again, laid out differently: same revision, no-op.
  ASSERT_TRUE(Apply("{\n  \"mode\": \"enforce\",\n  \"apiVersion\": "
                    "\"hijackguard/v1\"\n}",
                    &applied)
                  .ok());
  EXPECT_FALSE(applied.applied());
  grpc::ClientContext c3;
  ASSERT_TRUE(admin_->GetPolicy(&c3, {}, &got).ok());
  EXPECT_EQ(got.origin(), "api");
  EXPECT_EQ(got.revision(), applied.revision());
}

TEST_F(PolicyServiceTest, SimulateHasNoSideEffects) {
  auto alerts = server_->engine().Subscribe("test", "", nullptr).value();
  grpc::ClientContext context;
  v1::SimulateDecisionRequest request;
  *request.mutable_check_in() = Ios60();
  v1::SimulatedEvent* e = request.add_events();
  e->set_kind(v1::EVENT_KIND_ORGANIZER_REWRITE);
  e->set_attendee_count(12);
  request.set_policy_json(std::string(kEnforce));
  v1::SimulateDecisionResponse response;
  ASSERT_TRUE(admin_->SimulateDecision(&context, request, &response).ok());
  const v1::CheckInResponse& d = response.decision();
  EXPECT_EQ(d.action(), v1::ACTION_QUARANTINE);
  EXPECT_EQ(d.score(), 100);  // 30 + 60 * 1.25, capped
  EXPECT_THAT(d.matched_rules(), Contains("/events/attendee_multiplier"));
  EXPECT_EQ(d.fingerprint().known_issues(0).id(),
            "ios6-meeting-organizer-hijack");
  EXPECT_FALSE(alerts->Pop().has_value()) << "no alert";
  EXPECT_EQ(server_->engine().stats().devices, 0u) << "no history";

  // Under the policy in force (monitor) and with a bad event.
  request.clear_policy_json();
  grpc::ClientContext c2;
  ASSERT_TRUE(admin_->SimulateDecision(&c2, request, &response).ok());
  EXPECT_EQ(response.decision().action(), v1::ACTION_ALLOW);
  EXPECT_EQ(response.decision().evaluated_action(), v1::ACTION_QUARANTINE);
  request.add_events();
  grpc::ClientContext c3;
  const grpc::Status s = admin_->SimulateDecision(&c3, request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("events[1].kind"));
}

TEST_F(PolicyServiceTest, Exemptions) {
  v1::ApplyPolicyResponse applied;
  ASSERT_TRUE(Apply(R"({"apiVersion": "hijackguard/v1", "mode": "enforce",
    "exemptions": [{"kind": "device", "value": "TESTPHONE", "reason": "lab",
                    "expires": "2030-01-01T00:00:00Z"}]})",
                    &applied)
                  .ok());
  grpc::ClientContext c1;
  v1::PutExemptionRequest put;
  v1::Exemption* e = put.mutable_exemption();
  e->set_tenant_id("acme");
  e->set_kind(v1::EXEMPTION_KIND_USER);
  e->set_value("Alice@Example.com");
  e->set_reason("travelling; ticket 4711");
  e->mutable_expires()->set_seconds(1'800'086'400);
  v1::PutExemptionResponse stored;
  ASSERT_TRUE(admin_->PutExemption(&c1, put, &stored).ok());
  EXPECT_EQ(stored.exemption().id(), "acme/user/alice@example.com");
  EXPECT_EQ(stored.exemption().source(), "api");

  v1::CheckInResponse r = CheckIn(Ios60());
  EXPECT_EQ(r.action(), v1::ACTION_ALLOW);
  EXPECT_EQ(r.reasons(0).code(), "EXEMPT");
  EXPECT_THAT(r.matched_rules(),
              Contains("exemption:acme/user/alice@example.com"));

  grpc::ClientContext c2;
  v1::ListExemptionsResponse listed;
  ASSERT_TRUE(admin_->ListExemptions(&c2, {}, &listed).ok());
  ASSERT_THAT(listed.exemptions(), SizeIs(2));
  EXPECT_EQ(listed.exemptions(0).source(), "/exemptions/0");

  grpc::ClientContext c3;
  v1::DeleteExemptionRequest del;
  del.set_id("/device/TESTPHONE");
  v1::DeleteExemptionResponse deleted;
  EXPECT_EQ(admin_->DeleteExemption(&c3, del, &deleted).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  grpc::ClientContext c4;
  del.set_id("acme/user/alice@example.com");
  ASSERT_TRUE(admin_->DeleteExemption(&c4, del, &deleted).ok());
  grpc::ClientContext c5;
  EXPECT_EQ(admin_->DeleteExemption(&c5, del, &deleted).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(CheckIn(Ios60()).action(), v1::ACTION_WARN);

  // Bad exemptions name the field.
  grpc::ClientContext c6;
  e->clear_reason();
  const grpc::Status s = admin_->PutExemption(&c6, put, &stored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("exemption.reason"));
}

TEST_F(PolicyServiceTest, WatchAlertsStreamsTransitionsAndEndsOnShutdown) {
  grpc::ClientContext context;
  v1::WatchAlertsRequest request;
  request.set_tenant_id("acme");
  auto reader = plugin_->WatchAlerts(&context, request);
  reader->WaitForInitialMetadata();  // subscribed from here on

  CheckIn(Ios60());  // ALLOW -> WARN (evaluated; monitor)
  CheckIn(Ios60());  // no change
  v1::ApplyPolicyResponse applied;
  ASSERT_TRUE(Apply(kEnforce, &applied).ok());
  clock_.Advance(absl::Hours(73));
  CheckIn(Ios60());  // grace over: WARN -> QUARANTINE
  v1::CheckInRequest other = Ios60("OTHER");
  other.set_tenant_id("globex");
  CheckIn(other);  // another tenant: filtered out

  v1::ComplianceAlert alert;
  ASSERT_TRUE(reader->Read(&alert));
  EXPECT_EQ(alert.old_action(), v1::ACTION_ALLOW);
  EXPECT_EQ(alert.new_action(), v1::ACTION_WARN);
  EXPECT_EQ(alert.enforced_action(), v1::ACTION_ALLOW);
  EXPECT_EQ(alert.mode(), v1::POLICY_MODE_MONITOR);
  EXPECT_EQ(alert.trigger(), "CHECK_IN");
  EXPECT_EQ(alert.eas_device_id(), "ApplDMPFXZABDFHW");
  ASSERT_TRUE(reader->Read(&alert));
  EXPECT_EQ(alert.old_action(), v1::ACTION_WARN);
  EXPECT_EQ(alert.new_action(), v1::ACTION_QUARANTINE);
  EXPECT_EQ(alert.enforced_action(), v1::ACTION_QUARANTINE);
  EXPECT_TRUE(alert.has_user_alert());
  EXPECT_EQ(alert.reasons(0).code(), "GRACE_EXPIRED");

  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Seconds(10));
  EXPECT_FALSE(reader->Read(&alert));
  const grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5))
      << "an open WatchAlerts stream must not hold up shutdown";
}

TEST_F(PolicyServiceTest, ReloadKeepsTheOldPolicyOnProblems) {
  const std::string before = server_->engine().policy()->revision();
  WritePolicy(R"({"apiVersion": "hijackguard/v1", "mode": "enfroce"})");
  const absl::Status s = server_->ReloadPolicy();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("/mode"));
  EXPECT_EQ(server_->engine().policy()->revision(), before);
  WritePolicy(kEnforce);
  ASSERT_TRUE(server_->ReloadPolicy().ok());
  EXPECT_NE(server_->engine().policy()->revision(), before);
  EXPECT_EQ(CheckIn(Ios60()).action(), v1::ACTION_WARN);
}

// SIGHUP follows the rule of a restart: an unchanged file never replaces a
// policy applied through the API since; an edited file does.
TEST_F(PolicyServiceTest, ReloadOfAnUnchangedFileKeepsTheApiPolicy) {
  v1::ApplyPolicyResponse applied;
  ASSERT_TRUE(Apply(kEnforce, &applied).ok());
  const std::string api = server_->engine().policy()->revision();
  ASSERT_TRUE(server_->ReloadPolicy().ok());
  EXPECT_EQ(server_->engine().policy()->revision(), api);
  EXPECT_EQ(server_->engine().policy_info().origin, "api");
  ASSERT_TRUE(server_->ReloadPolicy().ok());  // and again
  EXPECT_EQ(server_->engine().policy_info().origin, "api");

  std::string edited(kMonitor);
  edited.insert(edited.find('{') + 1, R"("$comment": "edited", )");
  WritePolicy(edited);
  ASSERT_TRUE(server_->ReloadPolicy().ok());
  EXPECT_NE(server_->engine().policy()->revision(), api);
  EXPECT_EQ(server_->engine().policy_info().origin, "file:" + policy_path_);
  EXPECT_EQ(CheckIn(Ios60()).action(), v1::ACTION_ALLOW);  // monitor again
}

TEST_F(PolicyServiceTest, ReloadsUnderContinuousCheckInLoadFailNoCall) {
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0};
  std::atomic<int> failures{0};
  std::atomic<int> monitor_seen{0};
  std::atomic<int> enforce_seen{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&, t] {
      auto stub = v1::CompliancePlugin::NewStub(channel_);
      int i = 0;
      while (!stop.load()) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(10));
        v1::CheckInResponse response;
        const v1::CheckInRequest request =
            Ios60("dev-" + std::to_string(t) + "-" + std::to_string(i++ % 50));
        const grpc::Status s = stub->CheckIn(&context, request, &response);
        ++calls;
        if (!s.ok() || response.evaluated_action() != v1::ACTION_WARN) {
          ++failures;
        } else if (response.mode() == v1::POLICY_MODE_MONITOR) {
          ++monitor_seen;
          failures += response.action() != v1::ACTION_ALLOW;
        } else {
          ++enforce_seen;
          failures += response.action() != v1::ACTION_WARN;
        }
      }
    });
  }
  // Alternate file reloads (SIGHUP's path) and API applies.
  for (int i = 0; i < 40; ++i) {
    if (i % 2 == 0) {
      WritePolicy(i % 4 == 0 ? kEnforce : kMonitor);
      ASSERT_TRUE(server_->ReloadPolicy().ok());
    } else {
      v1::ApplyPolicyResponse applied;
      ASSERT_TRUE(Apply(i % 4 == 1 ? kMonitor : kEnforce, &applied).ok());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  for (auto& t : load) {
    t.join();
  }
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(calls.load(), 100);
  EXPECT_GT(monitor_seen.load(), 0);
  EXPECT_GT(enforce_seen.load(), 0);
  EXPECT_GE(server_->engine().stats().policy_swaps, 20u);
}

TEST_F(PolicyServiceTest, HugeIdsAreNeverEchoedWhole) {
  const std::string huge(60'000, 'A');
  {
    grpc::ClientContext context;
    v1::GetDeviceRiskRequest request;
    request.set_tenant_id("t1");
    request.set_eas_device_id(huge);
    v1::GetDeviceRiskResponse response;
    const grpc::Status s = plugin_->GetDeviceRisk(&context, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_LT(s.error_message().size(), 300u) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("(60000 bytes)"));
  }
  {
    grpc::ClientContext context;
    v1::DeleteExemptionRequest request;
    request.set_id(huge);
    v1::DeleteExemptionResponse response;
    const grpc::Status s =
        admin_->DeleteExemption(&context, request, &response);
    EXPECT_FALSE(s.ok());
    EXPECT_LT(s.error_message().size(), 300u) << s.error_message();
  }
  {
    v1::ApplyPolicyResponse response;
    const grpc::Status s = Apply(kMonitor, &response, huge);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
    EXPECT_LT(s.error_message().size(), 300u) << s.error_message();
  }
}

TEST_F(PolicyServiceTest, AnExemptionThatHasEndedIsRefused) {
  grpc::ClientContext context;
  v1::PutExemptionRequest request;
  v1::Exemption* e = request.mutable_exemption();
  e->set_tenant_id("t1");
  e->set_kind(v1::EXEMPTION_KIND_USER);
  e->set_value("bob@example.com");
  e->set_reason("CAB-7");
  e->mutable_expires()->set_seconds(1'800'000'000 - 60);  // a minute ago
  v1::PutExemptionResponse response;
  const grpc::Status s = admin_->PutExemption(&context, request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("exemption.expires"));
}

TEST_F(PolicyServiceTest, PolicyWorkIsLimitedInSizeBeforeParsing) {
  grpc::ClientContext context;
  v1::ValidatePolicyRequest request;
  request.set_policy_json(std::string((4 << 20) - 1, '['));
  v1::ValidatePolicyResponse response;
  grpc::ClientContext big;
  const grpc::Status s = admin_->ValidatePolicy(&context, request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(response.valid());
  ASSERT_GT(response.problems_size(), 0);
  EXPECT_THAT(response.problems(0).message(),
              HasSubstr("nested more than 16 levels deep"));
  request.set_policy_json(std::string((4 << 20) + 1, ' '));
  const grpc::Status over = admin_->ValidatePolicy(&big, request, &response);
  EXPECT_EQ(over.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(over.error_message(), HasSubstr("policy_json is"));
}

}  // namespace
}  // namespace hijackguard::plugin
