// Access control on the real server (TLS on 127.0.0.1:0, in-process): every
// RPC x {no credential, wrong role, wrong tenant, right principal}, for bearer
// tokens and for client certificates from a test CA made at test time; tenant
// isolation of WatchAlerts; the attacks that worked before `auth` existed;
// and the audit rows that name the actor.
#include "plugin/access.h"

#include <filesystem>
#include <fstream>
#include <map>

#include "common/hmac.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "hijackguard/v1/policy_admin.grpc.pb.h"
#include "plugin/config.h"
#include "plugin/server.h"
#include "store/audit_key.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_store.h"
#include "tests/common/builtin_catalog.h"
#include "tests/common/status_matchers.h"
#include "tests/plugin/test_certs.h"

namespace hijackguard::plugin {
namespace {

using ::hijackguard::testing::IsOk;
using ::testing::HasSubstr;
using Code = grpc::StatusCode;

constexpr std::string_view kMonitor =
    R"({"apiVersion": "hijackguard/v1", "mode": "monitor"})";
constexpr std::string_view kEnforce =
    R"({"apiVersion": "hijackguard/v1", "mode": "enforce"})";

// principal id -> roles, tenants, and which certificate field names it.
struct PrincipalSpec {
  std::string id;
  std::string roles;    // JSON array
  std::string tenants;  // JSON array
  std::string cert_field;
  std::string cert_value;
  std::string san;  // for the issued certificate
};

const std::vector<PrincipalSpec>& Specs() {
  static const auto* specs = new std::vector<PrincipalSpec>{
      {"mdm-acme", R"(["mdm"])", R"(["acme"])", "subject_cn", "mdm-acme", ""},
      {"mdm-globex", R"(["mdm"])", R"(["globex"])", "subject_cn", "mdm-globex",
       ""},
      {"mdm-all", R"(["mdm"])", R"(["*"])", "subject_cn", "mdm-all", ""},
      {"gw-acme", R"(["gateway"])", R"(["acme"])", "subject_cn", "gw-acme", ""},
      {"gw-globex", R"(["gateway"])", R"(["globex"])", "dns_san",
       "gw-globex.test", "DNS:gw-globex.test"},
      {"aud-acme", R"(["auditor"])", R"(["acme"])", "subject_cn", "aud-acme",
       ""},
      {"aud-globex", R"(["auditor"])", R"(["globex"])", "subject_cn",
       "aud-globex", ""},
      {"aud-all", R"(["auditor"])", R"(["*"])", "uri_san",
       "spiffe://test/aud-all", "URI:spiffe://test/aud-all"},
      {"admin-acme", R"(["admin"])", R"(["acme"])", "subject_cn", "admin-acme",
       ""},
      {"admin-globex", R"(["admin"])", R"(["globex"])", "subject_cn",
       "admin-globex", ""},
      {"admin-all", R"(["admin"])", R"(["*"])", "subject_cn", "admin-all", ""},
  };
  return *specs;
}

std::string Token(const std::string& id) { return "token-of-" + id; }

enum class Credential { kToken, kCertificate };

class AccessTest : public ::testing::TestWithParam<Credential> {
 protected:
  static void SetUpTestSuite() {
    pki_ = new testing::TestPki(testing::MakeTestPki());
    certs_ = new std::map<std::string, testing::TestClientCert>;
    for (const PrincipalSpec& p : Specs()) {
      (*certs_)[p.id] = testing::IssueClientCert(*pki_, p.id, p.san);
    }
  }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
    delete pki_;
    pki_ = nullptr;
  }

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("hg-access-" + std::to_string(::getpid()) + "-" +
            std::to_string(++serial_));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Write("ca.pem", pki_->ca_cert);
    Write("server.pem", pki_->server_cert);
    Write("server.key", pki_->server_key);
    Write("policy.json", std::string(kMonitor));
    Start();
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  std::string AuthJson(const std::string& without = "") const {
    std::string principals;
    for (const PrincipalSpec& p : Specs()) {
      if (p.id == without) continue;
      if (!principals.empty()) principals += ",";
      principals += "{\"id\":\"" + p.id + "\",\"roles\":" + p.roles +
                    ",\"tenants\":" + p.tenants + ",\"token_sha256\":\"" +
                    HexEncode(Sha256Raw(Token(p.id))) +
                    "\",\"client_cert\":{\"" + p.cert_field + "\":\"" +
                    p.cert_value + "\"}}";
    }
    return "{\"principals\":[" + principals + "]}";
  }

