// Load benchmark: StreamTraffic on the real plugin server against a bare
// streaming echo that acknowledges each observation without looking at it
// (same batching), both in this process. The client streams ~2 KiB
// calendar Sync requests (client Changes of meetings the server sent first)
// as fast as the stream takes them. Prints observations per second, medians
// over repetitions (echo and plugin alternating), and their ratio.
//
//   build/bin/traffic_load [--observations 200000] [--repetitions 5]
//   [--durable | --shipped [--source-dir .]] [--only SERVICE]
//   [--write-bodies DIR]
//
// --only runs one service alone (for a profiler); --write-bodies writes the
// request bodies traffic_h2load.py sends with h2load, and exits.
//
// With --shipped the third server is the shipped configuration (what
// scripts/run serves: examples/hijackguard.json, its state in a temporary
// directory), and the ratio that matters is shipped / echo.
//
// With --durable a third server runs, the same plugin with its state in a
// SQLite database (temporary directory, synchronous=full): every ack waits
// for its group commit. All three alternate; the ratio that matters is
// durable / in-memory.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/strings.h"
#include "echo.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "load_util.h"
#include "plugin/ack_stream.h"
#include "plugin/server.h"
#include "plugin/server_options.h"
#include "shipped_server.h"
#include "store/sqlite/sqlite_store.h"
#include "traffic_bodies.h"

namespace hijackguard::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Request = v1::ReportTrafficRequest;
using Batch = v1::StreamTrafficResponse;

class StreamEchoService final
    : public EchoBench::WithRawCallbackMethod_StreamEcho<
          EchoBench::WithCallbackMethod_Echo<EchoBench::Service>> {
 public:
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* StreamEcho(
      grpc::CallbackServerContext* /*context*/) override {
    auto sequence = std::make_shared<std::uint64_t>(0);
    return new plugin::AckStream(
        [sequence](const grpc::ByteBuffer&, v1::TrafficAck* ack) {
          ack->set_sequence(++*sequence);
          return policy::StoreTicket{0};
        });
  }
};

Request Observation(std::uint64_t sequence, int device,
                    const std::string& request_body,
                    const std::string& response_body) {
  Request r;
  r.set_tenant_id("bench-tenant");
  r.set_sequence(sequence);
  r.mutable_observed_at()->set_seconds(1350000000 +
                                       static_cast<std::int64_t>(sequence));
  v1::EasExchange* ex = r.mutable_eas_exchange();
  ex->set_method("POST");
  ex->set_target("/Microsoft-Server-ActiveSync?Cmd=Sync&User=user" +
                 std::to_string(device) + "%40example.com&DeviceId=Appl" +
                 std::to_string(100000 + device) + "&DeviceType=iPhone");
  (*ex->mutable_headers())["User-Agent"] = "Apple-iPhone4C1/1001.403";
  (*ex->mutable_headers())["MS-ASProtocolVersion"] = "14.1";
  ex->set_request_body(request_body);
  ex->set_response_status(response_body.empty() ? 0 : 200);
  ex->set_response_body(response_body);
  return r;
}

// The invitations and the client changes of `devices` devices, as the
// traffic_load runs send them.
void MakeObservations(int devices, std::vector<Request>* adds,
                      std::vector<Request>* changes) {
  std::uint64_t sequence = 0;
  for (int d = 0; d < devices; ++d) {
    adds->push_back(Observation(++sequence, d, {}, BenchServerAdd("2:14", d)));
    changes->push_back(
        Observation(++sequence, d, BenchClientChange("2:14", d), {}));
  }
}

