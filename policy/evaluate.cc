#include "policy/evaluate.h"

#include <algorithm>
#include <cmath>

#include "common/strings.h"
#include "common/utf8.h"
#include "detector/known_issues.h"

namespace hijackguard::policy {
namespace {

using detector::EventKind;
using detector::Fingerprint;
using detector::KnownIssueMatch;

constexpr std::size_t kEventKinds = 5;

// Scores and contributions are kept to 1/100 of a point, so that what a
// decision shows is what it compared against the thresholds.
double Round2(double v) { return std::round(v * 100) / 100; }

std::string_view ReasonFor(EventKind kind) {
  switch (kind) {
    case EventKind::kOrganizerRewrite:
      return kReasonObservedOrganizerRewrite;
    case EventKind::kOwnershipClaim:
      return kReasonObservedOwnershipClaim;
    case EventKind::kAttendeeCancel:
      return kReasonObservedAttendeeCancel;
    case EventKind::kSuspectedSelfOrganizer:
      return kReasonObservedSuspectedSelfOrganizer;
    case EventKind::kOrganizerNameChange:
      return kReasonObservedOrganizerNameChange;
  }
  return kReasonObservedOrganizerRewrite;
}

UtcText Rfc3339(absl::Time t) { return UtcText(t); }

// "2026-12-03 14:00 UTC": unambiguous in every locale.

std::string FormatHours(absl::Duration d) {
  return StrCat(absl::ToDoubleHours(d), " h");
}

}  // namespace

// PowerShell single-quoted string. PowerShell ends such a string at any of
// five single quotes (U+0027 and U+2018-U+201B) and reads two in a row as one
// literal quote, so each is doubled; nothing else is special inside it
// (double quotes, U+0022 and U+201C-U+201E, included). Control characters
// are dropped and bytes that are not UTF-8 become U+FFFD.
std::string PsQuote(std::string_view raw) {
  // Bytes that are not UTF-8 could turn into quotes in another code page
  // (0x91 and 0x92 are U+2018 and U+2019 in cp1252): they become U+FFFD.
  std::string printable;
  printable.reserve(raw.size());
  for (const char c : raw) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7F) {
      printable.push_back(c);  // control characters are dropped
    }
  }
  const std::string text = SanitizeText(printable);
  const std::string_view s = text;
  std::string out = "'";
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) {
      continue;
    }
    if (c == '\'') {
      out += "''";
      continue;
    }
    // U+2018-U+201B are E2 80 98-9B in UTF-8.
    if (c == 0xE2 && i + 2 < s.size() &&
        static_cast<unsigned char>(s[i + 1]) == 0x80 &&
        static_cast<unsigned char>(s[i + 2]) >= 0x98 &&
        static_cast<unsigned char>(s[i + 2]) <= 0x9B) {
      const std::string_view quote = s.substr(i, 3);
      out.append(quote).append(quote);
      i += 2;
      continue;
    }
    out.push_back(static_cast<char>(c));
  }
  out.push_back('\'');
  return out;
}