  void Start() {
    const std::string config_json =
        "{\"listen\":\"127.0.0.1:0\",\"auth\":" + AuthJson() +
        ",\"tls\":{\"cert_file\":\"" + (dir_ / "server.pem").string() +
        "\",\"key_file\":\"" + (dir_ / "server.key").string() +
        "\",\"client_ca_file\":\"" + (dir_ / "ca.pem").string() +
        "\",\"client_cert\":\"optional\"}}";
    auto config = ParseServerConfig(config_json, "test");
    ASSERT_THAT(config, IsOk());
    ServerOptions options;
    options.catalog = ::hijackguard::testing::BuiltinCatalog();
    options.listen_address = config->listen;
    options.tls = config->tls;
    options.auth = std::make_shared<const AuthConfig>(*config->auth);
    options.policy_path = (dir_ / "policy.json").string();
    options.state_path = (dir_ / "hijackguard.db").string();
    auto server = BuildServer(options);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
  }

  // A TLS channel presenting `cert_id`'s client certificate ("" = none).
  std::shared_ptr<grpc::Channel> TlsChannel(const std::string& cert_id) const {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = pki_->ca_cert;
    if (!cert_id.empty()) {
      ssl.pem_cert_chain = certs_->at(cert_id).cert;
      ssl.pem_private_key = certs_->at(cert_id).key;
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return grpc::CreateCustomChannel(server_->address(),
                                     grpc::SslCredentials(ssl), args);
  }

  // A channel for `id` ("" = no credential) with the parameter's credential.
  std::shared_ptr<grpc::Channel> Channel(const std::string& id) const {
    return TlsChannel(GetParam() == Credential::kCertificate ? id : "");
  }

  // ApplyPolicy as `id` with the parameter's credential.
  grpc::Status ApplyAs(const std::string& id, const std::string& json,
                       const std::string& expected_revision = "") const {
    auto admin = v1::PolicyAdmin::NewStub(Channel(id));
    grpc::ClientContext c;
    Prepare(&c, id);
    v1::ApplyPolicyRequest r;
    r.set_policy_json(json);
    r.set_expected_revision(expected_revision);
    v1::ApplyPolicyResponse response;
    return admin->ApplyPolicy(&c, r, &response);
  }

  void Prepare(grpc::ClientContext* context, const std::string& id,
               int deadline_ms = 5000) const {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(deadline_ms));
    if (!id.empty() && GetParam() == Credential::kToken) {
      context->AddMetadata("authorization", "Bearer " + Token(id));
    }
  }

