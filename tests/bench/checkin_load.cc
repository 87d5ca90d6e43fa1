// Load benchmark: CheckIn on the real plugin server against a bare gRPC echo
// service that returns a CheckInResponse of the same size, both in this
// process, at several concurrency levels. Prints QPS and latency percentiles
// for both and their ratios (medians over repetitions; echo and plugin runs
// alternate so drift hits both alike).
//
//   build/bin/checkin_load [--duration-ms 3000] [--repetitions 5]
//   [--concurrency 1,4,16] [--monitor] [--audit] [--auth [--control]]
//
// With --auth both servers keep state in SQLite databases (the shipped
// configuration); the baseline runs in development mode, the measured one
// with an auth section of 50 principals and checks every call's bearer token
// (both are sent it). --control makes the second server like the first, to
// show the spread of the ratio when nothing differs.
//
// With --audit the baseline is not the echo but the same plugin with its
// state in memory, and the measured server keeps state in a SQLite database
// (a temporary directory), appending every decision to the audit log.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/hmac.h"
#include "echo.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "load_util.h"
#include "plugin/auth.h"
#include "plugin/server.h"

namespace hijackguard::bench {
namespace {

using Clock = std::chrono::steady_clock;

v1::CheckInRequest MakeRequest() {
  v1::CheckInRequest r;
  r.set_tenant_id("bench-tenant");
  r.mutable_device()->set_eas_device_id("ApplDMPFXZABDFHW");
  r.mutable_device()->set_mdm_device_id("mdm-000042");
  r.mutable_device()->set_user_principal("alice@example.com");
  r.mutable_device()->set_primary_smtp_address("alice@example.com");
  r.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
  r.mutable_eas()->set_device_type("iPhone");
  r.mutable_eas()->set_device_os("iOS 6.0 10A403");
  r.mutable_eas()->set_device_model("iPhone4C1");
  r.mutable_eas()->set_protocol_version("14.1");
  r.mutable_inventory()->set_product_name("iPhone4,1");
  r.mutable_inventory()->set_os_version("6.0");
  r.mutable_inventory()->set_build_version("10A403");
  return r;
}

class EchoService final : public EchoBench::CallbackService {
 public:
  explicit EchoService(v1::CheckInResponse canned)
      : canned_(std::move(canned)) {}
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const v1::CheckInRequest* /*request*/,
                                 v1::CheckInResponse* response) override {
    *response = canned_;
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  const v1::CheckInResponse canned_;
};

struct RunResult {
  double qps = 0;
  double cpu_us_per_call =
      0;  // process CPU (client and server, user + system) per call
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  long errors = 0;
};

// Keeps `concurrency` calls in flight for warmup + duration; latencies of calls
// that start after the warmup are recorded.
template <typename Issue>
RunResult RunLoad(Issue issue, int concurrency,
                  std::chrono::milliseconds warmup,
                  std::chrono::milliseconds duration) {
  struct Slot {
    std::unique_ptr<grpc::ClientContext> context;
    v1::CheckInResponse response;
    Clock::time_point started;
    std::vector<std::int64_t> latencies_ns;
  };
  std::vector<Slot> slots(static_cast<std::size_t>(concurrency));
  const v1::CheckInRequest request = MakeRequest();
  std::atomic<bool> stop{false};
  std::atomic<long> errors{0};
  std::mutex mu;
  std::condition_variable cv;
  int running = concurrency;
  const Clock::time_point measure_from = Clock::now() + warmup;

  std::function<void(Slot*)> start = [&](Slot* slot) {
    slot->context = std::make_unique<grpc::ClientContext>();
    slot->started = Clock::now();
    issue(slot->context.get(), &request, &slot->response,
          [&, slot](grpc::Status status) {
            const Clock::time_point done = Clock::now();
            if (!status.ok()) {
              ++errors;
            } else if (slot->started >= measure_from) {
              slot->latencies_ns.push_back(
                  std::chrono::duration_cast<std::chrono::nanoseconds>(
                      done - slot->started)
                      .count());
            }
            if (stop.load(std::memory_order_relaxed)) {
              std::lock_guard<std::mutex> lock(mu);
              if (--running == 0) {
                cv.notify_all();
              }
              return;
            }
            start(slot);
          });
  };
  for (Slot& slot : slots) {
    start(&slot);
  }
  std::this_thread::sleep_until(measure_from);
  const double cpu_from = ProcessCpuSeconds();
  std::this_thread::sleep_until(measure_from + duration);
  const double cpu_used = ProcessCpuSeconds() - cpu_from;
  stop = true;
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return running == 0; });
  }

  std::vector<std::int64_t> all;
  for (Slot& slot : slots) {
    all.insert(all.end(), slot.latencies_ns.begin(), slot.latencies_ns.end());
  }
  std::sort(all.begin(), all.end());
  RunResult r;
  r.errors = errors.load();
  if (all.empty()) {
    return r;
  }
  auto pct = [&](double p) {
    const auto i =
        static_cast<std::size_t>(p * static_cast<double>(all.size() - 1));
    return static_cast<double>(all[i]) / 1000.0;
  };
  // Calls that started in the measurement window, over its length.
  r.qps = static_cast<double>(all.size()) /
          std::chrono::duration<double>(duration).count();
  r.cpu_us_per_call = cpu_used * 1e6 / static_cast<double>(all.size());
  r.p50_us = pct(0.50);
  r.p99_us = pct(0.99);
  r.p999_us = pct(0.999);
  return r;
}