// Writes `requests` as one gRPC request body: each message framed (a zero
// flag byte, its length in four bytes big-endian, its bytes).
bool WriteFramed(const std::filesystem::path& path,
                 const std::vector<Request>& requests) {
  std::ofstream out(path, std::ios::binary);
  for (const Request& r : requests) {
    const std::string bytes = r.SerializeAsString();
    const auto n = static_cast<std::uint32_t>(bytes.size());
    const char frame[5] = {
        0, static_cast<char>(n >> 24), static_cast<char>((n >> 16) & 0xFF),
        static_cast<char>((n >> 8) & 0xFF), static_cast<char>(n & 0xFF)};
    out.write(frame, sizeof(frame));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  return static_cast<bool>(out);
}

int WriteBodies(const std::string& dir, int devices) {
  std::vector<Request> adds;
  std::vector<Request> changes;
  MakeObservations(devices, &adds, &changes);
  const std::filesystem::path root(dir);
  if (!WriteFramed(root / "adds.grpc", adds) ||
      !WriteFramed(root / "changes.grpc", changes)) {
    std::fprintf(stderr, "cannot write into %s\n", dir.c_str());
    return 1;
  }
  std::printf("%d devices: %s/adds.grpc, %s/changes.grpc\n", devices,
              dir.c_str(), dir.c_str());
  return 0;
}

struct Run {
  double per_second = 0;
  double cpu_us = 0;
  long errors = 0;
};

// Streams `requests` (cycling) `count` times on one call; returns the rate.
template <typename Open>
Run Stream(Open open, const std::vector<Request>& requests, long count) {
  grpc::ClientContext context;
  auto stream = open(&context);
  const double cpu0 = ProcessCpuSeconds();
  const auto start = Clock::now();
  std::thread writer([&] {
    grpc::WriteOptions options;
    options.set_buffer_hint();  // let gRPC coalesce writes, as a gateway
                                // batching reports would
    for (long i = 0; i < count; ++i) {
      if (!stream->Write(
              requests[static_cast<std::size_t>(i) % requests.size()],
              options)) {
        break;
      }
    }
    stream->WritesDone();
  });
  Batch batch;
  long acked = 0;
  long errors = 0;
  while (stream->Read(&batch)) {
    for (const v1::TrafficAck& ack : batch.acks()) {
      ++acked;
      errors += ack.errors_size();
    }
  }
  writer.join();
  const grpc::Status status = stream->Finish();
  const double seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  Run run;
  run.per_second = static_cast<double>(acked) / seconds;
  run.cpu_us = (ProcessCpuSeconds() - cpu0) * 1e6 / static_cast<double>(acked);
  run.errors =
      errors + (acked == count ? 0 : count - acked) + (status.ok() ? 0 : 1);
  return run;
}

// The medians' inputs: per run, echo (e), in-memory plugin (p), durable
// plugin (d).
struct Series {
  std::vector<double> e_rate, p_rate, e_cpu, p_cpu, ratio;
  std::vector<double> d_rate, d_cpu, d_ratio, d_echo_ratio;
  long errors = 0;
};

// `repetitions` runs of each service, alternating their order; `durable`
// null: no durable server.
template <typename Open, typename OpenDurable>
Series RunAlternating(Open open_echo, Open open_plugin,
                      const OpenDurable* open_durable,
                      const std::vector<Request>& changes, long observations,
                      int repetitions) {
  Series s;
  for (int rep = 0; rep < repetitions; ++rep) {
    Run e, p, d;
    if (rep % 2 == 0) {
      e = Stream(open_echo, changes, observations);
      p = Stream(open_plugin, changes, observations);
      if (open_durable) d = Stream(*open_durable, changes, observations);
    } else {
      if (open_durable) d = Stream(*open_durable, changes, observations);
      p = Stream(open_plugin, changes, observations);
      e = Stream(open_echo, changes, observations);
    }
    if (open_durable) {
      s.d_rate.push_back(d.per_second);
      s.d_cpu.push_back(d.cpu_us);
      s.d_ratio.push_back(p.per_second > 0 ? d.per_second / p.per_second : 0);
      s.d_echo_ratio.push_back(e.per_second > 0 ? d.per_second / e.per_second
                                                : 0);
      s.errors += d.errors;
    }
    s.e_rate.push_back(e.per_second);
    s.p_rate.push_back(p.per_second);
    s.e_cpu.push_back(e.cpu_us);
    s.p_cpu.push_back(p.cpu_us);
    s.ratio.push_back(e.per_second > 0 ? p.per_second / e.per_second : 0);
    s.errors += e.errors + p.errors;
    std::printf("  run %d: echo %.0f/s, StreamTraffic %.0f/s", rep + 1,
                e.per_second, p.per_second);
    if (open_durable) {
      std::printf(", durable StreamTraffic %.0f/s", d.per_second);
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  return s;
}

void PrintMedians(const Series& s, plugin::PluginServer* durable,
                  bool shipped) {
  std::printf("%-14s %12s %9s\n", "service", "obs_per_s", "cpu_us");
  std::printf("%-14s %12.0f %9.1f\n", "echo", Median(s.e_rate),
              Median(s.e_cpu));
  std::printf("%-14s %12.0f %9.1f\n", "StreamTraffic", Median(s.p_rate),
              Median(s.p_cpu));
  if (durable != nullptr) {
    std::printf("%-14s %12.0f %9.1f\n", "durable", Median(s.d_rate),
                Median(s.d_cpu));
  }
  std::printf(
      "ratio StreamTraffic/echo %.3f; StreamTraffic %.0f obs/s (target >= "
      "30000); errors %ld\n",
      Median(s.ratio), Median(s.p_rate), s.errors);
  if (durable != nullptr) {
    std::printf(
        "ratio %s/echo %.3f%s; %s/in-memory StreamTraffic %.3f%s; %s\n",
        shipped ? "shipped" : "durable", Median(s.d_echo_ratio),
        shipped ? " (target >= 0.9)" : "", shipped ? "shipped" : "durable",
        Median(s.d_ratio), shipped ? "" : " (target >= 0.5)",
        durable->store() != nullptr
            ? StrCat(durable->store()->stats().commits, " commits for ",
                     durable->store()->stats().submissions, " submissions")
                  .c_str()
            : "");
  }
}

int Main(int argc, char** argv) {
  CLI::App app{"StreamTraffic load benchmark"};
  long observations = 200'000;
  int repetitions = 5;
  int devices = 1000;
  app.add_option("--observations", observations, "Observations per run")
      ->capture_default_str();
  app.add_option("--repetitions", repetitions, "Runs per service")
      ->capture_default_str();
  app.add_option("--devices", devices, "Distinct devices (and meetings)")
      ->capture_default_str();
  bool durable = false;
  app.add_flag("--durable", durable,
               "Also run the plugin with a state database and compare");
  bool shipped = false;
  app.add_flag("--shipped", shipped,
               "The third server is the shipped configuration "
               "(examples/hijackguard.json: SQLite state, audit, default "
               "policy, development mode) instead of --durable's");
  std::string source_dir = ".";
  app.add_option("--source-dir", source_dir,
                 "The repository (for --shipped's configuration)")
      ->capture_default_str();
  std::string only;
  app.add_option("--only", only,
                 "Run one service alone (for profiling): echo, plugin or "
                 "durable (the --durable or --shipped server)")
      ->check(CLI::IsMember({"echo", "plugin", "durable"}));
  std::string write_bodies;
  app.add_option("--write-bodies", write_bodies,
                 "Write the server's invitations (adds.grpc) and the "
                 "measured client changes (changes.grpc) of --devices "
                 "devices into this directory as gRPC-framed request "
                 "bodies for h2load (checkin_h2load.py --rpc traffic), and "
                 "exit")
      ->check(CLI::ExistingDirectory);
  std::string synchronous = "full";
  app.add_option("--synchronous", synchronous,
                 "The durable server's synchronous mode")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  plugin::ApplyProcessDefaults();  // as the hijackguard binary

  if (!write_bodies.empty()) {
    return WriteBodies(write_bodies, devices);
  }
  plugin::ServerOptions options;
  options.catalog = std::make_shared<detector::KnownIssueCatalog>(
      *detector::KnownIssueCatalog::Builtin());
  auto plugin_server = plugin::BuildServer(options);
  if (!plugin_server.ok()) {
    std::fprintf(stderr, "plugin server: %s\n",
                 plugin_server.status().ToString().c_str());
    return 1;
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  auto plugin_stub = v1::CompliancePlugin::NewStub(grpc::CreateCustomChannel(
      (*plugin_server)->address(), grpc::InsecureChannelCredentials(), args));
  const std::filesystem::path state_dir =
      std::filesystem::temp_directory_path() /
      ("hijackguard-traffic-load-" + std::to_string(::getpid()));
  std::unique_ptr<plugin::PluginServer> durable_server;
  std::unique_ptr<v1::CompliancePlugin::Stub> durable_stub;
  if (shipped) {
    durable = true;
  }
  if (durable) {
    std::filesystem::remove_all(state_dir);
    std::filesystem::create_directories(state_dir);
    plugin::ServerOptions d = options;
    d.state_path = (state_dir / "hijackguard.db").string();
    d.state_synchronous = synchronous;
    auto built =
        shipped ? StartShipped(source_dir, state_dir) : plugin::BuildServer(d);
    if (!built.ok()) {
      std::fprintf(stderr, "durable server: %s\n",
                   built.status().ToString().c_str());
      return 1;
    }
    durable_server = *std::move(built);
    durable_stub = v1::CompliancePlugin::NewStub(grpc::CreateCustomChannel(
        durable_server->address(), grpc::InsecureChannelCredentials(), args));
  }

  StreamEchoService echo_service;
  grpc::ServerBuilder builder;
  int echo_port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &echo_port);
  builder.SetMaxReceiveMessageSize(8 << 20);
  builder.RegisterService(&echo_service);
  std::unique_ptr<grpc::Server> echo_server = builder.BuildAndStart();
  auto echo_stub = EchoBench::NewStub(
      grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(echo_port),
                                grpc::InsecureChannelCredentials(), args));

  // The server's invitations first (the ledger), then the measured stream of
  // client Changes of them.
  std::vector<Request> adds;
  std::vector<Request> changes;
  MakeObservations(devices, &adds, &changes);
  using Open =
      std::function<std::unique_ptr<grpc::ClientReaderWriter<Request, Batch>>(
          grpc::ClientContext*)>;
  const Open open_plugin = [&](grpc::ClientContext* c) {
    return plugin_stub->StreamTraffic(c);
  };
  const Open open_echo = [&](grpc::ClientContext* c) {
    return echo_stub->StreamEcho(c);
  };
  const Open open_durable = [&](grpc::ClientContext* c) {
    return durable_stub->StreamTraffic(c);
  };
  const Run setup = Stream(open_plugin, adds, static_cast<long>(adds.size()));
  if (setup.errors != 0) {
    std::fprintf(stderr, "setup stream had %ld errors\n", setup.errors);
    return 1;
  }
  if (durable &&
      Stream(open_durable, adds, static_cast<long>(adds.size())).errors != 0) {
    std::fprintf(stderr, "durable setup stream had errors\n");
    return 1;
  }
  std::printf(
      "%ld observations per run (%zu-byte messages, %zu-byte WBXML bodies, %d "
      "devices); %d repetitions, echo and StreamTraffic alternating; medians "
      "shown; cpu_us = process CPU per observation (client and server)\n",
      observations, changes[0].ByteSizeLong(),
      changes[0].eas_exchange().request_body().size(), devices, repetitions);
  Stream(open_echo, changes, observations / 10);  // warm-up
  Stream(open_plugin, changes, observations / 10);
  if (durable) {
    Stream(open_durable, changes, observations / 10);
  }
  // The servers stopped, the durable one's state removed.
  const auto shutdown = [&] {
    if (durable_server != nullptr) {
      durable_server->Shutdown(absl::ZeroDuration());
      durable_server.reset();
      std::filesystem::remove_all(state_dir);
    }
    echo_server->Shutdown();
    (*plugin_server)->Shutdown(absl::ZeroDuration());
  };
  if (!only.empty()) {
    // One service alone, for a profiler (perf record -p) to see only it.
    const Open& open = only == "echo"     ? open_echo
                       : only == "plugin" ? open_plugin
                                          : open_durable;
    if (only == "durable" && !durable) {
      std::fprintf(stderr, "--only durable needs --durable or --shipped\n");
      return 2;
    }
    long errors = 0;
    for (int rep = 0; rep < repetitions; ++rep) {
      const Run run = Stream(open, changes, observations);
      errors += run.errors;
      std::printf("  %s: %.0f/s, %.1f us CPU each, %ld errors\n", only.c_str(),
                  run.per_second, run.cpu_us, run.errors);
    }
    shutdown();
    return errors == 0 ? 0 : 1;
  }
  const Series series =
      RunAlternating(open_echo, open_plugin, durable ? &open_durable : nullptr,
                     changes, observations, repetitions);
  PrintMedians(series, durable_server.get(), shipped);
  shutdown();
  return series.errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace hijackguard::bench

int main(int argc, char** argv) { return hijackguard::bench::Main(argc, argv); }
