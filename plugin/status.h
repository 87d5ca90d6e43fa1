// The one conversion from absl::Status to grpc::Status (their codes are equal
// by design).
#pragma once

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace hijackguard::plugin {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace hijackguard::plugin