  // Calls `rpc` as `id` for tenant "acme"; a stream item refused with
  // PERMISSION_DENIED is reported as that code.
  grpc::Status Call(Rpc rpc, const std::string& id) {
    auto channel = Channel(id);
    auto plugin = v1::CompliancePlugin::NewStub(channel);
    auto admin = v1::PolicyAdmin::NewStub(channel);
    grpc::ClientContext context;
    Prepare(&context, id, rpc == Rpc::kWatchAlerts ? 500 : 5000);
    switch (rpc) {
      case Rpc::kCheckIn: {
        v1::CheckInRequest r;
        r.set_tenant_id("acme");
        r.mutable_device()->set_eas_device_id("ApplACCESS");
        r.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
        v1::CheckInResponse response;
        return plugin->CheckIn(&context, r, &response);
      }
      case Rpc::kReportTraffic: {
        v1::ReportTrafficRequest r = Traffic();
        v1::ReportTrafficResponse response;
        return plugin->ReportTraffic(&context, r, &response);
      }
      case Rpc::kStreamTraffic: {
        auto stream = plugin->StreamTraffic(&context);
        stream->Write(Traffic());
        stream->WritesDone();
        v1::StreamTrafficResponse acks;
        std::string item_code;
        while (stream->Read(&acks)) {
          for (const auto& ack : acks.acks()) {
            for (const auto& e : ack.errors()) item_code = e.code();
          }
        }
        grpc::Status s = stream->Finish();
        if (s.ok() && item_code == "PERMISSION_DENIED") {
          return grpc::Status(Code::PERMISSION_DENIED, "item refused");
        }
        return s;
      }
      case Rpc::kGetDeviceRisk: {
        v1::GetDeviceRiskRequest r;
        r.set_tenant_id("acme");
        r.set_eas_device_id("ApplACCESS");
        v1::GetDeviceRiskResponse response;
        return plugin->GetDeviceRisk(&context, r, &response);
      }
      case Rpc::kWatchAlerts: {
        v1::WatchAlertsRequest r;
        r.set_tenant_id("acme");
        auto reader = plugin->WatchAlerts(&context, r);
        v1::ComplianceAlert alert;
        while (reader->Read(&alert)) {
        }
        return reader->Finish();
      }
      case Rpc::kGetPolicy: {
        v1::GetPolicyResponse response;
        return admin->GetPolicy(&context, v1::GetPolicyRequest(), &response);
      }
      case Rpc::kValidatePolicy: {
        v1::ValidatePolicyRequest r;
        r.set_policy_json(std::string(kMonitor));
        v1::ValidatePolicyResponse response;
        return admin->ValidatePolicy(&context, r, &response);
      }
      case Rpc::kSimulateDecision: {
        v1::SimulateDecisionRequest r;
        r.mutable_check_in()->set_tenant_id("acme");
        r.mutable_check_in()->mutable_device()->set_eas_device_id("ApplSIM");
        r.mutable_check_in()->mutable_eas()->set_user_agent(
            "Apple-iPhone4C1/1001.403");
        v1::SimulateDecisionResponse response;
        return admin->SimulateDecision(&context, r, &response);
      }
      case Rpc::kListExemptions: {
        v1::ListExemptionsRequest r;
        r.set_tenant_id("acme");
        v1::ListExemptionsResponse response;
        return admin->ListExemptions(&context, r, &response);
      }
      case Rpc::kApplyPolicy: {
        v1::ApplyPolicyRequest r;
        r.set_policy_json(std::string(kMonitor));
        r.set_dry_run(true);
        v1::ApplyPolicyResponse response;
        return admin->ApplyPolicy(&context, r, &response);
      }
      case Rpc::kPutExemption: {
        v1::PutExemptionRequest r = Exemption("acme");
        v1::PutExemptionResponse response;
        return admin->PutExemption(&context, r, &response);
      }
      case Rpc::kDeleteExemption: {
        v1::DeleteExemptionRequest r;
        r.set_id(PutAcmeExemption());
        v1::DeleteExemptionResponse response;
        return admin->DeleteExemption(&context, r, &response);
      }
      case Rpc::kListDevices: {
        v1::ListDevicesRequest r;
        r.set_tenant_id("acme");
        v1::ListDevicesResponse response;
        return plugin->ListDevices(&context, r, &response);
      }
      case Rpc::kGatewayAuthorize:
      case Rpc::kGatewayObserve:
        break;  // HTTP routes: tests/plugin/gateway_service_test.cc
      case Rpc::kMetrics:
        break;  // an HTTP route: tests/plugin/metrics_test.cc
      case Rpc::kConsole:
        break;  // HTTP routes: tests/plugin/console_test.cc
    }
    return grpc::Status(Code::INTERNAL, "no such rpc");
  }

  static v1::ReportTrafficRequest Traffic() {
    v1::ReportTrafficRequest r;
    r.set_tenant_id("acme");
    r.set_sequence(1);
    v1::CalendarChange* c = r.mutable_calendar_change();
    c->set_eas_device_id("ApplTRAFFIC");
    c->set_user("alice@example.com");
    c->set_collection_id("1");
    c->set_server_id("1:1");
    c->set_uid("uid-1");
    c->set_command("Change");
    c->set_organizer_email_before("bob@example.com");
    c->set_organizer_email_after("bob@example.com");
    return r;
  }

