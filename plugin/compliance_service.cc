#include "plugin/compliance_service.h"

#include "common/strings.h"
#include "google/protobuf/arena.h"
#include "grpcpp/support/proto_buffer_writer.h"
#include "plugin/ack_stream.h"
#include "plugin/alert_stream.h"
#include "plugin/status.h"

namespace hijackguard::plugin {
namespace {

// A check-in's request and response fit in this much arena; the handler runs
// synchronously, so the block can live on the stack.
constexpr std::size_t kArenaBlockBytes = 4096;

// A stream thread keeps its request message between observations unless one
// was larger than this.
constexpr std::size_t kMaxKeptRequestBytes = 256 * 1024;

absl::Status Encode(const google::protobuf::Message& message,
                    grpc::ByteBuffer* out) {
  bool own_buffer = false;
  const grpc::Status status =
      grpc::SerializationTraits<google::protobuf::Message>::Serialize(
          message, out, &own_buffer);
  if (!status.ok()) {
    return absl::InternalError(
        StrCat("cannot encode the response: ", status.error_message()));
  }
  return absl::OkStatus();
}

std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (buffer.Dump(&slices).ok()) {
    for (const grpc::Slice& s : slices) {
      out.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  return out;
}

policy::StoreTicket Decode(const WireDecoder& decoder,
                           const TrafficHandler& handler,
                           const grpc::ByteBuffer& bytes,
                           v1::ReportTrafficRequest* request,
                           v1::TrafficAck* ack) {
  const absl::Status status = decoder.Parse(bytes, request);
  if (status.ok()) {
    return handler.Report(*request, ack);
  }
  TrafficHandler::Undecodable(Flatten(bytes), status, ack);
  return 0;
}

// Finishes `reactor` once `ticket` is durable (at once without a store or
// ticket): nothing is acknowledged before it is committed.
void FinishWhenDurable(policy::StateStore* store, policy::StoreTicket ticket,
                       grpc::ServerUnaryReactor* reactor,
                       const absl::Status& status) {
  if (store == nullptr || ticket == 0 || !status.ok()) {
    reactor->Finish(ToGrpcStatus(status));
    return;
  }
  store->WhenDurable(ticket, [reactor](absl::Status durable) {
    reactor->Finish(ToGrpcStatus(
        durable.ok()
            ? durable
            : absl::UnavailableError(StrCat("not recorded durably: ",
                                            std::string(durable.message())))));
  });
}

}  // namespace

CompliancePluginService::CompliancePluginService(const CheckInHandler* check_in,
                                                 const TrafficHandler* traffic,
                                                 policy::PolicyEngine* engine,
                                                 std::size_t max_check_in_bytes,
                                                 policy::StateStore* store)
    : check_in_(check_in),
      traffic_(traffic),
      engine_(engine),
      store_(store),
      max_check_in_bytes_(max_check_in_bytes),
      check_in_decoder_(v1::CheckInRequest::descriptor()),
      traffic_decoder_(v1::ReportTrafficRequest::descriptor()) {}

grpc::ServerUnaryReactor* CompliancePluginService::CheckIn(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  alignas(16) char block[kArenaBlockBytes];
  google::protobuf::ArenaOptions options;
  options.initial_block = block;
  options.initial_block_size = sizeof(block);
  google::protobuf::Arena arena(options);
  auto* request =
      google::protobuf::Arena::CreateMessage<v1::CheckInRequest>(&arena);
  auto* response =
      google::protobuf::Arena::CreateMessage<v1::CheckInResponse>(&arena);

  absl::Status status;
  if (request_bytes->Length() > max_check_in_bytes_) {
    status = absl::ResourceExhaustedError(
        StrCat("the request is ", request_bytes->Length(),
               " bytes; CheckIn accepts at most ", max_check_in_bytes_));
  } else {
    status = check_in_decoder_.Parse(*request_bytes, request);
  }
  policy::StoreTicket ticket = 0;
  if (status.ok()) {
    status = check_in_->CheckIn(*request, response, &ticket);
  }
  if (status.ok()) {
    status = Encode(*response, response_bytes);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  FinishWhenDurable(store_, ticket, reactor, status);
  return reactor;
}

grpc::ServerUnaryReactor* CompliancePluginService::ReportTraffic(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  google::protobuf::Arena arena;
  auto* request =
      google::protobuf::Arena::CreateMessage<v1::ReportTrafficRequest>(&arena);
  auto* ack = google::protobuf::Arena::CreateMessage<v1::TrafficAck>(&arena);
  auto* response =
      google::protobuf::Arena::CreateMessage<v1::ReportTrafficResponse>(&arena);
  const policy::StoreTicket ticket =
      Decode(traffic_decoder_, *traffic_, *request_bytes, request, ack);
  response->set_sequence(ack->sequence());
  response->mutable_events()->Swap(ack->mutable_events());
  response->mutable_errors()->Swap(ack->mutable_errors());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  FinishWhenDurable(store_, ticket, reactor, Encode(*response, response_bytes));
  return reactor;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
CompliancePluginService::StreamTraffic(grpc::CallbackServerContext* context) {
  (void)context;
  return new AckStream(
      [this](const grpc::ByteBuffer& bytes, v1::TrafficAck* ack) {
        // One request message per stream thread: reused, not reallocated.
        thread_local v1::ReportTrafficRequest request;
        const policy::StoreTicket ticket =
            Decode(traffic_decoder_, *traffic_, bytes, &request, ack);
        if (bytes.Length() > kMaxKeptRequestBytes) {
          request = v1::ReportTrafficRequest();  // give the memory back
        }
        return ticket;
      },
      store_);
}

grpc::ServerUnaryReactor* CompliancePluginService::GetDeviceRisk(
    grpc::CallbackServerContext* context,
    const v1::GetDeviceRiskRequest* request,
    v1::GetDeviceRiskResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(traffic_->GetDeviceRisk(*request, response)));
  return reactor;
}

grpc::ServerWriteReactor<v1::ComplianceAlert>*
CompliancePluginService::WatchAlerts(grpc::CallbackServerContext* context,
                                     const v1::WatchAlertsRequest* request) {
  (void)context;
  return new AlertStream(engine_, request->tenant_id());
}

}  // namespace hijackguard::plugin
