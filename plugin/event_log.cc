#include "plugin/event_log.h"

#include <cmath>
#include <string>

#include "common/log.h"
#include "common/strings.h"
#include "plugin/request_context.h"

namespace hijackguard::plugin {

bool EventLog::Sampled(std::string_view decision_id, double sample) {
  if (sample >= 1) return true;
  if (sample <= 0) return false;
  // FNV-1a: the id's random bits spread over the whole range.
  std::uint64_t h = 14695981039346656037ULL;
  for (char c : decision_id) {
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  }
  return static_cast<double>(h % 1'000'000) < sample * 1'000'000;
}

void EventLog::DecisionLog(const policy::DecisionNote& note) const {
  const RequestContext& request = CurrentRequest();
  const std::string device = (*pseudonym_)(note.eas_device_id);
  const std::string user = note.user_principal.empty()
                               ? std::string()
                               : (*pseudonym_)(note.user_principal);
  std::string platform, os_version, build, model, user_agent;
  if (const detector::Fingerprint* fp = note.fingerprint) {
    platform = std::string(detector::PlatformName(fp->platform));
    if (fp->os_version) os_version = fp->os_version->ToString();
    if (fp->build) build = fp->build->ToString();
    model = fp->model_code;
    user_agent = fp->raw_user_agent;
  }
  std::string level, reasons, exemption;
  if (const policy::Evaluation* e = note.evaluation) {
    level = std::string(policy::LevelName(e->level));
    for (const policy::Reason& r : e->reasons) {
      StrAppend(&reasons, reasons.empty() ? "" : ",", r.code);
    }
    if (e->exemption) exemption = e->exemption->id;
  }
  const std::string score = StrCat(std::lround(note.score));
  Log(LogLevel::kInfo, "decision log",
      {{"decision_id", note.decision_id},
       {"trigger", note.trigger},
       {"tenant", note.tenant_id},
       {"device", device},
       {"user", user},
       {"platform", platform},
       {"os_version", os_version},
       {"build", build},
       {"model", model},
       {"user_agent", user_agent},
       {"enforced", policy::ActionName(note.enforced_action)},
       {"evaluated", policy::ActionName(note.evaluated_action)},
       {"previous", policy::ActionName(note.previous_action)},
       {"mode", policy::ModeName(note.mode)},
       {"risk_level", level},
       {"score", score},
       {"reasons", reasons},
       {"exemption", exemption},
       {"policy_revision", note.policy_revision},
       {"principal", request.principal},
       {"trace_id", request.trace_id}});
}

void EventLog::Decision(const policy::DecisionNote& note) const {
  if (decision_log_sample_ && LogEnabled(LogLevel::kInfo) &&
      Sampled(note.decision_id, *decision_log_sample_)) {
    DecisionLog(note);
  }
  const bool changed = note.previous_action != note.evaluated_action;
  const LogLevel level = changed ? LogLevel::kInfo : LogLevel::kDebug;
  if (!LogEnabled(level)) return;
  const RequestContext& request = CurrentRequest();
  const std::string device = (*pseudonym_)(note.eas_device_id);
  const std::string user = note.user_principal.empty()
                               ? std::string()
                               : (*pseudonym_)(note.user_principal);
  const std::string score = StrCat(std::lround(note.score));
  Log(level, changed ? "decision changed" : "decision",
      {{"decision_id", note.decision_id},
       {"trigger", note.trigger},
       {"tenant", note.tenant_id},
       {"device", device},
       {"user", user},
       {"enforced", policy::ActionName(note.enforced_action)},
       {"evaluated", policy::ActionName(note.evaluated_action)},
       {"previous", changed ? policy::ActionName(note.previous_action) : ""},
       {"mode", policy::ModeName(note.mode)},
       {"score", score},
       {"policy_revision", note.policy_revision},
       {"principal", request.principal},
       {"trace_id", request.trace_id}});
}

void EventLog::Detection(const detector::DetectionEvent& event) const {
  if (!LogEnabled(LogLevel::kInfo)) return;
  const RequestContext& request = CurrentRequest();
  const std::string device = (*pseudonym_)(event.eas_device_id);
  const std::string mailbox =
      event.mailbox.empty() ? std::string() : (*pseudonym_)(event.mailbox);
  const std::string sequence = StrCat(event.sequence);
  Log(LogLevel::kInfo, "detection event",
      {{"kind", detector::EventKindName(event.kind)},
       {"tenant", event.tenant_id},
       {"device", device},
       {"user", mailbox},
       {"command", event.command},
       {"sequence", sequence},
       {"principal", request.principal},
       {"trace_id", request.trace_id}});
}

}  // namespace hijackguard::plugin
