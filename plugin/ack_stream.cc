#include "plugin/ack_stream.h"

#include "grpcpp/impl/codegen/proto_utils.h"

namespace hijackguard::plugin {

AckStream::AckStream(Handler handler) : handler_(std::move(handler)) {
  reading_ = true;
  StartRead(&in_);
}

void AckStream::OnReadDone(bool ok) {
  Step step;
  {
    std::lock_guard<std::mutex> lock(mu_);
    reading_ = false;
    if (!ok) {
      reads_done_ = true;  // the client closed its side (or went away)
    } else {
      v1::TrafficAck* ack = batch_.add_acks();
      handler_(in_, ack);
      batch_bytes_ += ack->ByteSizeLong();
      in_.Clear();
    }
    step = NextLocked();
  }
  Run(step);
}

void AckStream::OnWriteDone(bool ok) {
  Step step;
  {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) {
      failed_ = true;  // the client stopped reading
    }
    step = NextLocked();
  }
  Run(step);
}

void AckStream::OnDone() { delete this; }

AckStream::Step AckStream::NextLocked() {
  Step step;
  if (finished_) {
    return step;
  }
  if (failed_) {
    if (!writing_ && !reading_) {
      finished_ = true;
      step.finish = true;
    }
    return step;
  }
  if (!writing_ && batch_.acks_size() > 0) {
    out_.Clear();
    bool own_buffer = false;
    if (grpc::SerializationTraits<google::protobuf::Message>::Serialize(
            batch_, &out_, &own_buffer)
            .ok()) {
      writing_ = true;
      step.write = true;
    } else {
      failed_ = true;
    }
    batch_.Clear();
    batch_bytes_ = 0;
  }
  if (!failed_ && !reads_done_ && !reading_ &&
      batch_.acks_size() < kMaxAcksPerBatch && batch_bytes_ < kMaxBatchBytes) {
    reading_ = true;
    step.read = true;
  }
  if ((reads_done_ || failed_) && !writing_ && !reading_ &&
      batch_.acks_size() == 0) {
    finished_ = true;
    step.finish = true;
  }
  return step;
}

void AckStream::Run(const Step& step) {
  if (step.write) {
    StartWrite(&out_);
  }
  if (step.read) {
    StartRead(&in_);
  }
  if (step.finish) {
    Finish(failed_ ? grpc::Status(grpc::StatusCode::CANCELLED,
                                  "the stream could not be answered")
                   : grpc::Status::OK);
  }
}

}  // namespace hijackguard::plugin
