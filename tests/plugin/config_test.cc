#include "plugin/config.h"

#include "common/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/status_matchers.h"

namespace hijackguard::plugin {
namespace {

using ::hijackguard::testing::IsOk;
using ::hijackguard::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(ServerConfigTest, ExampleConfigurationLoads) {
  auto config =
      LoadServerConfig(HIJACKGUARD_SOURCE_DIR "/examples/hijackguard.json");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->listen, "127.0.0.1:50051");
  EXPECT_EQ(config->state_dir, "./var");
  EXPECT_EQ(config->catalog_path, "detector/catalog/known_issues.json");
  EXPECT_FALSE(config->tls.has_value());
}

TEST(ServerConfigTest, DefaultsApplyToAnEmptyObject) {
  auto config = ParseServerConfig("{}", "test");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->listen, "127.0.0.1:50051");
  EXPECT_EQ(config->max_request_bytes, 64 * 1024);
  EXPECT_EQ(config->decision_validity, absl::Hours(1));
  EXPECT_EQ(config->shutdown_grace, absl::Seconds(10));
}

TEST(ServerConfigTest, AllFields) {
  auto config = ParseServerConfig(R"({
      "listen": "0.0.0.0:443", "catalog": "/etc/hg/catalog.json", "state_dir": "/var/lib/hg",
      "max_request_bytes": 8192, "decision_validity_seconds": 600, "shutdown_grace_seconds": 3,
      "tls": {"cert_file": "c.pem", "key_file": "k.pem", "client_ca_file": "ca.pem"}})",
                                  "test");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->listen, "0.0.0.0:443");
  EXPECT_EQ(config->max_request_bytes, 8192);
  EXPECT_EQ(config->decision_validity, absl::Minutes(10));
  ASSERT_TRUE(config->tls.has_value());
  EXPECT_EQ(config->tls->client_ca_file, "ca.pem");
}

// docs/state.md sizes the caches with detector.max_devices.
TEST(ServerConfigTest, DetectorSection) {
  auto config = ParseServerConfig(
      R"({"detector": {"max_devices": 1000, "ledger_max_entries": 5000}})",
      "test");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->max_devices, 1000u);
  EXPECT_EQ(config->ledger_max_entries, 5000u);
  EXPECT_EQ(ParseServerConfig("{}", "test")->max_devices, 500'000u);
  EXPECT_THAT(ParseServerConfig(R"({"detector": {"max_devices": 0}})", "test"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("/detector/max_devices")));
}

TEST(ServerConfigTest, StateStoreAndSynchronousMode) {
  auto config = ParseServerConfig("{}", "test");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->state_store, "sqlite");
  EXPECT_EQ(config->state_synchronous, "full");
  config = ParseServerConfig(
      R"({"state_store": "memory", "state_synchronous": "normal"})", "test");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->state_store, "memory");
  EXPECT_EQ(config->state_synchronous, "normal");
  EXPECT_THAT(
      ParseServerConfig(R"({"state_store": "mysql", "state_synchronous": 1})",
                        "hg.json"),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          AllOf(HasSubstr("/state_store (line 1, column 2): \"mysql\" is not"),
                HasSubstr("/state_synchronous (line 1, column 26): must be a "
                          "string"))));
  EXPECT_THAT(
      ParseServerConfig(R"({"state_synchronous": "FULL!"})", "hg.json"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr(
                   "/state_synchronous (line 1, column 2): \"FULL!\" is not")));
}

TEST(ServerConfigTest, PostgresNeedsADsnWithoutAPassword) {
  auto config = ParseServerConfig(
      R"({"state_store": "postgres",
          "postgres": {"dsn": "host=/run/pg dbname=hg user=hg",
                       "password_file": "/etc/hg/pg.pw", "readers": 8,
                       "list_readers": 3}})",
      "test");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->state_store, "postgres");
  EXPECT_EQ(config->postgres.dsn, "host=/run/pg dbname=hg user=hg");
  EXPECT_EQ(config->postgres.password_file, "/etc/hg/pg.pw");
  EXPECT_EQ(config->postgres.readers, 8);
  EXPECT_EQ(config->postgres.list_readers, 3);
  EXPECT_THAT(ParseServerConfig(R"({"state_store": "postgres"})", "hg.json"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("needs postgres.dsn")));
  // A password in either form is refused, and never repeated.
  for (const char* dsn :
       {"host=db password=hunter2 dbname=hg", "postgresql://hg:hunter2@db/hg",
        "host=db password = 'hunter2'"}) {
    const auto refused = ParseServerConfig(
        StrCat(R"({"state_store": "postgres", "postgres": {"dsn": ")", dsn,
               R"("}})"),
        "hg.json");
    EXPECT_THAT(refused, StatusIs(absl::StatusCode::kInvalidArgument,
                                  AllOf(HasSubstr("/postgres/dsn"),
                                        HasSubstr("holds a password"),
                                        Not(HasSubstr("hunter2")))))
        << dsn;
  }
  // libpq's own message quotes the words it could not parse.
  EXPECT_THAT(
      ParseServerConfig(
          R"({"state_store": "postgres", "postgres": {"dsn": "host=db hunter2"}})",
          "hg.json"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("is not a libpq connection string"),
                     Not(HasSubstr("hunter2")))));
  EXPECT_THAT(
      ParseServerConfig(
          R"({"postgres": {"dsn": "host=db", "readers": 0, "pool": 1}})",
          "hg.json"),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          AllOf(HasSubstr("/postgres/readers"), HasSubstr("/postgres/pool"))));
}

