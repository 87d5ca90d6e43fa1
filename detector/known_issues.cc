#include "detector/known_issues.h"

#include <array>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "common/file.h"
#include "common/json_reader.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace hijackguard::detector {
namespace internal {
std::string_view BuiltinCatalogJson();  // builtin_catalog.cc, generated
}  // namespace internal

namespace {

using json::ObjectReader;
using json::Problems;
using Json = nlohmann::json;

constexpr std::size_t kMaxCatalogBytes = 4 << 20;
constexpr std::array kCategories = {
    kCategoryOrganizerHijack, kCategoryServerLoad, kCategoryCalendarIntegrity};

std::optional<Confidence> ParseConfidence(std::string_view s) {
  for (Confidence c : {Confidence::kSuspected, Confidence::kReported,
                       Confidence::kConfirmed}) {
    if (ConfidenceName(c) == s) {
      return c;
    }
  }
  return std::nullopt;
}

bool IsIdentifier(std::string_view id) {
  if (id.empty() || id.size() > 64) {
    return false;
  }
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return false;
    }
  }
  return id.front() != '-' && id.back() != '-';
}

template <typename T, typename ParseFn>
std::optional<T> ParseField(ObjectReader& r, std::string_view key,
                            bool required, ParseFn parse, Problems* problems) {
  auto text = r.String(key, required);
  if (!text) {
    return std::nullopt;
  }
  auto parsed = parse(*text);
  if (!parsed.ok()) {
    problems->Add(r.PointerTo(key), ToStd(parsed.status().message()));
    return std::nullopt;
  }
  return *parsed;
}

std::optional<AffectedBuilds> ParseAffects(const Json& value,
                                           const std::string& pointer,
                                           Problems* problems) {
  ObjectReader r(value, pointer, problems);
  if (!r.is_object()) {
    return std::nullopt;
  }
  AffectedBuilds a;
  bool ok = true;
  if (auto c = r.String("confidence", true)) {
    if (auto parsed = ParseConfidence(*c)) {
      a.confidence = *parsed;
    } else {
      problems->Add(r.PointerTo("confidence"),
                    "must be \"confirmed\", \"reported\" or \"suspected\"");
      ok = false;
    }
  } else {
    ok = false;
  }
  if (const Json* note = r.Member("note", false)) {
    if (note->is_string()) {
      a.note = note->get<std::string>();
    } else {
      problems->Add(r.PointerTo("note"), "must be a string");
    }
  }
  const Json* builds = r.Array("builds", false);
  const Json* build_range = r.Member("build_range", false);
  const Json* versions = r.Member("versions", false);
  const int forms =
      (builds != nullptr) + (build_range != nullptr) + (versions != nullptr);
  if (forms != 1) {
    problems->Add(
        pointer,
        "must have exactly one of \"builds\", \"build_range\", \"versions\"");
    return std::nullopt;
  }
  if (builds != nullptr) {
    a.kind = AffectedBuilds::Kind::kBuildList;
    if (builds->empty()) {
      problems->Add(r.PointerTo("builds"), "must not be empty");
      ok = false;
    }
    for (std::size_t i = 0; i < builds->size(); ++i) {
      const std::string p = StrCat(r.PointerTo("builds"), "/", i);
      const Json& b = (*builds)[i];
      if (!b.is_string()) {
        problems->Add(p, "must be a string");
        ok = false;
        continue;
      }
      auto parsed = ParseIosBuild(b.get<std::string>());
      if (!parsed.ok()) {
        problems->Add(p, ToStd(parsed.status().message()));
        ok = false;
        continue;
      }
      a.builds.push_back(*parsed);
    }
  } else if (build_range != nullptr) {
    a.kind = AffectedBuilds::Kind::kBuildRange;
    ObjectReader range(*build_range, r.PointerTo("build_range"), problems);
    auto first =
        ParseField<IosBuild>(range, "first", true, ParseIosBuild, problems);
    auto last =
        ParseField<IosBuild>(range, "last", true, ParseIosBuild, problems);
    if (!first || !last) {
      return std::nullopt;
    }
    if (*last < *first) {
      problems->Add(range.pointer(), "\"last\" comes before \"first\"");
      return std::nullopt;
    }
    a.first_build = *first;
    a.last_build = *last;
  } else {
    a.kind = AffectedBuilds::Kind::kVersionRange;
    ObjectReader range(*versions, r.PointerTo("versions"), problems);
    auto first =
        ParseField<Version>(range, "first", true, Version::Parse, problems);
    auto last =
        ParseField<Version>(range, "last", false, Version::Parse, problems);
    auto before =
        ParseField<Version>(range, "before", false, Version::Parse, problems);
    if (!first) {
      return std::nullopt;
    }
    if (last.has_value() == before.has_value()) {
      problems->Add(range.pointer(),
                    "must have exactly one of \"last\" (inclusive) and "
                    "\"before\" (exclusive)");
      return std::nullopt;
    }
    a.first_version = *first;
    a.end_inclusive = last.has_value();
    a.end_version = last ? *last : *before;
    if (a.end_inclusive ? a.end_version < a.first_version
                        : a.end_version <= a.first_version) {
      problems->Add(range.pointer(), "the range is empty");
      return std::nullopt;
    }
  }
  if (!ok) {
    return std::nullopt;
  }
  return a;
}

