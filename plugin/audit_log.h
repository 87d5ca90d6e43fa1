// The audit log's canonical form. Each row holds one record as canonical
// JSON (keys sorted, no white space, UTF-8) that includes its own sequence
// number and time, the previous row's hash, and
//   hash = SHA-256(prev_hash || "\n" || record)   (lower-case hex)
// The first row's prev_hash is 64 zeros. Changing, inserting or deleting a
// row breaks the chain at that row; VerifyAudit (sqlite_store.h) walks it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "policy/state_store.h"

namespace hijackguard::plugin {

inline constexpr std::string_view kAuditGenesis =
    "0000000000000000000000000000000000000000000000000000000000000000";

struct AuditRow {
  std::string kind;    // "decision", "policy", "exemption"
  std::string record;  // canonical JSON
  std::string hash;
};

AuditRow MakeAuditRow(std::uint64_t seq, const policy::AuditRecord& record,
                      std::string_view prev_hash);

// SHA-256 hex of prev_hash "\n" record.
std::string AuditHash(std::string_view prev_hash, std::string_view record);

}  // namespace hijackguard::plugin
