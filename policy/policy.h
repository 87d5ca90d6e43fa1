// The policy document security teams write (format: docs/policy.md) and its
// compiled, immutable form.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "detector/known_issues.h"
#include "policy/decision.h"
#include "policy/templates.h"

namespace hijackguard::policy {

inline constexpr std::string_view kApiVersion = "hijackguard/v1";

enum class Mode { kEnforce, kMonitor };
std::string_view ModeName(Mode mode);  // "enforce", "monitor"

class ExemptionIndex;

// One problem with a policy document: where (JSON pointer and, when the
// pointer names text in the document, 1-based line and column) and what.
struct PolicyProblem {
  std::string pointer;
  int line = 0;
  int column = 0;
  std::string message;
  // "<pointer> (line L, column C): <message>".
  std::string ToString() const;
};

// A setting with the pointer of the document member it came from (or would
// come from: defaults have the pointer of the member that would set them).
template <typename T>
struct Rule {
  T value{};
  std::string pointer;
};

// Who an exemption covers.
struct Exemption {
  enum class Kind { kUser, kDevice, kGroup };
  Kind kind = Kind::kUser;
  std::string value;   // normalized: lower case for users and groups
  std::string reason;  // required
  absl::Time expires = absl::InfiniteFuture();
  std::string tenant_id;  // "" = every tenant
  std::string source;     // a policy pointer ("/exemptions/2") or "api"
  std::string id;         // stable: "<tenant>/<kind>/<value>"
  // As matched_rules names it: the source pointer, or "exemption:<id>" for
  // the API's. Set by ExemptionIndex.
  std::string rule;
};
std::string_view ExemptionKindName(Exemption::Kind kind);  // "user", ...
std::optional<Exemption::Kind> ParseExemptionKind(std::string_view name);
// The value as exemptions compare it (lower case for users and groups).
std::string NormalizeExemptionValue(Exemption::Kind kind,
                                    std::string_view value);
std::string ExemptionId(std::string_view tenant_id, Exemption::Kind kind,
                        std::string_view normalized_value);

// Score added by a build's known issue, by how sure the catalog is.
struct PriorTable {
  std::array<Rule<double>, 3> by_confidence;  // suspected, reported, confirmed
};

struct AttendeeStep {
  int at_least = 0;
  double factor = 1;
};

// One tenant's effective settings (the document's top level, with the
// tenant's overrides applied).
struct Settings {
  Rule<Mode> mode;
  // Known-issue id -> prior. Issues not listed add nothing.
  absl::flat_hash_map<std::string, PriorTable> priors;
  // By detector::EventKind.
  std::array<Rule<double>, 5> weights;
  Rule<std::vector<AttendeeStep>> attendee_multiplier;
  Rule<absl::Duration> half_life;
  Rule<double> warn_threshold;
  Rule<double> quarantine_threshold;
  Rule<std::optional<double>> block_threshold;  // nullopt: never BLOCK
  Rule<absl::Duration> grace;                   // zero: no escalation
  Rule<Scope> restrict_warn;                    // kNone or kCalendar
  Rule<Scope> restrict_quarantine;              // kDevice or kCalendar
  Rule<std::string> admin_insert;
  // Locale ("en", "de", "pt-br") -> texts; always has "en".
  std::map<std::string, LocaleTemplates, std::less<>> templates;
  std::vector<Exemption> exemptions;  // the document's, for this tenant
  // "; weight 60, decayed with a half-life of 168 h: +" per event kind, made
  // once per policy so that decisions do not format numbers.
  std::array<std::string, 5> event_reason_suffix;
};

// A validated policy. Immutable; share as std::shared_ptr<const Policy>.
class Policy {
 public:
  // Parses and validates a policy document against `catalog` (known-issue
  // ids in priors must exist). On any problem returns INVALID_ARGUMENT, no
  // policy, and every problem in `*problems` (when not null). Exemptions that
  // have expired are accepted: they simply no longer apply.
  static absl::StatusOr<std::shared_ptr<const Policy>> Parse(
      std::string_view json, const detector::KnownIssueCatalog& catalog,
      std::vector<PolicyProblem>* problems);

  // Reads and parses a policy file (at most `max_bytes`, itself at most
  // kMaxBytes). NOT_FOUND / PERMISSION_DENIED with the path when it cannot be
  // read, INVALID_ARGUMENT when it is larger.
  static absl::StatusOr<std::shared_ptr<const Policy>> LoadFile(
      const std::string& path, const detector::KnownIssueCatalog& catalog,
      std::vector<PolicyProblem>* problems, std::size_t max_bytes = kMaxBytes);

  // The largest policy document there is.
  static constexpr std::size_t kMaxBytes = 4 << 20;

  // The policy with every default (no document).
  static std::shared_ptr<const Policy> Default(
      const detector::KnownIssueCatalog& catalog);

  // SHA-256 (hex) of the canonical document: its JSON with keys sorted and
  // no insignificant white space. Two documents that differ only in layout
  // or key order have the same revision.
  const std::string& revision() const { return revision_; }
  // The canonical document.
  const std::string& canonical() const { return canonical_; }
  // The document as it was given (or "" for Default()).
  const std::string& source() const { return source_; }

  // The settings for `tenant_id`: its override, or the top level.
  const Settings& For(std::string_view tenant_id) const;
  const Settings& global() const { return global_; }
  const std::map<std::string, Settings, std::less<>>& tenants() const {
    return tenants_;
  }
  // The document's exemptions (top level and per tenant), indexed.
  const ExemptionIndex& exemptions() const { return *exemptions_; }

 private:
  Policy() = default;

  std::string revision_;
  std::string canonical_;
  std::string source_;
  Settings global_;
  std::map<std::string, Settings, std::less<>> tenants_;
  std::shared_ptr<const ExemptionIndex> exemptions_;
};

// How long events matter to `policy`: ten of its longest decay half-life
// (then an event adds under 0.1% of its weight). Retention deletes older
// events.
absl::Duration EventHorizon(const Policy& policy);

// One line per exemption of `policy` that has expired by `now` ("<pointer>:
// this user exemption expired at <time>; it is ignored"): a document
// that was valid when written still loads, and the operator is told.
std::vector<std::string> ExpiredExemptions(const Policy& policy,
                                           absl::Time now);

// Problems as one INVALID_ARGUMENT ("<origin>: N problems:\n  ..."), or OK.
[[nodiscard]] absl::Status ProblemsToStatus(
    std::string_view origin, const std::vector<PolicyProblem>& problems);

}  // namespace hijackguard::policy