namespace {

std::string AdminRemediation(const Subject& subject, Action evaluated) {
  if (subject.eas_device_id.empty()) {
    return "";
  }
  std::string_view mailbox = subject.primary_smtp_address.empty()
                                 ? subject.user_principal
                                 : subject.primary_smtp_address;
  const std::string identity =
      mailbox.empty() ? std::string("<mailbox>") : PsQuote(mailbox);
  const bool block = evaluated >= Action::kQuarantine;
  return StrCat("Set-CASMailbox -Identity ", identity,
                " -ActiveSyncBlockedDeviceIDs @{", block ? "Add" : "Remove",
                "=", PsQuote(subject.eas_device_id), "}");
}

// The locale's templates: exact tag, then its language, then "en".
const LocaleTemplates& PickLocale(const Settings& s, std::string_view wanted,
                                  std::string* chosen) {
  if (!wanted.empty()) {
    std::string tag = NormalizeLocale(wanted);
    if (auto it = s.templates.find(tag); it != s.templates.end()) {
      *chosen = tag;
      return it->second;
    }
    const std::size_t dash = tag.find('-');
    if (dash != std::string::npos) {
      tag.resize(dash);
      if (auto it = s.templates.find(tag); it != s.templates.end()) {
        *chosen = tag;
        return it->second;
      }
    }
  }
  *chosen = "en";
  return s.templates.find("en")->second;
}

AlertKind KindFor(Action action, Scope scope) {
  switch (action) {
    case Action::kWarn:
      return scope == Scope::kCalendar ? AlertKind::kWarnCalendar
                                       : AlertKind::kWarn;
    case Action::kQuarantine:
      return scope == Scope::kCalendar ? AlertKind::kQuarantineCalendar
                                       : AlertKind::kQuarantine;
    default:
      return AlertKind::kBlock;
  }
}

bool IsHijack(const KnownIssueMatch& m) {
  return m.issue->category == detector::kCategoryOrganizerHijack;
}

void AddInformational(const Fingerprint& fp, bool hijack_matched,
                      std::vector<Reason>* reasons) {
  if (!hijack_matched) {
    reasons->push_back(
        {kReasonNoConfirmedHijackIssue,
         fp.platform == detector::Platform::kIos
             ? StrCat("No organizer-hijack issue is known for ", DescribeOs(fp),
                      ".")
             : StrCat("The client (", detector::PlatformName(fp.platform),
                      ") has no known organizer-hijack issue."),
         "", 0});
  }
  if (fp.platform == detector::Platform::kUnknown) {
    reasons->push_back({kReasonClientUnidentified,
                        "Nothing in the check-in identifies the mail client.",
                        "", 0});
  }
  if (fp.build && !fp.build_in_catalog) {
    reasons->push_back(
        {kReasonBuildNotInCatalog,
         StrCat("Build ", fp.build->ToString(),
                " is not in the iOS build catalog; known issues were matched "
                "on build ranges and on any version another source states "
                "(see fingerprint.notes)."),
         "", 0});
  }
  if (!fp.consistent()) {
    std::string fields;
    for (const auto& d : fp.disagreements) {
      StrAppend(&fields, fields.empty() ? "" : ", ", d.field);
    }
    reasons->push_back({kReasonFingerprintInconsistent,
                        StrCat("The device's sources disagree on ", fields,
                               "; see fingerprint.disagreements."),
                        "", 0});
  }
}

// " Newest: meeting <uid> in <mailbox> (organizer a, the client sent b)."
std::string Cite(const EvaluationInput& in, EventKind kind) {
  for (const detector::EventCitation& c : in.citations) {
    if (c.kind != kind) {
      continue;
    }
    std::string out = StrCat(" Newest: meeting ", c.uid);
    if (!c.mailbox.empty()) {
      StrAppend(&out, " in mailbox ", c.mailbox);
    }
    if (!c.organizer_email_before.empty()) {
      StrAppend(&out, " (organizer ", c.organizer_email_before);
      if (!c.organizer_email_after.empty()) {
        StrAppend(&out, ", the client sent ", c.organizer_email_after);
      }
      out += ")";
    }
    out += ". Details: GetDeviceRisk.";
    return out;
  }
  return "";
}

Action ActionForScore(const Settings& s, double score, std::string_view* rule) {
  if (s.block_threshold.value && score >= *s.block_threshold.value) {
    *rule = s.block_threshold.pointer;
    return Action::kBlock;
  }
  if (score >= s.quarantine_threshold.value) {
    *rule = s.quarantine_threshold.pointer;
    return Action::kQuarantine;
  }
  if (score >= s.warn_threshold.value) {
    *rule = s.warn_threshold.pointer;
    return Action::kWarn;
  }
  *rule = s.warn_threshold.pointer;
  return Action::kAllow;
}

double AttendeeFactor(const Settings& s, int attendees) {
  double factor = 1;
  for (const AttendeeStep& step : s.attendee_multiplier.value) {
    if (attendees >= step.at_least) {
      factor = step.factor;
    }
  }
  return factor;
}

}  // namespace

std::string DescribeOs(const Fingerprint& fp) {
  if (fp.platform != detector::Platform::kIos) {
    return fp.platform == detector::Platform::kUnknown
               ? std::string("an unidentified OS")
               : std::string(detector::PlatformName(fp.platform));
  }
  std::string out = "iOS";
  if (fp.os_version) {
    StrAppend(&out, " ", fp.os_version->ToString());
    if (fp.build) {
      StrAppend(&out, " (", fp.build->ToString(), ")");
    }
  } else if (fp.build) {
    StrAppend(&out, " build ", fp.build->ToString());
  }
  return out;
}

std::string DescribeDevice(const Fingerprint& fp) {
  if (!fp.model_name.empty()) {
    return fp.model_name;
  }
  const std::string_view family =
      detector::AppleDeviceFamilyName(fp.device_family);
  return family.empty() ? "device" : std::string(family);
}

