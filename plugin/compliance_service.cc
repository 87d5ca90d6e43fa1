#include "plugin/compliance_service.h"

#include "common/status_macros.h"
#include "common/strings.h"
#include "google/protobuf/arena.h"
#include "grpcpp/support/proto_buffer_writer.h"
#include "plugin/ack_stream.h"
#include "plugin/alert_stream.h"
#include "plugin/policy_convert.h"
#include "plugin/raw_call.h"
#include "plugin/request_context.h"
#include "plugin/status.h"

namespace hijackguard::plugin {
namespace {

// A check-in's request and response fit in this much arena; the handler runs
// synchronously, so the block can live on the stack.
constexpr std::size_t kArenaBlockBytes = 4096;

// A stream thread keeps its request message between observations unless one
// was larger than this.
constexpr std::size_t kMaxKeptRequestBytes = std::size_t{256} * 1024;

// Finishes `reactor` once `ticket` is durable (at once without a store or
// ticket): nothing is acknowledged before it is committed.
// Finishes the call once `ticket` is durable (counted in `calls`, when not
// null, as `rpc`).
void FinishWhenDurable(policy::StateStore* store, policy::StoreTicket ticket,
                       grpc::ServerUnaryReactor* reactor,
                       const absl::Status& status, CallCounts* calls, Rpc rpc,
                       absl::Time started) {
  if (store == nullptr || ticket == 0 || !status.ok()) {
    if (calls != nullptr) {
      calls->Finish(rpc, status.code(), started);
    }
    reactor->Finish(ToGrpcStatus(status));
    return;
  }
  store->WhenDurable(ticket, [reactor, calls, rpc,
                              started](const absl::Status& durable) {
    const absl::Status answer =
        durable.ok()
            ? durable
            : absl::UnavailableError(StrCat("not recorded durably: ",
                                            std::string(durable.message())));
    if (calls != nullptr) {
      calls->Finish(rpc, answer.code(), started);
    }
    reactor->Finish(ToGrpcStatus(answer));
  });
}

// Finishes a call refused before its work, counted.
void FinishRefused(grpc::ServerUnaryReactor* reactor,
                   const absl::Status& status, CallCounts* calls, Rpc rpc,
                   absl::Time started) {
  if (calls != nullptr) {
    calls->Finish(rpc, status.code(), started);
  }
  reactor->Finish(ToGrpcStatus(status));
}

// A stream refused before it started: finishes at once, then deletes itself.
class RejectedStream final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit RejectedStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

class RejectedWrite final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit RejectedWrite(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

constexpr std::size_t kMaxListRequestBytes = std::size_t{16} * 1024;

CompliancePluginService::CompliancePluginService(
    const CheckInHandler* check_in, const TrafficHandler* traffic,
    policy::PolicyEngine* engine, std::size_t max_check_in_bytes,
    const AccessControl* access, policy::StateStore* store, CallCounts* calls)
    : check_in_(check_in),
      traffic_(traffic),
      engine_(engine),
      access_(access),
      store_(store),
      calls_(calls),
      max_check_in_bytes_(max_check_in_bytes),
      check_in_decoder_(v1::CheckInRequest::descriptor()),
      traffic_decoder_(v1::ReportTrafficRequest::descriptor()),
      risk_decoder_(v1::GetDeviceRiskRequest::descriptor()),
      watch_decoder_(v1::WatchAlertsRequest::descriptor()),
      list_decoder_(v1::ListDevicesRequest::descriptor()) {}

grpc::ServerUnaryReactor* CompliancePluginService::CheckIn(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  const absl::Time started = absl::Now();
  alignas(16) char block[kArenaBlockBytes];
  google::protobuf::ArenaOptions options;
  options.initial_block = block;
  options.initial_block_size = sizeof(block);
  google::protobuf::Arena arena(options);
  auto* request =
      google::protobuf::Arena::CreateMessage<v1::CheckInRequest>(&arena);
  auto* response =
      google::protobuf::Arena::CreateMessage<v1::CheckInResponse>(&arena);

  absl::StatusOr<Caller> caller = access_->Admit(*context, Rpc::kCheckIn);
  absl::Status status = caller.status();
  if (!status.ok()) {
  } else if (request_bytes->Length() > max_check_in_bytes_) {
    status = absl::ResourceExhaustedError(
        StrCat("the request is ", request_bytes->Length(),
               " bytes; CheckIn accepts at most ", max_check_in_bytes_));
  } else {
    status = check_in_decoder_.Parse(*request_bytes, request);
  }
  if (status.ok()) {
    status = access_->CheckTenant(*caller, Rpc::kCheckIn, request->tenant_id());
  }
  if (status.ok()) {
    status = StoreWritable();
  }
  policy::StoreTicket ticket = 0;
  if (status.ok()) {
    const ScopedRequestContext logged(caller->actor.principal,
                                      TraceIdOf(*context));
    status = check_in_->CheckIn(*request, response, &ticket);
  }
  if (status.ok()) {
    status = EncodeMessage(*response, response_bytes);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  FinishWhenDurable(store_, ticket, reactor, status, calls_, Rpc::kCheckIn,
                    started);
  return reactor;
}

grpc::ServerUnaryReactor* CompliancePluginService::ReportTraffic(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  const absl::Time started = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<Caller> caller = access_->Admit(*context, Rpc::kReportTraffic);
  if (!caller.ok()) {
    FinishRefused(reactor, caller.status(), calls_, Rpc::kReportTraffic,
                  started);
    return reactor;
  }
  google::protobuf::Arena arena;
  auto* request =
      google::protobuf::Arena::CreateMessage<v1::ReportTrafficRequest>(&arena);
  auto* ack = google::protobuf::Arena::CreateMessage<v1::TrafficAck>(&arena);
  auto* response =
      google::protobuf::Arena::CreateMessage<v1::ReportTrafficResponse>(&arena);
  policy::StoreTicket ticket = 0;
  if (absl::Status parsed = traffic_decoder_.Parse(*request_bytes, request);
      !parsed.ok()) {
    TrafficHandler::Undecodable(FlattenBuffer(*request_bytes), parsed, ack);
  } else if (absl::Status tenant = access_->CheckTenant(
                 *caller, Rpc::kReportTraffic, request->tenant_id());
             !tenant.ok()) {
    FinishRefused(reactor, tenant, calls_, Rpc::kReportTraffic, started);
    return reactor;
  } else if (absl::Status writable = StoreWritable(); !writable.ok()) {
    FinishRefused(reactor, writable, calls_, Rpc::kReportTraffic, started);
    return reactor;
  } else {
    const ScopedRequestContext logged(caller->actor.principal,
                                      TraceIdOf(*context));
    ticket = traffic_->Report(*request, ack);
  }
  traffic_->Count(*ack);
  response->set_sequence(ack->sequence());
  response->mutable_events()->Swap(ack->mutable_events());
  response->mutable_errors()->Swap(ack->mutable_errors());
  FinishWhenDurable(store_, ticket, reactor,
                    EncodeMessage(*response, response_bytes), calls_,
                    Rpc::kReportTraffic, started);
  return reactor;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
CompliancePluginService::StreamTraffic(grpc::CallbackServerContext* context) {
  const absl::Time started = absl::Now();
  absl::StatusOr<Caller> admitted =
      access_->Admit(*context, Rpc::kStreamTraffic);
  if (!admitted.ok()) {
    if (calls_ != nullptr) {
      calls_->Finish(Rpc::kStreamTraffic, admitted.status().code(), started);
    }
    return new RejectedStream(ToGrpcStatus(admitted.status()));
  }
  return new AckStream(
      // Items are handled one at a time (AckStream), so `caller` may change.
      [this, caller = *std::move(admitted), trace_id = TraceIdOf(*context)](
          const grpc::ByteBuffer& bytes, v1::TrafficAck* ack) mutable {
        // One request message per stream thread: reused, not reallocated.
        thread_local v1::ReportTrafficRequest request;
        policy::StoreTicket ticket = 0;
        if (absl::Status parsed = traffic_decoder_.Parse(bytes, &request);
            !parsed.ok()) {
          TrafficHandler::Undecodable(FlattenBuffer(bytes), parsed, ack);
        } else if (absl::Status refused = Refusal(caller, request.tenant_id());
                   !refused.ok()) {
          // Each item on its own: the stream goes on.
          ack->set_sequence(request.sequence());
          v1::ItemError* e = ack->add_errors();
          e->set_code(absl::StatusCodeToString(refused.code()));
          e->set_field(absl::IsUnauthenticated(refused) ? "" : "tenant_id");
          e->set_message(std::string(refused.message()));
        } else if (absl::Status writable = StoreWritable(); !writable.ok()) {
          ack->set_sequence(request.sequence());
          v1::ItemError* e = ack->add_errors();
          e->set_code("STATE_UNAVAILABLE");
          e->set_message(std::string(writable.message()));
        } else {
          const ScopedRequestContext logged(caller.actor.principal, trace_id);
          ticket = traffic_->Report(request, ack);
        }
        if (bytes.Length() > kMaxKeptRequestBytes) {
          request = v1::ReportTrafficRequest();  // give the memory back
        }
        traffic_->Count(*ack);
        if (calls_ != nullptr) calls_->CountStreamItem(ack->errors_size() > 0);
        return ticket;
      },
      store_,
      [this, started](bool ok) {
        if (calls_ != nullptr) {
          calls_->Finish(
              Rpc::kStreamTraffic,
              ok ? absl::StatusCode::kOk : absl::StatusCode::kCancelled,
              started);
        }
      },
      context);
}

absl::Status CompliancePluginService::StoreWritable() const {
  return policy::Writable(store_, "refused: ");
}

absl::Status CompliancePluginService::Refusal(Caller& caller,
                                              std::string_view tenant) const {
  RETURN_IF_ERROR(access_->Recheck(&caller, Rpc::kStreamTraffic));
  return access_->CheckTenant(caller, Rpc::kStreamTraffic, tenant);
}

grpc::ServerUnaryReactor* CompliancePluginService::GetDeviceRisk(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  return ServeRawUnary<v1::GetDeviceRiskRequest, v1::GetDeviceRiskResponse>(
      context, request_bytes, response_bytes, risk_decoder_, calls_,
      Rpc::kGetDeviceRisk,
      [&] { return access_->Admit(*context, Rpc::kGetDeviceRisk); },
      [&](const Caller& caller, const v1::GetDeviceRiskRequest& request,
          v1::GetDeviceRiskResponse* response) {
        RETURN_IF_ERROR(access_->CheckTenant(caller, Rpc::kGetDeviceRisk,
                                             request.tenant_id()));
        return traffic_->GetDeviceRisk(request, response);
      });
}

grpc::ServerUnaryReactor* CompliancePluginService::ListDevices(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  return ServeRawUnary<v1::ListDevicesRequest, v1::ListDevicesResponse>(
      context, request_bytes, response_bytes, list_decoder_, calls_,
      Rpc::kListDevices,
      [&]() -> absl::StatusOr<Caller> {
        ASSIGN_OR_RETURN(Caller caller,
                         access_->Admit(*context, Rpc::kListDevices));
        // Filters and a token fit in far less; not parsed beyond it.
        if (request_bytes->Length() > kMaxListRequestBytes) {
          return absl::ResourceExhaustedError(StrCat(
              "the request is ", request_bytes->Length(),
              " bytes; ListDevices accepts at most ", kMaxListRequestBytes));
        }
        return caller;
      },
      [&](const Caller& caller, const v1::ListDevicesRequest& request,
          v1::ListDevicesResponse* response) -> absl::Status {
        RETURN_IF_ERROR(access_->CheckTenant(caller, Rpc::kListDevices,
                                             request.tenant_id()));
        ASSIGN_OR_RETURN(policy::DeviceQuery query, FromProto(request));
        ASSIGN_OR_RETURN(policy::DevicePage page,
                         engine_->ListDevices(std::move(query)));
        for (const policy::DeviceListing& d : page.devices) {
          ToProto(d, response->add_devices());
        }
        response->set_next_page_token(std::move(page.next_page_token));
        return absl::OkStatus();
      });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>*
CompliancePluginService::WatchAlerts(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request_bytes) {
  v1::WatchAlertsRequest parsed;
  const v1::WatchAlertsRequest* request = &parsed;
  absl::StatusOr<Caller> caller = access_->Admit(*context, Rpc::kWatchAlerts);
  absl::Status status = caller.status();
  if (status.ok()) {
    status = watch_decoder_.Parse(*request_bytes, &parsed);
  }
  if (status.ok()) {
    status =
        access_->CheckTenant(*caller, Rpc::kWatchAlerts, request->tenant_id());
  }
  if (!status.ok()) {
    return new RejectedWrite(ToGrpcStatus(status));
  }
  // Re-judged before each alert: a reload that withdraws the principal's
  // credential, role or tenant ends the stream.
  auto allowed = [this, caller = *caller,
                  tenant = request->tenant_id()]() mutable {
    absl::Status s = access_->Recheck(&caller, Rpc::kWatchAlerts);
    if (s.ok()) s = access_->CheckTenant(caller, Rpc::kWatchAlerts, tenant);
    return s;
  };
  // Slots are counted per principal; development mode has none, so each
  // connection counts as its own caller there.
  std::string owner = access_->development()
                          ? StrCat("peer:", context->peer())
                          : StrCat("principal:", caller->actor.principal);
  return new AlertStream(engine_, std::move(owner), request->tenant_id(),
                         std::move(allowed));
}

}  // namespace hijackguard::plugin
