// The body of POST /v1/activesync/observe: observations in proto3 JSON (one,
// or one per line) or in protobuf binary (a ReportTrafficBatch), read whole
// before any is observed.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/arena.h"
#include "hijackguard/v1/traffic.pb.h"

namespace hijackguard::plugin {

enum class ObservationFormat {
  kJson,      // application/json: one ReportTrafficRequest
  kNdjson,    // application/x-ndjson: one per line, blank lines skipped
  kProtobuf,  // application/x-protobuf: a ReportTrafficBatch
};

// At most this many observations in one body: each costs memory (a parsed
// message and an ack) out of proportion to its bytes.
inline constexpr std::size_t kMaxObservations = 10000;

// Observations read from one body, in order, in one arena (`items` point
// into it).
struct Observations {
  std::unique_ptr<google::protobuf::Arena> arena;
  std::vector<v1::ReportTrafficRequest*> items;
};

// The format a media type (without parameters, lower case) names, if any.
std::optional<ObservationFormat> ObservationFormatOf(std::string_view media);

// The observations in `body`, in order. INVALID_ARGUMENT naming the line or
// the observation and its byte offset (and, for a string that is not UTF-8,
// the field and the offset in its value) when one cannot be read; also when
// the body holds none, or more than kMaxObservations.
absl::StatusOr<Observations> ReadObservations(ObservationFormat format,
                                              std::string_view body);

}  // namespace hijackguard::plugin
