// The real server, in-process on 127.0.0.1:0, called over gRPC.
#include "plugin/server.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "hijackguard/v1/policy_admin.grpc.pb.h"
#include "tests/common/builtin_catalog.h"
#include "tests/common/status_matchers.h"
#include "tests/plugin/test_policy.h"

namespace hijackguard::plugin {
namespace {

using ::hijackguard::testing::IsOk;
using ::testing::HasSubstr;

constexpr std::int64_t kNow =
    1350950400;  // 2012-10-23T00:00:00Z, the Exchange Team's post

std::shared_ptr<const detector::KnownIssueCatalog> Catalog() {
  return ::hijackguard::testing::BuiltinCatalog();
}

v1::CheckInRequest Request(const std::string& user_agent) {
  v1::CheckInRequest r;
  r.set_tenant_id("t1");
  r.mutable_device()->set_eas_device_id("ApplDMPFXZABDFHW");
  r.mutable_device()->set_user_principal("alice@example.com");
  r.mutable_eas()->set_user_agent(user_agent);
  return r;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(&clock_); }

  void Start(const Clock* clock) {
    auto server = BuildServer(EnforcingOptions(clock));
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(server_->address(),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::CompliancePlugin::NewStub(channel_);
  }

  grpc::Status CheckIn(const v1::CheckInRequest& request,
                       v1::CheckInResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    return stub_->CheckIn(&context, request, response);
  }

  FakeClock clock_{absl::FromUnixSeconds(kNow)};
  std::unique_ptr<PluginServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CompliancePlugin::Stub> stub_;
};

TEST_F(ServerTest, Ios60DeviceIsWarnedWithTheHijackIssue) {
  v1::CheckInResponse r;
  ASSERT_TRUE(CheckIn(Request("Apple-iPhone4C1/1001.403"), &r).ok());
  EXPECT_EQ(r.action(), v1::ACTION_WARN);
  EXPECT_EQ(r.fingerprint().platform(), v1::PLATFORM_IOS);
  EXPECT_EQ(r.fingerprint().os_version(), "6.0");
  EXPECT_EQ(r.fingerprint().build(), "10A403");
  EXPECT_EQ(r.fingerprint().model_name(), "iPhone 4S");
  EXPECT_EQ(r.fingerprint().eas_build(), "1001.403");
  ASSERT_EQ(r.fingerprint().known_issues_size(), 1);
  const v1::KnownIssue& issue = r.fingerprint().known_issues(0);
  EXPECT_EQ(issue.id(), "ios6-meeting-organizer-hijack");
  EXPECT_EQ(issue.confidence(), v1::CONFIDENCE_CONFIRMED);
  EXPECT_EQ(issue.fixed_in(), "");
  EXPECT_THAT(issue.fix_note(), HasSubstr("No available source confirms"));
  ASSERT_GE(r.reasons_size(), 1);
  EXPECT_EQ(r.reasons(0).code(), "CONFIRMED_ORGANIZER_HIJACK_BUILD");
  EXPECT_EQ(r.user_alert().title(), "Update iOS on your iPhone 4S");
  EXPECT_THAT(r.user_alert().remediation(), HasSubstr("in Outlook"));
  EXPECT_EQ(r.decided_at().seconds(), kNow);
  EXPECT_EQ(r.valid_until().seconds(), kNow + 3600);
  EXPECT_EQ(r.decision_id().size(), 36u);
}

TEST_F(ServerTest, Ios612DeviceIsAllowed) {
  v1::CheckInResponse r;
  ASSERT_TRUE(CheckIn(Request("Apple-iPhone5C2/1002.146"), &r).ok());
  EXPECT_EQ(r.action(), v1::ACTION_ALLOW);
  EXPECT_EQ(r.fingerprint().os_version(), "6.1.2");
  EXPECT_EQ(r.fingerprint().known_issues_size(), 0);
  EXPECT_FALSE(r.has_user_alert());
  EXPECT_EQ(r.reasons(0).code(), "BELOW_THRESHOLD");
  EXPECT_EQ(r.reasons(1).code(), "NO_CONFIRMED_HIJACK_ISSUE");
}

// What `serve` logs when it stops, and the h2load benchmark compares with
// its own count: calls answered, by RPC and outcome.
TEST_F(ServerTest, CountsTheCallsItAnswers) {
  v1::CheckInResponse r;
  ASSERT_TRUE(CheckIn(Request("Apple-iPhone4C1/1001.403"), &r).ok());
  ASSERT_TRUE(CheckIn(Request("Apple-iPhone4C1/1001.403"), &r).ok());
  EXPECT_FALSE(CheckIn(v1::CheckInRequest(), &r).ok()) << "no tenant";
  grpc::ClientContext context;
  v1::GetDeviceRiskRequest risk;
  risk.set_tenant_id("acme");
  risk.set_eas_device_id("ApplNOBODY");
  v1::GetDeviceRiskResponse answer;
  EXPECT_FALSE(stub_->GetDeviceRisk(&context, risk, &answer).ok());
  EXPECT_EQ(server_->calls().ok(Rpc::kCheckIn), 2u);
  EXPECT_EQ(server_->calls().failed(Rpc::kCheckIn), 1u);
  EXPECT_EQ(server_->calls().failed(Rpc::kGetDeviceRisk), 1u);
  EXPECT_EQ(server_->calls().Summary(),
            "CheckIn 2 OK 1 failed, GetDeviceRisk 0 OK 1 failed");
}

// A stream counts once, as it finishes, and its messages by whether their
// acks carry item errors (h2load sees only the stream).
TEST_F(ServerTest, CountsStreamsAndTheirMessages) {
  grpc::ClientContext context;
  auto stream = stub_->StreamTraffic(&context);
  v1::ReportTrafficRequest good;
  good.set_tenant_id("acme");
  good.set_sequence(1);
  v1::EasExchange* ex = good.mutable_eas_exchange();
  ex->set_method("POST");
  ex->set_target(
      "/Microsoft-Server-ActiveSync?Cmd=Ping&User=alice%40example.com"
      "&DeviceId=ApplONE&DeviceType=iPhone");
  v1::ReportTrafficRequest no_tenant = good;
  no_tenant.clear_tenant_id();
  no_tenant.set_sequence(2);
  ASSERT_TRUE(stream->Write(good));
  ASSERT_TRUE(stream->Write(no_tenant));
  ASSERT_TRUE(stream->WritesDone());
  v1::StreamTrafficResponse batch;
  int acks = 0;
  while (stream->Read(&batch)) acks += batch.acks_size();
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_EQ(acks, 2);
  EXPECT_EQ(server_->calls().ok(Rpc::kStreamTraffic), 1u);
  EXPECT_EQ(server_->calls().Summary(),
            "StreamTraffic 1 OK 0 failed (1 messages OK, 1 with item errors)");
}

TEST_F(ServerTest, AStreamTheClientCancelsCountsAsFailed) {
  grpc::ClientContext context;
  auto stream = stub_->StreamTraffic(&context);
  v1::ReportTrafficRequest good;
  good.set_tenant_id("acme");
  good.set_sequence(1);
  good.mutable_eas_exchange()->set_method("POST");
  good.mutable_eas_exchange()->set_target(
      "/Microsoft-Server-ActiveSync?Cmd=Ping&User=alice%40example.com"
      "&DeviceId=ApplONE&DeviceType=iPhone");
  ASSERT_TRUE(stream->Write(good));
  v1::StreamTrafficResponse batch;
  ASSERT_TRUE(stream->Read(&batch));  // answered, and then the client leaves
  context.TryCancel();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  for (int i = 0; i < 200 && server_->calls().failed(Rpc::kStreamTraffic) == 0;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server_->calls().failed(Rpc::kStreamTraffic), 1u);
  EXPECT_EQ(server_->calls().ok(Rpc::kStreamTraffic), 0u);
}

TEST_F(ServerTest, AndroidDeviceIsAllowed) {
  v1::CheckInRequest request = Request("Android/4.4.2-EAS-2.0");
  request.mutable_eas()->set_device_type("Android");
  request.mutable_eas()->set_device_os("Android 4.4.2");
  v1::CheckInResponse r;
  ASSERT_TRUE(CheckIn(request, &r).ok());
  EXPECT_EQ(r.action(), v1::ACTION_ALLOW);
  EXPECT_EQ(r.fingerprint().platform(), v1::PLATFORM_ANDROID);
  EXPECT_EQ(r.fingerprint().client().family(), "android-exchange");
  EXPECT_EQ(r.fingerprint().os_version(), "4.4.2");
}

TEST_F(ServerTest, StaleInventoryIsReportedAsInconsistent) {
  v1::CheckInRequest request = Request("Apple-iPhone4C1/1001.523");
  request.mutable_inventory()->set_os_version("6.1.2");
  request.mutable_inventory()->set_build_version("10B146");
  v1::CheckInResponse r;
  ASSERT_TRUE(CheckIn(request, &r).ok());
  EXPECT_FALSE(r.fingerprint().consistent());
  ASSERT_GE(r.fingerprint().disagreements_size(), 1);
  EXPECT_EQ(r.fingerprint().disagreements(0).field(), "build");
}

struct InvalidCase {
  std::string name;
  std::function<void(v1::CheckInRequest*)> mutate;
  std::string field;
  friend void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.name; }
};

class InvalidRequestTest : public ServerTest,
                           public ::testing::WithParamInterface<InvalidCase> {};

TEST_P(InvalidRequestTest, IsInvalidArgumentNamingTheField) {
  v1::CheckInRequest request = Request("Apple-iPhone4C1/1001.403");
  GetParam().mutate(&request);
  v1::CheckInResponse r;
  const grpc::Status status = CheckIn(request, &r);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr(GetParam().field));
}

