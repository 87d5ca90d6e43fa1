// The metrics (plugin/metrics.h) and the operator's routes (/metrics,
// /healthz, /readyz) on the real HTTP listener, in-process: who may scrape,
// what the fixed names and labels hold, and that a caller's free text never
// becomes a label.
#include "plugin/metrics.h"

#include "common/hmac.h"
#include "common/strings.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "httplib.h"
#include "plugin/server.h"
#include "store/sqlite/sqlite_store.h"
#include "tests/common/builtin_catalog.h"
#include "tests/common/status_matchers.h"
#include "tests/common/test_dir.h"
#include "tests/plugin/test_policy.h"

namespace hijackguard::plugin {
namespace {

using ::hijackguard::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsTest, FixedNamesAndNoCallerTextInLabels) {
  Metrics metrics("1.2.3");
  metrics.SetHttpRoutes({"/v1/activesync/authorize", "/metrics"});
  metrics.ObserveGrpc(Rpc::kCheckIn, absl::StatusCode::kOk,
                      absl::Milliseconds(2));
  metrics.ObserveGrpc(Rpc::kApplyPolicy, absl::StatusCode::kAborted,
                      absl::Milliseconds(2));
  // An HTTP route is not a gRPC method.
  metrics.ObserveGrpc(Rpc::kGatewayAuthorize, absl::StatusCode::kUnimplemented,
                      absl::Milliseconds(1));
  metrics.ObserveGrpc(Rpc::kCheckIn, static_cast<absl::StatusCode>(99),
                      absl::Milliseconds(1));
  metrics.ObserveHttp("/v1/activesync/authorize", 200, absl::Milliseconds(1),
                      "QUARANTINE");
  metrics.ObserveHttp("/v1/activesync/authorize", 403, absl::Milliseconds(1),
                      "");
  metrics.ObserveHttp("/v1/activesync/authorize", 503, absl::Milliseconds(1),
                      "");
  metrics.ObserveHttp("/v1/activesync/authorize", 200, absl::Milliseconds(1),
                      "SOMETHING\"ELSE");
  metrics.ObserveHttp("/users/alice@example.com", 404, absl::Milliseconds(1),
                      "");
  metrics.ObserveCommit(absl::Milliseconds(3), 17);
  metrics.CountPolicyReload("failed");
  const std::string text = metrics.Render();

  EXPECT_THAT(text, HasSubstr("hijackguard_build_info{version=\"1.2.3\"} 1"));
  EXPECT_THAT(text, HasSubstr("hijackguard_store_up 1"));
  EXPECT_THAT(text, HasSubstr("hijackguard_grpc_request_duration_seconds_count{"
                              "code=\"OK\",method=\"/hijackguard.v1."
                              "CompliancePlugin/CheckIn\"} 1"));
  EXPECT_THAT(text, HasSubstr("hijackguard_grpc_request_duration_seconds_count{"
                              "code=\"ABORTED\",method=\"/hijackguard.v1."
                              "PolicyAdmin/ApplyPolicy\"} 1"));
  EXPECT_THAT(text, HasSubstr("hijackguard_grpc_request_duration_seconds_count{"
                              "code=\"UNIMPLEMENTED\",method=\"other\"} 1"));
  EXPECT_THAT(text, HasSubstr("hijackguard_gateway_authorizations_total{"
                              "answer=\"QUARANTINE\"} 1"));
  EXPECT_THAT(text, HasSubstr("hijackguard_gateway_authorizations_total{"
                              "answer=\"REFUSED\"} 1"));
  EXPECT_THAT(text, HasSubstr("hijackguard_gateway_authorizations_total{"
                              "answer=\"UNAVAILABLE\"} 1"));
  EXPECT_THAT(text, HasSubstr("hijackguard_gateway_authorizations_total{"
                              "answer=\"ERROR\"} 1"));
  EXPECT_THAT(text, HasSubstr("hijackguard_http_request_duration_seconds_count{"
                              "code=\"404\",route=\"other\"} 1"));
  EXPECT_THAT(text,
              HasSubstr("hijackguard_store_commit_batch_size_bucket{le=\"16\"} "
                        "0\nhijackguard_store_commit_batch_size_bucket{le="
                        "\"32\"} 1"));
  EXPECT_THAT(text, HasSubstr("hijackguard_policy_reloads_total{result="
                              "\"failed\"} 1"));
  EXPECT_THAT(text, HasSubstr("hijackguard_policy_reloads_total{result="
                              "\"applied\"} 0"));
  EXPECT_THAT(text, Not(HasSubstr("alice")));
  EXPECT_THAT(text, Not(HasSubstr("SOMETHING")));
  EXPECT_THAT(text, Not(HasSubstr("code=\"99\"")));
}

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.catalog = ::hijackguard::testing::BuiltinCatalog();
    options.policy = EnforceDefaults(*options.catalog);
    options.http.listen = "127.0.0.1:0";
    auto auth = std::make_shared<AuthConfig>();
    for (auto [id, role] :
         {std::pair{"scraper", kRoleMetrics}, std::pair{"mdm", kRoleMdm},
          std::pair{"admin", kRoleAdmin}}) {
      Principal p;
      p.id = id;
      p.roles = role;
      p.tenants = {"t1"};
      p.token_sha256.push_back(Sha256Raw(StrCat("token-", id)));
      auth->principals.push_back(std::move(p));
    }
    options.auth = auth;
    auto server = BuildServer(options);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    const std::string address = server_->http_address();
    http_ = std::make_unique<httplib::Client>(
        address.substr(0, address.rfind(':')),
        std::stoi(address.substr(address.rfind(':') + 1)));
  }

  httplib::Result Scrape(const std::string& authorization) {
    httplib::Headers h;
    if (!authorization.empty()) h.emplace("Authorization", authorization);
    return http_->Get("/metrics", h);
  }

  std::unique_ptr<PluginServer> server_;
  std::unique_ptr<httplib::Client> http_;
};