namespace {

// The steps of Evaluate, in its order.

struct Prior {
  double value = 0;
  const KnownIssueMatch* issue = nullptr;   // the one whose prior counts
  const KnownIssueMatch* hijack = nullptr;  // the first organizer-hijack one
};

// The build's prior: the largest of its known issues' priors. Every known
// issue becomes a reason; only the largest adds to the score.
Prior ScorePrior(const Settings& s, const Fingerprint& fp,
                 const std::string& os, std::vector<Reason>* scored,
                 std::vector<std::string_view>* rules) {
  Prior prior;
  std::string_view prior_rule;
  for (const KnownIssueMatch& m : fp.known_issues) {
    if (prior.hijack == nullptr && IsHijack(m)) {
      prior.hijack = &m;
    }
    double value = 0;
    const std::string* rule = nullptr;
    if (auto it = s.priors.find(m.issue->id); it != s.priors.end()) {
      const Rule<double>& r =
          it->second.by_confidence[static_cast<std::size_t>(m.confidence) - 1];
      value = r.value;
      rule = &r.pointer;
    }
    if (value > prior.value) {
      prior.value = value;
      prior.issue = &m;
      prior_rule = *rule;
    }
  }
  for (const KnownIssueMatch& m : fp.known_issues) {
    const bool applied = &m == prior.issue;
    const bool confirmed_hijack =
        IsHijack(m) && m.confidence == detector::Confidence::kConfirmed;
    scored->push_back(
        {(confirmed_hijack ? kReasonConfirmedHijackBuild
                           : kReasonKnownIssuePrior),
         StrCat(os, " has a ", detector::ConfidenceName(m.confidence),
                " known issue: ", m.issue->title, " (", m.matched_by, ").",
                applied ? ""
                        : " Not added: the build's prior is the largest "
                          "of its issues' priors."),
         m.issue->id, applied ? prior.value : 0});
  }
  if (prior.issue != nullptr) {
    rules->push_back(prior_rule);
  }
  return prior;
}

// Behaviour: decayed, weighted events, summed per kind; a reason per kind
// that counts. Returns the sum.
double ScoreBehaviour(const Settings& s, const EvaluationInput& in,
                      std::vector<Reason>* scored,
                      std::vector<std::string_view>* rules) {
  struct KindSum {
    std::size_t count = 0;
    double sum = 0;
    absl::Time newest = absl::InfinitePast();
  };
  std::array<KindSum, kEventKinds> sums;
  // Ages in whole seconds: absl's floating-point Duration division would
  // cost more than the rest of the loop.
  const double per_second =
      -1.0 / absl::ToDoubleSeconds(s.half_life.value);  // exp2 exponent rate
  const std::int64_t now_s = absl::ToUnixSeconds(in.now);
  bool multiplied = false;
  for (const EvidenceEvent& e : in.events) {
    const auto k = static_cast<std::size_t>(e.kind);
    if (k >= kEventKinds) {
      continue;
    }
    KindSum& sum = sums[k];
    ++sum.count;
    if (e.observed_at > sum.newest) {
      sum.newest = e.observed_at;
    }
    const double weight = s.weights[k].value;
    if (weight == 0) {
      continue;
    }
    const double factor = AttendeeFactor(s, e.attendee_count);
    multiplied |= factor != 1;
    const std::int64_t age_s =
        std::max<std::int64_t>(0, now_s - absl::ToUnixSeconds(e.recorded_at));
    sum.sum +=
        weight * factor * std::exp2(static_cast<double>(age_s) * per_second);
  }
  double behaviour = 0;
  for (std::size_t k = 0; k < kEventKinds; ++k) {
    const KindSum& sum = sums[k];
    if (sum.count == 0 || s.weights[k].value == 0) {
      continue;  // zero-weight kinds are information: GetDeviceRisk lists them
    }
    const double contribution = Round2(sum.sum);
    behaviour += contribution;
    const auto kind = static_cast<EventKind>(k);
    scored->push_back(
        {ReasonFor(kind),
         StrCat(sum.count, " ", detector::EventKindName(kind),
                sum.count == 1 ? " event" : " events", ", the newest at ",
                Rfc3339(sum.newest), s.event_reason_suffix[k],
                FormatFixed(contribution, 2), ".", Cite(in, kind)),
         "", contribution});
    rules->push_back(s.weights[k].pointer);
  }
  if (behaviour > 0) {
    rules->push_back(s.half_life.pointer);
    if (multiplied) {
      rules->push_back(s.attendee_multiplier.pointer);
    }
  }
  if (in.events_dropped > 0) {
    scored->push_back({"EVIDENCE_DROPPED",
                       StrCat(in.events_dropped,
                              " older events are no longer kept and were not "
                              "scored."),
                       "", 0});
  }
  return behaviour;
}

// Largest contribution first; ties keep their order. An insertion sort: a
// handful of reasons, and std::stable_sort would allocate.
void SortByContribution(std::vector<Reason>* scored) {
  std::vector<Reason>& r = *scored;
  for (std::size_t i = 1; i < r.size(); ++i) {
    for (std::size_t j = i; j > 0 && r[j].contribution > r[j - 1].contribution;
         --j) {
      std::swap(r[j], r[j - 1]);
    }
  }
}

// Grace: WARN escalates to QUARANTINE after `grace` (not while exempt).
// Sets the grace clock and deadline in `*out`; returns the action.
Action ApplyGrace(const Settings& s, const EvaluationInput& in, Action action,
                  bool exempt, Evaluation* out, std::vector<Reason>* head,
                  std::optional<Reason>* grace_period) {
  out->history.warn_since = absl::InfiniteFuture();
  if (action >= Action::kWarn && !exempt) {
    out->history.warn_since =
        in.history.warn_since < in.now ? in.history.warn_since : in.now;
  }
  if (action != Action::kWarn || exempt ||
      s.grace.value <= absl::ZeroDuration()) {
    return action;
  }
  const absl::Time deadline = out->history.warn_since + s.grace.value;
  out->matched_rules.push_back(s.grace.pointer);
  if (in.now >= deadline) {
    head->push_back(
        {kReasonGraceExpired,
         StrCat("At WARN since ", Rfc3339(out->history.warn_since),
                "; the grace period of ", FormatHours(s.grace.value),
                " ended at ", Rfc3339(deadline), "."),
         "", 0});
    return Action::kQuarantine;
  }
  out->deadline = deadline;
  *grace_period = Reason{
      kReasonGracePeriod,
      StrCat("At WARN since ", Rfc3339(out->history.warn_since),
             "; quarantined at ", Rfc3339(deadline),
             " unless the score falls below ", s.warn_threshold.value, "."),
      "", 0};
  return action;
}

// An exemption allows; monitor mode enforces nothing. Their reasons go
// first.
void ApplyExemptionAndMode(const Settings& s, const Exemption* exemption,
                           Action action, Evaluation* out,
                           std::vector<Reason>* head) {
  out->evaluated_action = action;
  out->enforced_action = action;
  if (exemption != nullptr) {
    out->evaluated_action = Action::kAllow;
    out->enforced_action = Action::kAllow;
    head->insert(head->begin(),
                 {kReasonExempt,
                  StrCat("Exempt (", ExemptionKindName(exemption->kind), " ",
                         exemption->value, ") until ",
                         Rfc3339(exemption->expires), ": ", exemption->reason,
                         ". Without the exemption: ", ActionName(action), "."),
                  "", 0});
    out->matched_rules.push_back(exemption->rule);
    out->exemption = *exemption;
  }
  if (out->mode == Mode::kMonitor) {
    out->enforced_action = Action::kAllow;
    head->insert(head->begin(), {kReasonMonitorMode,
                                 StrCat("Monitor mode: enforce would return ",
                                        ActionName(out->evaluated_action), "."),
                                 "", 0});
    out->matched_rules.push_back(s.mode.pointer);
  }
}

// The enforced action's scope, and the user's alert when it is not ALLOW.
void ScopeAndAlert(const Settings& s, const EvaluationInput& in,
                   const std::string& os, const KnownIssueMatch* issue,
                   Evaluation* out) {
  switch (out->enforced_action) {
    case Action::kAllow:
      out->scope = Scope::kNone;
      break;
    case Action::kWarn:
      out->scope = s.restrict_warn.value;
      out->matched_rules.push_back(s.restrict_warn.pointer);
      break;
    case Action::kQuarantine:
      out->scope = s.restrict_quarantine.value;
      out->matched_rules.push_back(s.restrict_quarantine.pointer);
      break;
    case Action::kBlock:
      out->scope = Scope::kDevice;
      break;
  }
  if (out->enforced_action == Action::kAllow) {
    return;
  }
  std::string locale;
  const LocaleTemplates& t = PickLocale(s, in.subject.locale, &locale);
  const AlertTemplate& at = t.kinds[static_cast<std::size_t>(
      KindFor(out->enforced_action, out->scope))];
  std::string fixed_storage;
  std::string_view fixed_in = t.latest_release;
  if (issue != nullptr && issue->issue->fixed_in) {
    fixed_storage = StrCat("iOS ", issue->issue->fixed_in->ToString());
    fixed_in = fixed_storage;
  }
  const std::string device = DescribeDevice(*in.fingerprint);
  const UtcText deadline_text(out->deadline.value_or(absl::UnixEpoch()),
                              /*rfc3339=*/false);
  const std::string_view deadline =
      out->deadline ? deadline_text.view() : std::string_view();
  const AlertValues values{device,
                           os,
                           fixed_in,
                           deadline,
                           in.subject.user_principal,
                           s.admin_insert.value};
  UserAlert alert;
  alert.title = RenderTemplate(at.title, values);
  alert.message = RenderTemplate(at.message, values);
  if (out->deadline && !t.deadline_notice.empty()) {
    alert.message += ' ';
    RenderTemplateTo(t.deadline_notice, values, &alert.message);
  }
  const bool uses_insert =
      at.title.find("{admin_insert}") != std::string::npos ||
      at.message.find("{admin_insert}") != std::string::npos ||
      at.remediation.find("{admin_insert}") != std::string::npos;
  if (!uses_insert && !s.admin_insert.value.empty()) {
    StrAppend(&alert.message, "\n\n", s.admin_insert.value);
  }
  alert.remediation = RenderTemplate(at.remediation, values);
  alert.locale = std::move(locale);
  out->user_alert = std::move(alert);
}

}  // namespace

