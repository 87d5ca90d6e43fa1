// TLS and mutual TLS on the real server.
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "plugin/server.h"
#include "tests/common/builtin_catalog.h"
#include "tests/common/status_matchers.h"
#include "tests/plugin/run_cli.h"
#include "tests/plugin/test_certs.h"

namespace hijackguard::plugin {
namespace {

using ::hijackguard::testing::IsOk;
using ::hijackguard::testing::StatusIs;
using ::testing::HasSubstr;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new testing::TestPki(testing::MakeTestPki());
  }

  void SetUp() override {
    char pattern[] = "/tmp/hijackguard-tls-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    Write("ca.pem", pki_->ca_cert);
    Write("server.pem", pki_->server_cert);
    Write("server.key", pki_->server_key);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  std::unique_ptr<PluginServer> Start(bool require_client_cert) {
    ServerOptions options;
    options.catalog = ::hijackguard::testing::BuiltinCatalog();
    options.tls = TlsConfig{dir_ + "/server.pem", dir_ + "/server.key",
                            require_client_cert ? dir_ + "/ca.pem" : ""};
    auto server = BuildServer(options);
    EXPECT_THAT(server, IsOk());
    return server.ok() ? *std::move(server) : nullptr;
  }

  static grpc::Status Call(
      const std::string& address,
      std::shared_ptr<grpc::ChannelCredentials> credentials) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    auto stub = v1::CompliancePlugin::NewStub(
        grpc::CreateCustomChannel(address, credentials, args));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    v1::CheckInRequest request;
    request.set_tenant_id("t1");
    request.mutable_device()->set_eas_device_id("ApplX");
    request.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
    v1::CheckInResponse response;
    return stub->CheckIn(&context, request, &response);
  }

  static testing::TestPki* pki_;
  std::string dir_;
};

testing::TestPki* TlsTest::pki_ = nullptr;

TEST_F(TlsTest, ServerAuthenticatedTls) {
  auto server = Start(false);
  ASSERT_NE(server, nullptr);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pki_->ca_cert;
  EXPECT_TRUE(Call(server->address(), grpc::SslCredentials(ssl)).ok());
  EXPECT_FALSE(Call(server->address(), grpc::InsecureChannelCredentials()).ok())
      << "plaintext must not reach a TLS listener";
}

TEST_F(TlsTest, UntrustedServerIsRefusedByTheClient) {
  auto server = Start(false);
  ASSERT_NE(server, nullptr);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = testing::MakeTestPki().ca_cert;  // some other CA
  EXPECT_EQ(Call(server->address(), grpc::SslCredentials(ssl)).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

// gRPC reports a handshake the server closed as "Socket closed"; the CLI
// says what that means when it sent no client certificate.
TEST_F(TlsTest, CliWithoutAClientCertificateIsToldMutualTlsIsRequired) {
  auto server = Start(/*require_client_cert=*/true);
  ASSERT_NE(server, nullptr);
  const std::vector<std::string> call = {"checkin",
                                         "--server",
                                         server->address(),
                                         "--tls-ca",
                                         dir_ + "/ca.pem",
                                         "--tenant",
                                         "t1",
                                         "--device-id",
                                         "ApplX",
                                         "--user-agent",
                                         "Apple-iPhone4C1/1001.403"};
  RunResult r = RunHijackguard(call);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("requires a client certificate (mutual TLS): "
                               "pass --tls-cert and --tls-key"));
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("ssl_transport_security")));

  std::vector<std::string> with_cert = call;
  with_cert.insert(with_cert.end(),
                   {"--tls-cert", Write("client.pem", pki_->client_cert),
                    "--tls-key", Write("client.key", pki_->client_key)});
  r = RunHijackguard(with_cert);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  server->Shutdown(absl::Seconds(1));
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificate) {
  auto server = Start(true);
  ASSERT_NE(server, nullptr);
  grpc::SslCredentialsOptions anonymous;
  anonymous.pem_root_certs = pki_->ca_cert;
  EXPECT_FALSE(Call(server->address(), grpc::SslCredentials(anonymous)).ok());
  grpc::SslCredentialsOptions with_cert = anonymous;
  with_cert.pem_cert_chain = pki_->client_cert;
  with_cert.pem_private_key = pki_->client_key;
  EXPECT_TRUE(Call(server->address(), grpc::SslCredentials(with_cert)).ok());
}

TEST_F(TlsTest, UnreadableKeyFileIsAClearError) {
  ServerOptions options;
  options.catalog = ::hijackguard::testing::BuiltinCatalog();
  options.tls = TlsConfig{dir_ + "/server.pem", dir_ + "/missing.key", ""};
  EXPECT_THAT(BuildServer(options), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("tls.key_file")));
}

TEST_F(TlsTest, AKeyThatDoesNotMatchTheCertificateIsRefused) {
  Write("other.key", testing::MakeTestPki().server_key);
  ServerOptions options;
  options.catalog = ::hijackguard::testing::BuiltinCatalog();
  options.tls = TlsConfig{dir_ + "/server.pem", dir_ + "/other.key", ""};
  EXPECT_THAT(BuildServer(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not match the certificate")));
}

// Certificate rotation without a restart: new files are checked and swapped
// in (SIGHUP calls ReloadTls); broken ones leave the pair in force.
TEST_F(TlsTest, CertificatesRotateWithoutARestart) {
  auto server = Start(true);
  ASSERT_NE(server, nullptr);
  auto client = [](const testing::TestPki& pki) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = pki.ca_cert;
    ssl.pem_cert_chain = pki.client_cert;
    ssl.pem_private_key = pki.client_key;
    return grpc::SslCredentials(ssl);
  };
  ASSERT_TRUE(Call(server->address(), client(*pki_)).ok());

  const testing::TestPki next = testing::MakeTestPki();
  Write("ca.pem", next.ca_cert);
  Write("server.pem", next.server_cert);
  Write("server.key", next.server_key);
  const TlsConfig config{dir_ + "/server.pem", dir_ + "/server.key",
                         dir_ + "/ca.pem"};
  ASSERT_THAT(server->ReloadTls(config), IsOk());
  bool rotated = false;
  for (int i = 0; i < 50 && !rotated; ++i) {
    rotated = Call(server->address(), client(next)).ok();
    if (!rotated) ::usleep(100'000);
  }
  EXPECT_TRUE(rotated) << "the new pair is served within 5 s";
  EXPECT_FALSE(Call(server->address(), client(*pki_)).ok())
      << "the old CA no longer verifies the server, nor it the old client";

  // A broken key: refused, and the pair in force stays.
  Write("server.key", "-----BEGIN PRIVATE KEY-----\nnot a key\n");
  EXPECT_THAT(
      server->ReloadTls(config),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tls.key_file")));
  ::usleep(1'500'000);  // longer than the watcher's interval
  EXPECT_TRUE(Call(server->address(), client(next)).ok());
}

}  // namespace
}  // namespace hijackguard::plugin
