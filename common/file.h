// Reading small files (configuration, catalogs, policies, keys) whole, and
// writing private ones (keys).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hijackguard {

// Which kinds of file ReadFileToString accepts.
enum class FileKinds {
  // Regular files only, opened without blocking: a FIFO, device or socket in
  // place of a configuration file is an error, never a hang (what the server
  // reads at start and on SIGHUP).
  kRegularOnly,
  // Also pipes and character devices (/dev/stdin, <(...)), read to their end:
  // for command-line inputs, where waiting for the writer is expected.
  kAlsoStreams,
};

// Returns the contents of the file at `path`. NOT_FOUND when it cannot be
// opened, FAILED_PRECONDITION when it is not a regular file (kRegularOnly),
// INVALID_ARGUMENT when it is larger than `max_bytes`, DATA_LOSS on a read
// error. Messages start with the path.
absl::StatusOr<std::string> ReadFileToString(
    const std::string& path, std::size_t max_bytes,
    FileKinds kinds = FileKinds::kRegularOnly);

// ReadFileToString, with errors that start with what the file was meant to
// be: "policy /etc/p.json: cannot open (No such file or directory)".
absl::StatusOr<std::string> ReadNamedFile(
    std::string_view kind, const std::string& path, std::size_t max_bytes,
    FileKinds kinds = FileKinds::kRegularOnly);

// The bytes of an input file without copying them: a regular file is mapped
// read-only; a pipe or character device is read to its end (kAlsoStreams).
class InputBytes {
 public:
  // Errors as ReadNamedFile's.
  static absl::StatusOr<std::unique_ptr<InputBytes>> Open(
      std::string_view kind, const std::string& path, std::size_t max_bytes);
  ~InputBytes();
  InputBytes(const InputBytes&) = delete;
  InputBytes& operator=(const InputBytes&) = delete;

  std::string_view bytes() const { return bytes_; }

 private:
  InputBytes() = default;
  void* map_ = nullptr;
  std::size_t map_size_ = 0;
  std::string read_;  // when not mapped
  std::string_view bytes_;
};

// Makes the directory entry of `path` durable (fsync of its directory).
void SyncDirectory(const std::string& path);

// Writes `text` to a new file `path` of mode 0600 (whatever the umask),
// durably. ALREADY_EXISTS when the file exists.
[[nodiscard]] absl::Status WritePrivateFile(const std::string& path,
                                            std::string_view text);

// Restricts an existing file to its owner (0600) when it is more open; OK
// when it is missing.
[[nodiscard]] absl::Status MakePrivate(const std::string& path);

}  // namespace hijackguard
