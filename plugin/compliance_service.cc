#include "plugin/compliance_service.h"

#include "common/strings.h"
#include "google/protobuf/arena.h"
#include "grpcpp/support/proto_buffer_writer.h"
#include "plugin/status.h"

namespace hijackguard::plugin {
namespace {

// A check-in's request and response fit in this much arena; the handler runs
// synchronously, so the block can live on the stack.
constexpr std::size_t kArenaBlockBytes = 4096;

absl::Status Encode(const google::protobuf::Message& message,
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

}  // namespace

CompliancePluginService::CompliancePluginService(const CheckInHandler* handler)
    : handler_(handler), check_in_decoder_(v1::CheckInRequest::descriptor()) {}

grpc::ServerUnaryReactor* CompliancePluginService::CheckIn(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  alignas(16) char block[kArenaBlockBytes];
  google::protobuf::ArenaOptions options;
  options.initial_block = block;
  options.initial_block_size = sizeof(block);
  google::protobuf::Arena arena(options);
  auto* request =
      google::protobuf::Arena::CreateMessage<v1::CheckInRequest>(&arena);
  auto* response =
      google::protobuf::Arena::CreateMessage<v1::CheckInResponse>(&arena);

  absl::Status status = check_in_decoder_.Parse(*request_bytes, request);
  if (status.ok()) {
    status = handler_->CheckIn(*request, response);
  }
  if (status.ok()) {
    status = Encode(*response, response_bytes);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace hijackguard::plugin
