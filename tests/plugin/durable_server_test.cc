// The server with a state database: what it must still know after a
// restart (evidence, grace clocks, API exemptions, the API's policy), which
// policy wins at start, and paging when the in-memory caches hold one row.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "plugin/server.h"
#include "store/audit_key.h"
#include "store/sqlite/sqlite_store.h"
#include "tests/common/builtin_catalog.h"
#include "tests/common/state_backends.h"
#include "tests/common/status_matchers.h"
#include "tests/common/test_dir.h"
#include "tests/plugin/traffic_fixtures.h"

namespace hijackguard::plugin {
namespace {

using ::hijackguard::testing::IsOk;

class DurableServerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = ::hijackguard::testing::FreshTestDir("durable");
    WritePolicy(R"({"apiVersion": "hijackguard/v1", "mode": "enforce"})");
    options_.catalog = ::hijackguard::testing::BuiltinCatalog();
    options_.clock = &clock_;
    options_.policy_path = (dir_ / "policy.json").string();
    ASSERT_THAT(
        ::hijackguard::testing::UseStateBackend(GetParam(), dir_, &options_),
        IsOk());
    options_.state_retention_interval = absl::ZeroDuration();
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  void WritePolicy(const std::string& text) {
    std::ofstream(dir_ / "policy.json") << text;
  }

  void Start() {
    server_.reset();
    auto server = BuildServer(options_);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    stub_ = v1::CompliancePlugin::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
  }

  void Report(const v1::ReportTrafficRequest& r) {
    grpc::ClientContext context;
    v1::ReportTrafficResponse response;
    ASSERT_TRUE(stub_->ReportTraffic(&context, r, &response).ok());
    ASSERT_EQ(response.errors_size(), 0) << response.errors(0).message();
  }

  void Hijack(const std::string& tenant, const std::string& device,
              std::uint64_t sequence) {
    v1::ReportTrafficRequest invite =
        Exchange(sequence, device, {}, InvitationResponse("2:14"));
    invite.set_tenant_id(tenant);
    Report(invite);
    v1::ReportTrafficRequest change =
        Exchange(sequence + 1, device, HijackRequest("2:14"), {});
    change.set_tenant_id(tenant);
    Report(change);
  }

  v1::CheckInResponse CheckIn(const std::string& tenant,
                              const std::string& device,
                              const std::string& user = "alice@example.com") {
    v1::CheckInRequest request;
    request.set_tenant_id(tenant);
    request.mutable_device()->set_eas_device_id(device);
    request.mutable_device()->set_user_principal(user);
    request.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
    grpc::ClientContext context;
    v1::CheckInResponse response;
    EXPECT_TRUE(stub_->CheckIn(&context, request, &response).ok());
    return response;
  }

  v1::GetDeviceRiskResponse Risk(const std::string& tenant,
                                 const std::string& device) {
    v1::GetDeviceRiskRequest request;
    request.set_tenant_id(tenant);
    request.set_eas_device_id(device);
    grpc::ClientContext context;
    v1::GetDeviceRiskResponse response;
    EXPECT_TRUE(stub_->GetDeviceRisk(&context, request, &response).ok());
    response.set_observations(0);  // counts deliveries
    return response;
  }

  static std::vector<std::string> Codes(const v1::CheckInResponse& r) {
    std::vector<std::string> codes;
    for (const auto& reason : r.reasons()) codes.push_back(reason.code());
    return codes;
  }