std::optional<KnownIssue> ParseIssue(const Json& value,
                                     const std::string& pointer,
                                     Problems* problems) {
  ObjectReader r(value, pointer, problems);
  if (!r.is_object()) {
    return std::nullopt;
  }
  const std::size_t problems_before = problems->size();
  KnownIssue issue;
  if (auto id = r.String("id", true)) {
    if (IsIdentifier(*id)) {
      issue.id = *id;
    } else {
      problems->Add(r.PointerTo("id"),
                    "must be 1-64 characters of a-z, 0-9 and '-', not starting "
                    "or ending in '-'");
    }
  }
  issue.title = r.String("title", true).value_or("");
  if (auto category = r.String("category", true)) {
    if (std::find(kCategories.begin(), kCategories.end(), *category) ==
        kCategories.end()) {
      problems->Add(r.PointerTo("category"),
                    "must be \"organizer-hijack\", \"server-load\" or "
                    "\"calendar-integrity\"");
    }
    issue.category = *category;
  }
  if (auto platform = r.String("platform", true)) {
    auto parsed = ParsePlatformName(*platform);
    if (!parsed || *parsed == Platform::kUnknown) {
      problems->Add(r.PointerTo("platform"),
                    "must be \"ios\", \"android\", \"windows-phone\", "
                    "\"outlook-mobile\" or \"other\"");
    } else {
      issue.platform = *parsed;
    }
  }
  issue.summary = r.String("summary", true).value_or("");
  issue.remediation = r.String("remediation", true).value_or("");
  // fixed_in: a version, or null when no source confirms a fix (then fix_note
  // must say so).
  issue.fixed_in =
      ParseField<Version>(r, "fixed_in", false, Version::Parse, problems);
  if (const Json* note = r.Member("fix_note", false)) {
    if (note->is_string()) {
      issue.fix_note = note->get<std::string>();
    } else {
      problems->Add(r.PointerTo("fix_note"), "must be a string");
    }
  }
  if (!issue.fixed_in && issue.fix_note.empty()) {
    problems->Add(
        r.PointerTo("fix_note"),
        "is required when \"fixed_in\" is null: say what is known about a fix");
  }
  if (const Json* refs = r.Array("references", true)) {
    if (refs->empty()) {
      problems->Add(r.PointerTo("references"), "must list at least one source");
    }
    for (std::size_t i = 0; i < refs->size(); ++i) {
      const Json& ref = (*refs)[i];
      if (!ref.is_string() || ref.get<std::string>().empty()) {
        problems->Add(StrCat(r.PointerTo("references"), "/", i),
                      "must be a non-empty string");
        continue;
      }
      issue.references.push_back(ref.get<std::string>());
    }
  }
  if (const Json* affects = r.Array("affects", true)) {
    for (std::size_t i = 0; i < affects->size(); ++i) {
      if (auto a =
              ParseAffects((*affects)[i],
                           StrCat(r.PointerTo("affects"), "/", i), problems)) {
        issue.affects.push_back(*std::move(a));
      }
    }
  }
  if (problems->size() != problems_before) {
    return std::nullopt;
  }
  return issue;
}

