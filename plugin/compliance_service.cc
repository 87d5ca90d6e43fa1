#include "plugin/compliance_service.h"

#include "plugin/status.h"

namespace hijackguard::plugin {

grpc::ServerUnaryReactor* CompliancePluginService::CheckIn(
    grpc::CallbackServerContext* context, const v1::CheckInRequest* request,
    v1::CheckInResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(handler_->CheckIn(*request, response)));
  return reactor;
}

}  // namespace hijackguard::plugin
