// What a user sees when something is wrong: which file and why, where in a
// configuration, nothing of gRPC's internals, nothing left behind by a start
// that failed, and what an unanswered TLS connection means.
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/plugin/run_cli.h"

namespace hijackguard::plugin {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string TempDir() {
  char pattern[] = "/tmp/hijackguard-cli-errors-XXXXXX";
  EXPECT_NE(mkdtemp(pattern), nullptr);
  return pattern;
}

// A listening socket on a loopback port, so that `serve` finds it taken.
class TakenPort {
 public:
  TakenPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 1), 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~TakenPort() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(CliErrorsTest, EveryCannotOpenNamesTheFileKindAndWhy) {
  const std::string missing = "/nonexistent-dir/x.json";
  const struct {
    std::vector<std::string> args;
    std::string kind;
  } cases[] = {
      {{"serve", "--config", missing}, "configuration"},
      {{"config", "validate", missing}, "configuration"},
      {{"policy", "validate", missing}, "policy"},
      {{"policy", "validate",
        HIJACKGUARD_SOURCE_DIR "/examples/policies/default.json", "--catalog",
        missing},
       "known-issue catalog"},
      {{"fingerprint", "--catalog", missing, "--user-agent", "x"},
       "known-issue catalog"},
      {{"simulate", "--policy", missing}, "policy"},
      {{"replay", missing}, "trace"},
      {{"decode", missing}, "WBXML input"},
      {{"encode", missing}, "XML input"},
      {{"checkin", "--server", "127.0.0.1:1", "--token-file", missing},
       "token file"},
      {{"checkin", "--server", "127.0.0.1:1", "--tls-ca", missing},
       "TLS CA file (--tls-ca)"},
  };
  for (const auto& c : cases) {
    const RunResult r = RunHijackguard(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args[0] << " " << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.kind + " " + missing +
                                 ": cannot open (No such file or directory)"))
        << c.args[0];
  }
}

TEST(CliErrorsTest, ConfigurationProblemsCarryLineAndColumn) {
  const std::string dir = TempDir();
  std::ofstream(dir + "/hg.json") << "{\n  \"listen\": \"127.0.0.1:0\",\n"
                                     "  \"polcy\": \"p.json\",\n"
                                     "  \"max_request_bytes\": \"big\"\n}\n";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"serve", "--config", dir + "/hg.json"},
        std::vector<std::string>{"config", "validate", dir + "/hg.json"}}) {
    const RunResult r = RunHijackguard(args);
    EXPECT_EQ(r.exit_code, args[0] == "serve" ? 2 : 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr("/polcy (line 3, column 3): unknown key; did "
                                 "you mean \"policy\"?"));
    EXPECT_THAT(r.err, HasSubstr("/max_request_bytes (line 4, column 3): must "
                                 "be an integer"));
  }
  std::filesystem::remove_all(dir);
}

TEST(CliErrorsTest, ConfigValidateChecksWhatTheConfigurationNames) {
  const std::string dir = TempDir();
  const std::string policy =
      HIJACKGUARD_SOURCE_DIR "/examples/policies/default.json";
  std::ofstream(dir + "/ok.json")
      << R"({"listen": "127.0.0.1:50051", "policy": ")" << policy
      << R"(", "state_dir": ")" << dir << R"(/var"})";
  RunResult r = RunHijackguard({"config", "validate", dir + "/ok.json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(": OK; listen 127.0.0.1:50051 (plaintext); "
                               "policy " +
                               policy));
  EXPECT_FALSE(std::filesystem::exists(dir + "/var")) << "validate wrote";

  std::ofstream(dir + "/broken-policy.json") << "{\"mode\": 3}";
  std::ofstream(dir + "/bad.json")
      << R"({"listen": "0.0.0.0:50051", "policy": ")" << dir
      << R"(/broken-policy.json", "tls": {"cert_file": ")" << dir
      << R"(/none.pem", "key_file": ")" << dir << R"(/none.key"}})";
  r = RunHijackguard({"config", "validate", dir + "/bad.json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("broken-policy.json"));
  EXPECT_THAT(r.err, HasSubstr("refusing to listen on 0.0.0.0:50051"));
  EXPECT_THAT(r.err, HasSubstr("none.pem"));
  EXPECT_THAT(r.err, HasSubstr("3 problems"));
  std::filesystem::remove_all(dir);
}

TEST(CliErrorsTest, PortInUseIsOneLineAndTheFailedStartCreatesNothing) {
  const TakenPort taken;
  const std::string dir = TempDir();
  std::filesystem::create_directories(dir + "/existing");
  std::ofstream(dir + "/existing/keep") << "mine";
  for (const std::string& state : {dir + "/new/state", dir + "/existing"}) {
    std::ofstream(dir + "/hg.json")
        << R"({"listen": "127.0.0.1:)" << taken.port() << R"(", "policy": ")"
        << HIJACKGUARD_SOURCE_DIR << R"(/examples/policies/default.json", )"
        << R"("state_dir": ")" << state << R"("})";
    const RunResult r = RunHijackguard({"serve", "--config", dir + "/hg.json"});
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_THAT(r.err, HasSubstr("cannot listen on 127.0.0.1:"));
    // gRPC's own dump ("E1203 13:51:46.38 ... chttp2_server.cc:1045] ...
    // {file:..., children:[...]}") stays out.
    EXPECT_THAT(r.err, Not(HasSubstr("chttp2")));
    EXPECT_THAT(r.err, Not(HasSubstr("children")));
  }
  EXPECT_FALSE(std::filesystem::exists(dir + "/new"));
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/existing")) {
    left.push_back(e.path().filename().string());
  }
  EXPECT_THAT(left, ::testing::ElementsAre("keep"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hijackguard::plugin
