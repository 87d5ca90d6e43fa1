#include "policy/policy.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "common/file.h"
#include "common/json_locations.h"
#include "common/json_reader.h"
#include "common/sha256.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "detector/traffic/observation.h"
#include "policy/exemptions.h"

namespace hijackguard::policy {
namespace {

using json::ObjectReader;
using json::Problems;
using Json = nlohmann::json;

constexpr std::size_t kMaxPolicyBytes = Policy::kMaxBytes;
constexpr std::size_t kMaxAdminInsertChars = 256;
constexpr std::size_t kMaxTemplateChars = 2000;
constexpr std::size_t kMaxExemptionValueBytes = 256;
constexpr std::size_t kMaxReasonChars = 512;
constexpr double kMaxHours = 24 * 365;
constexpr int kMaxNesting = 16;
constexpr std::size_t kMaxTenants = 1000;
constexpr std::size_t kMaxAttendeeSteps = 32;
constexpr std::size_t kMaxLocales = 64;         // per settings
constexpr std::size_t kMaxExemptions = 10'000;  // in the whole document
constexpr std::size_t kMaxProblems = 100;
constexpr std::size_t kMaxShownPointer = 256;
constexpr std::int64_t kMaxUnixSeconds = 253402300799;  // 9999-12-31

constexpr std::array<detector::EventKind, 5> kEventKinds = {
    detector::EventKind::kOrganizerRewrite,
    detector::EventKind::kOwnershipClaim,
    detector::EventKind::kAttendeeCancel,
    detector::EventKind::kSuspectedSelfOrganizer,
    detector::EventKind::kOrganizerNameChange,
};
constexpr std::array<std::string_view, 3> kConfidenceKeys = {
    "suspected", "reported", "confirmed"};

// Defaults (docs/policy.md lists them; examples/policies/default.json spells
// them out).
constexpr std::array<double, 3> kDefaultHijackPrior = {5, 15, 30};
constexpr std::array<double, 5> kDefaultWeights = {60, 60, 80, 10, 0};
constexpr double kDefaultWarn = 25;
constexpr double kDefaultQuarantine = 50;
constexpr double kDefaultHalfLifeHours = 168;
constexpr double kDefaultGraceHours = 72;

std::string Ptr(std::string_view prefix, std::string_view path) {
  return StrCat(prefix, path);
}

bool IsTenantId(std::string_view id) {
  if (id.empty() || id.size() > 128) {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
           c == '-';
  });
}

// "en", "de", "pt-br", "zh-hant-tw": lower case, '-' separated.
bool IsLocaleKey(std::string_view key) {
  if (key.size() < 2 || key.size() > 35) {
    return false;
  }
  std::size_t part = 0;
  std::size_t first_len = 0;
  for (char c : key) {
    if (c == '-') {
      if (part == 0) {
        return false;
      }
      if (first_len == 0) {
        first_len = part;
      }
      part = 0;
      continue;
    }
    if (!((c >= 'a' && c <= 'z') || (first_len != 0 && c >= '0' && c <= '9'))) {
      return false;
    }
    ++part;
  }
  if (first_len == 0) {
    first_len = part;
  }
  return part != 0 && first_len >= 2 && first_len <= 3;
}

std::optional<absl::Duration> Hours(ObjectReader& r, std::string_view key,
                                    double min) {
  std::optional<double> h = r.Number(key, false, min, kMaxHours);
  if (!h) {
    return std::nullopt;
  }
  return absl::Seconds(*h * 3600);
}

// A prefix for this settings object's pointers: "" or "/tenants/acme".
class SettingsParser {
 public:
  SettingsParser(const detector::KnownIssueCatalog& catalog, Problems* problems)
      : catalog_(catalog), problems_(problems) {}

