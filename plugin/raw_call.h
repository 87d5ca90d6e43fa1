// Typed handlers served on raw bytes. gRPC's callback API answers a request
// that protobuf refuses (a string field with invalid UTF-8, say) with a bare
// UNIMPLEMENTED; every method therefore takes raw bytes, parses them with a
// WireDecoder (INVALID_ARGUMENT naming the field and the byte offset) and
// hands the typed request to its handler.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/message.h"
#include "grpcpp/grpcpp.h"
#include "plugin/call_counts.h"
#include "plugin/status.h"
#include "plugin/wire_decoder.h"

namespace hijackguard::plugin {

// Serialises `message` into `out`.
[[nodiscard]] absl::Status EncodeMessage(
    const google::protobuf::Message& message, grpc::ByteBuffer* out);
// The buffer's bytes in one string.
std::string FlattenBuffer(const grpc::ByteBuffer& buffer);

// Runs `admit()` (the caller's credential and role, as a StatusOr of the
// caller: nothing is decoded for a caller who may not call), parses `in` as a
// Request, runs `handler(caller, const Request&, Response*)` (an
// absl::Status; it checks the tenant), encodes the response into `out` and
// finishes the call, counted in `calls` (when not null) as `rpc`.
template <typename Request, typename Response, typename AdmitFn,
          typename Handler>
grpc::ServerUnaryReactor* ServeRawUnary(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* in,
                                        grpc::ByteBuffer* out,
                                        const WireDecoder& decoder,
                                        CallCounts* calls, Rpc rpc,
                                        AdmitFn&& admit, Handler&& handler) {
  const absl::Time started = absl::Now();
  google::protobuf::Arena arena;
  auto* request = google::protobuf::Arena::CreateMessage<Request>(&arena);
  auto* response = google::protobuf::Arena::CreateMessage<Response>(&arena);
  auto caller = admit();
  absl::Status status = caller.status();
  if (status.ok()) {
    status = decoder.Parse(*in, request);
  }
  if (status.ok()) {
    status = handler(*caller, *request, response);
  }
  if (status.ok()) {
    status = EncodeMessage(*response, out);
  }
  if (calls != nullptr) {
    calls->Finish(rpc, status.code(), started);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace hijackguard::plugin