TEST_F(MetricsServerTest, OnlyAMetricsPrincipalOrAnAdminScrapes) {
  auto none = Scrape("");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"),
            "Bearer realm=\"hijackguard\"");
  auto unknown = Scrape("Bearer token-nobody");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 401);
  auto malformed = Scrape("Token token-scraper");
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 401);
  EXPECT_THAT(malformed->body, HasSubstr("not \\\"Bearer <token>\\\""));
  auto mdm = Scrape("Bearer token-mdm");
  ASSERT_TRUE(mdm);
  EXPECT_EQ(mdm->status, 403);
  EXPECT_THAT(mdm->body, HasSubstr("lacks role \\\"metrics\\\""));
  auto scraper = Scrape("Bearer token-scraper");
  ASSERT_TRUE(scraper);
  EXPECT_EQ(scraper->status, 200);
  EXPECT_EQ(scraper->get_header_value("Content-Type"),
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(scraper->body, HasSubstr("# TYPE hijackguard_decisions_total "
                                       "counter"));
  auto shouting = Scrape("BEARER token-scraper");  // RFC 7235: any case
  ASSERT_TRUE(shouting);
  EXPECT_EQ(shouting->status, 200);
  auto admin = Scrape("Bearer token-admin");
  ASSERT_TRUE(admin);
  EXPECT_EQ(admin->status, 200);
}

TEST_F(MetricsServerTest, HealthAndReadinessAreOpen) {
  auto health = http_->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto ready = http_->Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(ready->body, "ready\n");
}