  std::filesystem::path dir_;
  FakeClock clock_{absl::FromUnixSeconds(1350950400 + 86400)};
  ServerOptions options_;
  std::unique_ptr<PluginServer> server_;
  std::unique_ptr<v1::CompliancePlugin::Stub> stub_;
};

// The repair list pages through the store's events a device at a time,
// across tenants only when asked, and is the same after a restart.
TEST_P(DurableServerTest, TheRepairListPagesThroughTheStoredEvents) {
  Start();
  for (int d = 0; d < 5; ++d) {
    Hijack("t1", "ApplREPAIR" + std::to_string(d),
           static_cast<std::uint64_t>(10 * d + 1));
  }
  Hijack("t2", "ApplOTHER", 100);
  auto all_pages = [&](std::string_view tenant) {
    std::vector<std::string> devices;
    std::string token;
    for (int pages = 0; pages < 10; ++pages) {
      auto page = server_->detector().ListRepairs(tenant, token, 2);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      for (const detector::RepairItem& item : page->items) {
        EXPECT_EQ(item.true_organizer_email, "bob@example.com");
        devices.push_back(item.tenant_id + "/" + item.eas_device_id);
      }
      token = page->next_page_token;
      if (token.empty()) break;
    }
    return devices;
  };
  const std::vector<std::string> t1 = {"t1/ApplREPAIR0", "t1/ApplREPAIR1",
                                       "t1/ApplREPAIR2", "t1/ApplREPAIR3",
                                       "t1/ApplREPAIR4"};
  EXPECT_EQ(all_pages("t1"), t1);
  EXPECT_EQ(all_pages("t2"), std::vector<std::string>{"t2/ApplOTHER"});
  EXPECT_EQ(all_pages("").size(), 6u);
  // A token of one tenant's list is refused for another's.
  auto t1_page = server_->detector().ListRepairs("t1", "", 2);
  ASSERT_TRUE(t1_page.ok());
  ASSERT_FALSE(t1_page->next_page_token.empty());
  EXPECT_EQ(server_->detector()
                .ListRepairs("t2", t1_page->next_page_token, 2)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  Start();  // a restart: the same from the file
  EXPECT_EQ(all_pages("t1"), t1);
}

TEST_P(DurableServerTest,
       AnAlertIsInTheOutboxWithItsIdAndAStartWithoutSinksClearsIt) {
  siem::SinkConfig sink;
  sink.name = "nowhere";
  sink.type = siem::SinkConfig::Type::kWebhook;
  sink.format = siem::SinkConfig::Format::kJson;
  sink.url = "http://127.0.0.1:1/alerts";  // refused: it stays in the outbox
  options_.siem.sinks.push_back(sink);
  Start();
  auto subscription = server_->engine().Subscribe("test", "", [] {});
  ASSERT_THAT(subscription, IsOk());
  CheckIn("acme", "ApplOUTBOX1");  // iOS 6.0: ALLOW -> WARN or worse
  std::optional<policy::ComplianceAlert> alert = (*subscription)->Pop();
  ASSERT_TRUE(alert.has_value());
  // Committed with the decision, under the id the subscribers saw.
  auto entries = server_->store()->ReadOutbox(0, 10);
  ASSERT_THAT(entries, IsOk());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_THAT((*entries)[0].payload,
              ::testing::HasSubstr("\"alert_id\":\"" + alert->alert_id + "\""));
  EXPECT_THAT((*entries)[0].payload,
              ::testing::HasSubstr("\"eas_device_id\":\"ApplOUTBOX1\""));
  (*subscription)->Close();
  subscription->reset();

  // Without sinks nothing would ever read it: the next start deletes it,
  // and seqs go on from where they were. A shared store's is kept: other
  // replicas' sinks may deliver it.
  options_.siem.sinks.clear();
  Start();
  auto state = server_->store()->LoadOutboxState();
  ASSERT_THAT(state, IsOk());
  EXPECT_EQ(state->oldest, GetParam() == "postgres" ? 1u : 0u);
  EXPECT_EQ(state->head, 1u);
}

TEST_P(DurableServerTest, EvidenceGraceClocksAndExemptionsSurviveARestart) {
  Start();
  Hijack("t1", "ApplHIJACK", 1);
  const v1::CheckInResponse hijacked = CheckIn("t1", "ApplHIJACK");
  ASSERT_EQ(hijacked.action(), v1::ACTION_QUARANTINE);
  // The bad build alone: WARN, with a grace deadline from now.
  const v1::CheckInResponse warned = CheckIn("t1", "ApplWARN");
  ASSERT_EQ(warned.action(), v1::ACTION_WARN);
  ASSERT_TRUE(warned.has_deadline());
  policy::Exemption exemption;
  exemption.kind = policy::Exemption::Kind::kUser;
  exemption.value = "Carol@Example.com";
  exemption.reason = "CAB-7";
  exemption.tenant_id = "t1";
  ASSERT_THAT(server_->engine().PutExemption(exemption).status(), IsOk());

  clock_.Advance(absl::Hours(1));
  Start();  // a new server on the same state
  const v1::CheckInResponse again = CheckIn("t1", "ApplHIJACK");
  EXPECT_EQ(again.action(), v1::ACTION_QUARANTINE);
  EXPECT_EQ(Codes(again), Codes(hijacked));
  EXPECT_EQ(Risk("t1", "ApplHIJACK").events_size(), 2);
  const v1::CheckInResponse still = CheckIn("t1", "ApplWARN");
  EXPECT_EQ(still.action(), v1::ACTION_WARN);
  EXPECT_EQ(still.deadline().seconds(), warned.deadline().seconds())
      << "the grace clock restarted";
  EXPECT_EQ(CheckIn("t1", "ApplCAROL", "carol@example.com").action(),
            v1::ACTION_ALLOW);
  EXPECT_EQ(server_->engine().exemptions()->size(), 1u);
}

TEST_P(DurableServerTest, TheApiPolicyIsRestoredUntilTheFileChanges) {
  Start();
  const std::string file_revision = server_->engine().policy()->revision();
  auto api = policy::Policy::Parse(
      R"({"apiVersion": "hijackguard/v1", "mode": "enforce",
          "thresholds": {"warn": 15}})",
      server_->engine().catalog(), nullptr);
  ASSERT_THAT(api.status(), IsOk());
  ASSERT_THAT(server_->engine().Apply(*api, "", "api"), IsOk());