// Whether `clause` covers `fp`, and if so why.
std::optional<std::string> ClauseMatches(const AffectedBuilds& clause,
                                         const Fingerprint& fp) {
  switch (clause.kind) {
    case AffectedBuilds::Kind::kBuildList:
      if (fp.build) {
        for (const IosBuild& b : clause.builds) {
          if (b == *fp.build) {
            return StrCat("build ", b.ToString(), " is listed as affected");
          }
        }
      }
      return std::nullopt;
    case AffectedBuilds::Kind::kBuildRange:
      if (fp.build && clause.first_build <= *fp.build &&
          *fp.build <= clause.last_build) {
        return StrCat("build ", fp.build->ToString(),
                      " is within the affected builds ",
                      clause.first_build.ToString(), " to ",
                      clause.last_build.ToString());
      }
      return std::nullopt;
    case AffectedBuilds::Kind::kVersionRange: {
      if (!fp.os_version) {
        return std::nullopt;
      }
      const Version& v = *fp.os_version;
      const bool below_end = clause.end_inclusive ? v <= clause.end_version
                                                  : v < clause.end_version;
      if (clause.first_version <= v && below_end) {
        return StrCat("version ", v.ToString(),
                      " is within the affected versions ",
                      clause.first_version.ToString(),
                      clause.end_inclusive ? " to " : " up to (not including) ",
                      clause.end_version.ToString());
      }
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<KnownIssueCatalog> KnownIssueCatalog::Parse(
    std::string_view text, std::string_view origin) {
  Problems problems;
  std::optional<Json> doc = json::ParseJson(text, &problems);
  KnownIssueCatalog catalog;
  if (doc) {
    ObjectReader root(*doc, "", &problems);
    (void)root.Integer("format", true, 1, 1);  // the only format so far
    catalog.catalog_version_ =
        root.String("catalog_version", true).value_or("");
    root.Skip("description");
    absl::flat_hash_set<std::string> ids;
    if (const Json* issues = root.Array("issues", true)) {
      for (std::size_t i = 0; i < issues->size(); ++i) {
        const std::string pointer = StrCat("/issues/", i);
        auto issue = ParseIssue((*issues)[i], pointer, &problems);
        if (!issue) {
          continue;
        }
        if (!ids.insert(issue->id).second) {
          problems.Add(pointer + "/id",
                       StrCat("duplicate id \"", issue->id, "\""));
          continue;
        }
        catalog.issues_.push_back(*std::move(issue));
      }
    }
  }
  RETURN_IF_ERROR(problems.ToStatus(origin, text));
  return catalog;
}

absl::StatusOr<KnownIssueCatalog> KnownIssueCatalog::LoadFile(
    const std::string& path) {
  auto text = ReadNamedFile("known-issue catalog", path, kMaxCatalogBytes);
  if (!text.ok()) {
    return text.status();
  }
  return Parse(*text, StrCat("known-issue catalog ", path));
}

absl::StatusOr<KnownIssueCatalog> KnownIssueCatalog::Builtin() {
  return Parse(internal::BuiltinCatalogJson(), "built-in known-issue catalog");
}

const KnownIssue* KnownIssueCatalog::Find(std::string_view id) const {
  for (const KnownIssue& issue : issues_) {
    if (issue.id == id) {
      return &issue;
    }
  }
  return nullptr;
}

std::vector<KnownIssueMatch> KnownIssueCatalog::Match(
    const Fingerprint& fp) const {
  std::vector<KnownIssueMatch> matches;
  for (const KnownIssue& issue : issues_) {
    if (issue.platform != fp.platform) {
      continue;
    }
    std::optional<KnownIssueMatch> best;
    for (const AffectedBuilds& clause : issue.affects) {
      if (best && best->confidence >= clause.confidence) {
        continue;
      }
      if (auto why = ClauseMatches(clause, fp)) {
        best = KnownIssueMatch{&issue, clause.confidence, *std::move(why)};
      }
    }
    if (best) {
      matches.push_back(*std::move(best));
    }
  }
  return matches;
}

Fingerprint IdentifyDevice(const FingerprintInput& input,
                           const KnownIssueCatalog& catalog) {
  Fingerprint fp = ComputeFingerprint(input);
  fp.known_issues = catalog.Match(fp);
  return fp;
}

}  // namespace hijackguard::detector
