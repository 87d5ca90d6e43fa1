// Printing API messages as proto3 JSON for the CLI.
#pragma once

#include <string>

#include "google/protobuf/message.h"

namespace hijackguard::plugin {

// Indented proto3 JSON with lowerCamelCase names, enums by name, and every
// field printed even when it has its default value (so "consistent": false is
// visible).
std::string ToJson(const google::protobuf::Message& message);

}  // namespace hijackguard::plugin
