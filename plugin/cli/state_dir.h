// The state directory as `serve` takes it: created private, locked against a
// second server, and left as it was found when the start fails.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hijackguard::plugin::cli {

// Creates the state directory (mode 0700) and takes an exclusive lock on it,
// so two servers never share one state. The lock lives as long as the
// returned descriptor (the process).
absl::StatusOr<int> LockStateDir(const std::string& dir);

// Records which of the files a start writes (database, lock, audit key, TLS
// copies) are in a state directory before the start, and which directories
// are missing; unless Keep() is called, removes on destruction the files the
// start added and then the directories it created, each only while empty. A
// failed start creates nothing. Anything it cannot stat for a reason other
// than absence disarms it. Call Keep() once the server runs, and when the
// lock was not taken (what appeared was another process's).
class StartRollback {
 public:
  explicit StartRollback(const std::string& dir);
  ~StartRollback();
  StartRollback(const StartRollback&) = delete;
  StartRollback& operator=(const StartRollback&) = delete;

  void Keep() { keep_ = true; }

 private:
  std::string dir_;
  // The directories that did not exist, innermost first.
  std::vector<std::string> created_dirs_;
  std::vector<std::string> before_;  // start files that were there
  bool keep_ = false;
};

}  // namespace hijackguard::plugin::cli
