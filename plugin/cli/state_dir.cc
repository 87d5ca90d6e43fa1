#include "plugin/cli/state_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_format.h"
#include "common/log.h"
#include "common/strings.h"

namespace hijackguard::plugin::cli {

absl::StatusOr<int> LockStateDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        StrCat("state directory ", dir, ": cannot create: ", ec.message()));
  }
  // It holds personal data: the owner's alone.
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    if (::chmod(dir.c_str(), 0700) != 0) {
      return absl::FailedPreconditionError(
          StrCat("state directory ", dir,
                 ": cannot restrict it to mode 0700: ", std::strerror(errno)));
    }
    LogInfo(StrCat("state directory ", dir, " was mode ",
                   absl::StrFormat("%04o", st.st_mode & 07777),
                   "; changed it to 0700 (it holds personal data)"));
  }
  const std::string lock_path =
      (std::filesystem::path(dir) / "hijackguard.lock").string();
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(StrCat("state directory ", dir,
                                                ": cannot open ", lock_path,
                                                ": ", std::strerror(errno)));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return absl::FailedPreconditionError(StrCat(
        "state directory ", dir, " is in use by another hijackguard process (",
        lock_path, " is locked)"));
  }
  return fd;
}

StartRollback::StartRollback(const std::string& dir) : dir_(dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path at = fs::absolute(dir, ec);
  if (ec) {
    return;
  }
  // Walk up to the first directory that exists; the last missing one is what
  // the start would create.
  for (fs::path p = at; !p.empty() && p != p.root_path(); p = p.parent_path()) {
    if (fs::exists(p, ec)) {
      break;
    }
    created_ = p.string();
  }
  if (!created_.empty()) {
    return;
  }
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    before_.push_back(e.path().filename().string());
  }
  std::sort(before_.begin(), before_.end());
}

StartRollback::~StartRollback() {
  if (keep_) {
    return;
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!created_.empty()) {
    fs::remove_all(created_, ec);
    return;
  }
  std::vector<fs::path> added;
  for (const fs::directory_entry& e : fs::directory_iterator(dir_, ec)) {
    if (!std::binary_search(before_.begin(), before_.end(),
                            e.path().filename().string())) {
      added.push_back(e.path());
    }
  }
  for (const fs::path& p : added) {
    fs::remove_all(p, ec);
  }
}

}  // namespace hijackguard::plugin::cli