INSTANTIATE_TEST_SUITE_P(
    Requests, InvalidRequestTest,
    ::testing::Values(
        InvalidCase{"MissingTenant", [](auto* r) { r->clear_tenant_id(); },
                    "tenant_id: is required"},
        InvalidCase{"TenantWithSpace", [](auto* r) { r->set_tenant_id("t 1"); },
                    "tenant_id: character at offset 1"},
        InvalidCase{"TenantTooLong",
                    [](auto* r) { r->set_tenant_id(std::string(129, 't')); },
                    "tenant_id: 129 bytes exceeds the limit of 128"},
        InvalidCase{
            "NoDeviceId", [](auto* r) { r->clear_device(); },
            "device.mdm_device_id and device.eas_device_id is required"},
        InvalidCase{"UserAgentOver1KiB",
                    [](auto* r) {
                      r->mutable_eas()->set_user_agent(std::string(1025, 'A'));
                    },
                    "eas.user_agent: 1025 bytes exceeds the limit of 1024"},
        InvalidCase{"LongDeviceOs",
                    [](auto* r) {
                      r->mutable_eas()->set_device_os(std::string(300, 'x'));
                    },
                    "eas.device_os"},
        InvalidCase{"LongInventoryBuild",
                    [](auto* r) {
                      r->mutable_inventory()->set_build_version(
                          std::string(300, '1'));
                    },
                    "inventory.build_version"},
        InvalidCase{
            "BadProtocolVersion",
            [](auto* r) { r->mutable_eas()->set_protocol_version("fourteen"); },
            "eas.protocol_version"},
        InvalidCase{"BadTimestampNanos",
                    [](auto* r) { r->mutable_checked_in_at()->set_nanos(-1); },
                    "checked_in_at.nanos"},
        InvalidCase{"TimestampOutOfRange",
                    [](auto* r) {
                      r->mutable_checked_in_at()->set_seconds(300000000000);
                    },
                    "checked_in_at.seconds"}),
    [](const auto& test_info) { return test_info.param.name; });

