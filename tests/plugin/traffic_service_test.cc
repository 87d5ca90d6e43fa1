// ReportTraffic, StreamTraffic and GetDeviceRisk on the real server,
// in-process on 127.0.0.1:0; and CheckIn's quarantine after a hijack.
#include <thread>

#include "detector/wbxml/xml.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "plugin/server.h"
#include "tests/common/builtin_catalog.h"
#include "tests/common/status_matchers.h"
#include "tests/plugin/test_policy.h"
#include "tests/plugin/traffic_fixtures.h"

namespace hijackguard::plugin {
namespace {

using ::hijackguard::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class TrafficServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = BuildServer(EnforcingOptions(&clock_));
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(server_->address(),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::CompliancePlugin::NewStub(channel_);
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(60));
    return context;
  }

  FakeClock clock_{absl::FromUnixSeconds(1350950400 + 86400)};
  std::unique_ptr<PluginServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CompliancePlugin::Stub> stub_;
};

TEST_F(TrafficServiceTest, HijackIsReportedQuarantinedAndExplained) {
  v1::ReportTrafficResponse response;
  ASSERT_TRUE(stub_
                  ->ReportTraffic(Context().get(),
                                  Exchange(1, "ApplDMPFXZABDFHW", {},
                                           InvitationResponse("2:14")),
                                  &response)
                  .ok());
  EXPECT_THAT(response.events(), IsEmpty());
  ASSERT_TRUE(stub_
                  ->ReportTraffic(Context().get(),
                                  Exchange(2, "ApplDMPFXZABDFHW",
                                           HijackRequest("2:14"), {}),
                                  &response)
                  .ok());
  EXPECT_EQ(response.sequence(), 2u);
  ASSERT_EQ(response.events_size(), 2);
  EXPECT_EQ(response.events(0).kind(), v1::EVENT_KIND_ORGANIZER_REWRITE);
  EXPECT_EQ(response.events(1).kind(), v1::EVENT_KIND_OWNERSHIP_CLAIM);
  EXPECT_EQ(response.events(0).organizer_email_before(), "bob@example.com");

  v1::CheckInRequest check_in;
  check_in.set_tenant_id("t1");
  check_in.mutable_device()->set_eas_device_id("ApplDMPFXZABDFHW");
  check_in.mutable_device()->set_mdm_device_id("mdm-42");
  check_in.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
  v1::CheckInResponse decision;
  ASSERT_TRUE(stub_->CheckIn(Context().get(), check_in, &decision).ok());
  EXPECT_EQ(decision.action(), v1::ACTION_QUARANTINE);
  ASSERT_GE(decision.reasons_size(), 2);
  EXPECT_EQ(decision.reasons(0).code(), "OBSERVED_ORGANIZER_REWRITE");
  EXPECT_THAT(decision.reasons(0).message(), HasSubstr(kUid));
  EXPECT_EQ(decision.reasons(1).code(), "OBSERVED_OWNERSHIP_CLAIM");
  EXPECT_FALSE(decision.user_alert().title().empty());

  v1::GetDeviceRiskRequest risk_request;
  risk_request.set_tenant_id("t1");
  risk_request.set_mdm_device_id("mdm-42");  // linked by the check-in
  v1::GetDeviceRiskResponse risk;
  ASSERT_TRUE(stub_->GetDeviceRisk(Context().get(), risk_request, &risk).ok());
  EXPECT_EQ(risk.eas_device_id(), "ApplDMPFXZABDFHW");
  EXPECT_EQ(risk.traffic_action(), v1::ACTION_QUARANTINE);
  EXPECT_EQ(risk.fingerprint().build(), "10A403");
  EXPECT_EQ(risk.events_size(), 2);
  ASSERT_EQ(risk.meetings_size(), 1);
  EXPECT_EQ(risk.meetings(0).uid(), kUid);
  EXPECT_EQ(risk.meetings(0).true_organizer_email(), "bob@example.com");
  EXPECT_EQ(risk.meetings(0).claimed_organizer_email(), "alice@example.com");

  risk_request.set_mdm_device_id("unknown");
  EXPECT_EQ(
      stub_->GetDeviceRisk(Context().get(), risk_request, &risk).error_code(),
      grpc::StatusCode::NOT_FOUND);
  risk_request.clear_mdm_device_id();
  EXPECT_EQ(
      stub_->GetDeviceRisk(Context().get(), risk_request, &risk).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(TrafficServiceTest, ItemProblemsAreDataNotFailedCalls) {
  v1::ReportTrafficResponse response;
  v1::ReportTrafficRequest r = Exchange(7, "ApplX", "\x03\x01\x6a", {});
  ASSERT_TRUE(stub_->ReportTraffic(Context().get(), r, &response).ok());
  EXPECT_EQ(response.sequence(), 7u);
  ASSERT_EQ(response.errors_size(), 1);
  EXPECT_EQ(response.errors(0).code(), "UNDECODABLE_BODY");
  EXPECT_THAT(response.errors(0).message(), HasSubstr("at byte 3"));

  // A time well ahead of the server's clock would poison the ledger.
  r.mutable_observed_at()->set_seconds(1350950400 + 3 * 86400);
  ASSERT_TRUE(stub_->ReportTraffic(Context().get(), r, &response).ok());
  ASSERT_EQ(response.errors_size(), 1);
  EXPECT_EQ(response.errors(0).field(), "observed_at");
  // The year -29719: outside what a timestamp may say.
  r.mutable_observed_at()->set_seconds(-1'000'000'000'000LL);
  ASSERT_TRUE(stub_->ReportTraffic(Context().get(), r, &response).ok());
  ASSERT_EQ(response.errors_size(), 1);
  EXPECT_EQ(response.errors(0).field(), "observed_at");
  EXPECT_THAT(response.errors(0).message(), HasSubstr("1970"));
  r.clear_observed_at();

  r.set_tenant_id("");
  ASSERT_TRUE(stub_->ReportTraffic(Context().get(), r, &response).ok());
  ASSERT_EQ(response.errors_size(), 1);
  EXPECT_EQ(response.errors(0).field(), "tenant_id");

  // Invalid UTF-8 in a string field: protobuf would refuse the message; the
  // ack still names the sequence and the field.
  grpc::GenericStub generic(channel_);
  v1::ReportTrafficRequest bad = Exchange(9, "ApplX", {}, {});
  bad.mutable_eas_exchange()->set_target("/x?Cmd=Sync&User=\xff");
  std::string bytes;
  bad.SerializePartialToString(&bytes);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer reply;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  auto context = Context();
  generic.UnaryCall(context.get(),
                    "/hijackguard.v1.CompliancePlugin/ReportTraffic", {},
                    &request, &reply, [&](grpc::Status s) {
                      std::lock_guard<std::mutex> lock(mu);
                      status = s;
                      done = true;
                      cv.notify_one();
                    });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(reply.Dump(&slices).ok());
  std::string reply_bytes;
  for (const auto& s : slices) {
    reply_bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  ASSERT_TRUE(response.ParseFromString(reply_bytes));
  EXPECT_EQ(response.sequence(), 9u);
  ASSERT_EQ(response.errors_size(), 1);
  EXPECT_EQ(response.errors(0).code(), "INVALID_ARGUMENT");
  EXPECT_THAT(response.errors(0).message(), HasSubstr("eas_exchange.target"));
}

TEST_F(TrafficServiceTest, StreamOfTenThousandWithInterleavedBadItems) {
  constexpr int kItems = 10'000;
  const std::string invitation = InvitationResponse("2:14");
  const std::string hijack = HijackRequest("2:14");
  auto context = Context();
  auto stream = stub_->StreamTraffic(context.get());
  std::thread writer([&] {
    for (int i = 1; i <= kItems; ++i) {
      // Every 100 devices: a server invitation then the client's rewrite.
      // Every 7th item is bad in one of three ways.
      const std::string device = "Appl" + std::to_string(i / 2);
      v1::ReportTrafficRequest r;
      if (i % 7 == 0) {
        r = Exchange(static_cast<std::uint64_t>(i), device, "\x03\x01", {});
        if (i % 3 == 0) {
          r.mutable_eas_exchange()->set_target(
              "/Microsoft-Server-ActiveSync?Cmd=Sync&User=a");
        } else if (i % 3 == 1) {
          r.clear_eas_exchange();
        }
      } else if (i % 2 == 0) {
        r = Exchange(static_cast<std::uint64_t>(i), device, {}, invitation);
      } else {
        r = Exchange(static_cast<std::uint64_t>(i),
                     "Appl" + std::to_string((i - 1) / 2), hijack, {});
      }
      if (!stream->Write(r)) {
        break;
      }
    }
    stream->WritesDone();
  });
  v1::StreamTrafficResponse batch;
  std::uint64_t expected = 1;
  int batches = 0;
  int with_errors = 0;
  int with_events = 0;
  while (stream->Read(&batch)) {
    ++batches;
    for (const v1::TrafficAck& ack : batch.acks()) {
      ASSERT_EQ(ack.sequence(), expected) << "acks come in arrival order";
      ++expected;
      with_errors += ack.errors_size() > 0 ? 1 : 0;
      with_events += ack.events_size() > 0 ? 1 : 0;
      if (ack.sequence() % 7 == 0) {
        EXPECT_FALSE(ack.errors().empty()) << ack.sequence();
      } else {
        EXPECT_THAT(ack.errors(), IsEmpty()) << ack.sequence();
      }
    }
  }
  writer.join();
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_EQ(expected, kItems + 1u);
  EXPECT_EQ(with_errors, kItems / 7);
  EXPECT_GT(with_events, 4000);
  EXPECT_LT(batches, kItems) << "acks should be batched";
}

}  // namespace
}  // namespace hijackguard::plugin
