// Reading the `auth` section of the configuration (plugin/auth.h). Include
// from .cc files only (nlohmann/json).
#pragma once

#include <string>

#include "common/json_reader.h"
#include "plugin/auth.h"

namespace hijackguard::plugin {

// Reads `value` (the section at `pointer`) into `out`, adding every problem
// with its JSON pointer.
void ReadAuthSection(const nlohmann::json& value, const std::string& pointer,
                     json::Problems* problems, AuthConfig* out);

}  // namespace hijackguard::plugin
