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

// Records what is under a state directory before a start, and unless Keep()
// is called, removes on destruction what the start added: the entries that
// were not there, and the directory itself (with any parents the start
// created) when it did not exist. A failed start creates nothing. Call Keep()
// once the server runs, and when the lock was not taken (what appeared was
// another process's).
class StartRollback {
 public:
  explicit StartRollback(const std::string& dir);
  ~StartRollback();
  StartRollback(const StartRollback&) = delete;
  StartRollback& operator=(const StartRollback&) = delete;

  void Keep() { keep_ = true; }

 private:
  std::string dir_;
  // The outermost directory that did not exist, or "" when `dir_` did.
  std::string created_;
  std::vector<std::string> before_;  // entry names under dir_, sorted
  bool keep_ = false;
};

}  // namespace hijackguard::plugin::cli
