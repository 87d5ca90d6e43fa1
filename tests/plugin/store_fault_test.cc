// The server's failure paths, driven by a store that fails on demand
// (tests/store/fault_store.h) in front of the real SQLite store: what
// callers are told, what the detector and the engine hold afterwards, and
// recovery once the store works again.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "plugin/server.h"
#include "tests/common/builtin_catalog.h"
#include "tests/common/status_matchers.h"
#include "tests/common/test_dir.h"
#include "tests/plugin/traffic_fixtures.h"
#include "tests/store/fault_store.h"

namespace hijackguard::plugin {
namespace {

using ::hijackguard::testing::FaultStore;
using ::hijackguard::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kDevice[] = "ApplDMPFXZABDFHW";

class StoreFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::hijackguard::testing::FreshTestDir("fault");
    std::ofstream(dir_ / "policy.json")
        << R"({"apiVersion": "hijackguard/v1", "mode": "enforce"})";
    options_.catalog = ::hijackguard::testing::BuiltinCatalog();
    options_.clock = &clock_;
    options_.policy_path = (dir_ / "policy.json").string();
    options_.state_path = (dir_ / "hijackguard.db").string();
    options_.state_retention_interval = absl::ZeroDuration();
    // The detector keeps one device and one meeting in memory, the engine
    // one device per shard (of 16): the others are read from the store.
    options_.detector.max_devices = 1;
    options_.detector.ledger.max_entries = 1;
    options_.engine.max_devices = 1;
    options_.wrap_store_for_testing = [this](policy::StateStore* inner) {
      return faults_.Wrap(inner);
    };
  }
  void TearDown() override {
    faults_.Heal();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Start() {
    auto server = BuildServer(options_);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    stub_ = v1::CompliancePlugin::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
  }

  static void Deadline(grpc::ClientContext* context, int ms = 30'000) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(ms));
  }

  grpc::Status CheckIn(const std::string& device, v1::CheckInResponse* out,
                       int deadline_ms = 30'000) {
    v1::CheckInRequest request;
    request.set_tenant_id("t1");
    request.mutable_device()->set_eas_device_id(device);
    request.mutable_device()->set_user_principal("alice@example.com");
    request.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
    grpc::ClientContext context;
    Deadline(&context, deadline_ms);
    return stub_->CheckIn(&context, request, out);
  }

  v1::ReportTrafficResponse Report(const v1::ReportTrafficRequest& request) {
    grpc::ClientContext context;
    Deadline(&context);
    v1::ReportTrafficResponse response;
    EXPECT_TRUE(stub_->ReportTraffic(&context, request, &response).ok());
    return response;
  }

  grpc::Status Risk(const std::string& device, v1::GetDeviceRiskResponse* out) {
    v1::GetDeviceRiskRequest request;
    request.set_tenant_id("t1");
    request.set_eas_device_id(device);
    grpc::ClientContext context;
    Deadline(&context);
    return stub_->GetDeviceRisk(&context, request, out);
  }

  // Other devices' check-ins, so that `kDevice` leaves the detector's
  // memory and (with 64 devices over 16 shards, surely) the engine's.
  void Displace() {
    for (int i = 0; i < 64; ++i) {
      v1::CheckInResponse ignored;
      ASSERT_TRUE(CheckIn("ApplOTHER" + std::to_string(i), &ignored).ok());
    }
  }

  std::filesystem::path dir_;
  FakeClock clock_{absl::FromUnixSeconds(1350950400 + 86400)};
  ServerOptions options_;
  FaultStore faults_;
  std::unique_ptr<PluginServer> server_;
  std::unique_ptr<v1::CompliancePlugin::Stub> stub_;
};

// CheckIn: the device's state cannot be read -> UNAVAILABLE naming the
// store's error; nothing is decided; the next check-in after the store
// recovers decides as usual.
TEST_F(StoreFaultTest, CheckInIsUnavailableWhileTheDeviceCannotBeRead) {
  Start();
  v1::CheckInResponse response;
  ASSERT_TRUE(CheckIn(kDevice, &response).ok());
  Displace();
  faults_.FailReads(absl::DataLossError("injected: page 7 unreadable"));
  const int submitted = faults_.submissions();
  const grpc::Status refused = CheckIn(kDevice, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(refused.error_message(),
              HasSubstr("the device's state cannot be read"));
  EXPECT_THAT(refused.error_message(), HasSubstr("page 7 unreadable"));
  EXPECT_GT(faults_.failed_reads(), 0);
  EXPECT_EQ(faults_.submissions(), submitted) << "nothing decided or recorded";

  faults_.Heal();
  response.Clear();
  ASSERT_TRUE(CheckIn(kDevice, &response).ok());
  EXPECT_FALSE(response.decision_id().empty());
}

// CheckIn whose commit fails: UNAVAILABLE, "not recorded durably"; while
// the store reports itself unhealthy, new check-ins are refused at once;
// after recovery they are answered.
TEST_F(StoreFaultTest, CheckInIsNotAnsweredWhenItsCommitFails) {
  Start();
  faults_.FailCommits(absl::ResourceExhaustedError("injected: disk full"),
                      /*unhealthy=*/false);
  v1::CheckInResponse response;
  grpc::Status status = CheckIn(kDevice, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("not recorded durably"));
  EXPECT_THAT(status.error_message(), HasSubstr("disk full"));

  faults_.FailCommits(absl::ResourceExhaustedError("injected: disk full"));
  status = CheckIn(kDevice, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("refused: injected"));

  faults_.Heal();
  ASSERT_TRUE(CheckIn(kDevice, &response).ok());
  EXPECT_FALSE(response.decision_id().empty());
}

// A commit that does not finish: the answer waits for it, and is given once
// the commit is durable.
TEST_F(StoreFaultTest, NothingIsAnsweredBeforeItsCommitIsDurable) {
  Start();
  faults_.BlockCommits();
  std::atomic<bool> answered{false};
  grpc::Status status;
  v1::CheckInResponse response;
  std::thread caller([&] {
    status = CheckIn(kDevice, &response);
    answered = true;
  });
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_FALSE(answered) << "answered before its commit was durable";
  faults_.Heal();
  caller.join();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(response.decision_id().empty());
}

// StreamTraffic: an observation whose commit fails is acknowledged with the
// store's error and without its events; the stream goes on, and the same
// observation sent again once the store works is acknowledged, its events
// on record (reported once).
TEST_F(StoreFaultTest, StreamAcksCarryTheStoreErrorAndNoUnrecordedEvents) {
  Start();
  grpc::ClientContext context;
  Deadline(&context);
  auto stream = stub_->StreamTraffic(&context);
  v1::StreamTrafficResponse batch;
  auto next_ack = [&]() -> v1::TrafficAck {
    while (batch.acks_size() == 0) {
      if (!stream->Read(&batch)) {
        ADD_FAILURE() << "the stream ended";
        return {};
      }
    }
    v1::TrafficAck ack = batch.acks(0);
    batch.mutable_acks()->DeleteSubrange(0, 1);
    return ack;
  };
  ASSERT_TRUE(
      stream->Write(Exchange(1, kDevice, {}, InvitationResponse("2:14"))));
  v1::TrafficAck ack = next_ack();
  EXPECT_EQ(ack.sequence(), 1u);
  EXPECT_THAT(ack.errors(), IsEmpty());

  faults_.FailCommits(absl::UnavailableError("injected: I/O error"),
                      /*unhealthy=*/false);
  ASSERT_TRUE(stream->Write(Exchange(2, kDevice, HijackRequest("2:14"), {})));
  ack = next_ack();
  EXPECT_EQ(ack.sequence(), 2u);
  EXPECT_THAT(ack.events(), IsEmpty()) << "not durable: not acknowledged";
  ASSERT_EQ(ack.errors_size(), 1);
  EXPECT_EQ(ack.errors(0).code(), "STATE_UNAVAILABLE");
  EXPECT_THAT(ack.errors(0).message(), HasSubstr("injected: I/O error"));
  EXPECT_THAT(ack.errors(0).message(), HasSubstr("report it again later"));

  faults_.Heal();
  ASSERT_TRUE(stream->Write(Exchange(2, kDevice, HijackRequest("2:14"), {})));
  ack = next_ack();
  EXPECT_EQ(ack.sequence(), 2u);
  EXPECT_THAT(ack.errors(), IsEmpty());
  EXPECT_THAT(ack.events(), IsEmpty()) << "recorded once, at the first report";
  stream->WritesDone();
  while (stream->Read(&batch)) {
  }
  EXPECT_TRUE(stream->Finish().ok());

  Displace();  // read back from the store, not from memory
  v1::GetDeviceRiskResponse risk;
  ASSERT_TRUE(Risk(kDevice, &risk).ok());
  EXPECT_EQ(risk.events_size(), 2) << "the rewrite and the ownership claim";
}

// The detector after a failed read in the middle of an observation (the
// device is read, the meeting's server state is not): the observation
// changes nothing, in memory or in the store; its ack says why and reports
// no event; once the store works the device reads as it was committed, and
// the same hijack reported then is detected against the kept server state.
TEST_F(StoreFaultTest, AFailedReadLeavesTheDetectorAsItWas) {
  Start();
  v1::ReportTrafficResponse ack =
      Report(Exchange(1, kDevice, {}, InvitationResponse("2:14")));
  ASSERT_THAT(ack.errors(), IsEmpty());
  // Another device's meeting: kDevice and its meeting leave memory.
  ack = Report(Exchange(1, "ApplOTHER", {}, InvitationResponse("2:15")));
  ASSERT_THAT(ack.errors(), IsEmpty());

  faults_.FailReads(absl::DataLossError("injected: row checksum"),
                    /*skip=*/1);
  const std::size_t waiting = server_->detector().stats().pending;
  ack = Report(Exchange(2, kDevice, HijackRequest("2:14"), {}));
  EXPECT_THAT(ack.events(), IsEmpty());
  EXPECT_EQ(server_->detector().stats().pending, waiting)
      << "the change waits nowhere: it was not recorded";
  ASSERT_EQ(ack.errors_size(), 1);
  EXPECT_EQ(ack.errors(0).code(), "STATE_UNAVAILABLE");
  EXPECT_THAT(ack.errors(0).message(), HasSubstr("injected: row checksum"));
  v1::GetDeviceRiskResponse risk;
  const grpc::Status unreadable = Risk(kDevice, &risk);
  EXPECT_EQ(unreadable.error_code(), grpc::StatusCode::UNAVAILABLE)
      << "the device left memory with the failed observation";
  EXPECT_THAT(unreadable.error_message(), HasSubstr("row checksum"));

  faults_.Heal();
  ASSERT_TRUE(Risk(kDevice, &risk).ok());
  EXPECT_EQ(risk.events_size(), 0) << "nothing of the failed observation";
  ack = Report(Exchange(3, kDevice, HijackRequest("2:14"), {}));
  EXPECT_THAT(ack.errors(), IsEmpty());
  EXPECT_EQ(ack.events_size(), 2) << "the server state was kept";
}

// One exchange, two rewritten meetings: the first is judged (its server
// state is in memory) and found a hijack; the second's server state cannot
// be read. Nothing of the exchange is recorded, so its ack reports no event;
// reported again once the store works, both are found.
TEST_F(StoreFaultTest, AnExchangeThatFailsHalfWayReportsNoEvent) {
  Start();
  Report(Exchange(1, kDevice, {}, InvitationResponse("2:15")));
  Report(Exchange(2, kDevice, {}, InvitationResponse("2:14")));  // in memory
  const std::string both = Wbxml(
      "<Sync xmlns=\"AirSync:\" xmlns:calendar=\"Calendar:\"><Collections>"
      "<Collection><SyncKey>3</SyncKey><CollectionId>2</CollectionId>"
      "<Commands>"
      "<Change><ServerId>2:14</ServerId><ApplicationData>"
      "<calendar:OrganizerEmail>alice@example.com</calendar:OrganizerEmail>"
      "</ApplicationData></Change>"
      "<Change><ServerId>2:15</ServerId><ApplicationData>"
      "<calendar:OrganizerEmail>alice@example.com</calendar:OrganizerEmail>"
      "</ApplicationData></Change>"
      "</Commands></Collection></Collections></Sync>");
  faults_.FailReads(absl::UnavailableError("injected: connection reset"));
  v1::ReportTrafficResponse ack = Report(Exchange(3, kDevice, both, {}));
  EXPECT_THAT(ack.events(), IsEmpty()) << "an event that was not recorded";
  ASSERT_EQ(ack.errors_size(), 1);
  EXPECT_EQ(ack.errors(0).code(), "STATE_UNAVAILABLE");

  faults_.Heal();
  ack = Report(Exchange(3, kDevice, both, {}));
  EXPECT_THAT(ack.errors(), IsEmpty());
  EXPECT_EQ(ack.events_size(), 2) << "a rewrite of each meeting";
}

// The engine after a failed commit: the check-in is not answered, but what
// the decision changed was kept (and, as the real store does once it can
// write, committed): the next decision, with the history read back from the
// store, continues it. A device at WARN keeps the grace deadline the
// unanswered decision started, an hour later.
TEST_F(StoreFaultTest, TheEngineContinuesFromAFailedCommitOnceItIsWritten) {
  Start();
  faults_.FailCommits(absl::UnavailableError("injected: fsync failed"),
                      /*unhealthy=*/false);
  const absl::Time first_at = clock_.Now();
  v1::CheckInResponse first;
  EXPECT_EQ(CheckIn(kDevice, &first).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  faults_.Heal();
  clock_.Advance(absl::Hours(1));
  const std::uint64_t forgotten = server_->engine().stats().devices_forgotten;
  Displace();
  ASSERT_GT(server_->engine().stats().devices_forgotten, forgotten);
  v1::CheckInResponse again;
  ASSERT_TRUE(CheckIn(kDevice, &again).ok());
  ASSERT_EQ(again.action(), v1::ACTION_WARN) << "an iOS 6.0 build, no events";
  ASSERT_TRUE(again.has_deadline());
  const absl::Time deadline = absl::FromUnixSeconds(again.deadline().seconds());
  // The grace period counts from the first, unanswered decision.
  v1::CheckInResponse fresh;
  ASSERT_TRUE(CheckIn("ApplFRESH", &fresh).ok());
  ASSERT_TRUE(fresh.has_deadline());
  EXPECT_EQ(absl::FromUnixSeconds(fresh.deadline().seconds()) - deadline,
            clock_.Now() - first_at);
}

}  // namespace
}  // namespace hijackguard::plugin