  // Reads the settings members of `r` (the document's top level or a tenant
  // override) over `*s`. `tenant` is "" at the top level.
  void Parse(ObjectReader& r, std::string_view tenant, Settings* s) {
    const std::string& p = r.pointer();
    r.Skip("$comment");
    if (std::optional<std::string> mode = r.String("mode", false)) {
      if (*mode == "enforce") {
        s->mode = {Mode::kEnforce, Ptr(p, "/mode")};
      } else if (*mode == "monitor") {
        s->mode = {Mode::kMonitor, Ptr(p, "/mode")};
      } else {
        problems_->Add(Ptr(p, "/mode"),
                       StrCat("must be \"enforce\" or \"monitor\", not ",
                              QuoteInput(*mode)));
      }
    }
    if (const Json* priors = r.Member("priors", false)) {
      ParsePriors(*priors, Ptr(p, "/priors"), s);
    }
    if (const Json* events = r.Member("events", false)) {
      ParseEvents(*events, Ptr(p, "/events"), s);
    }
    if (const Json* thresholds = r.Member("thresholds", false)) {
      ParseThresholds(*thresholds, Ptr(p, "/thresholds"), s);
    }
    if (const Json* escalation = r.Member("escalation", false)) {
      ObjectReader e(*escalation, Ptr(p, "/escalation"), problems_);
      e.Skip("$comment");
      if (auto grace = Hours(e, "grace_hours", 0)) {
        s->grace = {*grace, e.PointerTo("grace_hours")};
      }
    }
    if (const Json* restrict = r.Member("restrict", false)) {
      ParseRestrict(*restrict, Ptr(p, "/restrict"), s);
    }
    if (const Json* alerts = r.Member("alerts", false)) {
      ParseAlerts(*alerts, Ptr(p, "/alerts"), s);
    }
    if (const Json* exemptions = r.Array("exemptions", false)) {
      ParseExemptions(*exemptions, Ptr(p, "/exemptions"), tenant, s);
    }
  }

  // Checks what only the merged settings show (threshold order). `prefix`
  // is "" at the top level or the tenant's pointer: a tenant is blamed only
  // for a conflict one of its own members takes part in, and at that member.
  void CheckOrder(const Settings& s, std::string_view prefix) {
    auto own = [&](const std::string& pointer) {
      return prefix.empty() || pointer.starts_with(StrCat(prefix, "/"));
    };
    auto blame = [&](const std::string& upper, const std::string& lower) {
      return own(upper) ? upper : lower;
    };
    const auto& warn = s.warn_threshold;
    const auto& quarantine = s.quarantine_threshold;
    const auto& block = s.block_threshold;
    if (quarantine.value <= warn.value &&
        (own(quarantine.pointer) || own(warn.pointer))) {
      problems_->Add(
          blame(quarantine.pointer, warn.pointer),
          StrCat("the quarantine threshold (", quarantine.value, ", ",
                 quarantine.pointer, ") must be above the warn threshold (",
                 warn.value, ", ", warn.pointer, ")"));
    }
    if (block.value && *block.value <= quarantine.value &&
        (own(block.pointer) || own(quarantine.pointer))) {
      problems_->Add(
          blame(block.pointer, quarantine.pointer),
          StrCat("the block threshold (", *block.value, ", ", block.pointer,
                 ") must be above the quarantine threshold (", quarantine.value,
                 ", ", quarantine.pointer, ")"));
    }
  }

 private:
  void ParsePriors(const Json& value, const std::string& p, Settings* s) {
    ObjectReader r(value, p, problems_);
    if (!r.is_object()) {
      return;
    }
    r.Skip("$comment");
    for (const auto& [id, table] : value.items()) {
      if (id == "$comment") {
        continue;
      }
      r.Skip(id);
      const std::string ip = r.PointerTo(id);
      if (catalog_.Find(id) == nullptr) {
        std::string known;
        for (const detector::KnownIssue& issue : catalog_.issues()) {
          StrAppend(&known, known.empty() ? "" : ", ", issue.id);
        }
        problems_->Add(ip, StrCat("no known issue \"", id,
                                  "\" in the catalog; known: ", known));
        continue;
      }
      ObjectReader t(table, ip, problems_);
      t.Skip("$comment");
      PriorTable& prior = s->priors[id];
      for (std::size_t c = 0; c < kConfidenceKeys.size(); ++c) {
        if (auto v = t.Number(kConfidenceKeys[c], false, 0, 100)) {
          prior.by_confidence[c] = {*v, t.PointerTo(kConfidenceKeys[c])};
        } else if (prior.by_confidence[c].pointer.empty()) {
          prior.by_confidence[c].pointer = t.PointerTo(kConfidenceKeys[c]);
        }
      }
    }
  }

