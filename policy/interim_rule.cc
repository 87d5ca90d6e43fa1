#include "policy/interim_rule.h"

#include "absl/time/time.h"
#include "common/strings.h"
#include "detector/known_issues.h"

namespace hijackguard::policy {
namespace {

using detector::Confidence;
using detector::Fingerprint;
using detector::KnownIssueMatch;

// "iOS 6.0 (10A403)", "iOS build 10A999", "iOS".
std::string DescribeOs(const Fingerprint& fp) {
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

// "iPhone 4S", "iPhone", "device".
std::string DescribeDevice(const Fingerprint& fp) {
  if (!fp.model_name.empty()) {
    return fp.model_name;
  }
  const std::string_view family =
      detector::AppleDeviceFamilyName(fp.device_family);
  return family.empty() ? "device" : std::string(family);
}

bool IsConfirmedHijack(const KnownIssueMatch& m) {
  return m.issue->category == detector::kCategoryOrganizerHijack &&
         m.confidence == Confidence::kConfirmed;
}

}  // namespace

Decision DecideFromFingerprint(const Fingerprint& fp) {
  Decision d;
  const KnownIssueMatch* hijack = nullptr;
  for (const KnownIssueMatch& m : fp.known_issues) {
    if (hijack == nullptr && IsConfirmedHijack(m)) {
      hijack = &m;
    }
  }
  if (hijack != nullptr) {
    d.action = Action::kWarn;
    d.reasons.push_back(
        {std::string(kReasonConfirmedHijackBuild),
         StrCat(DescribeOs(fp), " has a confirmed organizer-hijack issue: ",
                hijack->issue->title, " (", hijack->matched_by, ")."),
         hijack->issue->id});
    const std::string device = DescribeDevice(fp);
    d.user_alert = UserAlert{StrCat("Update iOS on your ", device),
                             StrCat("Your ", device, " runs ", DescribeOs(fp),
                                    ". ", hijack->issue->summary),
                             hijack->issue->remediation, "en"};
  } else {
    d.reasons.push_back(
        {std::string(kReasonNoConfirmedHijackIssue),
         fp.platform == detector::Platform::kIos
             ? StrCat("No confirmed organizer-hijack issue is known for ",
                      DescribeOs(fp), ".")
             : StrCat("The client (", detector::PlatformName(fp.platform),
                      ") has no confirmed organizer-hijack issue."),
         ""});
  }
  for (const KnownIssueMatch& m : fp.known_issues) {
    if (&m == hijack) {
      continue;
    }
    d.reasons.push_back(
        {std::string(kReasonKnownIssueInformational),
         StrCat(m.issue->title, ": ", detector::ConfidenceName(m.confidence),
                " (", m.matched_by, "); not acted on by the interim rule."),
         m.issue->id});
  }
  if (fp.platform == detector::Platform::kUnknown) {
    d.reasons.push_back({std::string(kReasonClientUnidentified),
                         "Nothing in the check-in identifies the mail client.",
                         ""});
  }
  if (fp.build && !fp.build_in_catalog) {
    d.reasons.push_back(
        {std::string(kReasonBuildNotInCatalog),
         StrCat(
             "Build ", fp.build->ToString(),
             " is not in the iOS build catalog; known issues were matched on "
             "build ranges and on any version another source states for "
             "this build (see fingerprint.notes)."),
         ""});
  }
  if (!fp.consistent()) {
    std::string fields;
    for (const auto& dis : fp.disagreements) {
      StrAppend(&fields, fields.empty() ? "" : ", ", dis.field);
    }
    d.reasons.push_back({std::string(kReasonFingerprintInconsistent),
                         StrCat("The device's sources disagree on ", fields,
                                "; see fingerprint.disagreements."),
                         ""});
  }
  return d;
}

namespace {

std::string_view ReasonFor(detector::EventKind kind) {
  switch (kind) {
    case detector::EventKind::kOrganizerRewrite:
      return kReasonObservedOrganizerRewrite;
    case detector::EventKind::kOwnershipClaim:
      return kReasonObservedOwnershipClaim;
    default:
      return kReasonObservedAttendeeCancel;
  }
}

}  // namespace

Decision DecideWithTraffic(const Fingerprint& fp,
                           const std::vector<detector::DetectionEvent>& events,
                           std::size_t total) {
  Decision base = DecideFromFingerprint(fp);
  if (events.empty()) {
    return base;
  }
  Decision d;
  d.action = Action::kQuarantine;
  for (const detector::DetectionEvent& e : events) {
    d.reasons.push_back(
        {std::string(ReasonFor(e.kind)),
         StrCat(detector::EventKindName(e.kind), " observed at ",
                absl::FormatTime(absl::RFC3339_sec, e.observed_at,
                                 absl::UTCTimeZone()),
                " (observation ", e.sequence, "): meeting ", e.uid,
                " (server id ", e.server_id, ") in mailbox ", e.mailbox,
                ", organizer ", e.organizer_email_before,
                e.organizer_email_after.empty()
                    ? std::string()
                    : StrCat(", client sent ", e.organizer_email_after),
                ": ", e.explanation, "."),
         ""});
  }
  if (total > events.size()) {
    d.reasons.push_back({std::string(kReasonMoreObservedEvents),
                         StrCat(total - events.size(),
                                " more confirmed events; see GetDeviceRisk."),
                         ""});
  }
  for (Reason& r : base.reasons) {
    d.reasons.push_back(std::move(r));
  }
  d.user_alert = UserAlert{
      "Calendar sync paused on this device",
      "Your device changed the organizer of a meeting you were invited to. "
      "Such changes can send updates to the wrong people or cancel the "
      "meeting for everyone, so calendar and mail sync on this device is "
      "paused.",
      "Contact your IT help desk. Do not accept, decline or edit meetings on "
      "this device until it is released; update its software if an update "
      "is offered.",
      "en"};
  return d;
}

}  // namespace hijackguard::policy
