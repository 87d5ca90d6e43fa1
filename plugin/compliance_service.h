// The hijackguard.v1.CompliancePlugin gRPC service (callback API): converts,
// calls the domain, converts back.
#pragma once

#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "plugin/check_in.h"

namespace hijackguard::plugin {

class CompliancePluginService final
    : public v1::CompliancePlugin::CallbackService {
 public:
  // `handler` must outlive the service.
  explicit CompliancePluginService(const CheckInHandler* handler)
      : handler_(handler) {}

  grpc::ServerUnaryReactor* CheckIn(grpc::CallbackServerContext* context,
                                    const v1::CheckInRequest* request,
                                    v1::CheckInResponse* response) override;

 private:
  const CheckInHandler* handler_;
};

}  // namespace hijackguard::plugin
