// A bare gRPC server for the h2load comparison (tests/bench/checkin_h2load.py):
// hijackguard.bench.EchoBench/Echo parses each CheckInRequest and answers a
// fixed CheckInResponse (read from proto3 JSON, as `hijackguard checkin
// --json` prints one), so that its messages are the sizes CheckIn's are.
// hijackguard.bench.EchoBench/StreamEcho acknowledges each message of a
// stream without looking at it, with StreamTraffic's ack batching
// (plugin/ack_stream.h). It prints its address, and on SIGTERM or SIGINT how
// many calls it answered.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "CLI/CLI.hpp"
#include "echo.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "plugin/ack_stream.h"
#include "plugin/server_options.h"

namespace hg = hijackguard;

namespace {

class EchoService final
    : public hg::bench::EchoBench::WithRawCallbackMethod_StreamEcho<
          hg::bench::EchoBench::WithCallbackMethod_Echo<
              hg::bench::EchoBench::Service>> {
 public:
  explicit EchoService(hg::v1::CheckInResponse canned)
      : canned_(std::move(canned)) {}
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const hg::v1::CheckInRequest* /*request*/,
                                 hg::v1::CheckInResponse* response) override {
    *response = canned_;
    answered_.fetch_add(1, std::memory_order_relaxed);
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* StreamEcho(
      grpc::CallbackServerContext* /*context*/) override {
    auto sequence = std::make_shared<std::uint64_t>(0);
    return new hg::plugin::AckStream(
        [sequence](const grpc::ByteBuffer&, hg::v1::TrafficAck* ack) {
          ack->set_sequence(++*sequence);
          return hg::policy::StoreTicket{0};
        },
        nullptr,
        [this](bool ok) {
          if (ok) answered_.fetch_add(1, std::memory_order_relaxed);
        });
  }
  long answered() const { return answered_.load(); }

 private:
  const hg::v1::CheckInResponse canned_;
  std::atomic<long> answered_{0};
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("A bare gRPC echo server for load comparisons");
  std::string listen = "127.0.0.1:0";
  std::string response_json;
  app.add_option("--listen", listen, "host:port (port 0: any free one)");
  app.add_option("--response-json", response_json,
                 "The CheckInResponse to answer, as proto3 JSON")
      ->required();
  CLI11_PARSE(app, argc, argv);
  hg::plugin::ApplyProcessDefaults();  // as the hijackguard binary

  std::ifstream in(response_json);
  std::stringstream text;
  text << in.rdbuf();
  hg::v1::CheckInResponse canned;
  if (!in ||
      !google::protobuf::util::JsonStringToMessage(text.str(), &canned).ok()) {
    std::fprintf(stderr, "error: %s is not a CheckInResponse in JSON\n",
                 response_json.c_str());
    return 2;
  }
  // The signals are taken by sigwait below, on this thread.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  EchoService service(std::move(canned));
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "error: cannot listen on %s\n", listen.c_str());
    return 3;
  }
  const std::string host = listen.substr(0, listen.rfind(':'));
  std::printf("echo serving on %s:%d\n", host.c_str(), port);
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop, &signal);
  server->Shutdown();
  std::printf("echo answered %ld calls\n", service.answered());
  return 0;
}
