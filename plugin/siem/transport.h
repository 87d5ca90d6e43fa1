// How a sink reaches its receiver: syslog over TCP or TLS (RFC 5425
// octet-counted frames, CEF messages), or an HTTPS webhook (a JSON array, or
// Splunk HEC envelopes).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "plugin/siem/siem_config.h"
#include "plugin/siem/siem_event.h"

namespace hijackguard::plugin::siem {

class Transport {
 public:
  virtual ~Transport() = default;
  // OK once the receiver took every event: a webhook answered 2xx; syslog
  // wrote them to a connection the receiver had not closed (TCP has no
  // acknowledgement of its own: frames in flight when the receiver dies are
  // lost, which is why the docs recommend the webhook where no alert may
  // be). Otherwise why not; the caller sends them again later.
  virtual absl::Status Send(std::span<const SiemEvent> events) = 0;
};

// The sink's transport. Reads its token and TLS files now: INVALID_ARGUMENT
// naming the file when one cannot be read.
absl::StatusOr<std::unique_ptr<Transport>> MakeTransport(
    const SinkConfig& sink, std::string_view version);

}  // namespace hijackguard::plugin::siem
