// The hijackguard.v1.CompliancePlugin gRPC service (callback API): decodes,
// calls the domain, encodes.
//
// Every method takes its request as raw bytes (plugin/raw_call.h) so that a
// malformed request (a string field holding invalid UTF-8, say) is
// answered with an error naming the field instead of gRPC's bare parse
// failure, and so that one bad observation on a stream is acknowledged with
// an error instead of ending the stream (see plugin/wire_decoder.h).
#pragma once

#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "plugin/access.h"
#include "plugin/call_counts.h"
#include "plugin/check_in.h"
#include "plugin/traffic.h"
#include "plugin/wire_decoder.h"

namespace hijackguard::plugin {

using CompliancePluginBase =
    v1::CompliancePlugin::WithRawCallbackMethod_CheckIn<
        v1::CompliancePlugin::WithRawCallbackMethod_ReportTraffic<
            v1::CompliancePlugin::WithRawCallbackMethod_StreamTraffic<
                v1::CompliancePlugin::WithRawCallbackMethod_GetDeviceRisk<
                    v1::CompliancePlugin::WithRawCallbackMethod_WatchAlerts<
                        v1::CompliancePlugin::WithRawCallbackMethod_ListDevices<
                            v1::CompliancePlugin::Service>>>>>>;

class CompliancePluginService final : public CompliancePluginBase {
 public:
  // The handlers and the engine must outlive the service.
  // Every call is admitted by `access` first (docs/security.md).
  CompliancePluginService(const CheckInHandler* check_in,
                          const TrafficHandler* traffic,
                          policy::PolicyEngine* engine,
                          std::size_t max_check_in_bytes,
                          const AccessControl* access,
                          policy::StateStore* store = nullptr,
                          CallCounts* calls = nullptr);

  grpc::ServerUnaryReactor* CheckIn(grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ReportTraffic(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* StreamTraffic(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* GetDeviceRisk(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchAlerts(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* ListDevices(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;

 private:
  // Why a stream item of `tenant` is refused (OK when it is not), after
  // re-judging `caller` if the principals were reloaded.
  [[nodiscard]] absl::Status Refusal(Caller& caller,
                                     std::string_view tenant) const;
  // UNAVAILABLE while the state store cannot write.
  [[nodiscard]] absl::Status StoreWritable() const;

  const CheckInHandler* check_in_;
  const TrafficHandler* traffic_;
  policy::PolicyEngine* engine_;
  const AccessControl* access_;
  policy::StateStore* store_;  // may be null; waited on before answering
  CallCounts* calls_;          // may be null
  const std::size_t max_check_in_bytes_;
  const WireDecoder check_in_decoder_;
  const WireDecoder traffic_decoder_;
  const WireDecoder risk_decoder_;
  const WireDecoder watch_decoder_;
  const WireDecoder list_decoder_;
};

}  // namespace hijackguard::plugin