Evaluation Evaluate(const EvaluationInput& in) {
  const Policy& policy = *in.policy;
  const Settings& s = policy.For(in.subject.tenant_id);
  const Fingerprint& fp = *in.fingerprint;
  Evaluation out;
  out.mode = s.mode.value;
  out.policy_revision = policy.revision();
  std::vector<Reason> scored;
  scored.reserve(fp.known_issues.size() + kEventKinds + 1);
  std::vector<std::string_view>& rules = out.matched_rules;
  rules.reserve(12);

  const std::string os = DescribeOs(fp);
  const Prior prior = ScorePrior(s, fp, os, &scored, &rules);
  const double behaviour = ScoreBehaviour(s, in, &scored, &rules);
  SortByContribution(&scored);

  out.score = std::min(100.0, Round2(prior.value + behaviour));
  std::string_view threshold_rule;
  Action action = ActionForScore(s, out.score, &threshold_rule);
  out.level = static_cast<Level>(static_cast<int>(action));
  rules.push_back(threshold_rule);

  // Reasons that set the action (before `scored`), reserved for all of them
  // so the decision's list is allocated once; and the two that follow.
  std::vector<Reason> head;
  head.reserve(3 + scored.size() + 2 + 4);
  std::optional<Reason> below_threshold;
  std::optional<Reason> grace_period;
  const Exemption* exemption = policy.exemptions().Find(in.subject, in.now);
  if (exemption == nullptr && in.exemptions != nullptr) {
    exemption = in.exemptions->Find(in.subject, in.now);
  }
  action = ApplyGrace(s, in, action, exemption != nullptr, &out, &head,
                      &grace_period);
  if (action == Action::kAllow) {
    below_threshold = Reason{
        kReasonBelowThreshold,
        StrCat("Score ", FormatFixed(out.score, 2),
               " is below the WARN threshold ", s.warn_threshold.value, "."),
        "", 0};
  }
  ApplyExemptionAndMode(s, exemption, action, &out, &head);
  ScopeAndAlert(s, in, os, prior.issue ? prior.issue : prior.hijack, &out);
  out.admin_remediation = AdminRemediation(in.subject, out.evaluated_action);

  out.reasons = std::move(head);
  for (Reason& r : scored) {
    out.reasons.push_back(std::move(r));
  }
  for (std::optional<Reason>* r : {&below_threshold, &grace_period}) {
    if (*r) {
      out.reasons.push_back(std::move(**r));
    }
  }
  AddInformational(fp, prior.hijack != nullptr, &out.reasons);
  return out;
}

}  // namespace hijackguard::policy