TEST_F(ServerTest, OversizedRequestIsRejectedBeforeTheHandler) {
  v1::CheckInRequest request = Request("Apple-iPhone4C1/1001.403");
  request.mutable_eas()->set_friendly_name(std::string(70 * 1024, 'x'));
  v1::CheckInResponse r;
  EXPECT_EQ(CheckIn(request, &r).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(ServerTest, HostileButValidStringsAreAnsweredNotRejected) {
  v1::CheckInRequest request = Request(std::string("Apple-\0/\x01\x7f", 9));
  request.mutable_eas()->set_device_os(
      "\xE2\x80\xAE iOS 6.0 10A403");  // RTL override
  v1::CheckInResponse r;
  ASSERT_TRUE(CheckIn(request, &r).ok());
  EXPECT_EQ(r.fingerprint().build(), "");
  EXPECT_GT(r.fingerprint().notes_size(), 0);
}

// Sends raw bytes as a CheckIn request, as a buggy or hostile client could.
grpc::Status CallWithRawBytes(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& bytes,
    const std::string& method = "/hijackguard.v1.CompliancePlugin/CheckIn") {
  grpc::GenericStub generic(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  grpc::Slice slice(bytes);
  const grpc::ByteBuffer request(&slice, 1);
  auto call = generic.PrepareUnaryCall(&context, method, request, &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  EXPECT_TRUE(cq.Next(&tag, &ok));
  return status;
}

// A valid request's bytes with `placeholder` (in some field) overwritten by
// `replacement` of the same length.
std::string Corrupt(const v1::CheckInRequest& request,
                    const std::string& placeholder,
                    const std::string& replacement) {
  std::string bytes = request.SerializeAsString();
  const std::size_t at = bytes.find(placeholder);
  EXPECT_NE(at, std::string::npos);
  bytes.replace(at, placeholder.size(), replacement);
  return bytes;
}

TEST_F(ServerTest, InvalidUtf8IsInvalidArgumentNamingFieldAndOffset) {
  v1::CheckInRequest request = Request("Apple-PLACEHOLDER/1001.403");
  EXPECT_EQ(request.eas().user_agent().find("PLACEHOLDER"), 6u);
  grpc::Status status =
      CallWithRawBytes(channel_, Corrupt(request, "PLACEHOLDER",
                                         "iPhone\xff\xfe"
                                         "C1A"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "eas.user_agent: invalid UTF-8 at byte 12 of the value");

  request.mutable_device()->set_user_principal("alice@PLACEHOLDER");
  status = CallWithRawBytes(channel_,
                            Corrupt(request, "alice@PLACEHOLDER",
                                    std::string("alice@\xc0\xafxxxxxxxxx")));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "device.user_principal: invalid UTF-8 at byte 6 of the value");
}

TEST_F(ServerTest, EveryTypedRpcNamesTheFieldWithInvalidUtf8) {
  // The bytes of a message whose one string field holds "PLACEHOLDER", with
  // "\xff" at its fourth byte.
  auto bad = [](google::protobuf::Message& m) {
    std::string bytes = m.SerializeAsString();
    const std::size_t at = bytes.find("PLACEHOLDER");
    EXPECT_NE(at, std::string::npos);
    bytes[at + 3] = '\xff';
    return bytes;
  };
  v1::ValidatePolicyRequest validate;
  validate.set_policy_json("PLACEHOLDER");
  v1::ApplyPolicyRequest apply;
  apply.set_expected_revision("PLACEHOLDER");
  v1::GetDeviceRiskRequest risk;
  risk.set_eas_device_id("PLACEHOLDER");
  v1::WatchAlertsRequest watch;
  watch.set_tenant_id("PLACEHOLDER");
  v1::PutExemptionRequest put;
  put.mutable_exemption()->set_reason("PLACEHOLDER");
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"/hijackguard.v1.PolicyAdmin/ValidatePolicy", bad(validate),
       "policy_json"},
      {"/hijackguard.v1.PolicyAdmin/ApplyPolicy", bad(apply),
       "expected_revision"},
      {"/hijackguard.v1.PolicyAdmin/PutExemption", bad(put),
       "exemption.reason"},
      {"/hijackguard.v1.CompliancePlugin/GetDeviceRisk", bad(risk),
       "eas_device_id"},
      {"/hijackguard.v1.CompliancePlugin/WatchAlerts", bad(watch),
       "tenant_id"}};
  for (const auto& [method, bytes, field] : cases) {
    const grpc::Status status = CallWithRawBytes(channel_, bytes, method);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << method;
    EXPECT_EQ(status.error_message(),
              field + ": invalid UTF-8 at byte 3 of the value")
        << method;
  }
}

TEST_F(ServerTest, BytesThatAreNotARequestAreInvalidArgument) {
  for (const std::string& garbage : {std::string("\xff\xff\xff\xff"),
                                     std::string("\x0a\x7f"
                                                 "abc"),
                                     std::string("GET / HTTP/1.1\r\n")}) {
    const grpc::Status status = CallWithRawBytes(channel_, garbage);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(),
                HasSubstr("not a valid hijackguard.v1.CheckInRequest"));
  }
  // The server is still fine.
  v1::CheckInResponse r;
  EXPECT_TRUE(CheckIn(Request("Apple-iPhone4C1/1001.403"), &r).ok());
}

TEST_F(ServerTest, HealthServiceAnswersServing) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  for (const std::string service : {"", "hijackguard.v1.CompliancePlugin"}) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok()) << service;
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING)
        << service;
  }
}

