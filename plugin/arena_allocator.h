// Per-call protobuf arenas for callback services: the request and response of
// one call live in one arena whose first block is inline, so a check-in's many
// small strings cost no separate heap allocations and are freed at once.
#pragma once

#include "google/protobuf/arena.h"
#include "grpcpp/support/message_allocator.h"

namespace hijackguard::plugin {

template <typename Request, typename Response>
class ArenaMessageAllocator final
    : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override {
    return new Holder();
  }

 private:
  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    Holder() : arena_(Options(block_)) {
      this->set_request(
          google::protobuf::Arena::CreateMessage<Request>(&arena_));
      this->set_response(
          google::protobuf::Arena::CreateMessage<Response>(&arena_));
    }
    void Release() override { delete this; }

   private:
    static google::protobuf::ArenaOptions Options(char* block) {
      google::protobuf::ArenaOptions options;
      options.initial_block = block;
      options.initial_block_size = kInlineBytes;
      return options;
    }

    // Large enough for a typical check-in's request and response (about 2 KiB
    // on the wire).
    static constexpr std::size_t kInlineBytes = 8192;
    alignas(16) char block_[kInlineBytes];
    google::protobuf::Arena arena_;  // after block_: constructed from it
  };
};

}  // namespace hijackguard::plugin
