#include "tests/plugin/run_cli.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace hijackguard::plugin {
namespace {

// In a forked child: becomes the hijackguard binary with `args`.
[[noreturn]] void ExecHijackguard(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  std::string binary = HIJACKGUARD_BINARY;
  argv.push_back(binary.data());
  std::vector<std::string> copy = args;
  for (std::string& a : copy) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  execv(binary.c_str(), argv.data());
  _exit(127);
}

}  // namespace

// Runs the hijackguard binary with `args`, capturing stdout and stderr.
RunResult RunHijackguard(const std::vector<std::string>& args,
                         const std::string& stdin_path) {
  int out_pipe[2];
  int err_pipe[2];
  EXPECT_EQ(pipe(out_pipe), 0);
  EXPECT_EQ(pipe(err_pipe), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    if (!stdin_path.empty()) {
      const int in = open(stdin_path.c_str(), O_RDONLY);
      dup2(in, 0);
    }
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    close(out_pipe[0]);
    close(err_pipe[0]);
    ExecHijackguard(args);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  RunResult result;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(fds, 2, 30000) <= 0) {
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP)) == 0) {
        continue;
      }
      char buffer[65536];
      const ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        sinks[i]->append(buffer, static_cast<std::size_t>(n));
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// RunHijackguard with `input` on standard input.
RunResult RunHijackguardWithInput(const std::vector<std::string>& args,
                                  const std::string& input) {
  const std::string path =
      ::testing::TempDir() + "stdin-" + std::to_string(::getpid());
  std::ofstream(path) << input;
  RunResult r = RunHijackguard(args, path);
  std::filesystem::remove(path);
  return r;
}

nlohmann::json ParseJson(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << text;
  return j;
}

RunResult RunHijackguardOnTerminal(const std::vector<std::string>& args) {
  RunResult result;
  int master = -1;
  const pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  if (pid == 0) {
    ExecHijackguard(args);
  }
  EXPECT_GT(pid, 0);
  while (true) {
    pollfd p{master, POLLIN, 0};
    if (poll(&p, 1, 30000) <= 0) {
      break;
    }
    char buffer[4096];
    const ssize_t n = read(master, buffer, sizeof(buffer));
    if (n <= 0) {
      break;  // EIO once the child has closed the terminal
    }
    for (ssize_t i = 0; i < n; ++i) {
      if (buffer[i] != '\r') result.out.push_back(buffer[i]);
    }
  }
  close(master);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace hijackguard::plugin
