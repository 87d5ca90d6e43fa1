// The server's failure paths, driven by a store that fails on demand
// (tests/store/fault_store.h) in front of the real SQLite store: what
// callers are told, what the detector and the engine hold afterwards, and
// recovery once the store works again.
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "plugin/server.h"
#include "tests/common/status_matchers.h"
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
    dir_ = std::filesystem::temp_directory_path() /
           ("hg-fault-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "policy.json")
        << R"({"apiVersion": "hijackguard/v1", "mode": "enforce"})";
    options_.catalog = std::make_shared<detector::KnownIssueCatalog>(
        *detector::KnownIssueCatalog::Builtin());
    options_.clock = &clock_;
    options_.policy_path = (dir_ / "policy.json").string();
    options_.state_path = (dir_ / "hijackguard.db").string();
    options_.state_retention_interval = absl::ZeroDuration();
    // Caches of one device (and one meeting): the others are read from
    // the store.
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

  // Another device's check-in, so that `kDevice` leaves both caches.
  void Displace() {
    v1::CheckInResponse ignored;
    ASSERT_TRUE(CheckIn("ApplOTHER", &ignored).ok());
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
  const grpc::Status refused = CheckIn(kDevice, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(refused.error_message(),
              HasSubstr("the device's state cannot be read"));
  EXPECT_THAT(refused.error_message(), HasSubstr("page 7 unreadable"));
  EXPECT_GT(faults_.failed_reads(), 0);

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

// A commit that does not finish: the answer waits for it (the caller's
// deadline passes first), and is given once the commit is durable.
TEST_F(StoreFaultTest, NothingIsAnsweredBeforeItsCommitIsDurable) {
  Start();
  faults_.BlockCommits();
  v1::CheckInResponse response;
  EXPECT_EQ(CheckIn(kDevice, &response, /*deadline_ms=*/300).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  faults_.Heal();
  EXPECT_TRUE(CheckIn(kDevice, &response).ok());
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
  stream->WritesDone();
  while (stream->Read(&batch)) {
  }
  EXPECT_TRUE(stream->Finish().ok());

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
  ack = Report(Exchange(2, kDevice, HijackRequest("2:14"), {}));
  EXPECT_THAT(ack.events(), IsEmpty());
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

// The engine after a failed commit: the decision that was not recorded is
// made again at the next check-in (same action), and the grace clock and
// last action it keeps are those of a committed decision.
TEST_F(StoreFaultTest, TheEngineDecidesAgainAfterAFailedCommit) {
  Start();
  Report(Exchange(1, kDevice, {}, InvitationResponse("2:14")));
  Report(Exchange(2, kDevice, HijackRequest("2:14"), {}));
  faults_.FailCommits(absl::UnavailableError("injected: fsync failed"),
                      /*unhealthy=*/false);
  v1::CheckInResponse first;
  EXPECT_EQ(CheckIn(kDevice, &first).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  faults_.Heal();
  Displace();  // the next decision reads its history from the store
  v1::CheckInResponse again;
  ASSERT_TRUE(CheckIn(kDevice, &again).ok());
  EXPECT_EQ(again.action(), v1::ACTION_QUARANTINE);
  EXPECT_FALSE(again.reasons().empty());
}

}  // namespace
}  // namespace hijackguard::plugin
