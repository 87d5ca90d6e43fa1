// The one conversion from absl::Status to grpc::Status (their codes are equal
// by design).
#pragma once

#include <cstddef>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace hijackguard::plugin {

// Status messages longer than this are cut (they travel in a trailer).
inline constexpr std::size_t kMaxStatusMessageBytes = 4096;

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace hijackguard::plugin
