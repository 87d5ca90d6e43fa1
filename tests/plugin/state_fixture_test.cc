// The state format stays: a state directory written by an earlier binary
// (tests/fixtures/state_v4/, made by tests/fixtures/make_state_fixture.sh
// with the binary of commit dcf7645) passes `audit verify` and `backup` with
// this one, unmigrated; opens (migrated); and gives the same GetDeviceRisk
// answers as it did then.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>

#include "common/file.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "plugin/server.h"
#include "tests/common/builtin_catalog.h"
#include "tests/common/status_matchers.h"

namespace hijackguard::plugin {
namespace {

using ::hijackguard::testing::IsOk;

const std::filesystem::path kFixture =
    std::filesystem::path(HIJACKGUARD_SOURCE_DIR) / "tests/fixtures/state_v4";

// `hijackguard audit verify --state DIR`: its exit status.
int AuditVerify(const std::filesystem::path& dir) {
  const std::string command = std::string(HIJACKGUARD_BINARY) +
                              " audit verify --state '" + dir.string() +
                              "' >/dev/null 2>&1";
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

v1::GetDeviceRiskResponse Expected(const std::string& file) {
  auto text = ReadFileToString((kFixture / file).string(), 1 << 20);
  EXPECT_THAT(text, IsOk());
  v1::GetDeviceRiskResponse expected;
  EXPECT_TRUE(
      google::protobuf::util::JsonStringToMessage(text.value_or(""), &expected)
          .ok());
  return expected;
}

TEST(StateFixtureTest, AStateDirectoryOfTheEarlierFormatOpensUnchanged) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("hg-fixture-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (const char* file : {"hijackguard.db", "audit.key"}) {
    std::filesystem::copy_file(kFixture / file, dir / file);
    std::filesystem::permissions(dir / file,
                                 std::filesystem::perms::owner_read |
                                     std::filesystem::perms::owner_write);
  }
  EXPECT_EQ(AuditVerify(dir), 0) << "the earlier binary's audit log";
  // A backup before the upgrade migrates it.
  const std::string backup =
      std::string(HIJACKGUARD_BINARY) + " backup --state '" + dir.string() +
      "' --to '" + (dir / "before-upgrade.db").string() + "' >/dev/null 2>&1";
  EXPECT_EQ(std::system(backup.c_str()), 0);

  {
    ServerOptions options;
    options.catalog = ::hijackguard::testing::BuiltinCatalog();
    options.state_path = (dir / "hijackguard.db").string();
    options.state_retention_interval = absl::ZeroDuration();
    auto server = BuildServer(options);
    ASSERT_THAT(server, IsOk());
    auto stub = v1::CompliancePlugin::NewStub(grpc::CreateChannel(
        (*server)->address(), grpc::InsecureChannelCredentials()));
    struct Case {
      const char* expected;
      const char* eas_device_id;
      const char* mdm_device_id;
    };
    for (const Case& c : {Case{"risk_hijacked.json", "ApplDMPFXZABDFHW", ""},
                          Case{"risk_by_mdm_id.json", "", "mdm-42"}}) {
      SCOPED_TRACE(c.expected);
      v1::GetDeviceRiskRequest request;
      request.set_tenant_id("acme");
      request.set_eas_device_id(c.eas_device_id);
      request.set_mdm_device_id(c.mdm_device_id);
      grpc::ClientContext context;
      v1::GetDeviceRiskResponse risk;
      ASSERT_TRUE(stub->GetDeviceRisk(&context, request, &risk).ok());
      const v1::GetDeviceRiskResponse expected = Expected(c.expected);
      EXPECT_GT(expected.events_size(), 0) << "the fixture has the hijack";
      std::string differences;
      google::protobuf::util::MessageDifferencer differencer;
      differencer.ReportDifferencesToString(&differences);
      // The policy's view is computed at the call (its time, decay): checked
      // on its own, against the history the earlier binary recorded.
      differencer.IgnoreField(
          v1::GetDeviceRiskResponse::descriptor()->FindFieldByName("decision"));
      EXPECT_TRUE(differencer.Compare(expected, risk)) << differences;
      EXPECT_EQ(risk.decision().last_evaluated_action(), v1::ACTION_QUARANTINE);
      EXPECT_EQ(risk.decision().evaluated_action(), v1::ACTION_QUARANTINE);
      EXPECT_EQ(risk.decision().mode(), v1::POLICY_MODE_MONITOR);
      EXPECT_TRUE(risk.decision().has_warn_since()) << "the grace clock";
    }
  }
  // The rows this binary added chain onto the earlier ones.
  EXPECT_EQ(AuditVerify(dir), 0) << "after this binary wrote to it";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hijackguard::plugin
