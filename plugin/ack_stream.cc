#include "plugin/ack_stream.h"

#include "common/strings.h"
#include "grpcpp/impl/codegen/proto_utils.h"

namespace hijackguard::plugin {

AckStream::AckStream(Handler handler, policy::StateStore* store,
                     OnFinish on_finish,
                     const grpc::CallbackServerContext* context)
    : handler_(std::move(handler)),
      store_(store),
      on_finish_(std::move(on_finish)),
      context_(context) {
  reading_ = true;
  StartRead(&in_);
}

void AckStream::OnReadDone(bool ok) {
  // The handler runs without mu_: it may wait for the store (back-pressure),
  // whose writer thread calls OnDurable, which takes mu_. No other read is
  // in flight, so in_ is ours.
  Awaiting received;
  if (ok) {
    received.ticket = handler_(in_, &received.ack);
    in_.Clear();
  }
  Step step;
  {
    absl::MutexLock lock(&mu_);
    reading_ = false;
    if (!ok) {
      reads_done_ = true;  // the client closed its side (or went away)
    } else {
      awaiting_.push_back(std::move(received));
    }
    Step release;
    ReleaseLocked(&release);
    step = NextLocked();
    step.request = release.request;
  }
  Run(step);
}

void AckStream::OnWriteDone(bool ok) {
  Step step;
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      failed_ = true;  // the client stopped reading
    }
    step = NextLocked();
  }
  Run(step);
}

void AckStream::OnDone() { delete this; }

void AckStream::ReleaseLocked(Step* step) {
  while (!awaiting_.empty()) {
    Awaiting& a = awaiting_.front();
    if (a.ticket > durable_ && store_ != nullptr &&
        store_->IsDurable(a.ticket)) {
      durable_ = a.ticket;  // committed after all (a retry succeeded)
    }
    const bool failed = a.ticket > durable_ && a.ticket <= failed_through_;
    if (a.ticket > durable_ && !failed) {
      break;
    }
    if (failed) {
      // Never acknowledge what was not committed.
      a.ack.clear_events();
      v1::ItemError* e = a.ack.add_errors();
      e->set_code("STATE_UNAVAILABLE");
      e->set_message(StrCat(
          "not recorded durably: ", std::string(store_failure_.message()),
          "; report it again later"));
    }
    v1::TrafficAck* ack = batch_.add_acks();
    ack->Swap(&a.ack);
    batch_bytes_ += ack->ByteSizeLong();
    awaiting_.pop_front();
  }
  if (!awaiting_.empty() && requested_ == 0 && store_ != nullptr) {
    // Ask for the newest waiting ticket: commits are in order, so when it
    // is durable every earlier one is too. Asked once mu_ is released (the
    // store may call back at once).
    for (const Awaiting& a : awaiting_) {
      requested_ = std::max(requested_, a.ticket);
    }
    step->request = requested_;
  }
}

void AckStream::Request(policy::StoreTicket ticket) {
  store_->WhenDurable(ticket, [this, ticket](const absl::Status& status) {
    OnDurable(ticket, status);
  });
}

void AckStream::OnDurable(policy::StoreTicket ticket,
                          const absl::Status& status) {
  Step step;
  {
    absl::MutexLock lock(&mu_);
    requested_ = 0;
    if (status.ok()) {
      durable_ = std::max(durable_, ticket);
    } else {
      failed_through_ = std::max(failed_through_, ticket);
      store_failure_ = status;
    }
    Step release;
    ReleaseLocked(&release);
    step = NextLocked();
    step.request = release.request;
  }
  Run(step);
}

AckStream::Step AckStream::NextLocked() {
  Step step;
  if (finished_) {
    return step;
  }
  if (failed_) {
    // Not while the store may still call back (OnDurable uses this).
    if (!writing_ && !reading_ && requested_ == 0) {
      finished_ = true;
      step.finish = true;
      step.failed = true;
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
      batch_.acks_size() < kMaxAcksPerBatch && batch_bytes_ < kMaxBatchBytes &&
      awaiting_.size() < kMaxAwaiting) {
    reading_ = true;
    step.read = true;
  }
  if ((reads_done_ || failed_) && !writing_ && !reading_ &&
      batch_.acks_size() == 0 && awaiting_.empty() && requested_ == 0) {
    finished_ = true;
    step.finish = true;
    step.failed = failed_;
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
    if (on_finish_) {
      // A client that went away ends the reads like one that closed its
      // side; only the context tells them apart.
      on_finish_(!step.failed &&
                 (context_ == nullptr || !context_->IsCancelled()));
    }
    Finish(step.failed ? grpc::Status(grpc::StatusCode::CANCELLED,
                                      "the stream could not be answered")
                       : grpc::Status::OK);
  }
  // Last: the store may call back at once, and that may finish the call.
  if (step.request != 0) {
    Request(step.request);
  }
}

}  // namespace hijackguard::plugin