TEST_F(ServerTest, ConcurrentCallsGetDistinctDecisionIds) {
  constexpr int kThreads = 8;
  constexpr int kCallsPerThread = 50;
  std::mutex mu;
  std::set<std::string> ids;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kCallsPerThread; ++i) {
        v1::CheckInResponse r;
        if (!CheckIn(Request("Apple-iPhone4C1/1001.403"), &r).ok() ||
            r.action() != v1::ACTION_WARN) {
          ++failures;
          continue;
        }
        std::lock_guard<std::mutex> lock(mu);
        ids.insert(r.decision_id());
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kThreads * kCallsPerThread));
}

// A clock whose first Now() blocks until released, to hold a call in flight.
class GateClock final : public Clock {
 public:
  absl::Time Now() const override {
    if (!entered_.HasBeenNotified()) {
      entered_.Notify();
      release_.WaitForNotification();
    }
    return absl::FromUnixSeconds(kNow);
  }
  void WaitUntilEntered() const { entered_.WaitForNotification(); }
  void Release() const { release_.Notify(); }

 private:
  mutable absl::Notification entered_;
  mutable absl::Notification release_;
};

TEST(ServerShutdownTest, DrainsInFlightCallsBeforeStopping) {
  GateClock clock;
  ServerOptions options;
  options.catalog = Catalog();
  options.policy = EnforceDefaults(*options.catalog);
  options.clock = &clock;
  auto server = BuildServer(options);
  ASSERT_THAT(server, IsOk());
  auto stub = v1::CompliancePlugin::NewStub(grpc::CreateChannel(
      (*server)->address(), grpc::InsecureChannelCredentials()));

  grpc::Status call_status;
  v1::CheckInResponse response;
  std::thread caller([&] {
    grpc::ClientContext context;
    call_status =
        stub->CheckIn(&context, Request("Apple-iPhone4C1/1001.403"), &response);
  });
  clock.WaitUntilEntered();  // the call is inside the handler
  std::thread stopper([&] { (*server)->Shutdown(absl::Seconds(30)); });
  // Wait until the server refuses new calls, so the shutdown has begun while
  // the first call is still held in the handler.
  bool refusing = false;
  for (int attempt = 0; attempt < 100 && !refusing; ++attempt) {
    grpc::ClientContext probe;
    probe.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(100));
    v1::CheckInResponse unused;
    refusing =
        !stub->CheckIn(&probe, Request("Apple-iPhone4C1/1001.403"), &unused)
             .ok();
  }
  clock.Release();
  caller.join();
  stopper.join();
  EXPECT_TRUE(refusing) << "the server kept accepting calls after Shutdown";
  EXPECT_TRUE(call_status.ok()) << call_status.error_message();
  EXPECT_EQ(response.action(), v1::ACTION_WARN);

  grpc::ClientContext after;
  after.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(2));
  v1::CheckInResponse unused;
  EXPECT_FALSE(
      stub->CheckIn(&after, Request("Apple-iPhone4C1/1001.403"), &unused).ok())
      << "a stopped server accepts no calls";
}

TEST(ServerBuildTest, BusyPortIsUnavailable) {
  ServerOptions options;
  options.catalog = Catalog();
  options.policy = EnforceDefaults(*options.catalog);
  auto first = BuildServer(options);
  ASSERT_THAT(first, IsOk());
  options.listen_address = (*first)->address();
  EXPECT_THAT(BuildServer(options),
              hijackguard::testing::StatusIs(absl::StatusCode::kUnavailable,
                                             HasSubstr((*first)->address())));
}

TEST(ServerBuildTest, MissingCatalogIsInvalid) {
  EXPECT_THAT(
      BuildServer(ServerOptions{}),
      hijackguard::testing::StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace hijackguard::plugin
