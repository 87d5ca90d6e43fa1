// Fuzz target: the body of POST /v1/activesync/observe (plugin/
// observation_body.h), what a gateway, or anyone holding a gateway token,
// sends. Byte 0 picks the format (protobuf, NDJSON, JSON); the rest is the
// body. Besides not crashing: a body that is read gives at least one
// observation, and a protobuf batch that is read reads back, from its
// re-encoding, to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "plugin/observation_body.h"

namespace {

// Map entries in key order: two equal messages give equal bytes.
std::string Deterministic(const google::protobuf::Message& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return out;
}

}  // namespace

using hijackguard::plugin::ObservationFormat;
using hijackguard::plugin::ReadObservations;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size == 0) return 0;
  const ObservationFormat format =
      data[0] % 3 == 0   ? ObservationFormat::kProtobuf
      : data[0] % 3 == 1 ? ObservationFormat::kNdjson
                         : ObservationFormat::kJson;
  const std::string_view body(reinterpret_cast<const char*>(data + 1),
                              size - 1);
  auto read = ReadObservations(format, body);
  if (!read.ok()) return 0;
  if (read->items.empty()) std::abort();
  if (format == ObservationFormat::kProtobuf) {
    hijackguard::v1::ReportTrafficBatch batch;
    for (const auto* item : read->items) *batch.add_observations() = *item;
    const std::string bytes = Deterministic(batch);
    auto again = ReadObservations(ObservationFormat::kProtobuf, bytes);
    if (!again.ok() || again->items.size() != read->items.size()) std::abort();
    hijackguard::v1::ReportTrafficBatch back;
    for (const auto* item : again->items) *back.add_observations() = *item;
    if (Deterministic(back) != bytes) std::abort();
  }
  return 0;
}