  static v1::PutExemptionRequest Exemption(const std::string& tenant) {
    v1::PutExemptionRequest r;
    r.mutable_exemption()->set_tenant_id(tenant);
    r.mutable_exemption()->set_kind(v1::EXEMPTION_KIND_USER);
    r.mutable_exemption()->set_value("vip@example.com");
    r.mutable_exemption()->set_reason("test");
    r.mutable_exemption()->mutable_expires()->set_seconds(
        absl::ToUnixSeconds(absl::Now() + absl::Hours(24)));
    return r;
  }

  // Puts an acme exemption as admin-all (with a token: it works whatever the
  // parameter) and returns its id.
  std::string PutAcmeExemption() {
    auto admin = v1::PolicyAdmin::NewStub(TlsChannel(""));
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + Token("admin-all"));
    v1::PutExemptionResponse response;
    EXPECT_TRUE(
        admin->PutExemption(&context, Exemption("acme"), &response).ok());
    return response.exemption().id();
  }

  static testing::TestPki* pki_;
  static std::map<std::string, testing::TestClientCert>* certs_;
  std::filesystem::path dir_;
  static inline int serial_ = 0;
  std::unique_ptr<PluginServer> server_;
};

testing::TestPki* AccessTest::pki_ = nullptr;
std::map<std::string, testing::TestClientCert>* AccessTest::certs_ = nullptr;

struct Row {
  Rpc rpc;
  std::string right;
  std::string wrong_role;
  std::string wrong_tenant;
  Code right_code;
};

TEST_P(AccessTest, EveryRpcByCredentialRoleAndTenant) {
  const std::vector<Row> table = {
      {Rpc::kCheckIn, "mdm-acme", "gw-acme", "mdm-globex", Code::OK},
      {Rpc::kReportTraffic, "gw-acme", "mdm-acme", "gw-globex", Code::OK},
      {Rpc::kStreamTraffic, "gw-acme", "mdm-acme", "gw-globex", Code::OK},
      {Rpc::kGetDeviceRisk, "aud-acme", "mdm-acme", "aud-globex", Code::OK},
      // Admitted: the stream stays open until the deadline.
      {Rpc::kWatchAlerts, "aud-acme", "mdm-acme", "aud-globex",
       Code::DEADLINE_EXCEEDED},
      {Rpc::kGetPolicy, "aud-all", "mdm-all", "aud-acme", Code::OK},
      {Rpc::kValidatePolicy, "aud-all", "mdm-all", "aud-acme", Code::OK},
      {Rpc::kSimulateDecision, "aud-all", "mdm-all", "aud-acme", Code::OK},
      {Rpc::kListExemptions, "aud-acme", "mdm-acme", "aud-globex", Code::OK},
      {Rpc::kApplyPolicy, "admin-all", "aud-all", "admin-acme", Code::OK},
      {Rpc::kPutExemption, "admin-acme", "aud-acme", "admin-globex", Code::OK},
      {Rpc::kDeleteExemption, "admin-acme", "aud-acme", "admin-globex",
       Code::OK},
      {Rpc::kListDevices, "aud-acme", "mdm-acme", "aud-globex", Code::OK},
  };
  // The HTTP routes are tested in gateway_service_test.cc (two),
  // console_test.cc (one) and metrics_test.cc (one).
  ASSERT_EQ(table.size() + 4, RpcRules().size()) << "a new RPC needs a row";
  for (const Row& row : table) {
    const std::string_view name = RuleFor(row.rpc).name;
    SCOPED_TRACE(std::string(name));
    grpc::Status s = Call(row.rpc, "");
    EXPECT_EQ(s.error_code(), Code::UNAUTHENTICATED) << s.error_message();
    s = Call(row.rpc, row.wrong_role);
    EXPECT_EQ(s.error_code(), Code::PERMISSION_DENIED) << s.error_message();
    if (row.rpc != Rpc::kStreamTraffic) {
      EXPECT_THAT(s.error_message(), HasSubstr("lacks role"));
    }
    s = Call(row.rpc, row.wrong_tenant);
    EXPECT_EQ(s.error_code(), Code::PERMISSION_DENIED) << s.error_message();
    s = Call(row.rpc, row.right);
    EXPECT_EQ(s.error_code(), row.right_code) << s.error_message();
  }
}

