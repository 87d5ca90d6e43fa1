// The offline commands and the schema rules on the PostgreSQL store, through
// `--config FILE`: state migrate, audit verify|checkpoint|export, backup
// (pg_dump), alerts backlog; and what `serve` refuses (another audit key, a
// schema it cannot run on).
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "plugin/server.h"
#include "store/audit_key.h"
#include "tests/common/builtin_catalog.h"
#include "tests/common/state_backends.h"
#include "tests/common/status_matchers.h"
#include "tests/common/test_dir.h"
#include "tests/plugin/run_cli.h"

namespace hijackguard::plugin {
namespace {

using ::hijackguard::testing::IsOk;
using ::testing::HasSubstr;

class PostgresCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::hijackguard::testing::FreshTestDir("pgcli");
    options_.catalog = ::hijackguard::testing::BuiltinCatalog();
    options_.state_retention_interval = absl::ZeroDuration();
    ASSERT_THAT(
        ::hijackguard::testing::UseStateBackend("postgres", dir_, &options_),
        IsOk());
    config_ = (dir_ / "hijackguard.json").string();
    nlohmann::json c = {{"state_store", "postgres"},
                        {"state_dir", (dir_ / "var").string()},
                        {"postgres",
                         {{"dsn", options_.postgres.dsn},
                          {"password_file", options_.postgres.password_file}}},
                        {"audit", {{"key_file", options_.audit_key_file}}}};
    std::ofstream(config_) << c.dump(2);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A server on the store, a few decisions, and gone again.
  void Decide(int devices) {
    auto server = BuildServer(options_);
    ASSERT_THAT(server, IsOk());
    auto stub = v1::CompliancePlugin::NewStub(grpc::CreateChannel(
        (*server)->address(), grpc::InsecureChannelCredentials()));
    for (int d = 0; d < devices; ++d) {
      v1::CheckInRequest request;
      request.set_tenant_id("t1");
      request.mutable_device()->set_eas_device_id("ApplCLI" +
                                                  std::to_string(d));
      request.mutable_device()->set_user_principal("alice@example.com");
      request.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
      grpc::ClientContext context;
      v1::CheckInResponse response;
      ASSERT_TRUE(stub->CheckIn(&context, request, &response).ok());
    }
  }

  void Psql(const std::string& sql) {
    auto conn = ::hijackguard::testing::ConnectTo(options_);
    ASSERT_THAT(conn.status(), IsOk());
    ASSERT_THAT((*conn)->Exec(sql), IsOk()) << sql;
  }

  std::filesystem::path dir_;
  ServerOptions options_;
  std::string config_;
};

TEST_F(PostgresCliTest, MigrateThenVerifyCheckpointExportAndBackUp) {
  RunResult r = RunHijackguard({"state", "migrate", "--config", config_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("schema 0 -> 2"));
  r = RunHijackguard({"state", "migrate", "--config", config_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("schema 2, nothing to do"));

  Decide(3);
  r = RunHijackguard({"audit", "verify", "--config", config_});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_THAT(r.out, HasSubstr("audit log OK: 4 rows"));  // policy, 3 devices

  r = RunHijackguard({"audit", "checkpoint", "--config", config_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string checkpoint = (dir_ / "checkpoint.json").string();
  std::ofstream(checkpoint) << r.out;
  Decide(5);
  r = RunHijackguard(
      {"audit", "verify", "--config", config_, "--checkpoint", checkpoint});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_THAT(r.out, HasSubstr("holds; 2 rows follow it"));

  r = RunHijackguard(
      {"audit", "export", "--config", config_, "--pseudonymize"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"kind\":\"decision\""));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("alice@example.com")));

  const std::string dump = (dir_ / "backup.pgdump").string();
  r = RunHijackguard({"backup", "--config", config_, "--to", dump});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_THAT(r.out, HasSubstr("pg_dump custom format"));
  EXPECT_EQ(std::filesystem::status(dump).permissions() &
                std::filesystem::perms::others_all,
            std::filesystem::perms::none);
  r = RunHijackguard({"backup", "--config", config_, "--to", dump});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("exists already"));

  r = RunHijackguard({"alerts", "backlog", "--config", config_});
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // A row edited behind the server's back.
  Psql(
      "UPDATE audit SET record = replace(record, 'ApplCLI1', 'ApplCLIX') "
      "WHERE record LIKE '%ApplCLI1%'");
  r = RunHijackguard({"audit", "verify", "--config", config_});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("audit log BROKEN at row 3"));
}

TEST_F(PostgresCliTest, AReplicaWithAnotherAuditKeyRefusesToStart) {
  Decide(1);
  std::filesystem::remove(options_.audit_key_file);
  auto refused = BuildServer(options_);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("copy the audit key from another replica"));
  ASSERT_THAT(store::CreateAuditKey(options_.audit_key_file).status(), IsOk());
  refused = BuildServer(options_);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(
      refused.status().message(),
      HasSubstr("is not the one the database's audit log is kept with"));
}

TEST_F(PostgresCliTest, ASchemaThisBuildCannotRunOnIsRefused) {
  Decide(1);
  // A newer build's additive step: this one still runs.
  Psql("UPDATE meta SET value = '7' WHERE name = 'schema_version'");
  EXPECT_THAT(BuildServer(options_).status(), IsOk());
  // A step older builds cannot run on.
  Psql("UPDATE meta SET value = '7' WHERE name = 'compatible_from'");
  auto refused = BuildServer(options_);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("has schema 7, which builds of schema 2"));
}

TEST_F(PostgresCliTest, AnOlderSchemaIsMigratedExplicitlyNotByServe) {
  Decide(1);
  // The database as builds of schema 1 left it (before the alert feed).
  Psql(
      "DROP TABLE alert_feed; UPDATE meta SET value = '1' WHERE name = "
      "'schema_version'");
  auto refused = BuildServer(options_);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("has schema 1; this build needs 2: run hijackguard "
                        "state migrate --config FILE first"));
  RunResult r = RunHijackguard({"state", "migrate", "--config", config_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("schema 1 -> 2"));
  // The step is additive: builds of schema 1 may still run beside this one.
  auto conn = ::hijackguard::testing::ConnectTo(options_);
  ASSERT_THAT(conn.status(), IsOk());
  auto meta =
      (*conn)->Query("SELECT value FROM meta WHERE name = 'compatible_from'");
  ASSERT_THAT(meta.status(), IsOk());
  EXPECT_EQ(meta->Bytes(0, 0), "1");
  Decide(2);  // and this build serves, its decisions on the same chain
  r = RunHijackguard({"audit", "verify", "--config", config_});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_THAT(r.out, HasSubstr("audit log OK: 3 rows"));  // policy, 2 devices
}

TEST_F(PostgresCliTest, APasswordInTheDsnOrAnOpenPasswordFileIsRefused) {
  options_.postgres.dsn += " password=hunter2";
  auto refused = BuildServer(options_);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), ::testing::Not(HasSubstr("hunter2")));
  options_.postgres.dsn.resize(options_.postgres.dsn.size() -
                               std::string(" password=hunter2").size());
  std::filesystem::permissions(options_.postgres.password_file,
                               std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  refused = BuildServer(options_);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("chmod 600"));
}

}  // namespace
}  // namespace hijackguard::plugin