TEST(ServerConfigTest, LoggingFormatAndLevel) {
  auto config = ParseServerConfig("{}", "test");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->log_format, LogFormat::kText);
  EXPECT_EQ(config->log_level, LogLevel::kInfo);
  config = ParseServerConfig(
      R"({"logging": {"format": "json", "level": "debug", "pii": true}})",
      "test");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->log_format, LogFormat::kJson);
  EXPECT_EQ(config->log_level, LogLevel::kDebug);
  EXPECT_TRUE(config->logging_pii);
  EXPECT_THAT(
      ParseServerConfig(R"({"logging": {"format": "xml", "level": "loud"}})",
                        "hg.json"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("/logging/format (line 1, column 14): \"xml\" "
                               "is not \"text\" or \"json\""),
                     HasSubstr("/logging/level (line 1, column 31): \"loud\" "
                               "is not one of debug, info, warn, error"))));
}

TEST(ServerConfigTest, ConsoleSection) {
  auto config = ParseServerConfig("{}", "test");
  ASSERT_THAT(config, IsOk());
  EXPECT_TRUE(config->console.enabled);
  EXPECT_EQ(config->console.session_ttl, absl::Hours(8));
  config = ParseServerConfig(
      R"({"console": {"enabled": false, "session_seconds": 600}})", "test");
  ASSERT_THAT(config, IsOk());
  EXPECT_FALSE(config->console.enabled);
  EXPECT_EQ(config->console.session_ttl, absl::Minutes(10));
  EXPECT_FALSE(config->keep_subjects);
  config = ParseServerConfig(R"({"ledger": {"keep_subjects": true}})", "t");
  ASSERT_THAT(config, IsOk());
  EXPECT_TRUE(config->keep_subjects);
  EXPECT_THAT(
      ParseServerConfig(
          R"({"console": {"session_seconds": 10, "sessions": 1}})", "hg.json"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("/console/session_seconds (line 1, column 14): "
                               "must be between 300 and 604800"),
                     HasSubstr("/console/sessions (line 1, column 37): "
                               "unknown key"))));
  // Live feeds may never take every thread the gateway needs.
  config = ParseServerConfig(
      R"({"http": {"listen": "127.0.0.1:0", "max_connections": 8},
          "console": {"max_event_streams": 5, "audit_verify_seconds": 60}})",
      "t");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->console.max_event_streams, 5);
  EXPECT_EQ(config->console.audit_verify_interval, absl::Minutes(1));
  // Unset: 4, or what a small listener leaves (none with 3 threads).
  config = ParseServerConfig("{}", "t");
  EXPECT_EQ(config->console.max_event_streams, -1);
  EXPECT_EQ(ConsoleEventStreams(config->console, 64), 4);
  EXPECT_EQ(ConsoleEventStreams(config->console, 6), 3);
  EXPECT_EQ(ConsoleEventStreams(config->console, 3), 0);
  EXPECT_THAT(
      ParseServerConfig(
          R"({"http": {"listen": "127.0.0.1:0", "max_connections": 8},
          "console": {"max_event_streams": 6}})",
          "hg.json"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("/console/max_event_streams (line 2, column 23): is "
                         "6: with 8 listener threads (http.max_connections) "
                         "it may be at most 5")));
  EXPECT_THAT(ParseServerConfig(
                  R"({"http": {"listen": "127.0.0.1:0", "max_connections": 3},
                      "console": {"max_event_streams": 0}})",
                  "hg.json"),
              IsOk());
}

TEST(ServerConfigTest, EveryProblemIsListedWithItsPointer) {
  auto config = ParseServerConfig(R"({
      "listen": 50051, "catlog": "x", "max_request_bytes": 10,
      "tls": {"cert_file": "c.pem", "certfile": "x"}})",
                                  "hg.json");
  EXPECT_THAT(
      config,
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          AllOf(HasSubstr("hg.json: 5 problems"),
                HasSubstr("/listen (line 2, column 7): must be a string"),
                HasSubstr("/catlog (line 2, column 24): unknown key"),
                HasSubstr(
                    "/max_request_bytes (line 2, column 39): must be between"),
                HasSubstr("/tls/key_file (line 3, column 7): is required"),
                HasSubstr("/tls/certfile (line 3, column 37): unknown key"))));
}

TEST(ServerConfigTest, SyntaxErrorGivesLineAndColumn) {
  EXPECT_THAT(ParseServerConfig("{\n  \"listen\": \"x\",\n}", "hg.json"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 3, column 1")));
}

TEST(ServerConfigTest, HugeNumberIsAProblemNotACrash) {
  EXPECT_THAT(
      ParseServerConfig(R"({"max_request_bytes": 1e400})", "hg.json"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("JSON value out of range at line 1, column 23")));
}

TEST(ServerConfigTest, MissingFileIsNotFound) {
  EXPECT_THAT(
      LoadServerConfig("/nonexistent/hg.json"),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/hg.json")));
}

}  // namespace
}  // namespace hijackguard::plugin