INSTANTIATE_TEST_SUITE_P(Credentials, AccessTest,
                         ::testing::Values(Credential::kToken,
                                           Credential::kCertificate),
                         [](const ::testing::TestParamInfo<Credential>& p) {
                           return p.param == Credential::kToken ? "Token"
                                                                : "Certificate";
                         });

// The rest holds for either credential; tokens are used.
class AccessAttackTest : public AccessTest {};
INSTANTIATE_TEST_SUITE_P(Token, AccessAttackTest,
                         ::testing::Values(Credential::kToken));

TEST_P(AccessAttackTest, AnonymousAndSingleTenantAdminsCannotWidenTheirReach) {
  auto admin = v1::PolicyAdmin::NewStub(Channel(""));
  EXPECT_EQ(ApplyAs("", std::string(kEnforce)).error_code(),
            Code::UNAUTHENTICATED);
  {
    grpc::ClientContext c;
    Prepare(&c, "");
    v1::PutExemptionResponse response;
    EXPECT_EQ(admin->PutExemption(&c, Exemption(""), &response).error_code(),
              Code::UNAUTHENTICATED);
  }
  auto acme_admin = v1::PolicyAdmin::NewStub(Channel("admin-acme"));
  {
    // An empty tenant would cover every tenant.
    grpc::ClientContext c;
    Prepare(&c, "admin-acme");
    v1::PutExemptionResponse response;
    const grpc::Status s =
        acme_admin->PutExemption(&c, Exemption(""), &response);
    EXPECT_EQ(s.error_code(), Code::PERMISSION_DENIED);
    EXPECT_THAT(s.error_message(), HasSubstr("empty tenant"));
  }
  {
    // Another tenant's exemption, and one that does not exist: the same
    // answer, so ids cannot be probed.
    grpc::ClientContext c1, c2;
    Prepare(&c1, "admin-globex");
    Prepare(&c2, "admin-globex");
    auto globex_admin = v1::PolicyAdmin::NewStub(Channel("admin-globex"));
    v1::DeleteExemptionRequest r;
    r.set_id(PutAcmeExemption());
    v1::DeleteExemptionResponse response;
    const grpc::Status existing =
        globex_admin->DeleteExemption(&c1, r, &response);
    r.set_id("acme/user/nobody@example.com");
    const grpc::Status missing =
        globex_admin->DeleteExemption(&c2, r, &response);
    EXPECT_EQ(existing.error_code(), Code::PERMISSION_DENIED);
    EXPECT_EQ(missing.error_code(), Code::PERMISSION_DENIED);
    EXPECT_EQ(existing.error_message(), missing.error_message());
  }
  {
    // A token that is not known, and a certificate with another principal's
    // token.
    auto plugin = v1::CompliancePlugin::NewStub(Channel(""));
    grpc::ClientContext c;
    c.AddMetadata("authorization", "Bearer not-a-token");
    v1::GetDeviceRiskRequest r;
    r.set_tenant_id("acme");
    r.set_eas_device_id("x");
    v1::GetDeviceRiskResponse response;
    const grpc::Status s = plugin->GetDeviceRisk(&c, r, &response);
    EXPECT_EQ(s.error_code(), Code::UNAUTHENTICATED);
    EXPECT_THAT(s.error_message(), ::testing::Not(HasSubstr("not-a-token")));
  }
  {
    auto plugin = v1::CompliancePlugin::NewStub(TlsChannel("aud-acme"));
    grpc::ClientContext c;
    c.AddMetadata("authorization", "Bearer " + Token("aud-all"));
    v1::GetDeviceRiskRequest r;
    r.set_tenant_id("globex");
    r.set_eas_device_id("x");
    v1::GetDeviceRiskResponse response;
    EXPECT_EQ(plugin->GetDeviceRisk(&c, r, &response).error_code(),
              Code::UNAUTHENTICATED);
  }
}

