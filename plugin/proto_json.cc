#include "plugin/proto_json.h"

#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace hijackguard::plugin {
namespace {

// protobuf escapes "<", ">", "&" and "=" as \u00XX (for embedding in HTML) and
// ends indented output with a newline; the CLI prints what protobuf produced,
// reprinted without either. indent -1 gives one line.
std::string Reprint(const std::string& proto_json, int indent) {
  const auto doc = nlohmann::ordered_json::parse(proto_json, nullptr, false);
  if (doc.is_discarded()) {
    return proto_json;  // protobuf's own output always parses
  }
  return doc.dump(indent, ' ', false,
                  nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string out;
  // Serialising a valid message cannot fail; our strings are valid UTF-8 by
  // construction.
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return Reprint(out, 2);
}

std::string ToJsonLine(const google::protobuf::Message& message) {
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(
      message, &out, google::protobuf::util::JsonPrintOptions());
  return Reprint(out, -1);
}

std::string ToCompactJson(const google::protobuf::Message& message) {
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(
      message, &out, google::protobuf::util::JsonPrintOptions());
  return out;
}

absl::Status FromJson(std::string_view json,
                      google::protobuf::Message* message) {
  google::protobuf::util::JsonParseOptions options;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), message,
      options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(std::string(status.message()));
  }
  return absl::OkStatus();
}

}  // namespace hijackguard::plugin
