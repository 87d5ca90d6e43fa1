// The known-issue catalog: which client builds suffer from which Exchange
// ActiveSync calendar bugs, how sure we are, and what fixed them. Loaded at
// start from a JSON data file (detector/catalog/known_issues.json; format in
// docs/known-issues.md).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "detector/fingerprint.h"
#include "detector/ios_build.h"
#include "detector/platform.h"
#include "detector/version.h"

namespace hijackguard::detector {

// One clause of "which builds are affected".
struct AffectedBuilds {
  enum class Kind {
    kBuildList,     // exactly `builds`
    kBuildRange,    // first_build <= build <= last_build
    kVersionRange,  // first_version <= version, and version <= / < end_version
  };
  Kind kind = Kind::kBuildList;
  std::vector<IosBuild> builds;
  IosBuild first_build;
  IosBuild last_build;
  Version first_version;
  Version end_version;
  bool end_inclusive = true;  // "last" (inclusive) or "before" (exclusive)
  Confidence confidence = Confidence::kSuspected;
  std::string note;
};

struct KnownIssue {
  std::string id;     // stable: "ios6-meeting-organizer-hijack"
  std::string title;  // for admins
  std::string
      category;  // "organizer-hijack", "server-load" or "calendar-integrity"
  Platform platform = Platform::kIos;
  std::string summary;              // for end users: what goes wrong
  std::string remediation;          // for end users: what to do
  std::optional<Version> fixed_in;  // nullopt when no source confirms a fix
  std::string fix_note;  // said instead of, or in addition to, fixed_in
  std::vector<std::string> references;
  std::vector<AffectedBuilds>
      affects;  // empty: not tied to client builds (behavioural only)
};

// An immutable, validated catalog. Move-only (matches point into it); share it
// as std::shared_ptr<const KnownIssueCatalog>. All const methods are
// thread-safe.
class KnownIssueCatalog {
 public:
  // Parses and validates catalog JSON. On any problem returns INVALID_ARGUMENT
  // listing every problem, each with its JSON pointer
  // ("/issues/2/affects/0/confidence: ...") or, for a syntax error, its line
  // and column. `origin` names the text in messages (a file path).
  static absl::StatusOr<KnownIssueCatalog> Parse(
      std::string_view json, std::string_view origin = "catalog");

  // Reads and parses a catalog file. NOT_FOUND / PERMISSION_DENIED /
  // INVALID_ARGUMENT (also for files over 4 MiB) with the path in the message.
  static absl::StatusOr<KnownIssueCatalog> LoadFile(const std::string& path);

  // The catalog compiled into this binary (detector/catalog/known_issues.json
  // at build time).
  static absl::StatusOr<KnownIssueCatalog> Builtin();

  KnownIssueCatalog(KnownIssueCatalog&&) = default;
  KnownIssueCatalog& operator=(KnownIssueCatalog&&) = default;
  KnownIssueCatalog(const KnownIssueCatalog&) = delete;
  KnownIssueCatalog& operator=(const KnownIssueCatalog&) = delete;

  const std::vector<KnownIssue>& issues() const { return issues_; }
  const std::string& catalog_version() const { return catalog_version_; }

  // Returns the issue with this id, or nullptr.
  const KnownIssue* Find(std::string_view id) const;

  // The issues `fp` suffers from, in catalog order, each with the highest
  // confidence of the clauses that matched and why it matched. An issue matches
  // only a fingerprint of its platform; build clauses need the build, version
  // clauses the OS version.
  std::vector<KnownIssueMatch> Match(const Fingerprint& fp) const;

 private:
  KnownIssueCatalog() = default;

  std::string catalog_version_;
  std::vector<KnownIssue> issues_;
};

// How a device is identified everywhere: its fingerprint, then the
// catalog's known issues for it.
Fingerprint IdentifyDevice(const FingerprintInput& input,
                           const KnownIssueCatalog& catalog);

// The categories a catalog may use.
inline constexpr std::string_view kCategoryOrganizerHijack = "organizer-hijack";
inline constexpr std::string_view kCategoryServerLoad = "server-load";
inline constexpr std::string_view kCategoryCalendarIntegrity =
    "calendar-integrity";

}  // namespace hijackguard::detector
