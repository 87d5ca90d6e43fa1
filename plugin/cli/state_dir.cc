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

namespace {

// What a start writes in a state directory: the database and its companions,
// the lock, the audit key (and its pending copy), the TLS copies. Nothing
// else is ever removed.
constexpr const char* kStartFiles[] = {
    "hijackguard.db",     "hijackguard.db-wal",
    "hijackguard.db-shm", "hijackguard.db-journal",
    "hijackguard.lock",   "audit.key",
    "audit.key.pending",  "tls"};

}  // namespace

StartRollback::StartRollback(const std::string& dir) : dir_(dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path at = fs::absolute(dir, ec);
  if (ec) {
    keep_ = true;  // cannot tell what is there: touch nothing
    return;
  }
  // The directories the start would create, innermost first; a failure to
  // tell whether one exists (other than its absence) disarms the rollback.
  for (fs::path p = at; !p.empty() && p != p.root_path(); p = p.parent_path()) {
    const fs::file_status st = fs::symlink_status(p, ec);
    if (st.type() == fs::file_type::not_found) {
      created_dirs_.push_back(p.string());
      continue;
    }
    if (ec) {
      keep_ = true;
      return;
    }
    break;
  }
  for (const char* name : kStartFiles) {
    if (fs::symlink_status(at / name, ec).type() != fs::file_type::not_found) {
      before_.emplace_back(name);
    } else if (ec && ec != std::errc::no_such_file_or_directory) {
      keep_ = true;
      return;
    }
  }
}

StartRollback::~StartRollback() {
  if (keep_) {
    return;
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const char* name : kStartFiles) {
    if (std::find(before_.begin(), before_.end(), name) != before_.end()) {
      continue;
    }
    const fs::path p = fs::path(dir_) / name;
    if (std::string_view(name) == "tls") {
      fs::remove_all(p, ec);  // the server's own copies, made by this start
    } else {
      fs::remove(p, ec);
    }
  }
  // Directories only while empty: never what another process has filled.
  for (const std::string& d : created_dirs_) {
    fs::remove(d, ec);
  }
}

}  // namespace hijackguard::plugin::cli
