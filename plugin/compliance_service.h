// The hijackguard.v1.CompliancePlugin gRPC service (callback API): decodes,
// calls the domain, encodes.
//
// CheckIn takes the request as raw bytes so that a malformed request (a string
// field holding invalid UTF-8, say) is answered with INVALID_ARGUMENT naming
// the field instead of gRPC's bare parse failure (see plugin/wire_decoder.h).
#pragma once

#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "plugin/check_in.h"
#include "plugin/wire_decoder.h"

namespace hijackguard::plugin {

class CompliancePluginService final
    : public v1::CompliancePlugin::WithRawCallbackMethod_CheckIn<
          v1::CompliancePlugin::Service> {
 public:
  // `handler` must outlive the service.
  explicit CompliancePluginService(const CheckInHandler* handler);

  using WithRawCallbackMethod_CheckIn::CheckIn;
  grpc::ServerUnaryReactor* CheckIn(grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;

 private:
  const CheckInHandler* handler_;
  const WireDecoder check_in_decoder_;
};

}  // namespace hijackguard::plugin