TEST_P(AccessAttackTest, WatchAlertsForOneTenantNeverDeliversAnother) {
  auto auditor = v1::CompliancePlugin::NewStub(Channel("aud-acme"));
  grpc::ClientContext watch;
  Prepare(&watch, "aud-acme", 20000);
  v1::WatchAlertsRequest request;
  request.set_tenant_id("acme");
  auto reader = auditor->WatchAlerts(&watch, request);
  reader->WaitForInitialMetadata();
  {
    // An empty tenant (every tenant) is refused for a one-tenant auditor.
    grpc::ClientContext c;
    Prepare(&c, "aud-acme");
    auto all = auditor->WatchAlerts(&c, v1::WatchAlertsRequest());
    v1::ComplianceAlert alert;
    EXPECT_FALSE(all->Read(&alert));
    EXPECT_EQ(all->Finish().error_code(), Code::PERMISSION_DENIED);
  }
  // ALLOW -> WARN alerts in both tenants, globex's first.
  for (const auto& [tenant, principal, device] :
       {std::tuple{"globex", "mdm-globex", "ApplGLOBEX"},
        std::tuple{"acme", "mdm-acme", "ApplACME1"},
        std::tuple{"globex", "mdm-globex", "ApplGLOBEX2"},
        std::tuple{"acme", "mdm-acme", "ApplACME2"}}) {
    auto mdm = v1::CompliancePlugin::NewStub(Channel(principal));
    grpc::ClientContext c;
    Prepare(&c, principal);
    v1::CheckInRequest r;
    r.set_tenant_id(tenant);
    r.mutable_device()->set_eas_device_id(device);
    r.mutable_device()->set_user_principal("user@example.com");
    r.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
    v1::CheckInResponse response;
    ASSERT_TRUE(mdm->CheckIn(&c, r, &response).ok());
    ASSERT_EQ(response.evaluated_action(), v1::ACTION_WARN);
  }
  v1::ComplianceAlert alert;
  ASSERT_TRUE(reader->Read(&alert));
  EXPECT_EQ(alert.tenant_id(), "acme");
  EXPECT_EQ(alert.eas_device_id(), "ApplACME1");
  ASSERT_TRUE(reader->Read(&alert));
  EXPECT_EQ(alert.tenant_id(), "acme");
  EXPECT_EQ(alert.eas_device_id(), "ApplACME2");
  watch.TryCancel();
  while (reader->Read(&alert)) {
    EXPECT_EQ(alert.tenant_id(), "acme");
  }
  (void)reader->Finish();
}

