// Short human summaries of API answers, for a terminal: `checkin` and
// `device show` print these when standard output is a terminal and JSON
// otherwise (`--json` forces JSON), so that scripts keep their JSON.
#pragma once

#include <ostream>
#include <string>
#include <string_view>

#include "hijackguard/v1/compliance_plugin.pb.h"

namespace hijackguard::plugin::cli {

// An enum value's name without its prefix, for text meant for a person:
// ("ACTION_QUARANTINE", "ACTION_") -> "QUARANTINE".
std::string ShortName(const std::string& name, std::string_view prefix);

// Whether to print JSON: asked for, or standard output is not a terminal.
bool WantJson(bool json_flag);

void PrintSummary(const v1::CheckInResponse& response, std::ostream& out);
void PrintSummary(const v1::GetDeviceRiskResponse& response, std::ostream& out);

}  // namespace hijackguard::plugin::cli
