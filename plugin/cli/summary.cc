#include "plugin/cli/summary.h"

#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>

#include "google/protobuf/util/time_util.h"

namespace hijackguard::plugin::cli {
namespace {

using google::protobuf::util::TimeUtil;

std::string ActionName(v1::Action a) {
  return ShortName(v1::Action_Name(a), "ACTION_");
}
std::string LevelName(v1::RiskLevel l) {
  return ShortName(v1::RiskLevel_Name(l), "RISK_LEVEL_");
}
std::string Score(double score) {
  char text[16];
  std::snprintf(text, sizeof(text), "%.0f", score);
  return text;
}

// "iPhone 4S, iOS 6.0 (10A403), apple-ios": what is known of the client.
void PrintClient(const v1::Fingerprint& fp, std::ostream& out) {
  out << "  client: "
      << (fp.model_name().empty() ? fp.model_code() : fp.model_name());
  if (fp.platform() == v1::PLATFORM_IOS) {
    out << (fp.model_name().empty() && fp.model_code().empty() ? "" : ", ")
        << "iOS "
        << (!fp.os_version().empty() ? fp.os_version()
            : fp.os_major_version() > 0
                ? std::to_string(fp.os_major_version()) + ".x"
                : std::string("?"));
    if (!fp.build().empty()) out << " (" << fp.build() << ")";
  }
  if (!fp.client().family().empty()) out << ", " << fp.client().family();
  out << "\n";
  for (const v1::KnownIssue& k : fp.known_issues()) {
    out << "  known issue: " << k.id() << " ("
        << ShortName(v1::Confidence_Name(k.confidence()), "CONFIDENCE_")
        << ")\n";
  }
  if (!fp.consistent()) {
    out << "  sources disagree on:";
    for (const v1::Disagreement& d : fp.disagreements()) {
      out << " " << d.field();
    }
    out << "\n";
  }
}

void PrintReasons(const google::protobuf::RepeatedPtrField<v1::Reason>& reasons,
                  std::ostream& out) {
  for (const v1::Reason& r : reasons) {
    out << "  - " << r.code();
    if (r.contribution() != 0) out << " (+" << Score(r.contribution()) << ")";
    out << ": " << r.message() << "\n";
  }
}

// "ALLOW (monitor mode: enforce would QUARANTINE)" or "WARN".
std::string Verdict(v1::Action enforced, v1::Action evaluated,
                    v1::PolicyMode mode) {
  std::string v = ActionName(enforced);
  if (mode == v1::POLICY_MODE_MONITOR && enforced != evaluated) {
    v += " (monitor mode: enforce would " + ActionName(evaluated) + ")";
  } else if (enforced != evaluated) {
    v += " (evaluated " + ActionName(evaluated) + ")";
  }
  return v;
}

}  // namespace

std::string ShortName(const std::string& name, std::string_view prefix) {
  return name.starts_with(prefix) ? name.substr(prefix.size()) : name;
}

bool WantJson(bool json_flag) {
  return json_flag || ::isatty(STDOUT_FILENO) == 0;
}

void PrintSummary(const v1::CheckInResponse& r, std::ostream& out) {
  out << Verdict(r.enforced_action(), r.evaluated_action(), r.mode())
      << "  score " << Score(r.score()) << " (" << LevelName(r.level())
      << ")\n";
  PrintClient(r.fingerprint(), out);
  out << "  why:\n";
  PrintReasons(r.reasons(), out);
  if (r.has_deadline()) {
    out << "  quarantined at " << TimeUtil::ToString(r.deadline())
        << " unless the score falls\n";
  }
  if (r.has_user_alert()) {
    out << "  the user sees: " << r.user_alert().title() << "\n";
  }
  if (!r.admin_remediation().empty()) {
    out << "  Exchange: " << r.admin_remediation() << "\n";
  }
  out << "  decision " << r.decision_id() << ", valid until "
      << TimeUtil::ToString(r.valid_until()) << "; policy "
      << r.policy_revision().substr(0, 12) << "\n"
      << "(--json for the whole response)\n";
}

void PrintSummary(const v1::GetDeviceRiskResponse& r, std::ostream& out) {
  out << r.tenant_id() << "/" << r.eas_device_id();
  if (!r.mdm_device_id().empty()) out << " (MDM " << r.mdm_device_id() << ")";
  out << "\n";
  if (r.has_decision()) {
    const v1::DeviceDecision& d = r.decision();
    out << "  now: "
        << Verdict(d.enforced_action(), d.evaluated_action(), d.mode())
        << "  score " << Score(d.score()) << " (" << LevelName(d.level())
        << "); last decided " << ActionName(d.last_evaluated_action()) << "\n";
    if (d.has_warn_since()) {
      out << "  at WARN since " << TimeUtil::ToString(d.warn_since());
      if (d.has_deadline()) {
        out << "; quarantined at " << TimeUtil::ToString(d.deadline())
            << " unless the score falls";
      }
      out << "\n";
    }
  }
  PrintClient(r.fingerprint(), out);
  std::map<std::string, int> kinds;
  for (const v1::DetectionEvent& e : r.events()) {
    ++kinds[ShortName(v1::EventKind_Name(e.kind()), "EVENT_KIND_")];
  }
  out << "  " << r.events_size() << " detection events";
  for (const auto& [kind, n] : kinds) out << " " << kind << "=" << n;
  if (r.events_dropped() > 0) out << " (" << r.events_dropped() << " dropped)";
  out << " in " << r.observations() << " observations\n";
  for (const v1::AffectedMeeting& m : r.meetings()) {
    out << "  meeting " << m.uid().substr(0, 24) << "… in " << m.mailbox()
        << ": organizer " << m.true_organizer_email() << ", the client claimed "
        << m.claimed_organizer_email() << "\n";
  }
  if (r.has_decision() && r.decision().reasons_size() > 0) {
    out << "  why:\n";
    PrintReasons(r.decision().reasons(), out);
  }
  out << "(--json for the whole response)\n";
}

}  // namespace hijackguard::plugin::cli
