// The server side of a stream of observations answered by batches of
// acknowledgements (StreamTraffic). Each message is handled as it arrives;
// acks collect while a write is in flight and go out together, so a busy
// stream costs one write per batch, not per message. Reading pauses while a
// full batch waits (back-pressure). Deletes itself when the call is done.
#pragma once

#include <functional>
#include <mutex>

#include "grpcpp/grpcpp.h"
#include "hijackguard/v1/traffic.pb.h"

namespace hijackguard::plugin {

class AckStream final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  // Fills the ack for one received message. Called on gRPC threads, one
  // message at a time per stream.
  using Handler =
      std::function<void(const grpc::ByteBuffer& message, v1::TrafficAck* ack)>;

  // Most acks, and about the most bytes, in one write; reading pauses
  // while a batch this full waits for the previous write.
  static constexpr int kMaxAcksPerBatch = 512;
  static constexpr std::size_t kMaxBatchBytes = 1 << 20;

  explicit AckStream(Handler handler);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone() override;

 private:
  struct Step {
    bool read = false;
    bool write = false;
    bool finish = false;
  };
  Step NextLocked();
  void Run(const Step& step);

  Handler handler_;
  std::mutex mu_;
  grpc::ByteBuffer in_;
  grpc::ByteBuffer out_;
  v1::StreamTrafficResponse batch_;
  std::size_t batch_bytes_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool reads_done_ = false;
  bool failed_ = false;
  bool finished_ = false;
};

}  // namespace hijackguard::plugin
