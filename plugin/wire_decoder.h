// Decoding of request messages from the wire with errors a caller can act on.
//
// proto3 `string` fields must hold UTF-8; protobuf refuses a message where one
// does not, gRPC then answers with a bare error, and protobuf logs a line per
// refused message (a log flood any client can cause). Handlers that receive raw
// bytes use WireDecoder instead: well-formed requests parse on the fast path,
// and for a refused one it finds the field and the byte offset
// ("eas.user_agent: invalid UTF-8 at byte 6 of the value") by parsing again
// into a copy of the message type whose strings are bytes.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/byte_buffer.h"

namespace hijackguard::plugin {

class WireDecoder {
 public:
  // Prepares decoding of messages of `type` (a generated message type).
  explicit WireDecoder(const google::protobuf::Descriptor* type);
  ~WireDecoder();
  WireDecoder(const WireDecoder&) = delete;
  WireDecoder& operator=(const WireDecoder&) = delete;

  // Parses `bytes` into `message` (of the constructor's type). INVALID_ARGUMENT
  // naming the field path and byte offset when a string field holds invalid
  // UTF-8, or saying the bytes are not a protobuf message of this type.
  // Thread-safe.
  [[nodiscard]] absl::Status Parse(const grpc::ByteBuffer& bytes,
                                   google::protobuf::Message* message) const;
  // The same for bytes in memory.
  [[nodiscard]] absl::Status Parse(std::string_view bytes,
                                   google::protobuf::Message* message) const;

 private:
  template <typename Bytes>
  [[nodiscard]] absl::Status Diagnose(const Bytes& bytes) const;

  const google::protobuf::Descriptor* type_;
  std::unique_ptr<google::protobuf::DescriptorPool> lenient_pool_;
  std::unique_ptr<google::protobuf::DynamicMessageFactory> lenient_factory_;
  const google::protobuf::Message* lenient_prototype_ = nullptr;
};

// Routes protobuf's own log lines to our log, except the per-message UTF-8
// refusals that WireDecoder reports to the caller instead. Idempotent.
void InstallProtobufLogFilter();

}  // namespace hijackguard::plugin
