// The audit page (/ui/audit): the newest rows of the audit log with who did
// what, filtered by kind and paged backwards, and the chain's status as the
// server's last background verification found it (never verified per page:
// on a large log that takes seconds).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "plugin/console/html.h"
#include "policy/state_store.h"

namespace hijackguard::console {

// The kinds of row the log holds, in the order the filter lists them.
const std::vector<std::string>& AuditKinds();

struct AuditRowView {
  std::uint64_t seq = 0;
  absl::Time at;
  std::string kind;
  // Who: the principal, how it authenticated, and from where ("" when the
  // row names no actor, as a decision's does).
  std::string principal;
  std::string auth;
  std::string peer;
  std::string tenant;   // "" when the row concerns every tenant
  std::string summary;  // one line of what the row says
};

// The row's actor, tenant and summary from its canonical record.
AuditRowView AuditRowOf(const policy::AuditEntry& entry);

struct ChainStatusView {
  bool audited = true;    // false: state in memory, there is no log
  bool verified = false;  // a verification has finished
  absl::Time verified_at;
  absl::Duration took;
  absl::Duration interval;  // how often it runs
  bool ok = true;
  std::uint64_t rows = 0;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t bad_seq = 0;
  std::uint64_t pruned_through = 0;
  std::string problem;  // what is wrong with the chain
  std::string error;    // why it could not be verified at all
  // The row counts and numbers are shown (to a viewer of every tenant).
  bool detailed = true;
};

struct AuditView {
  ChainStatusView chain;
  std::vector<AuditRowView> rows;  // newest first
  std::string kind;                // the filter ("" = every kind)
  // Rows were left out that the viewer may not see (another tenant's, or
  // every tenant's for a viewer limited to some).
  bool some_hidden = false;
  std::uint64_t next_before = 0;  // the next page's `before` (0: none)
  bool first_page = true;
  std::string error;
};

std::string RenderAudit(const AuditView& view);

}  // namespace hijackguard::console