  void ParseEvents(const Json& value, const std::string& p, Settings* s) {
    ObjectReader r(value, p, problems_);
    r.Skip("$comment");
    if (const Json* weights = r.Member("weights", false)) {
      ObjectReader w(*weights, r.PointerTo("weights"), problems_);
      w.Skip("$comment");
      for (std::size_t k = 0; k < kEventKinds.size(); ++k) {
        const std::string_view name = detector::EventKindName(kEventKinds[k]);
        if (auto v = w.Number(name, false, 0, 100)) {
          s->weights[k] = {*v, w.PointerTo(name)};
        }
      }
    }
    if (const Json* steps = r.Array("attendee_multiplier", false)) {
      const std::string sp = r.PointerTo("attendee_multiplier");
      std::vector<AttendeeStep> list;
      bool ok = true;
      if (steps->size() > kMaxAttendeeSteps) {
        problems_->Add(sp, StrCat("has ", steps->size(), " steps; at most ",
                                  kMaxAttendeeSteps, " are allowed"));
        return;
      }
      for (std::size_t i = 0; i < steps->size(); ++i) {
        ObjectReader step((*steps)[i], StrCat(sp, "/", i), problems_);
        step.Skip("$comment");
        const auto at_least = step.Integer("at_least", true, 1, 100000);
        const auto factor = step.Number("factor", true, 0.01, 10);
        if (!at_least || !factor) {
          ok = false;
          continue;
        }
        if (!list.empty() && *at_least <= list.back().at_least) {
          problems_->Add(step.PointerTo("at_least"),
                         StrCat("must be greater than the previous step's (",
                                list.back().at_least,
                                "): steps go from fewer attendees to more"));
          ok = false;
        }
        list.push_back({static_cast<int>(*at_least), *factor});
      }
      if (ok) {
        s->attendee_multiplier = {std::move(list), sp};
      }
    }
    if (auto h = Hours(r, "half_life_hours", 0.01)) {
      s->half_life = {*h, r.PointerTo("half_life_hours")};
    }
  }

  void ParseThresholds(const Json& value, const std::string& p, Settings* s) {
    ObjectReader r(value, p, problems_);
    r.Skip("$comment");
    if (auto v = r.Number("warn", false, 0.01, 100)) {
      s->warn_threshold = {*v, r.PointerTo("warn")};
    }
    if (auto v = r.Number("quarantine", false, 0.01, 100)) {
      s->quarantine_threshold = {*v, r.PointerTo("quarantine")};
    }
    if (const Json* block = r.MemberOrNull("block")) {
      if (block->is_null()) {
        s->block_threshold = {std::nullopt, r.PointerTo("block")};
      } else if (!block->is_number()) {
        problems_->Add(r.PointerTo("block"),
                       StrCat("must be a number or null (never block), not ",
                              block->type_name()));
      } else if (const double v = block->get<double>(); !(v > 0 && v <= 100)) {
        problems_->Add(r.PointerTo("block"), "must be between 0.01 and 100");
      } else {
        s->block_threshold = {v, r.PointerTo("block")};
      }
    }
  }

