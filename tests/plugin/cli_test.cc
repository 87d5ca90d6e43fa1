// The `hijackguard` binary, run as a user would run it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/utf8.h"
#include "detector/ios_build.h"
#include "detector/ios_releases.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "plugin/server.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_store.h"
#include "tests/common/builtin_catalog.h"
#include "tests/common/served.h"
#include "tests/plugin/run_cli.h"
#include "tests/plugin/test_policy.h"
#include "tests/policy/broken_corpus.h"

namespace hijackguard::plugin {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

TEST(CliTest, FingerprintAnswersForEveryCatalogBuildInBothPaddings) {
  for (const detector::IosRelease& release : detector::AllIosReleases()) {
    const detector::IosBuild build = *detector::ParseIosBuild(release.build);
    std::vector<std::string> forms = {build.ToExchangeBuild()};
    if (build.number < 10 && build.suffix == '\0') {
      forms.push_back(forms[0].substr(0, forms[0].find('.') + 1) +
                      std::to_string(build.number));
    }
    for (const std::string& eas : forms) {
      const std::string ua = "Apple-iPad2C1/" + eas;
      const RunResult r = RunHijackguard({"fingerprint", "--user-agent", ua});
      ASSERT_EQ(r.exit_code, 0) << ua << r.err;
      const Json fp = ParseJson(r.out);
      EXPECT_EQ(fp["platform"], "PLATFORM_IOS") << ua;
      EXPECT_EQ(fp["osVersion"], std::string(release.version)) << ua;
      EXPECT_EQ(fp["build"], std::string(release.build)) << ua;
      EXPECT_EQ(fp["easBuild"], eas) << ua;
      EXPECT_EQ(fp["modelName"], "iPad 2 (Wi-Fi)") << ua;
      EXPECT_EQ(fp["buildInCatalog"], true) << ua;
    }
  }
}

TEST(CliTest, FingerprintCombinesFlagsAndReportsDisagreement) {
  const RunResult r =
      RunHijackguard({"fingerprint", "--user-agent", "Apple-iPhone4C1/1001.523",
                      "--device-type", "iPhone", "--product", "iPhone4,1",
                      "--os-version", "6.1.2", "--build", "10B146"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json fp = ParseJson(r.out);
  EXPECT_EQ(fp["osVersion"], "6.0.1");
  EXPECT_EQ(fp["consistent"], false);
  EXPECT_EQ(fp["disagreements"][0]["field"], "build");
}

TEST(CliTest, FingerprintOfHostileInputIsUnknownWithNotes) {
  const RunResult r = RunHijackguard(
      {"fingerprint", "--user-agent",
       "Apple-iPhone4C1/" + std::string(100 * 1024, '9'), "--device-os",
       "iOS \xff\xfe 10A403x", "--build", "\x01\x02"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(IsValidUtf8(r.out));
  const Json fp = ParseJson(r.out);
  EXPECT_EQ(fp["build"], "");
  EXPECT_GE(fp["notes"].size(), 3u);
}

TEST(CliTest, VersionAndHelp) {
  const RunResult v = RunHijackguard({"version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_THAT(v.out, HasSubstr("hijackguard 0."));
  for (const char* sub : {"serve", "fingerprint", "checkin", "version"}) {
    const RunResult h = RunHijackguard({sub, "--help"});
    EXPECT_EQ(h.exit_code, 0) << sub;
    EXPECT_THAT(h.out, HasSubstr("Usage")) << sub;
  }
}

TEST(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(RunHijackguard({}).exit_code, 2);
  EXPECT_EQ(RunHijackguard({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(RunHijackguard({"serve"}).exit_code, 2) << "--config is required";
  EXPECT_EQ(
      RunHijackguard({"serve", "--config", "/nonexistent.json"}).exit_code, 2);
  EXPECT_EQ(RunHijackguard({"checkin", "--tenant", "t1"}).exit_code, 2)
      << "--server is required";
  EXPECT_EQ(RunHijackguard({"fingerprint", "--no-such-flag"}).exit_code, 2);
}

// state_store "memory" creates and locks nothing on disk.
TEST(CliTest, MemoryStateTouchesNoStateDirectory) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("hg-cli-memory-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::filesystem::path state = dir / "never";
  std::ofstream(dir / "hg.json")
      << R"({"listen": "127.0.0.1:0", "state_store": "memory", "state_dir": ")"
      << state.string() << R"("})";
  auto s = ::hijackguard::testing::StartServed(
      {HIJACKGUARD_BINARY, "serve", "--config", (dir / "hg.json").string()});
  ASSERT_NE(s.pid, 0) << s.error;
  const RunResult r = RunHijackguard(
      {"checkin", "--server", s.address, "--tenant", "t", "--device-id", "D1",
       "--user", "u@example.com", "--user-agent", "Apple-iPhone4C1/1001.403"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ::kill(s.pid, SIGTERM);
  int status = 0;
  ::waitpid(s.pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_FALSE(std::filesystem::exists(state)) << "nothing under state_dir";
  std::filesystem::remove_all(dir);
}

// What was not understood is named, with the nearest valid word.
TEST(CliTest, UsageErrorsNameTheWordAndSuggestTheNearest) {
  RunResult r = RunHijackguard({"chekin"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown command \"chekin\" (did you mean "
                               "checkin?)"));
  r = RunHijackguard({"serve", "--bogus"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("serve: unknown flag --bogus"));
  r = RunHijackguard({"serve", "--confg", "x.json"});
  EXPECT_THAT(r.err,
              HasSubstr("unknown flag --confg (did you mean --config?)"));
  r = RunHijackguard({"policy", "aply"});
  EXPECT_THAT(r.err, HasSubstr("policy: unknown command \"aply\" (did you "
                               "mean apply?)"));
  r = RunHijackguard({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("hijackguard 0."));
}

// `policy validate` on every broken example: exit 1, and every problem of
// tests/policy/broken/expected.txt printed as FILE:LINE:COLUMN: POINTER: ...
TEST(CliTest, PolicyValidatePrintsEveryProblemOfEachBrokenPolicy) {
  int files = 0;
  for (const auto& [path, pointers] :
       ::hijackguard::testing::ReadBrokenCorpus()) {
    const std::string file = path.string();
    const RunResult r = RunHijackguard({"policy", "validate", file});
    SCOPED_TRACE(file + "\n" + r.out);
    EXPECT_EQ(r.exit_code, 1);
    std::istringstream out(r.out);
    std::vector<std::string> printed;
    std::string printed_line;
    while (std::getline(out, printed_line)) {
      ASSERT_EQ(printed_line.rfind(file + ":", 0), 0u);
      std::string rest = printed_line.substr(file.size() + 1);
      if (rest.rfind(" ", 0) != 0 && rest.find(": /") != std::string::npos) {
        rest = rest.substr(rest.find(": ") + 1);  // skip LINE:COLUMN
      }
      if (rest.rfind(" /", 0) == 0) {
        printed.push_back(rest.substr(1, rest.find(": ") - 1));
      }
    }
    EXPECT_EQ(printed, pointers);
    EXPECT_THAT(r.out,
                HasSubstr(pointers.size() == 1 ? " 1 problem;" : " problems;"));
    ++files;
  }
  EXPECT_GE(files, 30);
  const RunResult ok = RunHijackguard({"policy", "validate",
                                       std::string(HIJACKGUARD_SOURCE_DIR) +
                                           "/examples/policies/default.json"});
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_THAT(ok.out, HasSubstr("valid; revision "));
}

class CliServerTest : public ::testing::Test {
 protected:
  void SetUp() override { server_ = *BuildServer(EnforcingOptions()); }
  std::unique_ptr<PluginServer> server_;
};

TEST_F(CliServerTest, CheckInIos60IsWarnedWithTheHijackIssue) {
  const RunResult r =
      RunHijackguard({"checkin", "--server", server_->address(), "--user-agent",
                      "Apple-iPhone4C1/1001.403", "--tenant", "t1",
                      "--device-id", "ApplX", "--user", "u@example.com"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json resp = ParseJson(r.out);
  EXPECT_EQ(resp["action"], "ACTION_WARN");
  EXPECT_EQ(resp["fingerprint"]["osVersion"], "6.0");
  EXPECT_EQ(resp["fingerprint"]["build"], "10A403");
  EXPECT_EQ(resp["fingerprint"]["modelName"], "iPhone 4S");
  EXPECT_EQ(resp["fingerprint"]["knownIssues"][0]["id"],
            "ios6-meeting-organizer-hijack");
  EXPECT_FALSE(resp["userAlert"]["title"].get<std::string>().empty());
}

TEST_F(CliServerTest, CheckInIos612HasNoHijackIssue) {
  const RunResult r =
      RunHijackguard({"checkin", "--server", server_->address(), "--user-agent",
                      "Apple-iPhone5C2/1002.146", "--tenant", "t1",
                      "--device-id", "ApplX", "--user", "u@example.com"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json resp = ParseJson(r.out);
  EXPECT_EQ(resp["action"], "ACTION_ALLOW");
  EXPECT_EQ(resp["fingerprint"]["osVersion"], "6.1.2");
  EXPECT_TRUE(resp["fingerprint"]["knownIssues"].empty());
}

// README, "Exit statuses": a failed RPC is 3.
TEST_F(CliServerTest, CheckInErrorsNameTheFieldAndExitThree) {
  const RunResult r = RunHijackguard(
      {"checkin", "--server", server_->address(), "--device-id", "ApplX"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("INVALID_ARGUMENT: tenant_id: is required"));
  const RunResult bad_utf8 = RunHijackguard(
      {"checkin", "--server", server_->address(), "--tenant", "t1",
       "--device-id", "ApplX", "--user-agent", "Apple-\xff"});
  EXPECT_EQ(bad_utf8.exit_code, 2);
  EXPECT_THAT(bad_utf8.err, HasSubstr("--user-agent is not valid UTF-8"));
  const RunResult bad_user =
      RunHijackguard({"checkin", "--server", server_->address(), "--tenant",
                      "t1", "--device-id", "ApplX", "--user", "u\xff"});
  EXPECT_EQ(bad_user.exit_code, 2);
  EXPECT_THAT(bad_user.err, HasSubstr("--user is not valid UTF-8"));
}

TEST(CliServeTest, BrokenCatalogIsAClearStartupError) {
  char pattern[] = "/tmp/hijackguard-cli-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  const std::string dir = pattern;
  std::ofstream(dir + "/catalog.json")
      << R"({"format": 1, "issues": [{"id": "x"}]})";
  std::ofstream(dir + "/hg.json")
      << R"({"listen": "127.0.0.1:0", "catalog": ")" << dir
      << R"(/catalog.json", "state_dir": ")" << dir << R"(/var"})";
  const RunResult r = RunHijackguard({"serve", "--config", dir + "/hg.json"});
  EXPECT_EQ(r.exit_code, 2) << "an unusable catalog";
  EXPECT_THAT(r.err, HasSubstr("catalog.json"));
  EXPECT_THAT(r.err,
              HasSubstr("/catalog_version (line 1, column 1): is required"));
  EXPECT_THAT(r.err,
              HasSubstr("/issues/0/title (line 1, column 26): is required"));
  std::filesystem::remove_all(dir);
}

TEST(CliTest, BackupAndAuditCommandsOnAStateDirectory) {
  const std::string dir =
      ::testing::TempDir() + "cli-state-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    store::SqliteStoreOptions o;
    o.path = dir + "/hijackguard.db";
    auto store = store::SqliteStore::Open(o);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int i = 0; i < 3; ++i) {
      policy::EngineChanges c;
      policy::PolicyAudit p;
      p.revision = "rev" + std::to_string(i);
      p.origin = "api";
      c.audit.push_back({absl::FromUnixSeconds(1'800'000'000 + i), p});
      ASSERT_TRUE((*store)->WaitDurable((*store)->SubmitEngine(c)).ok());
    }
  }
  RunResult r = RunHijackguard({"audit", "verify", "--state", dir});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("audit log OK: 3 rows (1..3)"));

  r = RunHijackguard(
      {"audit", "export", "--state", dir, "--since", "2027-01-15T08:00:01Z"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
  EXPECT_THAT(r.err, HasSubstr("exported 2 audit rows"));
  r = RunHijackguard({"audit", "export", "--state", dir, "--since", "monday"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--since \"monday\" is not an RFC 3339"));

  r = RunHijackguard({"backup", "--state", dir, "--to", dir + "/copy.db"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir + "/copy.db"));
  r = RunHijackguard({"backup", "--state", dir, "--to", dir + "/copy.db"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("exists already"));

  {
    auto db =
        store::sqlite::Database::Open(dir + "/hijackguard.db", false, false);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec("UPDATE audit SET record = replace(record, 'rev1', "
                         "'revX') WHERE seq = 2")
                    .ok());
  }
  r = RunHijackguard({"audit", "verify", "--state", dir});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("audit log BROKEN at row 2"));

  r = RunHijackguard({"audit", "verify", "--state", dir + "/nowhere"});
  EXPECT_EQ(r.exit_code, 2) << "missing input";
  EXPECT_THAT(r.err, HasSubstr("no state database"));
  std::filesystem::remove_all(dir);
}

// Nothing the backup and export commands write is readable by the group or
// others, and the audit commands take the key from --key-file.
TEST(CliTest, AuditCheckpointPseudonymAndPrivateFiles) {
  const std::string dir =
      ::testing::TempDir() + "cli-ckpt-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto append = [&](int from, int n) {
    store::SqliteStoreOptions o;
    o.path = dir + "/hijackguard.db";
    o.audit_key_file = dir + "/elsewhere.key";
    auto store = store::SqliteStore::Open(o);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int i = from; i < from + n; ++i) {
      policy::EngineChanges c;
      policy::DecisionAudit d;
      d.decision_id = "d" + std::to_string(i);
      d.user_principal = "Alice@Example.COM";
      c.audit.push_back({absl::FromUnixSeconds(1'800'000'000 + i), d});
      ASSERT_TRUE((*store)->WaitDurable((*store)->SubmitEngine(c)).ok());
    }
  };
  append(0, 5);
  const std::vector<std::string> key = {"--key-file", dir + "/elsewhere.key"};
  auto with_key = [&](std::vector<std::string> args) {
    args.insert(args.end(), key.begin(), key.end());
    return RunHijackguard(args);
  };
  RunResult r = RunHijackguard({"audit", "verify", "--state", dir});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("audit.key does not exist"));

  r = with_key({"audit", "checkpoint", "--state", dir});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("{\"at\":\""));
  EXPECT_THAT(r.out, HasSubstr("\"seq\":5}"));
  const std::string checkpoint = dir + "/checkpoint.json";
  std::ofstream(checkpoint) << r.out;

  append(5, 3);
  r = with_key({"audit", "verify", "--state", dir, "--checkpoint", checkpoint});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("3 rows follow it"));

  // The pseudonym is the same for any case of the address; the export
  // carries it instead of the address.
  r = with_key({"audit", "pseudonym", "alice@example.com"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string pseudonym = r.out.substr(0, r.out.find('\n'));
  EXPECT_EQ(pseudonym.size(), 16u);
  r = with_key({"audit", "pseudonym", "ALICE@example.com"});
  EXPECT_EQ(r.out.substr(0, 16), pseudonym);
  r = with_key({"audit", "export", "--state", dir, "--pseudonymize", "--to",
                dir + "/export.jsonl"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(dir + "/export.jsonl");
  const std::string exported((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  EXPECT_THAT(exported, HasSubstr(pseudonym));
  EXPECT_THAT(exported, ::testing::Not(HasSubstr("lice@")));

  r = RunHijackguard({"backup", "--state", dir, "--to", dir + "/copy.db"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* name :
       {"/copy.db", "/export.jsonl", "/hijackguard.db", "/elsewhere.key"}) {
    const auto perms = std::filesystem::status(dir + name).permissions();
    EXPECT_EQ(perms & (std::filesystem::perms::group_all |
                       std::filesystem::perms::others_all),
              std::filesystem::perms::none)
        << name;
  }

  // Rows the checkpoint covers, cut from the end with the head: BROKEN.
  {
    auto db =
        store::sqlite::Database::Open(dir + "/hijackguard.db", false, false);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec("DELETE FROM audit WHERE seq >= 4").ok());
    ASSERT_TRUE(db->Exec("DELETE FROM meta WHERE name = 'audit_head'").ok());
  }
  r = with_key({"audit", "verify", "--state", dir, "--checkpoint", checkpoint});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("BROKEN"));
  std::filesystem::remove_all(dir);
}

TEST(CliTest, AuthTokensAreRandomAndHashedLikeSha256sum) {
  RunResult a = RunHijackguard({"auth", "new-token"});
  RunResult b = RunHijackguard({"auth", "new-token"});
  ASSERT_EQ(a.exit_code, 0);
  EXPECT_EQ(a.out.size(), 44u);  // 43 characters and a newline
  EXPECT_NE(a.out, b.out);
  // printf 'test' | sha256sum
  const RunResult h = RunHijackguardWithInput({"auth", "hash-token"}, "test\n");
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_EQ(h.out,
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
            "\n");
}

}  // namespace
}  // namespace hijackguard::plugin
