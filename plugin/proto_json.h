// Printing API messages as proto3 JSON for the CLI.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace hijackguard::plugin {

// Indented proto3 JSON with lowerCamelCase names, enums by name, and every
// field printed even when it has its default value (so "consistent": false is
// visible).
std::string ToJson(const google::protobuf::Message& message);

// One line of compact proto3 JSON with the .proto field names (snake_case),
// default values left out: for JSON Lines output.
std::string ToJsonLine(const google::protobuf::Message& message);

// One line of compact proto3 JSON with lowerCamelCase names, default values
// left out: the HTTP API's answers.
std::string ToCompactJson(const google::protobuf::Message& message);

// Parses proto3 JSON (either field-name form) into `message`.
// INVALID_ARGUMENT with protobuf's description otherwise.
[[nodiscard]] absl::Status FromJson(std::string_view json,
                                    google::protobuf::Message* message);

}  // namespace hijackguard::plugin
