// What a security team does with a running plugin from the CLI: exemptions,
// alerts, a device's decision, the policy document.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plugin/server.h"
#include "tests/plugin/run_cli.h"
#include "tests/plugin/test_policy.h"

extern char** environ;

namespace hijackguard::plugin {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

class CliAdminTest : public ::testing::Test {
 protected:
  void SetUp() override { server_ = *BuildServer(EnforcingOptions()); }

  RunResult Run(std::vector<std::string> args) {
    args.insert(args.begin() + (args[0] == "checkin" ? 1 : 2),
                {"--server", server_->address()});
    return RunHijackguard(args);
  }
  RunResult CheckIn(const std::string& device) {
    return Run({"checkin", "--user-agent", "Apple-iPhone4C1/1001.403",
                "--tenant", "t1", "--device-id", device, "--user",
                "u@example.com"});
  }

  std::unique_ptr<PluginServer> server_;
};

TEST_F(CliAdminTest, ExemptionsPutListDelete) {
  RunResult r =
      Run({"exemptions", "put", "--tenant", "t1", "--kind", "device", "--value",
           "ApplX", "--reason", "ticket 4711", "--for", "72h", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string id = ParseJson(r.out)["id"];
  EXPECT_EQ(id, "t1/device/ApplX");
  EXPECT_EQ(ParseJson(r.out)["source"], "api");

  r = Run({"exemptions", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(id + "  until "));
  EXPECT_THAT(r.out, HasSubstr("(api)  ticket 4711"));

  r = CheckIn("ApplX");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ParseJson(r.out)["action"], "ACTION_ALLOW") << "exempt";
  EXPECT_EQ(ParseJson(r.out)["score"], 30) << "still scored";
  EXPECT_EQ(ParseJson(r.out)["reasons"][0]["code"], "EXEMPT");

  // --expires instead of --for replaces it (same id).
  r = Run({"exemptions", "put", "--tenant", "t1", "--kind", "device", "--value",
           "ApplX", "--reason", "ticket 4712", "--expires",
           "2099-12-31T00:00:00Z", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ParseJson(r.out)["expires"], "2099-12-31T00:00:00Z");
  EXPECT_EQ(ParseJson(r.out)["id"], id);

  r = Run({"exemptions", "delete", id});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Run({"exemptions", "list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(ParseJson(r.out)["exemptions"].empty()) << r.out;
  r = Run({"exemptions", "delete", id});
  EXPECT_EQ(r.exit_code, 3) << "NOT_FOUND from the server";
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND"));
}

TEST_F(CliAdminTest, ExemptionPutNamesWhatIsWrong) {
  const std::vector<std::string> base = {"exemptions", "put",     "--kind",
                                         "device",     "--value", "ApplX",
                                         "--reason",   "why"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return Run(args);
  };
  RunResult r = with({});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--expires or --for"));
  r = with({"--for", "soon"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--for \"soon\" is not a positive duration"));
  r = with({"--expires", "tomorrow"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--expires \"tomorrow\" is not an RFC 3339"));
  r = Run({"exemptions", "put", "--kind", "phone", "--value", "x", "--reason",
           "y", "--for", "1h"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--kind must be user, device or group"));
}

// `alerts watch` runs until stopped: started in the background, read a line
// at a time.
class Watcher {
 public:
  explicit Watcher(std::vector<std::string> args) {
    int out[2];
    EXPECT_EQ(pipe(out), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    std::string binary = HIJACKGUARD_BINARY;
    std::vector<char*> argv = {binary.data()};
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(),
                          environ),
              0);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    fd_ = out[0];
  }
  ~Watcher() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    close(fd_);
  }
  // The next line, or "" after `timeout_ms` without one.
  std::string Line(int timeout_ms = 10000) {
    while (true) {
      if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, timeout_ms) <= 0) return "";
      char chunk[4096];
      const ssize_t n = read(fd_, chunk, sizeof(chunk));
      if (n <= 0) return "";
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

 private:
  pid_t pid_ = 0;
  int fd_ = -1;
  std::string buffer_;
};

TEST_F(CliAdminTest, AlertsWatchPrintsEachAlertAsItHappens) {
  Watcher json({"alerts", "watch", "--server", server_->address(), "--json",
                "--tenant", "t1"});
  Watcher text({"alerts", "watch", "--server", server_->address()});
  // The watches subscribe as they start: check devices in until an alert
  // arrives (each new iOS 6.0 device goes ALLOW -> WARN).
  std::string line;
  std::string shown;
  for (int i = 0; i < 20 && (line.empty() || shown.empty()); ++i) {
    ASSERT_EQ(CheckIn("ApplW" + std::to_string(i)).exit_code, 0);
    if (line.empty()) line = json.Line(500);
    if (shown.empty()) shown = text.Line(500);
  }
  ASSERT_FALSE(line.empty()) << "no alert";
  const Json alert = ParseJson(line);
  EXPECT_EQ(alert["tenantId"], "t1");
  EXPECT_EQ(alert["oldAction"], "ACTION_ALLOW");
  EXPECT_EQ(alert["newAction"], "ACTION_WARN");
  EXPECT_EQ(alert["trigger"], "CHECK_IN");
  EXPECT_TRUE(std::regex_search(
      shown, std::regex(R"(^\S+Z t1/ApplW\d+ ALLOW -> WARN \(enforced WARN, )"
                        R"(ENFORCE\) score 30 via CHECK_IN: )")))
      << shown;
}

TEST_F(CliAdminTest, DeviceShowHasThePolicysView) {
  ASSERT_EQ(CheckIn("ApplX").exit_code, 0);
  const RunResult r =
      Run({"device", "show", "--tenant", "t1", "--device-id", "ApplX"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json decision = ParseJson(r.out)["decision"];
  EXPECT_EQ(decision["evaluatedAction"], "ACTION_WARN");
  EXPECT_EQ(decision["enforcedAction"], "ACTION_WARN");
  EXPECT_EQ(decision["lastEvaluatedAction"], "ACTION_WARN");
  EXPECT_EQ(decision["score"], 30);
  EXPECT_TRUE(decision.contains("warnSince")) << "the grace clock runs";
  EXPECT_TRUE(decision.contains("deadline"));
  EXPECT_TRUE(decision.contains("asOf"));
}

TEST_F(CliAdminTest, DeviceListFiltersSortsAndPages) {
  ASSERT_EQ(CheckIn("ApplHIJACK").exit_code, 0);
  ASSERT_EQ(
      Run({"checkin", "--user-agent", "Apple-iPhone4C1/1001.523", "--tenant",
           "t1", "--device-id", "ApplFIXED", "--user", "Bob@example.com"})
          .exit_code,
      0);
  RunResult r = Run({"device", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json devices = ParseJson(r.out)["devices"];
  ASSERT_EQ(devices.size(), 2u) << r.out;
  EXPECT_EQ(devices[0]["easDeviceId"], "ApplHIJACK");
  EXPECT_EQ(devices[0]["enforcedAction"], "ACTION_WARN");
  EXPECT_EQ(devices[0]["level"], "RISK_LEVEL_ELEVATED");
  EXPECT_EQ(devices[0]["score"], 30);
  EXPECT_EQ(devices[0]["build"], "10A403");
  EXPECT_EQ(devices[0]["modelName"], "iPhone 4S");
  EXPECT_TRUE(devices[0].contains("recordedAt"));
  EXPECT_EQ(devices[1]["easDeviceId"], "ApplFIXED");

  r = Run({"device", "list", "--action", "warn,quarantine", "--tenant", "t1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ParseJson(r.out)["devices"].size(), 1u) << r.out;
  r = Run({"device", "list", "--level", "LOW", "--user", "bob@EXAMPLE.com",
           "--build", "10A5*"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  devices = ParseJson(r.out)["devices"];
  ASSERT_EQ(devices.size(), 1u) << r.out;
  EXPECT_EQ(devices[0]["easDeviceId"], "ApplFIXED");

  // One per page: a token to go on; --all follows it.
  r = Run({"device", "list", "--page-size", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string token = ParseJson(r.out)["nextPageToken"];
  ASSERT_FALSE(token.empty());
  r = Run({"device", "list", "--page-size", "1", "--page-token", token});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ParseJson(r.out)["devices"][0]["easDeviceId"], "ApplFIXED");
  EXPECT_EQ(ParseJson(r.out)["nextPageToken"], "") << "the last page";
  r = Run({"device", "list", "--page-size", "1", "--all"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ParseJson(r.out)["devices"].size(), 2u) << r.out;

  // On a terminal: a table, with how to go on.
  r = RunHijackguardOnTerminal(
      {"device", "list", "--server", server_->address(), "--page-size", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, ::testing::StartsWith("SCORE "));
  EXPECT_THAT(r.out, HasSubstr("30.0   ELEVATED  WARN/WARN"));
  // Columns line up: the device starts where its heading does.
  const std::size_t heading = r.out.find("TENANT/DEVICE");
  const std::size_t row = r.out.find("t1/ApplHIJACK");
  ASSERT_NE(row, std::string::npos);
  EXPECT_EQ(row - r.out.rfind('\n', row) - 1, heading);
  EXPECT_THAT(r.out, HasSubstr("t1/ApplHIJACK"));
  EXPECT_THAT(r.out, HasSubstr("more: add --page-token "));

  // Bad filters are named.
  r = Run({"device", "list", "--level", "SEVERE"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--level: 'SEVERE' is not one of LOW, "
                               "ELEVATED, HIGH, CRITICAL"));
  r = Run({"device", "list", "--build", "10*A"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("INVALID_ARGUMENT: build may hold letters"));
  r = Run({"device", "list", "--page-token", "bm90IGEgdG9rZW4="});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("page_token is not one this server issued"));
}

// On a terminal, checkin and device show print a summary; --json, or a pipe,
// gives JSON.
TEST_F(CliAdminTest, SummariesOnATerminalJsonOtherwise) {
  const std::vector<std::string> checkin = {"checkin",
                                            "--server",
                                            server_->address(),
                                            "--user-agent",
                                            "Apple-iPhone4C1/1001.403",
                                            "--tenant",
                                            "t1",
                                            "--device-id",
                                            "ApplT",
                                            "--locale",
                                            "de-DE"};
  RunResult r = RunHijackguardOnTerminal(checkin);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, ::testing::StartsWith("WARN  score 30 (ELEVATED)\n"));
  EXPECT_THAT(r.out,
              HasSubstr("  client: iPhone 4S, iOS 6.0 (10A403), apple-ios\n"));
  EXPECT_THAT(r.out, HasSubstr("  known issue: ios6-meeting-organizer-hijack "
                               "(CONFIRMED)\n"));
  EXPECT_THAT(r.out, HasSubstr("  - CONFIRMED_ORGANIZER_HIJACK_BUILD (+30): "));
  EXPECT_THAT(r.out, HasSubstr("  quarantined at "));
  EXPECT_THAT(r.out, HasSubstr("  the user sees: "));
  EXPECT_THAT(r.out, HasSubstr("(--json for the whole response)\n"));
  EXPECT_LT(std::count(r.out.begin(), r.out.end(), '\n'), 16)
      << "a summary, not the 80-line response";

  std::vector<std::string> forced = checkin;
  forced.push_back("--json");
  r = RunHijackguardOnTerminal(forced);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(ParseJson(r.out)["action"], "ACTION_WARN");
  r = RunHijackguard(checkin);  // a pipe
  EXPECT_EQ(ParseJson(r.out)["action"], "ACTION_WARN");

  r = RunHijackguardOnTerminal({"device", "show", "--server",
                                server_->address(), "--tenant", "t1",
                                "--device-id", "ApplT"});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, ::testing::StartsWith("t1/ApplT\n  now: WARN  score 30 "
                                           "(ELEVATED); last decided WARN\n"));
  EXPECT_THAT(r.out, HasSubstr("  at WARN since "));
  EXPECT_THAT(r.out, HasSubstr("  0 detection events in 0 observations\n"));
}

TEST_F(CliAdminTest, PolicyGetPrintsWhatCanBeAppliedAgain) {
  RunResult r = Run({"policy", "get", "--revision"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::regex_match(r.out, std::regex("[0-9a-f]{64}\n"))) << r.out;
  const std::string revision = r.out.substr(0, 64);
  r = Run({"policy", "get", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ParseJson(r.out)["revision"], revision);
  // A policy applied through the API comes back byte for byte, and applying
  // what `get` printed changes nothing.
  const std::string path = ::testing::TempDir() + "cli-admin-policy.json";
  const std::string document =
      "{\n  \"apiVersion\": \"hijackguard/v1\",\n  \"mode\": \"monitor\"\n}\n";
  std::ofstream(path) << document;
  r = Run({"policy", "apply", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Run({"policy", "get"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, document);
  EXPECT_THAT(r.err, HasSubstr(", origin api, applied at "));
  const std::string applied = Run({"policy", "get", "--revision"}).out;
  EXPECT_NE(applied.substr(0, 64), revision);
  std::ofstream(path, std::ios::trunc) << r.out;
  r = Run(
      {"policy", "apply", path, "--expected-revision", applied.substr(0, 64)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Run({"policy", "get", "--revision"}).out, applied);
}

}  // namespace
}  // namespace hijackguard::plugin
