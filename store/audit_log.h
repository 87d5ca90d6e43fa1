// The audit log's canonical form. Each row holds one record as canonical
// JSON (keys sorted, no white space, UTF-8) that includes its own sequence
// number and time, the previous row's hash, and
//   hash = HMAC-SHA256(audit key, prev_hash || "\n" || record)   (hex)
// The first row's prev_hash is 64 zeros. Changing, inserting or deleting a
// row breaks the chain at that row, and without the key nobody can compute
// a valid chain again; VerifyAudit (sqlite_store.h) walks it.
//
// Stores written before the key existed (schema 2) used plain SHA-256; their
// rows stay as they are, and the first keyed row is a "rekey" row whose
// prev_hash is the unkeyed head. From a rekey row on (or from row 1 when
// there is none) every row must be keyed.
//
// The recorded head (meta.audit_head) is "seq hash mac" with
//   mac = HMAC(key, "audit-head-v1\n" seq "\n" hash)
// and a checkpoint (AuditCheckpoint) signs the same pair with its time, so
// rows cut from the end are found. Retention may delete the oldest rows; it
// records the last deleted row as a signed anchor (meta.audit_anchor) that
// the chain then starts from, and appends a "prune" row saying so.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "policy/state_store.h"

namespace hijackguard::store {

inline constexpr std::string_view kAuditGenesis =
    "0000000000000000000000000000000000000000000000000000000000000000";

struct AuditRow {
  // "decision", "policy", "exemption", "access", "accept_broken", "rekey",
  // "prune", "siem_dropped"
  std::string kind;
  std::string record;  // canonical JSON
  std::string hash;
};

// A keyed row (`key` non-empty).
AuditRow MakeAuditRow(std::uint64_t seq, const policy::AuditRecord& record,
                      std::string_view prev_hash, std::string_view key);
// The row that starts the keyed chain on a store migrated from schema 2.
AuditRow MakeRekeyRow(std::uint64_t seq, absl::Time at,
                      std::string_view prev_hash, std::string_view key);

// The row that records a retention prune of the audit log: rows up to
// `through_seq` (whose hash was `through_hash`), recorded before `before`,
// were deleted, and the anchor (AuditAnchorMac) now starts the chain.
AuditRow MakePruneRow(std::uint64_t seq, absl::Time at,
                      std::string_view prev_hash, std::string_view key,
                      std::uint64_t through_seq, std::string_view through_hash,
                      std::uint64_t rows, absl::Time before);

// HMAC-SHA256 hex of prev_hash "\n" record under `key`; plain SHA-256 when
// `key` is empty (rows from before the key).
std::string AuditHash(std::string_view key, std::string_view prev_hash,
                      std::string_view record);

// The MAC of a recorded head.
std::string AuditHeadMac(std::string_view key, std::uint64_t seq,
                         std::string_view hash);
// The MAC of the prune anchor (meta.audit_anchor, "seq hash mac"): the last
// row retention deleted, which the first row kept links to.
//   mac = HMAC(key, "audit-anchor-v1\n" seq "\n" hash)
std::string AuditAnchorMac(std::string_view key, std::uint64_t seq,
                           std::string_view hash);

// Where the chain starts: after the prune anchor `value` (meta.audit_anchor,
// "" when nothing was pruned: seq 0 and the genesis). INVALID_ARGUMENT when
// the value is damaged or its mac does not match `key` (forged or moved).
struct AuditAnchor {
  std::uint64_t seq = 0;
  std::string hash{kAuditGenesis};
};
absl::StatusOr<AuditAnchor> ParseAuditAnchor(std::string_view value,
                                             std::string_view key);

// "Everything up to row `seq`, whose hash is `head`, existed at `at`", signed
// with the audit key. One JSON line:
//   {"seq":N,"head":"<hex>","at":"<RFC 3339>","mac":"<hex>"}
struct AuditCheckpoint {
  std::uint64_t seq = 0;
  std::string head;
  absl::Time at;
  std::string mac;
};
AuditCheckpoint MakeCheckpoint(std::string_view key, std::uint64_t seq,
                               std::string head, absl::Time at);
std::string CheckpointLine(const AuditCheckpoint& checkpoint);
// INVALID_ARGUMENT naming the field for a malformed line; PERMISSION_DENIED
// when the MAC does not match (another key, or an edited checkpoint).
absl::StatusOr<AuditCheckpoint> ParseCheckpoint(std::string_view line,
                                                std::string_view key);

}  // namespace hijackguard::store
