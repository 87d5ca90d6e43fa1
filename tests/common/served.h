// Starting the real `hijackguard serve` from a test or a benchmark: the
// binary runs with its standard output on a pipe, and the first line it
// prints ("hijackguard serving on HOST:PORT (...)") gives the bound address.
#pragma once

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

extern char** environ;

namespace hijackguard::testing {

struct Served {
  pid_t pid = 0;  // 0: it did not start (see `error`)
  std::string address;
  std::string error;
};

// Runs `args` (the binary first) and waits for its address line.
inline Served StartServed(std::vector<std::string> args) {
  Served s;
  int out[2];
  if (pipe(out) != 0) {
    s.error = "pipe failed";
    return s;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, args[0].c_str(), &actions, nullptr,
                                  argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (spawned != 0) {
    close(out[0]);
    s.error = "cannot start " + args[0];
    return s;
  }
  std::string line;
  char c = 0;
  while (read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
  close(out[0]);
  const auto at = line.find("serving on ");
  if (at == std::string::npos) {
    int status = 0;
    waitpid(pid, &status, 0);
    s.error =
        "the server did not start (see its log above); it printed: " + line;
    return s;
  }
  s.pid = pid;
  s.address = line.substr(at + 11, line.find(' ', at + 11) - at - 11);
  return s;
}

}  // namespace hijackguard::testing
