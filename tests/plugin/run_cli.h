// Runs the built `hijackguard` binary as a user would, for the CLI tests.
#pragma once

#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace hijackguard::plugin {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs the hijackguard binary with `args`, capturing stdout and stderr;
// standard input from `stdin_path` when it is not empty. Gives up reading
// after 30 s without output.
RunResult RunHijackguard(const std::vector<std::string>& args,
                         const std::string& stdin_path = "");

// RunHijackguard with `input` on standard input.
RunResult RunHijackguardWithInput(const std::vector<std::string>& args,
                                  const std::string& input);

// RunHijackguard with standard output (and error) on a pseudo-terminal, as
// a user at a terminal runs it; "\r\n" is turned back into "\n". Standard
// error is in `out` too.
RunResult RunHijackguardOnTerminal(const std::vector<std::string>& args);

// Parses `text` as JSON; a failed expectation (and a discarded value) when it
// is not.
nlohmann::json ParseJson(const std::string& text);

}  // namespace hijackguard::plugin