  void ParseRestrict(const Json& value, const std::string& p, Settings* s) {
    ObjectReader r(value, p, problems_);
    r.Skip("$comment");
    if (auto v = r.String("warn", false)) {
      if (*v == "none" || *v == "calendar") {
        s->restrict_warn = {*v == "none" ? Scope::kNone : Scope::kCalendar,
                            r.PointerTo("warn")};
      } else {
        problems_->Add(r.PointerTo("warn"),
                       StrCat("must be \"none\" (alert only) or \"calendar\" "
                              "(stop calendar sync), not ",
                              QuoteInput(*v)));
      }
    }
    if (auto v = r.String("quarantine", false)) {
      if (*v == "device" || *v == "calendar") {
        s->restrict_quarantine = {
            *v == "device" ? Scope::kDevice : Scope::kCalendar,
            r.PointerTo("quarantine")};
      } else {
        problems_->Add(r.PointerTo("quarantine"),
                       StrCat("must be \"device\" (stop all sync) or "
                              "\"calendar\" (stop calendar sync), not ",
                              QuoteInput(*v)));
      }
    }
  }

  std::optional<std::string> Text(ObjectReader& r, std::string_view key,
                                  bool required, std::size_t max_chars) {
    std::optional<std::string> v = r.String(key, required);
    if (!v) {
      return std::nullopt;
    }
    if (CountUtf8Chars(*v) > max_chars) {
      problems_->Add(r.PointerTo(key),
                     StrCat("is ", CountUtf8Chars(*v), " characters; at most ",
                            max_chars, " are allowed"));
      return std::nullopt;
    }
    return v;
  }

  std::optional<std::string> TemplateText(ObjectReader& r, std::string_view key,
                                          bool required) {
    std::optional<std::string> v = Text(r, key, required, kMaxTemplateChars);
    if (!v) {
      return std::nullopt;
    }
    std::vector<std::string> issues = CheckTemplate(*v);
    for (const std::string& issue : issues) {
      problems_->Add(r.PointerTo(key), issue);
    }
    return issues.empty() ? v : std::nullopt;
  }

  void ParseAlerts(const Json& value, const std::string& p, Settings* s) {
    ObjectReader r(value, p, problems_);
    r.Skip("$comment");
    if (const Json* insert = r.MemberOrNull("admin_insert")) {
      if (insert->is_string() && insert->get<std::string>().empty()) {
        s->admin_insert = {"", r.PointerTo("admin_insert")};
      } else if (auto v =
                     Text(r, "admin_insert", false, kMaxAdminInsertChars)) {
        s->admin_insert = {*v, r.PointerTo("admin_insert")};
      }
    }
    const Json* templates = r.Member("templates", false);
    if (templates == nullptr) {
      return;
    }
    ObjectReader t(*templates, r.PointerTo("templates"), problems_);
    if (!t.is_object()) {
      return;
    }
    t.Skip("$comment");
    if (templates->size() - (templates->contains("$comment") ? 1 : 0) >
        kMaxLocales) {
      problems_->Add(r.PointerTo("templates"),
                     StrCat("has ", templates->size(), " locales; at most ",
                            kMaxLocales, " are allowed"));
      return;
    }
    for (const auto& [locale, body] : templates->items()) {
      if (locale == "$comment") {
        continue;
      }
      t.Skip(locale);
      const std::string lp = t.PointerTo(locale);
      if (!IsLocaleKey(locale)) {
        problems_->Add(lp, StrCat(QuoteInput(locale),
                                  " is not a lower-case language tag such "
                                  "as \"de\" or \"pt-br\""));
        continue;
      }
      const bool is_new = s->templates.find(locale) == s->templates.end();
      LocaleTemplates merged =
          is_new ? LocaleTemplates{} : s->templates.find(locale)->second;
      ObjectReader l(body, lp, problems_);
      if (!l.is_object()) {
        continue;
      }
      l.Skip("$comment");
      const std::size_t before = problems_->size();
      if (auto v = TemplateText(l, "latest_release", is_new)) {
        merged.latest_release = *v;
      }
      if (auto v = TemplateText(l, "deadline_notice", is_new)) {
        merged.deadline_notice = *v;
      }
      for (std::size_t k = 0; k < kAlertKindCount; ++k) {
        const std::string_view key = AlertKindKey(static_cast<AlertKind>(k));
        const Json* kind = l.Member(key, is_new);
        if (kind == nullptr) {
          continue;
        }
        ObjectReader kr(*kind, l.PointerTo(key), problems_);
        kr.Skip("$comment");
        AlertTemplate& at = merged.kinds[k];
        if (auto v = TemplateText(kr, "title", is_new)) at.title = *v;
        if (auto v = TemplateText(kr, "message", is_new)) at.message = *v;
        if (auto v = TemplateText(kr, "remediation", is_new)) {
          at.remediation = *v;
        }
      }
      if (problems_->size() == before) {
        s->templates[locale] = std::move(merged);
      }
    }
  }

