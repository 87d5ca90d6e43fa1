// Printing API messages as proto3 JSON for the CLI.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/message.h"

namespace hijackguard::plugin {

// The CLI's JSON (README, "Output"): proto3 JSON with lowerCamelCase names and
// enums by their full names (ACTION_ALLOW), indented by two spaces, every field
// printed even when it has its default value (so "consistent": false is
// visible), UTF-8 as is (">" stays ">", not "\u003e"), no trailing newline.
std::string ToJson(const google::protobuf::Message& message);

// The same, compact on one line with default values left out: for JSON Lines
// output.
std::string ToJsonLine(const google::protobuf::Message& message);

// One line of compact proto3 JSON with lowerCamelCase names, default values
// left out: the HTTP API's answers.
std::string ToCompactJson(const google::protobuf::Message& message);

// Parses proto3 JSON (either field-name form) into `message`.
// INVALID_ARGUMENT with protobuf's description otherwise.
[[nodiscard]] absl::Status FromJson(std::string_view json,
                                    google::protobuf::Message* message);

}  // namespace hijackguard::plugin
