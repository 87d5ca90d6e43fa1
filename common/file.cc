#include "common/file.h"

#include <fstream>

#include "absl/status/status.h"
#include "common/strings.h"

namespace hijackguard {

absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                             std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(StrCat(path, ": cannot open"));
  }
  std::string text;
  char buffer[8192];
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (text.size() > max_bytes) {
      return absl::InvalidArgumentError(
          StrCat(path, ": larger than ", max_bytes, " bytes"));
    }
  }
  if (in.bad()) {
    return absl::DataLossError(StrCat(path, ": read error"));
  }
  return text;
}

}  // namespace hijackguard