TEST_P(AccessAttackTest, ListDevicesForOneTenantNeverShowsAnother) {
  for (const auto& [tenant, principal, device, agent] :
       {std::tuple{"globex", "mdm-globex", "ApplGLOBEX",
                   "Apple-iPhone4C1/1001.403"},
        std::tuple{"acme", "mdm-acme", "ApplACME1", "Apple-iPhone4C1/1001.403"},
        std::tuple{"acme", "mdm-acme", "ApplACME2",
                   "Apple-iPhone4C1/1001.523"}}) {
    auto mdm = v1::CompliancePlugin::NewStub(Channel(principal));
    grpc::ClientContext c;
    Prepare(&c, principal);
    v1::CheckInRequest r;
    r.set_tenant_id(tenant);
    r.mutable_device()->set_eas_device_id(device);
    r.mutable_device()->set_user_principal("user@example.com");
    r.mutable_eas()->set_user_agent(agent);
    v1::CheckInResponse response;
    ASSERT_TRUE(mdm->CheckIn(&c, r, &response).ok());
  }
  auto list = [&](const std::string& principal, v1::ListDevicesRequest r,
                  v1::ListDevicesResponse* response) {
    auto plugin = v1::CompliancePlugin::NewStub(Channel(principal));
    grpc::ClientContext c;
    Prepare(&c, principal);
    return plugin->ListDevices(&c, r, response);
  };
  v1::ListDevicesRequest acme;
  acme.set_tenant_id("acme");
  v1::ListDevicesResponse response;
  ASSERT_TRUE(list("aud-acme", acme, &response).ok());
  ASSERT_EQ(response.devices_size(), 2);
  EXPECT_EQ(response.devices(0).eas_device_id(), "ApplACME1");
  EXPECT_EQ(response.devices(0).evaluated_action(), v1::ACTION_WARN);
  EXPECT_EQ(response.devices(0).build(), "10A403");
  EXPECT_EQ(response.devices(1).eas_device_id(), "ApplACME2");
  for (const auto& d : response.devices()) EXPECT_EQ(d.tenant_id(), "acme");

  // Every tenant: only for a principal of every tenant.
  EXPECT_EQ(list("aud-acme", {}, &response).error_code(),
            Code::PERMISSION_DENIED);
  EXPECT_EQ(list("aud-globex", acme, &response).error_code(),
            Code::PERMISSION_DENIED);
  v1::ListDevicesRequest all;
  all.set_page_size(1);
  ASSERT_TRUE(list("aud-all", all, &response).ok());
  ASSERT_EQ(response.devices_size(), 1);
  ASSERT_FALSE(response.next_page_token().empty());
  // A token of the every-tenant list does not page acme's: the filters
  // differ, so it is refused rather than read as a position.
  acme.set_page_token(response.next_page_token());
  const grpc::Status s = list("aud-acme", acme, &response);
  EXPECT_EQ(s.error_code(), Code::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("page_token"));
  acme.set_page_token("");
  v1::ListDevicesRequest huge = acme;
  huge.set_user_principal(std::string(20000, 'a'));
  EXPECT_EQ(list("aud-acme", huge, &response).error_code(),
            Code::RESOURCE_EXHAUSTED);
  acme.add_levels(static_cast<v1::RiskLevel>(9));
  EXPECT_THAT(list("aud-acme", acme, &response).error_message(),
              HasSubstr("levels[0]"));
}

TEST_P(AccessAttackTest, TheAuditNamesTheActorAndCountsRefusals) {
  ASSERT_TRUE(ApplyAs("admin-all", std::string(kEnforce)).ok());
  for (int i = 0; i < 5; ++i) {
    (void)Call(Rpc::kApplyPolicy, "");            // UNAUTHENTICATED
    (void)Call(Rpc::kApplyPolicy, "admin-acme");  // PERMISSION_DENIED
  }
  EXPECT_EQ(ApplyAs("admin-all", std::string(kMonitor), "stale").error_code(),
            Code::ABORTED);
  server_->Shutdown(absl::Seconds(5));  // writes the refusals of this minute
  server_.reset();
  auto db = store::sqlite::Database::Open((dir_ / "hijackguard.db").string(),
                                          false, false);
  ASSERT_THAT(db.status(), IsOk());
  auto rows = db->Prepare("SELECT kind, record FROM audit ORDER BY seq");
  ASSERT_THAT(rows.status(), IsOk());
  std::vector<std::string> access;
  bool policy_by_admin = false;
  while (*rows->Step()) {
    const std::string kind(rows->Blob(0));
    const std::string record(rows->Blob(1));
    if (kind == "policy" &&
        record.find("\"principal\":\"admin-all\"") != std::string::npos &&
        record.find("\"auth\":\"token\"") != std::string::npos &&
        record.find("\"peer\":\"ipv4:127.0.0.1\"") != std::string::npos) {
      policy_by_admin = true;
    }
    if (kind == "access") access.push_back(record);
  }
  EXPECT_TRUE(policy_by_admin);
  ASSERT_EQ(access.size(), 3u) << ::testing::PrintToString(access);
  std::string all;
  for (const std::string& a : access) all += a + "\n";
  EXPECT_THAT(all, HasSubstr("\"code\":\"UNAUTHENTICATED\",\"count\":5"));
  EXPECT_THAT(all, HasSubstr("\"code\":\"PERMISSION_DENIED\",\"count\":5"));
  EXPECT_THAT(all, HasSubstr("\"code\":\"ABORTED\",\"count\":1"));
  EXPECT_THAT(all, HasSubstr("\"principal\":\"admin-acme\""));
  auto key = store::ReadAuditKey((dir_ / "audit.key").string());
  ASSERT_THAT(key.status(), IsOk());
  auto v = store::VerifyAudit((dir_ / "hijackguard.db").string(), *key);
  ASSERT_THAT(v.status(), IsOk());
  EXPECT_TRUE(v->ok) << v->problem;
}