  void ParseExemptions(const Json& list, const std::string& p,
                       std::string_view tenant, Settings* s) {
    std::set<std::string> seen;
    exemptions_ += list.size();
    if (exemptions_ > kMaxExemptions) {
      problems_->Add(p, StrCat("brings the document's exemptions to ",
                               exemptions_, "; at most ", kMaxExemptions,
                               " are allowed (more belong in the admin API)"));
      return;
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string ep = StrCat(p, "/", i);
      ObjectReader r(list[i], ep, problems_);
      if (!r.is_object()) {
        continue;
      }
      r.Skip("$comment");
      const auto kind_name = r.String("kind", true);
      const auto value = r.String("value", true);
      const auto reason = Text(r, "reason", true, kMaxReasonChars);
      const auto expires = r.String("expires", true);
      Exemption e;
      bool ok = value && reason && expires && kind_name;
      if (kind_name) {
        if (auto kind = ParseExemptionKind(*kind_name)) {
          e.kind = *kind;
        } else {
          problems_->Add(r.PointerTo("kind"),
                         StrCat("must be \"user\", \"device\" or \"group\", "
                                "not ",
                                QuoteInput(*kind_name)));
          ok = false;
        }
      }
      if (value && value->size() > kMaxExemptionValueBytes) {
        problems_->Add(r.PointerTo("value"),
                       StrCat("is ", value->size(), " bytes; at most ",
                              kMaxExemptionValueBytes, " are allowed"));
        ok = false;
      }
      if (expires) {
        std::string error;
        if (!absl::ParseTime(absl::RFC3339_full, *expires, &e.expires,
                             &error) ||
            e.expires < absl::UnixEpoch() ||
            e.expires > absl::FromUnixSeconds(kMaxUnixSeconds)) {
          problems_->Add(r.PointerTo("expires"),
                         StrCat(QuoteInput(*expires),
                                " is not an RFC 3339 time between 1970 and "
                                "9999, such as \"2027-01-31T00:00:00Z\""));
          ok = false;
        }
      }
      if (!ok) {
        continue;
      }
      e.value = NormalizeExemptionValue(e.kind, *value);
      e.reason = *reason;
      e.tenant_id = std::string(tenant);
      e.source = ep;
      e.id = ExemptionId(tenant, e.kind, e.value);
      if (!seen.insert(e.id).second) {
        problems_->Add(
            r.PointerTo("value"),
            StrCat("a second exemption for ", ExemptionKindName(e.kind), " \"",
                   e.value, "\" in this list"));
        continue;
      }
      s->exemptions.push_back(std::move(e));
    }
  }

