#include "common/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "absl/status/status.h"
#include "common/strings.h"

namespace hijackguard {
namespace {

std::string KindName(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISDIR(mode)) return "a directory";
  return "not a regular file";
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                             std::size_t max_bytes,
                                             FileKinds kinds) {
  const bool regular_only = kinds == FileKinds::kRegularOnly;
  if (regular_only) {
    // Looked at before opening: opening a FIFO or a device has effects of
    // its own (it releases a waiting writer, a tape rewinds).
    struct stat before {};
    if (::stat(path.c_str(), &before) == 0 && !S_ISREG(before.st_mode)) {
      return absl::FailedPreconditionError(
          StrCat(path, ": is ", KindName(before.st_mode),
                 ", not a regular file; refusing to read it"));
    }
  }
  // O_NONBLOCK: should the file have been replaced by a FIFO since, opening
  // it does not wait for a writer (fstat below refuses it).
  int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY;
  if (regular_only) flags |= O_NONBLOCK;
  Fd fd(::open(path.c_str(), flags));
  if (fd.get() < 0) {
    const int err = errno;
    return absl::NotFoundError(
        StrCat(path, ": cannot open (", std::strerror(err), ")"));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return absl::DataLossError(StrCat(path, ": cannot stat"));
  }
  if (S_ISDIR(st.st_mode) || (regular_only && !S_ISREG(st.st_mode))) {
    return absl::FailedPreconditionError(
        StrCat(path, ": is ", KindName(st.st_mode),
               ", not a regular file; refusing to read it"));
  }
  if (S_ISREG(st.st_mode) &&
      static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    return absl::InvalidArgumentError(
        StrCat(path, ": larger than ", max_bytes, " bytes (",
               static_cast<std::uint64_t>(st.st_size), ")"));
  }
  std::string text;
  char buffer[8192];
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::DataLossError(
          StrCat(path, ": read error (", std::strerror(errno), ")"));
    }
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > max_bytes) {
      return absl::InvalidArgumentError(
          StrCat(path, ": larger than ", max_bytes, " bytes"));
    }
  }
  return text;
}

absl::StatusOr<std::string> ReadNamedFile(std::string_view kind,
                                          const std::string& path,
                                          std::size_t max_bytes,
                                          FileKinds kinds) {
  auto text = ReadFileToString(path, max_bytes, kinds);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        StrCat(kind, " ", text.status().message()));
  }
  return text;
}

absl::StatusOr<std::unique_ptr<InputBytes>> InputBytes::Open(
    std::string_view kind, const std::string& path, std::size_t max_bytes) {
  std::unique_ptr<InputBytes> input(new InputBytes());
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
      static_cast<std::uint64_t>(st.st_size) <= max_bytes) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (fd.get() >= 0 && ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_size > 0 && static_cast<std::uint64_t>(st.st_size) <= max_bytes) {
      const auto size = static_cast<std::size_t>(st.st_size);
      // Populated at once: one read-ahead instead of a fault per page.
      void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE,
                         fd.get(), 0);
      if (map != MAP_FAILED) {
        input->map_ = map;
        input->map_size_ = size;
        input->bytes_ = std::string_view(static_cast<const char*>(map), size);
        return input;
      }
    }
  }
  // Not a regular file, empty, too large or not mappable: read it (which
  // says why when it cannot).
  auto text = ReadNamedFile(kind, path, max_bytes, FileKinds::kAlsoStreams);
  if (!text.ok()) {
    return text.status();
  }
  input->read_ = *std::move(text);
  input->bytes_ = input->read_;
  return input;
}

InputBytes::~InputBytes() {
  if (map_ != nullptr) {
    ::munmap(map_, map_size_);
  }
}

namespace {

absl::Status Errno(std::string_view doing, const std::string& path) {
  return absl::FailedPreconditionError(
      StrCat(doing, " ", path, ": ", std::strerror(errno)));
}

}  // namespace

void SyncDirectory(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(),
                         O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

absl::Status WritePrivateFile(const std::string& path, std::string_view text) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(StrCat(path, " exists already"));
    }
    return Errno("cannot create", path);
  }
  // The mode at creation is masked by the umask; make it exact.
  absl::Status status;
  if (::fchmod(fd, 0600) != 0) {
    status = Errno("cannot restrict", path);
  }
  std::size_t done = 0;
  while (status.ok() && done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      status = Errno("cannot write", path);
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (status.ok() && ::fsync(fd) != 0) {
    status = Errno("cannot sync", path);
  }
  ::close(fd);
  if (!status.ok()) {
    ::unlink(path.c_str());
    return status;
  }
  SyncDirectory(path);
  return absl::OkStatus();
}

absl::Status MakePrivate(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? absl::OkStatus() : Errno("cannot stat", path);
  }
  if ((st.st_mode & 077) != 0 && ::chmod(path.c_str(), 0600) != 0) {
    return Errno("cannot restrict", path);
  }
  return absl::OkStatus();
}

}  // namespace hijackguard
