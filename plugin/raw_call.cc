#include "plugin/raw_call.h"

#include <vector>

#include "common/strings.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/proto_buffer_writer.h"

namespace hijackguard::plugin {

absl::Status EncodeMessage(const google::protobuf::Message& message,
                           grpc::ByteBuffer* out) {
  bool own_buffer = false;
  const grpc::Status status =
      grpc::SerializationTraits<google::protobuf::Message>::Serialize(
          message, out, &own_buffer);
  if (!status.ok()) {
    return absl::InternalError(
        StrCat("cannot encode the response: ", status.error_message()));
  }
  return absl::OkStatus();
}

std::string FlattenBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (buffer.Dump(&slices).ok()) {
    for (const grpc::Slice& s : slices) {
      out.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  return out;
}

}  // namespace hijackguard::plugin
