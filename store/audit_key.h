// The audit key (docs/security.md): 32 random bytes that key the audit
// chain, its head and checkpoints, and from which log pseudonyms derive.
// Stored as 64 hex digits in a file of mode 0600, by default
// <state_dir>/audit.key; keep it on another volume or in a secret store.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hijackguard::store {

inline constexpr std::string_view kAuditKeyFileName = "audit.key";

// <state_dir>/audit.key
std::string DefaultAuditKeyPath(const std::string& state_dir);

// Reads the key. NOT_FOUND when the file does not exist; INVALID_ARGUMENT
// naming the byte offset when it does not hold 64 hex digits.
absl::StatusOr<std::string> ReadAuditKey(const std::string& path);

// Creates a new random key at `path` (mode 0600, never overwriting one),
// synced to disk. ALREADY_EXISTS when the file is there.
absl::StatusOr<std::string> CreateAuditKey(const std::string& path);

// The key at `path`; created when missing, but only when `audit_rows` is 0:
// with rows and no key the chain cannot be continued, and a new key would
// fork it (FAILED_PRECONDITION naming the file and the remedy).
absl::StatusOr<std::string> LoadOrCreateAuditKey(const std::string& path,
                                                 std::uint64_t audit_rows);

// Where a new key waits until the log it keys has committed its first keyed
// row (<path>.pending), and moving it into place (OK when there is none).
std::string PendingAuditKeyPath(const std::string& path);
[[nodiscard]] absl::Status PromotePendingAuditKey(const std::string& path);

// Stands in for user principals and e-mail addresses in logs and exports:
// the first 16 hex digits of HMAC-SHA256(HKDF(audit key, "pseudonym-v1"),
// lower-cased address). With `clear` the address itself is returned
// (logging.pii: true).
class Pseudonymizer {
 public:
  Pseudonymizer(std::string_view audit_key, bool clear);
  std::string operator()(std::string_view address) const;

 private:
  std::string key_;
  bool clear_;
};

}  // namespace hijackguard::store
