#include "plugin/proto_json.h"

#include "google/protobuf/util/json_util.h"

namespace hijackguard::plugin {

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  std::string out;
  // Serialising a valid message cannot fail; our strings are valid UTF-8 by
  // construction.
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

}  // namespace hijackguard::plugin