  const detector::KnownIssueCatalog& catalog_;
  Problems* problems_;
  std::size_t exemptions_ = 0;  // in the document so far
};

void Finish(Settings* s) {
  for (std::size_t k = 0; k < s->weights.size(); ++k) {
    s->event_reason_suffix[k] = StrCat(
        "; weight ", s->weights[k].value, ", decayed with a half-life of ",
        absl::ToDoubleHours(s->half_life.value), " h: +");
  }
}

Settings DefaultSettings(const detector::KnownIssueCatalog& catalog) {
  Settings s;
  s.mode = {Mode::kMonitor, "/mode"};
  for (const detector::KnownIssue& issue : catalog.issues()) {
    if (issue.category != detector::kCategoryOrganizerHijack) {
      continue;
    }
    PriorTable& t = s.priors[issue.id];
    for (std::size_t c = 0; c < 3; ++c) {
      t.by_confidence[c] =
          Rule<double>{kDefaultHijackPrior[c],
                       StrCat("/priors/", json::PointerEscape(issue.id), "/",
                              kConfidenceKeys[c])};
    }
  }
  for (std::size_t k = 0; k < kEventKinds.size(); ++k) {
    s.weights[k] = {
        kDefaultWeights[k],
        StrCat("/events/weights/", detector::EventKindName(kEventKinds[k]))};
  }
  s.attendee_multiplier = {{{10, 1.25}, {50, 1.5}},
                           "/events/attendee_multiplier"};
  s.half_life = {absl::Hours(kDefaultHalfLifeHours), "/events/half_life_hours"};
  s.warn_threshold = {kDefaultWarn, "/thresholds/warn"};
  s.quarantine_threshold = {kDefaultQuarantine, "/thresholds/quarantine"};
  s.block_threshold = {std::nullopt, "/thresholds/block"};
  s.grace = {absl::Hours(kDefaultGraceHours), "/escalation/grace_hours"};
  s.restrict_warn = {Scope::kNone, "/restrict/warn"};
  s.restrict_quarantine = {Scope::kDevice, "/restrict/quarantine"};
  s.admin_insert = {"", "/alerts/admin_insert"};
  for (auto& [locale, t] : BuiltinTemplates()) {
    s.templates.emplace(locale, std::move(t));
  }
  Finish(&s);
  return s;
}

// Whole numbers written as 25.0 become 25, so that the revision does not
// change with the way a number is written. (Nesting is bounded: deeper
// documents were rejected.)
void Canonicalize(Json* value) {
  if (value->is_number_float()) {
    const double d = value->get<double>();
    if (d == std::floor(d) && std::abs(d) < 9e15) {
      *value = static_cast<std::int64_t>(d);
    }
  } else if (value->is_structured()) {
    for (Json& child : *value) {
      Canonicalize(&child);
    }
  }
}

std::vector<PolicyProblem> Locate(const Problems& problems,
                                  const json::Locations* locations) {
  std::vector<PolicyProblem> out;
  out.reserve(problems.entries().size());
  for (const Problems::Entry& e : problems.entries()) {
    PolicyProblem p{e.pointer.empty() ? "/" : e.pointer, 0, 0, e.message};
    if (const auto at = json::ProblemLocation(e, locations)) {
      p.line = at->line;
      p.column = at->column;
    }
    if (p.pointer.size() > kMaxShownPointer) {
      p.pointer = TruncateUtf8(p.pointer, kMaxShownPointer);
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

std::string_view ModeName(Mode mode) {
  return mode == Mode::kEnforce ? "enforce" : "monitor";
}

std::string PolicyProblem::ToString() const {
  if (line > 0) {
    return StrCat(pointer, " (line ", line, ", column ", column,
                  "): ", message);
  }
  return StrCat(pointer, ": ", message);
}

std::string_view ExemptionKindName(Exemption::Kind kind) {
  switch (kind) {
    case Exemption::Kind::kUser:
      return "user";
    case Exemption::Kind::kDevice:
      return "device";
    case Exemption::Kind::kGroup:
      return "group";
  }
  return "user";
}

std::optional<Exemption::Kind> ParseExemptionKind(std::string_view name) {
  if (name == "user") return Exemption::Kind::kUser;
  if (name == "device") return Exemption::Kind::kDevice;
  if (name == "group") return Exemption::Kind::kGroup;
  return std::nullopt;
}

std::string NormalizeExemptionValue(Exemption::Kind kind,
                                    std::string_view value) {
  std::string out(value);
  if (kind != Exemption::Kind::kDevice) {
    for (char& c : out) {
      if (c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c - 'A' + 'a');
      }
    }
  }
  return out;
}

std::string ExemptionId(std::string_view tenant_id, Exemption::Kind kind,
                        std::string_view normalized_value) {
  return StrCat(tenant_id, "/", ExemptionKindName(kind), "/", normalized_value);
}

absl::StatusOr<std::shared_ptr<const Policy>> Policy::Parse(
    std::string_view text, const detector::KnownIssueCatalog& catalog,
    std::vector<PolicyProblem>* problems_out) {
  Problems problems;
  std::optional<Json> doc;
  if (text.size() > kMaxPolicyBytes) {
    problems.Add("", StrCat("the policy is ", text.size(), " bytes; at most ",
                            kMaxPolicyBytes, " are allowed"));
  } else {
    // Nothing valid nests deeper; stopped before a tree is built. (An empty
    // array or object at the last level passes here and below alike; what
    // is inside one is named by FirstDeeperThan.)
    doc = json::ParseJson(text, &problems, kMaxNesting);
  }
  std::optional<json::Locations> locations;
  std::shared_ptr<Policy> policy(new Policy());
  if (doc) {
    locations = json::Locations::Scan(text);
    policy->global_ = DefaultSettings(catalog);
    SettingsParser parser(catalog, &problems);
    if (auto deep = locations->FirstDeeperThan(kMaxNesting)) {
      // Nothing valid nests this deep; stop before anything recurses.
      problems.Add(deep->first,
                   StrCat("nested more than ", kMaxNesting, " levels deep"));
    } else {
      ObjectReader top(*doc, "", &problems);
      if (top.is_object()) {
        if (auto v = top.String("apiVersion", true); v && *v != kApiVersion) {
          problems.Add("/apiVersion", StrCat("must be \"", kApiVersion,
                                             "\", not ", QuoteInput(*v)));
        }
        parser.Parse(top, "", &policy->global_);
        parser.CheckOrder(policy->global_, "");
        Finish(&policy->global_);
        if (const Json* tenants = top.Member("tenants", false)) {
          ObjectReader tr(*tenants, "/tenants", &problems);
          if (tr.is_object()) {
            tr.Skip("$comment");
            bool too_many_tenants = false;
            for (const auto& [id, body] : tenants->items()) {
              if (id == "$comment") {
                continue;
              }
              tr.Skip(id);
              const std::string tp = tr.PointerTo(id);
              if (policy->tenants_.size() >= kMaxTenants) {
                if (!too_many_tenants) {
                  problems.Add(tp, StrCat("more than ", kMaxTenants,
                                          " tenant overrides"));
                  too_many_tenants = true;
                }
                continue;
              }
              if (!IsTenantId(id)) {
                problems.Add(tp,
                             "is not a tenant id (1-128 of A-Z, a-z, "
                             "0-9, '.', '_', ':' and '-')");
                continue;
              }
              Settings s = policy->global_;
              s.exemptions.clear();  // the top level's apply by themselves
              ObjectReader body_reader(body, tp, &problems);
              if (!body_reader.is_object()) {
                continue;
              }
              for (const char* key : {"apiVersion", "tenants"}) {
                if (body_reader.MemberOrNull(key) != nullptr) {
                  problems.Add(body_reader.PointerTo(key),
                               "is allowed at the top level only, not in a "
                               "tenant override");
                }
              }
              parser.Parse(body_reader, id, &s);
              parser.CheckOrder(s, tp);
              Finish(&s);
              policy->tenants_.emplace(id, std::move(s));
            }
          }
        }
      }
    }  // readers report unknown keys here
  }
  std::vector<PolicyProblem> located =
      Locate(problems, locations ? &*locations : nullptr);
  if (locations) {
    for (const auto& [pointer, at] : locations->duplicate_keys()) {
      located.push_back({pointer, at.line, at.column,
                         "this key appears a second time in its object; "
                         "remove one of the two"});
    }
  }
  // In document order, so that the list reads top to bottom.
  std::stable_sort(located.begin(), located.end(),
                   [](const PolicyProblem& a, const PolicyProblem& b) {
                     return std::pair(a.line, a.column) <
                            std::pair(b.line, b.column);
                   });
  if (located.size() > kMaxProblems) {
    const std::size_t more = located.size() - kMaxProblems;
    located.resize(kMaxProblems);
    located.push_back({"/", 0, 0,
                       StrCat(more,
                              " more problems not listed; fix these "
                              "first")});
  }
  if (!located.empty()) {
    absl::Status status = ProblemsToStatus("policy", located);
    if (problems_out != nullptr) {
      *problems_out = std::move(located);
    }
    return status;
  }
  std::vector<Exemption> exemptions = policy->global_.exemptions;
  for (const auto& [id, s] : policy->tenants_) {
    for (const Exemption& e : s.exemptions) {
      if (!e.tenant_id.empty()) {
        exemptions.push_back(e);
      }
    }
  }
  policy->exemptions_ =
      std::make_shared<const ExemptionIndex>(std::move(exemptions));
  policy->source_ = std::string(text);
  Canonicalize(&*doc);
  policy->canonical_ = doc->dump();
  policy->revision_ = Sha256Hex(policy->canonical_);
  return std::shared_ptr<const Policy>(std::move(policy));
}

std::vector<std::string> ExpiredExemptions(const Policy& policy,
                                           absl::Time now) {
  std::vector<std::string> lines;
  for (const Exemption* e : policy.exemptions().List()) {
    if (e->expires <= now) {
      // Named by its place in the document, not its value (an address).
      lines.push_back(StrCat(e->source, ": this ", ExemptionKindName(e->kind),
                             " exemption expired at ", FormatUtc(e->expires),
                             "; it is ignored"));
    }
  }
  return lines;
}

absl::StatusOr<std::shared_ptr<const Policy>> Policy::LoadFile(
    const std::string& path, const detector::KnownIssueCatalog& catalog,
    std::vector<PolicyProblem>* problems, std::size_t max_bytes) {
  absl::StatusOr<std::string> text =
      ReadNamedFile("policy", path, std::min(max_bytes, kMaxPolicyBytes));
  if (!text.ok()) {
    return text.status();
  }
  std::vector<PolicyProblem> found;
  auto policy = Parse(*text, catalog, &found);
  if (!policy.ok()) {
    absl::Status status = ProblemsToStatus(path, found);
    if (problems != nullptr) {
      *problems = std::move(found);
    }
    return status;
  }
  return policy;
}

std::shared_ptr<const Policy> Policy::Default(
    const detector::KnownIssueCatalog& catalog) {
  std::shared_ptr<Policy> policy(new Policy());
  policy->global_ = DefaultSettings(catalog);
  policy->exemptions_ = std::make_shared<const ExemptionIndex>();
  const Json doc = {{"apiVersion", kApiVersion}};
  policy->canonical_ = doc.dump();
  policy->revision_ = Sha256Hex(policy->canonical_);
  return policy;
}

const Settings& Policy::For(std::string_view tenant_id) const {
  auto it = tenants_.find(tenant_id);
  return it == tenants_.end() ? global_ : it->second;
}

absl::Status ProblemsToStatus(std::string_view origin,
                              const std::vector<PolicyProblem>& problems) {
  if (problems.empty()) {
    return absl::OkStatus();
  }
  std::vector<std::string> lines;
  lines.reserve(problems.size());
  for (const PolicyProblem& p : problems) {
    lines.push_back(p.ToString());
  }
  return absl::InvalidArgumentError(
      StrCat(origin, ": ", problems.size(),
             problems.size() == 1 ? " problem" : " problems", ":\n  ",
             StrJoin(lines, "\n  ")));
}

absl::Duration EventHorizon(const Policy& policy) {
  absl::Duration longest = policy.global().half_life.value;
  for (const auto& [id, settings] : policy.tenants()) {
    longest = std::max(longest, settings.half_life.value);
  }
  return longest * 10;
}

}  // namespace hijackguard::policy