TEST_F(MetricsServerTest, ACheckInIsTimedAndCounted) {
  auto channel = grpc::CreateChannel(server_->address(),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::CompliancePlugin::NewStub(channel);
  v1::CheckInRequest request;
  request.set_tenant_id("t1");
  request.mutable_device()->set_eas_device_id("ApplMETRICS1");
  request.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
  for (const char* token : {"token-mdm", "token-scraper"}) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", StrCat("Bearer ", token));
    v1::CheckInResponse response;
    stub->CheckIn(&context, request, &response);
  }
  auto scraped = Scrape("Bearer token-scraper");
  ASSERT_TRUE(scraped);
  const std::string& text = scraped->body;
  EXPECT_THAT(text, HasSubstr("hijackguard_grpc_request_duration_seconds_count{"
                              "code=\"OK\",method=\"/hijackguard.v1."
                              "CompliancePlugin/CheckIn\"} 1"));
  EXPECT_THAT(text, HasSubstr("hijackguard_grpc_request_duration_seconds_count{"
                              "code=\"PERMISSION_DENIED\",method=\"/"
                              "hijackguard.v1.CompliancePlugin/CheckIn\"} 1"));
  EXPECT_THAT(text, HasSubstr("hijackguard_decisions_total{enforced_action="));
  EXPECT_THAT(text, HasSubstr("mode=\"enforce\"} 1"));
  EXPECT_THAT(text, HasSubstr("hijackguard_policy_info{mode=\"enforce\""));
  EXPECT_THAT(text, Not(HasSubstr("ApplMETRICS1")));
  EXPECT_THAT(text, Not(HasSubstr("t1")));
}

// /readyz and hijackguard_store_up follow the store: a full disk makes the
// server not ready until the space is back.
TEST(MetricsStoreTest, ReadinessAndStoreUpFollowTheStore) {
  const std::filesystem::path dir =
      ::hijackguard::testing::FreshTestDir("ready");
  ServerOptions options;
  options.catalog = ::hijackguard::testing::BuiltinCatalog();
  options.policy = EnforceDefaults(*options.catalog);
  options.http.listen = "127.0.0.1:0";
  options.state_path = (dir / "hijackguard.db").string();
  auto server = BuildServer(options);
  ASSERT_THAT(server, IsOk());
  const std::string address = (*server)->http_address();
  httplib::Client http(address.substr(0, address.rfind(':')),
                       std::stoi(address.substr(address.rfind(':') + 1)));
  auto stub = v1::CompliancePlugin::NewStub(grpc::CreateChannel(
      (*server)->address(), grpc::InsecureChannelCredentials()));
  auto check_in = [&](const std::string& device) {
    v1::CheckInRequest request;
    request.set_tenant_id("t1");
    request.mutable_device()->set_eas_device_id(device);
    request.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(2));
    v1::CheckInResponse response;
    return stub->CheckIn(&context, request, &response);
  };
  // Polls /readyz until it answers `status` (10 s at most).
  auto await_ready = [&](int status) {
    for (int i = 0; i < 200; ++i) {
      auto r = http.Get("/readyz");
      if (r && r->status == status) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  ASSERT_TRUE(check_in("ApplREADY1").ok());
  EXPECT_TRUE(await_ready(200));

  static_cast<store::SqliteStore*>((*server)->store())
      ->CapFileForTesting(true);  // the disk is full
  // Rows enough to need more pages than the file has.
  detector::DetectorChanges big;
  for (int i = 0; i < 200; ++i) {
    big.devices.push_back(
        {"full-" + std::to_string(i), std::string(2000, 'x'), false, 1, ""});
  }
  (void)(*server)->store()->Submit(std::move(big));
  ASSERT_TRUE(await_ready(503));
  auto not_ready = http.Get("/readyz");
  ASSERT_TRUE(not_ready);
  EXPECT_EQ(not_ready->body, "not ready: the state store cannot write\n");
  auto scraped = http.Get("/metrics");  // development mode: open
  ASSERT_TRUE(scraped);
  EXPECT_THAT(scraped->body, HasSubstr("\nhijackguard_store_up 0\n"));

  static_cast<store::SqliteStore*>((*server)->store())
      ->CapFileForTesting(false);  // space is freed
  EXPECT_TRUE(await_ready(200));
  scraped = http.Get("/metrics");
  ASSERT_TRUE(scraped);
  EXPECT_THAT(scraped->body, HasSubstr("\nhijackguard_store_up 1\n"));
  server->reset();  // the store closed before its directory goes
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hijackguard::plugin