int Main(int argc, char** argv) {
  CLI::App app{"CheckIn vs bare gRPC echo load benchmark"};
  int duration_ms = 3000;
  int warmup_ms = 500;
  int repetitions = 5;
  std::vector<int> concurrency = {1, 4, 16};
  app.add_option("--duration-ms", duration_ms, "Measured time per run")
      ->capture_default_str();
  app.add_option("--warmup-ms", warmup_ms, "Unmeasured time before each run")
      ->capture_default_str();
  app.add_option("--repetitions", repetitions,
                 "Runs per service and concurrency")
      ->capture_default_str();
  bool monitor = false;
  app.add_flag("--monitor", monitor,
               "Decide in monitor mode (default: enforce, which also renders "
               "the user alert)");
  bool auth = false;
  app.add_flag("--auth", auth,
               "Compare durable CheckIn with token authentication against "
               "durable CheckIn in development mode");
  bool control = false;
  app.add_flag("--control", control,
               "With --auth: both servers in development mode (an A/A run "
               "that shows how far the ratio wanders by chance)");
  bool audit = false;
  app.add_flag("--audit", audit,
               "Compare CheckIn with a state database and audit log against "
               "CheckIn with state in memory (instead of against the echo)");
  app.add_option("--concurrency", concurrency, "Calls in flight")
      ->delimiter(',');
  CLI11_PARSE(app, argc, argv);

  plugin::ServerOptions options;
  options.catalog = std::make_shared<detector::KnownIssueCatalog>(
      *detector::KnownIssueCatalog::Builtin());
  // The costlier of the two modes: enforce renders the user's alert (the
  // benchmark device has a confirmed hijack build, so it gets WARN).
  auto policy = policy::Policy::Parse(
      monitor ? R"({"apiVersion": "hijackguard/v1", "mode": "monitor"})"
              : R"({"apiVersion": "hijackguard/v1", "mode": "enforce"})",
      *options.catalog, nullptr);
  if (!policy.ok()) {
    std::fprintf(stderr, "policy: %s\n", policy.status().ToString().c_str());
    return 1;
  }
  options.policy = *policy;
  const std::filesystem::path state_dir =
      std::filesystem::temp_directory_path() /
      ("hijackguard-checkin-load-" + std::to_string(::getpid()));
  std::filesystem::remove_all(state_dir);
  const std::string token = "checkin-load-token";
  if (auth) {
    audit = true;  // two plugin servers, not the echo
    std::filesystem::create_directories(state_dir / "base");
    options.state_path = (state_dir / "base" / "hijackguard.db").string();
  }
  auto plugin_server = plugin::BuildServer(options);
  if (!plugin_server.ok()) {
    std::fprintf(stderr, "plugin server: %s\n",
                 plugin_server.status().ToString().c_str());
    return 1;
  }
  auto plugin_stub = v1::CompliancePlugin::NewStub(grpc::CreateChannel(
      (*plugin_server)->address(), grpc::InsecureChannelCredentials()));
  // --audit: a second server, the same but with a state database; --auth:
  // the same again with token authentication.
  std::unique_ptr<plugin::PluginServer> audited_server;
  std::unique_ptr<v1::CompliancePlugin::Stub> audited_stub;
  if (audit) {
    std::filesystem::create_directories(state_dir / "measured");
    plugin::ServerOptions durable = options;
    durable.state_path = (state_dir / "measured" / "hijackguard.db").string();
    if (auth && !control) {
      auto config = std::make_shared<plugin::AuthConfig>();
      for (int i = 0; i < 50; ++i) {
        plugin::Principal p;
        p.id = "mdm-" + std::to_string(i);
        p.roles = plugin::kRoleMdm;
        p.all_tenants = true;
        p.token_sha256.push_back(
            Sha256Raw(i == 49 ? token : token + std::to_string(i)));
        config->principals.push_back(std::move(p));
      }
      durable.auth = std::move(config);
    }
    auto built = plugin::BuildServer(durable);
    if (!built.ok()) {
      std::fprintf(stderr, "audited server: %s\n",
                   built.status().ToString().c_str());
      return 1;
    }
    audited_server = *std::move(built);
    audited_stub = v1::CompliancePlugin::NewStub(grpc::CreateChannel(
        audited_server->address(), grpc::InsecureChannelCredentials()));
  }

  // The echo answers with a real plugin response, so both carry the same bytes.
  v1::CheckInResponse canned;
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token);
    const grpc::Status s =
        plugin_stub->CheckIn(&context, MakeRequest(), &canned);
    if (!s.ok()) {
      std::fprintf(stderr, "CheckIn: %s\n", s.error_message().c_str());
      return 1;
    }
  }
  EchoService echo_service(canned);
  grpc::ServerBuilder builder;
  int echo_port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &echo_port);
  builder.RegisterService(&echo_service);
  std::unique_ptr<grpc::Server> echo_server = builder.BuildAndStart();
  auto echo_stub = EchoBench::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(echo_port),
                          grpc::InsecureChannelCredentials()));

  std::function<void(grpc::ClientContext*, const v1::CheckInRequest*,
                     v1::CheckInResponse*, std::function<void(grpc::Status)>)>
      issue_checkin = [&](grpc::ClientContext* c, const v1::CheckInRequest* req,
                          v1::CheckInResponse* resp,
                          std::function<void(grpc::Status)> done) {
        c->AddMetadata("authorization", "Bearer " + token);
        plugin_stub->async()->CheckIn(c, req, resp, std::move(done));
      };
  auto issue_echo = [&](grpc::ClientContext* c, const v1::CheckInRequest* req,
                        v1::CheckInResponse* resp,
                        std::function<void(grpc::Status)> done) {
    if (audit) {  // the baseline: the plugin with state in memory
      c->AddMetadata("authorization", "Bearer " + token);
      plugin_stub->async()->CheckIn(c, req, resp, std::move(done));
    } else {
      echo_stub->async()->Echo(c, req, resp, std::move(done));
    }
  };
  if (audit) {
    issue_checkin = [&](grpc::ClientContext* c, const v1::CheckInRequest* req,
                        v1::CheckInResponse* resp,
                        std::function<void(grpc::Status)> done) {
      c->AddMetadata("authorization", "Bearer " + token);
      audited_stub->async()->CheckIn(c, req, resp, std::move(done));
    };
  }
  const char* base_name = auth ? "no-auth" : audit ? "memory" : "echo";
  const char* measured_name = auth ? "token" : audit ? "audited" : "checkin";

  std::printf(
      "request %zu bytes, response %zu bytes; %d ms per run after %d ms "
      "warm-up, %d repetitions, echo and CheckIn alternating; medians shown; "
      "cpu_us = process CPU per call (client and server)\n",
      MakeRequest().ByteSizeLong(), canned.ByteSizeLong(), duration_ms,
      warmup_ms, repetitions);
  std::printf("%-8s %-8s %10s %9s %9s %9s %9s %7s\n", "inflight", "service",
              "QPS", "p50_us", "p99_us", "p99.9_us", "cpu_us", "errors");
  const auto warmup = std::chrono::milliseconds(warmup_ms);
  const auto duration = std::chrono::milliseconds(duration_ms);
  long total_errors = 0;
  for (int c : concurrency) {
    std::vector<double> e_qps, e_p50, e_p99, e_p999, e_cpu, p_qps, p_p50, p_p99,
        p_p999, p_cpu, qps_ratio, p99_ratio;
    long errors = 0;
    for (int rep = 0; rep < repetitions; ++rep) {
      RunResult e, p;
      if (rep % 2 == 0) {
        e = RunLoad(issue_echo, c, warmup, duration);
        p = RunLoad(issue_checkin, c, warmup, duration);
      } else {
        p = RunLoad(issue_checkin, c, warmup, duration);
        e = RunLoad(issue_echo, c, warmup, duration);
      }
      e_qps.push_back(e.qps);
      e_p50.push_back(e.p50_us);
      e_p99.push_back(e.p99_us);
      e_p999.push_back(e.p999_us);
      e_cpu.push_back(e.cpu_us_per_call);
      p_qps.push_back(p.qps);
      p_p50.push_back(p.p50_us);
      p_p99.push_back(p.p99_us);
      p_p999.push_back(p.p999_us);
      p_cpu.push_back(p.cpu_us_per_call);
      qps_ratio.push_back(e.qps > 0 ? p.qps / e.qps : 0);
      p99_ratio.push_back(e.p99_us > 0 ? p.p99_us / e.p99_us : 0);
      errors += e.errors + p.errors;
    }
    std::printf("%-8d %-8s %10.0f %9.1f %9.1f %9.1f %9.1f %7s\n", c, base_name,
                Median(e_qps), Median(e_p50), Median(e_p99), Median(e_p999),
                Median(e_cpu), "");
    std::printf("%-8d %-8s %10.0f %9.1f %9.1f %9.1f %9.1f %7ld\n", c,
                measured_name, Median(p_qps), Median(p_p50), Median(p_p99),
                Median(p_p999), Median(p_cpu), errors);
    std::printf(
        "%-8d %-8s   QPS ratio %.3f (target >= %s)   p99 ratio %.3f (target "
        "<= 1.2)\n",
        c, "ratio", Median(qps_ratio),
        auth    ? "0.95"
        : audit ? "0.8"
                : "0.9",
        Median(p99_ratio));
    std::fflush(stdout);
    total_errors += errors;
  }
  echo_server->Shutdown();
  (*plugin_server)->Shutdown(absl::ZeroDuration());
  if (audited_server != nullptr) {
    audited_server->Shutdown(absl::ZeroDuration());
    audited_server.reset();
  }
  (*plugin_server).reset();  // before its state directory goes
  std::filesystem::remove_all(state_dir);
  return total_errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace hijackguard::bench

int main(int argc, char** argv) { return hijackguard::bench::Main(argc, argv); }
