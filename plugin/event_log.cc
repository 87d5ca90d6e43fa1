#include "plugin/event_log.h"

#include <cmath>
#include <string>

#include "common/log.h"
#include "common/strings.h"
#include "plugin/request_context.h"

namespace hijackguard::plugin {

void EventLog::Decision(const policy::DecisionNote& note) const {
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
