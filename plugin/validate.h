// Validation of API requests: every invalid request is rejected with
// INVALID_ARGUMENT naming the field ("eas.user_agent: 2048 bytes exceeds the
// limit of 1024").
#pragma once

#include "absl/status/status.h"
#include "hijackguard/v1/compliance_plugin.pb.h"

namespace hijackguard::plugin {

inline constexpr std::size_t kMaxTenantIdBytes = 128;
inline constexpr std::size_t kMaxUserAgentBytes = 1024;
inline constexpr std::size_t kMaxFieldBytes = 256;

// OK, or INVALID_ARGUMENT whose message starts with the field path.
// Thread-safe.
[[nodiscard]] absl::Status ValidateTenantId(const std::string& tenant_id);

[[nodiscard]] absl::Status ValidateCheckInRequest(
    const v1::CheckInRequest& request);

}  // namespace hijackguard::plugin
