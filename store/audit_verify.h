// Verifying a whole audit log, whatever store keeps it: the rows from the
// prune anchor on are walked with the key (store/audit_walker.h), then the
// signed head and, when given, a checkpoint are checked. Each store reads
// its rows from one consistent snapshot (AuditSource).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/audit_key.h"
#include "store/audit_log.h"
#include "store/audit_walker.h"

namespace hijackguard::store {

struct AuditVerification {
  std::uint64_t rows = 0;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::string head_hash;  // of the last row
  bool ok = true;
  std::uint64_t bad_seq = 0;  // the first altered, inserted or deleted row
  std::string problem;
  std::uint64_t after_checkpoint = 0;  // rows that follow the checkpoint
  // Rows up to this one were deleted by retention behind a signed anchor
  // (0: none were).
  std::uint64_t pruned_through = 0;
};

// One snapshot of a store's audit log.
class AuditSource {
 public:
  virtual ~AuditSource() = default;
  // The meta value `name` ("audit_anchor", "audit_head"); "" when none.
  virtual absl::StatusOr<std::string> Meta(std::string_view name) = 0;
  // The first "rekey" row's seq (0: none; rows before it are unkeyed).
  virtual absl::StatusOr<std::uint64_t> RekeySeq() = 0;
  // Calls `row` with every row in seq order, until it returns false.
  [[nodiscard]] virtual absl::Status Rows(
      const std::function<bool(const AuditChainRow&)>& row) = 0;
};

// One audit row as `audit export` writes it: the canonical record with its
// "hash" added, as one JSON line; with `pseudonymize`, user principals and
// exemption addresses replaced (and "pseudonymized": true, since the hash
// then no longer matches). False, writing nothing, for a record that is not
// a JSON object (verify reports it).
bool WriteAuditLine(std::string_view record, std::string_view hash,
                    const Pseudonymizer* pseudonymize, std::ostream& out);

// An error status only when the rows cannot be read, or CANCELLED once
// `*cancel` is set (looked at every few thousand rows).
absl::StatusOr<AuditVerification> VerifyAuditChain(
    AuditSource& source, std::string_view key,
    const AuditCheckpoint* checkpoint, const std::atomic<bool>* cancel);

}  // namespace hijackguard::store