// A principal removed by a reload (SIGHUP) loses its open streams too.
TEST_P(AccessAttackTest, AReloadThatWithdrawsAPrincipalCutsItsStreams) {
  auto gateway = v1::CompliancePlugin::NewStub(Channel("gw-acme"));
  grpc::ClientContext stream_context;
  Prepare(&stream_context, "gw-acme", 20000);
  auto stream = gateway->StreamTraffic(&stream_context);
  auto send = [&](std::uint64_t sequence) {
    v1::ReportTrafficRequest r = Traffic();
    r.set_sequence(sequence);
    EXPECT_TRUE(stream->Write(r));
    v1::StreamTrafficResponse acks;
    EXPECT_TRUE(stream->Read(&acks));
    return acks.acks_size() > 0 && acks.acks(0).errors_size() > 0
               ? acks.acks(0).errors(0).code()
               : std::string();
  };
  EXPECT_EQ(send(1), "");

  auto auditor = v1::CompliancePlugin::NewStub(Channel("aud-acme"));
  grpc::ClientContext watch;
  Prepare(&watch, "aud-acme", 20000);
  v1::WatchAlertsRequest request;
  request.set_tenant_id("acme");
  auto reader = auditor->WatchAlerts(&watch, request);
  reader->WaitForInitialMetadata();

  std::string json = "{\"auth\":" + AuthJson("gw-acme") + "}";
  json.replace(json.find("\"aud-acme\""), 10, "\"aud-gone\"");
  auto config = ParseServerConfig(json, "reload");
  ASSERT_THAT(config, IsOk());
  ASSERT_THAT(
      server_->ReloadAuth(std::make_shared<const AuthConfig>(*config->auth)),
      IsOk());

  EXPECT_EQ(send(2), "UNAUTHENTICATED");
  stream->WritesDone();
  v1::StreamTrafficResponse rest;
  while (stream->Read(&rest)) {
  }
  EXPECT_TRUE(stream->Finish().ok());

  // The withdrawn auditor's stream ends at once, without waiting for an alert.
  v1::ComplianceAlert alert;
  EXPECT_FALSE(reader->Read(&alert));
  EXPECT_EQ(reader->Finish().error_code(), Code::UNAUTHENTICATED);
}

TEST(ListenAddressTest, OnlyLoopbackIsServedWithoutAuthAndTls) {
  EXPECT_TRUE(IsLoopbackListen("127.0.0.1:50051"));
  EXPECT_TRUE(IsLoopbackListen("127.3.2.1:0"));
  EXPECT_TRUE(IsLoopbackListen("[::1]:50051"));
  EXPECT_TRUE(IsLoopbackListen("localhost:50051"));
  EXPECT_TRUE(IsLoopbackListen("unix:/run/hijackguard.sock"));
  EXPECT_FALSE(IsLoopbackListen("0.0.0.0:50051"));
  EXPECT_FALSE(IsLoopbackListen("[::]:50051"));
  EXPECT_FALSE(IsLoopbackListen("10.0.0.1:50051"));
  EXPECT_FALSE(IsLoopbackListen("127.0.0.1.example.com:50051"));
  EXPECT_FALSE(IsLoopbackListen("mdm.example.com:50051"));

  ServerOptions options;
  options.catalog = ::hijackguard::testing::BuiltinCatalog();
  options.listen_address = "0.0.0.0:0";
  auto server = BuildServer(options);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(server.status().message(), HasSubstr("allow_insecure_remote"));
  options.auth = std::make_shared<const AuthConfig>();
  server = BuildServer(options);  // auth without TLS: still refused
  EXPECT_EQ(server.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(server.status().message(), HasSubstr("tls"));
}

}  // namespace
}  // namespace hijackguard::plugin