  Start();
  EXPECT_EQ(server_->engine().policy()->revision(), (*api)->revision());
  EXPECT_EQ(server_->engine().policy_info().origin, "api");

  WritePolicy(R"({"apiVersion": "hijackguard/v1", "mode": "monitor"})");
  Start();
  EXPECT_NE(server_->engine().policy()->revision(), (*api)->revision());
  EXPECT_NE(server_->engine().policy()->revision(), file_revision);
  EXPECT_EQ(server_->engine().policy()->global().mode.value,
            policy::Mode::kMonitor);
  server_.reset();
  auto v = ::hijackguard::testing::VerifyStoredAudit(options_);
  ASSERT_THAT(v.status(), IsOk());
  EXPECT_TRUE(v->ok) << v->problem;
  EXPECT_GE(v->rows, 3u);  // the file's, the API's, the edited file's
}

TEST_P(DurableServerTest, OneRowCachesPageEverythingInAndOut) {
  // Reference: no store, roomy memory.
  ServerOptions roomy = options_;
  roomy.state_path.clear();
  roomy.postgres = {};
  auto reference = BuildServer(roomy);
  ASSERT_THAT(reference, IsOk());
  options_.detector.max_devices = 1;
  options_.detector.ledger.max_entries = 1;
  options_.engine.max_devices = 1;
  Start();
  auto ref_stub = v1::CompliancePlugin::NewStub(grpc::CreateChannel(
      (*reference)->address(), grpc::InsecureChannelCredentials()));
  constexpr int kDevices = 12;
  for (int pass = 0; pass < 2; ++pass) {
    auto* stub = pass == 0 ? ref_stub.get() : stub_.get();
    // Interleaved: every device's invitation, then every device's rewrite.
    for (int step = 0; step < 2; ++step) {
      for (int d = 0; d < kDevices; ++d) {
        const std::string device = "ApplPAGE" + std::to_string(d);
        v1::ReportTrafficRequest r =
            step == 0 ? Exchange(static_cast<std::uint64_t>(d + 1), device, {},
                                 InvitationResponse("2:14"))
                      : Exchange(static_cast<std::uint64_t>(100 + d), device,
                                 HijackRequest("2:14"), {});
        r.set_tenant_id("t" + std::to_string(d % 3));
        grpc::ClientContext context;
        v1::ReportTrafficResponse response;
        ASSERT_TRUE(stub->ReportTraffic(&context, r, &response).ok());
      }
    }
  }
  // Compare device by device.
  for (int d = 0; d < kDevices; ++d) {
    const std::string device = "ApplPAGE" + std::to_string(d);
    const std::string tenant = "t" + std::to_string(d % 3);
    const auto got_decision = CheckIn(tenant, device);
    const auto got = Risk(tenant, device).SerializeAsString();
    std::swap(stub_, ref_stub);
    const auto want_decision = CheckIn(tenant, device);
    const auto want = Risk(tenant, device).SerializeAsString();
    std::swap(stub_, ref_stub);
    EXPECT_EQ(got_decision.action(), want_decision.action()) << device;
    EXPECT_EQ(Codes(got_decision), Codes(want_decision)) << device;
    EXPECT_EQ(got, want) << device;
    EXPECT_EQ(got_decision.action(), v1::ACTION_QUARANTINE) << device;
  }
  // And after a restart, from the file alone.
  Start();
  for (int d = 0; d < kDevices; ++d) {
    const std::string device = "ApplPAGE" + std::to_string(d);
    EXPECT_EQ(Risk("t" + std::to_string(d % 3), device).events_size(), 2)
        << device;
  }
}

