// The server side of a stream of observations answered by batches of
// acknowledgements (StreamTraffic). Each message is handled as it arrives;
// acks collect while a write is in flight and go out together, so a busy
// stream costs one write per batch, not per message. Reading pauses while a
// full batch waits (back-pressure). Deletes itself when the call is done.
//
// With a state store, an ack is held until what its message changed is
// durable (its ticket committed); acks leave in message order. Group commit
// makes this cheap: many messages share one commit, and reading goes on
// while they wait (up to kMaxAwaiting).
#pragma once

#include <deque>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "hijackguard/v1/traffic.pb.h"
#include "policy/state_store.h"

namespace hijackguard::plugin {

class AckStream final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  // Fills the ack for one received message. Called on gRPC threads, one
  // message at a time per stream.
  // Returns the store ticket to wait for before acking (0 = none).
  using Handler = std::function<policy::StoreTicket(
      const grpc::ByteBuffer& message, v1::TrafficAck* ack)>;

  // Most acks, and about the most bytes, in one write; reading pauses
  // while a batch this full waits for the previous write.
  static constexpr int kMaxAcksPerBatch = 512;
  static constexpr std::size_t kMaxBatchBytes = 1 << 20;
  // Most acks waiting for their commit before reading pauses.
  static constexpr std::size_t kMaxAwaiting = 4096;

  // Called once, as the stream finishes: whether it finished OK (a stream
  // the client cancelled did not, whatever it had answered).
  using OnFinish = std::function<void(bool ok)>;

  // `store` may be null (nothing to wait for); it must outlive the stream.
  // `on_finish` may be empty. `context` (may be null) tells a cancelled call.
  AckStream(Handler handler, policy::StateStore* store = nullptr,
            OnFinish on_finish = nullptr,
            const grpc::CallbackServerContext* context = nullptr);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone() override;

 private:
  struct Step {
    bool read = false;
    bool write = false;
    bool finish = false;
    bool failed = false;              // finish with CANCELLED
    policy::StoreTicket request = 0;  // ask the store to call back
  };
  struct Awaiting {
    policy::StoreTicket ticket = 0;
    v1::TrafficAck ack;
  };
  Step NextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Run(const Step& step);
  // Moves acks whose commit is done into the batch; asks the store to call
  // back for the rest (one request in flight).
  void ReleaseLocked(Step* step) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Request(policy::StoreTicket ticket);
  void OnDurable(policy::StoreTicket ticket, const absl::Status& status);

  Handler handler_;
  policy::StateStore* store_;
  OnFinish on_finish_;
  const grpc::CallbackServerContext* const context_;
  absl::Mutex mu_;
  std::deque<Awaiting> awaiting_ ABSL_GUARDED_BY(mu_);
  // Known committed.
  policy::StoreTicket durable_ ABSL_GUARDED_BY(mu_) = 0;
  // A callback is due for this ticket.
  policy::StoreTicket requested_ ABSL_GUARDED_BY(mu_) = 0;
  // The store could not commit up to this ticket (it may later: those
  // messages are answered STATE_UNAVAILABLE, the ones after wait anew).
  policy::StoreTicket failed_through_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status store_failure_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer in_;  // the read in flight's (one at a time)
  grpc::ByteBuffer out_ ABSL_GUARDED_BY(mu_);
  v1::StreamTrafficResponse batch_ ABSL_GUARDED_BY(mu_);
  std::size_t batch_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace hijackguard::plugin
