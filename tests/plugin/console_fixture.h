// The console tests' server (plugin/console_routes.h): a real HTTP listener
// in-process with principals of two tenants, two devices checked in, and
// helpers to sign in, fetch pages and replay a hijack.
#pragma once

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/hmac.h"
#include "common/strings.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "httplib.h"
#include "plugin/console_routes.h"
#include "plugin/server.h"
#include "tests/common/builtin_catalog.h"
#include "tests/common/status_matchers.h"
#include "tests/plugin/test_policy.h"
#include "tests/plugin/traffic_fixtures.h"

namespace hijackguard::plugin {

using ::hijackguard::testing::IsOk;

inline std::shared_ptr<AuthConfig> ConsolePrincipals() {
  auto auth = std::make_shared<AuthConfig>();
  struct Spec {
    const char* id;
    std::uint32_t roles;
    const char* tenant;  // "*" for all
  };
  for (const Spec& spec :
       {Spec{"aud-acme", kRoleAuditor, "acme"},
        Spec{"aud-globex", kRoleAuditor, "globex"},
        Spec{"aud-all", kRoleAuditor, "*"}, Spec{"mdm-acme", kRoleMdm, "acme"},
        Spec{"mdm-globex", kRoleMdm, "globex"},
        Spec{"gw-acme", kRoleGateway, "acme"}}) {
    Principal p;
    p.id = spec.id;
    p.roles = spec.roles;
    if (std::string_view(spec.tenant) == "*") {
      p.all_tenants = true;
    } else {
      p.tenants = {spec.tenant};
    }
    p.token_sha256.push_back(Sha256Raw(StrCat("token-", spec.id)));
    auth->principals.push_back(std::move(p));
  }
  return auth;
}

class ConsoleTest : public ::testing::Test {
 protected:
  // A test's changes to the server's options.
  virtual void Configure(ServerOptions* options) { (void)options; }

  void SetUp() override {
    ServerOptions options;
    options.catalog = ::hijackguard::testing::BuiltinCatalog();
    options.policy = EnforceDefaults(*options.catalog);
    options.http.listen = "127.0.0.1:0";
    options.clock = &clock_;
    options.console.session_ttl = absl::Hours(1);
    options.auth = ConsolePrincipals();
    Configure(&options);
    auto server = BuildServer(options);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    const std::string address = server_->http_address();
    http_ = std::make_unique<httplib::Client>(
        address.substr(0, address.rfind(':')),
        std::stoi(address.substr(address.rfind(':') + 1)));
    CheckIn("acme", "ApplACME0001", "alice@acme.example");
    CheckIn("globex", "ApplGLOBEX01", "gina@globex.example");
  }

  void CheckIn(const std::string& tenant, const std::string& device,
               const std::string& user) {
    auto stub = v1::CompliancePlugin::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
    v1::CheckInRequest request;
    request.set_tenant_id(tenant);
    request.mutable_device()->set_eas_device_id(device);
    request.mutable_device()->set_user_principal(user);
    request.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer token-mdm-" + tenant);
    v1::CheckInResponse response;
    grpc::Status s = stub->CheckIn(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // Device `device` of acme rewrites Bob's invitation (the gateway reports
  // the server's invitation, then the client's change).
  void Hijack(const std::string& device, std::uint64_t sequence) {
    auto stub = v1::CompliancePlugin::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
    for (v1::ReportTrafficRequest r :
         {Exchange(sequence, device, {}, InvitationResponse("2:14")),
          Exchange(sequence + 1, device, HijackRequest("2:14"), {})}) {
      r.set_tenant_id("acme");
      grpc::ClientContext context;
      context.AddMetadata("authorization", "Bearer token-gw-acme");
      v1::ReportTrafficResponse response;
      ASSERT_TRUE(stub->ReportTraffic(&context, r, &response).ok());
      ASSERT_EQ(response.errors_size(), 0) << response.errors(0).message();
    }
  }

  // The session cookie's value after signing in with `token`, or "".
  std::string SignIn(const std::string& token, int* status = nullptr) {
    auto r = http_->Post("/ui/login", "token=" + token,
                         "application/x-www-form-urlencoded");
    EXPECT_TRUE(r);
    if (!r) return "";
    if (status != nullptr) *status = r->status;
    const std::string cookie = r->get_header_value("Set-Cookie");
    const std::string prefix = StrCat(kSessionCookie, "=");
    if (!cookie.starts_with(prefix)) return "";
    return cookie.substr(prefix.size(), cookie.find(';') - prefix.size());
  }

  httplib::Result Get(const std::string& path, const std::string& session) {
    httplib::Headers h;
    if (!session.empty()) {
      h.emplace("Cookie", StrCat(kSessionCookie, "=", session));
    }
    return http_->Get(path, h);
  }

  FakeClock clock_{absl::FromUnixSeconds(1'790'000'000)};
  std::unique_ptr<PluginServer> server_;
  std::unique_ptr<httplib::Client> http_;
};

}  // namespace hijackguard::plugin
