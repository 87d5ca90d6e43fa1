#include "store/audit_key.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "common/file.h"
#include "common/hmac.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace hijackguard::store {
namespace {

constexpr std::size_t kKeyBytes = 32;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

absl::Status Errno(std::string_view doing, const std::string& path) {
  return absl::FailedPreconditionError(
      StrCat(doing, " ", path, ": ", std::strerror(errno)));
}

}  // namespace

std::string DefaultAuditKeyPath(const std::string& state_dir) {
  return (std::filesystem::path(state_dir) / kAuditKeyFileName).string();
}

absl::StatusOr<std::string> ReadAuditKey(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(StrCat("audit key ", path, " does not exist"));
  }
  auto text = ReadNamedFile("audit key", path, 4096);
  if (!text.ok()) {
    return text.status();
  }
  std::string_view hex = *text;
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) {
    hex.remove_suffix(1);
  }
  if (hex.size() != 2 * kKeyBytes) {
    return absl::InvalidArgumentError(
        StrCat("audit key ", path, " holds ", hex.size(),
               " characters; a key is 64 hex digits on one line"));
  }
  auto key = HexDecode(hex);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        StrCat("audit key ", path, ": ", key.status().message()));
  }
  return *key;
}

absl::StatusOr<std::string> CreateAuditKey(const std::string& path) {
  const std::string key = RandomBytes(kKeyBytes);
  RETURN_IF_ERROR(WritePrivateFile(path, StrCat(HexEncode(key), "\n")));
  return key;
}

absl::StatusOr<std::string> LoadOrCreateAuditKey(const std::string& path,
                                                 std::uint64_t audit_rows) {
  auto key = ReadAuditKey(path);
  if (key.ok()) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      LogWarning(StrCat("audit key ", path, " is readable by others (mode ",
                        absl::StrFormat("%04o", st.st_mode & 07777),
                        "); anyone who reads it can rewrite the audit chain"));
    }
  }
  if (!absl::IsNotFound(key.status())) {
    return key;
  }
  if (audit_rows > 0) {
    return absl::FailedPreconditionError(StrCat(
        "audit key ", path, " is missing, but the audit log has ", audit_rows,
        " rows that it keys. Mount the volume or restore the secret that "
        "holds it (audit.key_file); a new key would fork the chain, so the "
        "server does not make one"));
  }
  return CreateAuditKey(path);
}

std::string PendingAuditKeyPath(const std::string& path) {
  return StrCat(path, ".pending");
}

absl::Status PromotePendingAuditKey(const std::string& path) {
  const std::string pending = PendingAuditKeyPath(path);
  if (::rename(pending.c_str(), path.c_str()) != 0) {
    return errno == ENOENT ? absl::OkStatus()
                           : Errno("cannot move into place", pending);
  }
  SyncDirectory(path);
  return absl::OkStatus();
}

Pseudonymizer::Pseudonymizer(std::string_view audit_key, bool clear)
    : key_(HkdfSha256(audit_key, "pseudonym-v1", 32)), clear_(clear) {}

std::string Pseudonymizer::operator()(std::string_view address) const {
  if (clear_) {
    return std::string(address);
  }
  return HexEncode(HmacSha256(key_, Lower(address))).substr(0, 16);
}

}  // namespace hijackguard::store