TEST_P(DurableServerTest, LedgerRowsOfOneResponseSurviveAOneEntryCache) {
  options_.detector.ledger.max_entries = 1;
  Start();
  // One response carries two invitations: the first leaves memory while the
  // second is stored, before the operation's rows are submitted.
  const std::string two = Wbxml(
      "<Sync xmlns=\"AirSync:\" xmlns:calendar=\"Calendar:\"><Collections>"
      "<Collection><SyncKey>2</SyncKey><CollectionId>2</CollectionId>"
      "<Status>1</Status><Commands>"
      "<Add><ServerId>2:14</ServerId><ApplicationData><calendar:UID>" +
      std::string(kUid) +
      "</calendar:UID><calendar:OrganizerEmail>bob@example.com"
      "</calendar:OrganizerEmail><calendar:MeetingStatus>3"
      "</calendar:MeetingStatus></ApplicationData></Add>"
      "<Add><ServerId>2:15</ServerId><ApplicationData><calendar:UID>" +
      std::string(kUid) +
      "FF</calendar:UID><calendar:OrganizerEmail>bob@example.com"
      "</calendar:OrganizerEmail><calendar:MeetingStatus>3"
      "</calendar:MeetingStatus></ApplicationData></Add>"
      "</Commands></Collection></Collections></Sync>");
  Report(Exchange(1, "ApplTWO", {}, two));
  Report(Exchange(2, "ApplTWO", HijackRequest("2:14"), {}));
  Report(Exchange(3, "ApplTWO", HijackRequest("2:15"), {}));
  // Both rewrites were judged against the server's state (strong events).
  const auto risk = Risk("t1", "ApplTWO");
  int rewrites = 0;
  for (const auto& e : risk.events()) {
    rewrites += e.kind() == v1::EVENT_KIND_ORGANIZER_REWRITE;
  }
  EXPECT_EQ(rewrites, 2);
}

TEST_P(DurableServerTest,
       UnchangedDecisionsAreCountedNotAuditedAcrossEviction) {
  options_.engine.max_devices = 1;  // one device per shard: evictions
  Start();
  for (int i = 0; i < 5; ++i) {
    CheckIn("t1", "ApplSAME");  // one row, then four repeats
  }
  for (int d = 0; d < 64; ++d) {  // some share its shard and evict it
    CheckIn("t1", "ApplOTHER" + std::to_string(d));
  }
  ASSERT_GT(server_->engine().stats().devices_forgotten, 0u)
      << "the cache let nothing go: the test would prove nothing";
  CheckIn("t1", "ApplSAME", "bob@example.com");  // another user: a change
  server_.reset();

  std::ostringstream out;
  ASSERT_THAT(::hijackguard::testing::ExportStoredAudit(
                  options_, absl::InfinitePast(), out),
              IsOk());
  std::vector<std::string> rows;
  std::istringstream lines(out.str());
  for (std::string line; std::getline(lines, line);) {
    if (line.find("\"kind\":\"decision\"") != std::string::npos &&
        line.find("ApplSAME") != std::string::npos) {
      rows.push_back(line);
    }
  }
  ASSERT_EQ(rows.size(), 2u) << out.str();
  EXPECT_EQ(rows[0].find("\"repeats\""), std::string::npos);
  EXPECT_NE(rows[1].find("\"repeats\":4"), std::string::npos) << rows[1];
}

TEST_P(DurableServerTest, ActivityWrittenAtStopSurvivesARestart) {
  Start();
  for (std::uint64_t i = 1; i <= 3; ++i) {  // the last two change nothing else
    Report(Exchange(i, "ApplBUSY", {}, {}));
  }
  Start();  // the first server stops and writes what it kept back
  v1::GetDeviceRiskRequest request;
  request.set_tenant_id("t1");
  request.set_eas_device_id("ApplBUSY");
  grpc::ClientContext context;
  v1::GetDeviceRiskResponse response;
  ASSERT_TRUE(stub_->GetDeviceRisk(&context, request, &response).ok());
  EXPECT_EQ(response.observations(), 3u);
}

INSTANTIATE_TEST_SUITE_P(
    Stores, DurableServerTest,
    ::testing::ValuesIn(::hijackguard::testing::StateBackends()),
    ::hijackguard::testing::BackendName);

}  // namespace
}  // namespace hijackguard::plugin
