// The body of POST /v1/activesync/observe: observations in proto3 JSON (one,
// or one per line) or in protobuf binary (a ReportTrafficBatch), read whole
// before any is observed.
#ifndef HIJACKGUARD_PLUGIN_OBSERVATION_BODY_H_
#define HIJACKGUARD_PLUGIN_OBSERVATION_BODY_H_

#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "hijackguard/v1/traffic.pb.h"

namespace hijackguard::plugin {

enum class ObservationFormat {
  kJson,      // application/json: one ReportTrafficRequest
  kNdjson,    // application/x-ndjson: one per line, blank lines skipped
  kProtobuf,  // application/x-protobuf: a ReportTrafficBatch
};

// The format a media type (without parameters, lower case) names, if any.
std::optional<ObservationFormat> ObservationFormatOf(std::string_view media);

// The observations in `body`, in order. INVALID_ARGUMENT naming the line or
// the observation and its byte offset when one cannot be read, or when the
// body holds none.
absl::StatusOr<std::vector<v1::ReportTrafficRequest>> ReadObservations(
    ObservationFormat format, std::string_view body);

}  // namespace hijackguard::plugin

#endif  // HIJACKGUARD_PLUGIN_OBSERVATION_BODY_H_
