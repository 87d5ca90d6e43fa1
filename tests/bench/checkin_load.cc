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
#include <random>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/hmac.h"
#include "echo.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "load_util.h"
#include "plugin/auth.h"
#include "plugin/server.h"
#include "plugin/server_options.h"
#include "shipped_server.h"

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
  // Calls the picker said change their device's decision (mixed runs).
  long changing = 0;
  double changing_p50_us = 0;
  double changing_p99_us = 0;
  double unchanged_p50_us = 0;
  double unchanged_p99_us = 0;
  long errors = 0;
};

// Sets the next call's request; true when it changes the device's decision.
using Picker = std::function<bool(v1::CheckInRequest*)>;

double Percentile(const std::vector<std::int64_t>& sorted_ns, double p) {
  if (sorted_ns.empty()) return 0;
  const auto i =
      static_cast<std::size_t>(p * static_cast<double>(sorted_ns.size() - 1));
  return static_cast<double>(sorted_ns[i]) / 1000.0;
}

// Keeps `concurrency` calls in flight for warmup + duration; latencies of calls
// that start after the warmup are recorded. `pick` (may be empty: every call
// sends MakeRequest()) chooses each call's request.
template <typename Issue>
RunResult RunLoad(Issue issue, int concurrency,
                  std::chrono::milliseconds warmup,
                  std::chrono::milliseconds duration,
                  const Picker& pick = nullptr) {
  struct Slot {
    std::unique_ptr<grpc::ClientContext> context;
    v1::CheckInRequest request;
    v1::CheckInResponse response;
    Clock::time_point started;
    bool changing = false;
    std::vector<std::int64_t> latencies_ns;
    std::vector<std::int64_t> changing_ns;
  };
  std::vector<Slot> slots(static_cast<std::size_t>(concurrency));
  for (Slot& slot : slots) {
    slot.request = MakeRequest();
  }
  std::atomic<bool> stop{false};
  std::atomic<long> errors{0};
  std::mutex mu;
  std::condition_variable cv;
  int running = concurrency;
  const Clock::time_point measure_from = Clock::now() + warmup;

  std::function<void(Slot*)> start = [&](Slot* slot) {
    slot->context = std::make_unique<grpc::ClientContext>();
    slot->changing = pick ? pick(&slot->request) : false;
    slot->started = Clock::now();
    issue(slot->context.get(), &slot->request, &slot->response,
          [&, slot](grpc::Status status) {
            const Clock::time_point done = Clock::now();
            if (!status.ok()) {
              ++errors;
            } else if (slot->started >= measure_from) {
              const std::int64_t ns =
                  std::chrono::duration_cast<std::chrono::nanoseconds>(
                      done - slot->started)
                      .count();
              (slot->changing ? slot->changing_ns : slot->latencies_ns)
                  .push_back(ns);
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

  std::vector<std::int64_t> unchanged;
  std::vector<std::int64_t> changing;
  for (Slot& slot : slots) {
    unchanged.insert(unchanged.end(), slot.latencies_ns.begin(),
                     slot.latencies_ns.end());
    changing.insert(changing.end(), slot.changing_ns.begin(),
                    slot.changing_ns.end());
  }
  std::vector<std::int64_t> all = unchanged;
  all.insert(all.end(), changing.begin(), changing.end());
  std::sort(all.begin(), all.end());
  std::sort(unchanged.begin(), unchanged.end());
  std::sort(changing.begin(), changing.end());
  RunResult r;
  r.errors = errors.load();
  if (all.empty()) {
    return r;
  }
  // Calls that started in the measurement window, over its length.
  r.qps = static_cast<double>(all.size()) /
          std::chrono::duration<double>(duration).count();
  r.cpu_us_per_call = cpu_used * 1e6 / static_cast<double>(all.size());
  r.p50_us = Percentile(all, 0.50);
  r.p99_us = Percentile(all, 0.99);
  r.p999_us = Percentile(all, 0.999);
  r.changing = static_cast<long>(changing.size());
  r.changing_p50_us = Percentile(changing, 0.50);
  r.changing_p99_us = Percentile(changing, 0.99);
  r.unchanged_p50_us = Percentile(unchanged, 0.50);
  r.unchanged_p99_us = Percentile(unchanged, 0.99);
  return r;
}

struct Flags {
  int duration_ms = 3000;
  int warmup_ms = 500;
  int repetitions = 5;
  std::vector<int> concurrency = {1, 4, 16};
  bool monitor = false;
  bool auth = false;
  bool control = false;
  bool audit = false;
  bool mixed = false;
  long devices = 100'000;
  double changing = 0.05;
  std::string source_dir = ".";
};

void AddFlags(CLI::App& app, Flags& f) {
  app.add_option("--duration-ms", f.duration_ms, "Measured time per run")
      ->capture_default_str();
  app.add_option("--warmup-ms", f.warmup_ms, "Unmeasured time before each run")
      ->capture_default_str();
  app.add_option("--repetitions", f.repetitions,
                 "Runs per service and concurrency")
      ->capture_default_str();
  app.add_flag("--monitor", f.monitor,
               "Decide in monitor mode (default: enforce, which also renders "
               "the user alert)");
  app.add_flag("--auth", f.auth,
               "Compare durable CheckIn with token authentication against "
               "durable CheckIn in development mode");
  app.add_flag("--control", f.control,
               "With --auth: both servers in development mode (an A/A run "
               "that shows how far the ratio wanders by chance)");
  app.add_flag("--audit", f.audit,
               "Compare CheckIn with a state database and audit log against "
               "CheckIn with state in memory (instead of against the echo)");
  app.add_option("--concurrency", f.concurrency, "Calls in flight")
      ->delimiter(',');
  app.add_flag("--mixed", f.mixed,
               "CheckIn as shipped (examples/hijackguard.json, state in a "
               "temporary directory) over --devices devices, --changing of "
               "the check-ins changing the decision, against the echo");
  app.add_option("--devices", f.devices, "Devices of the mixed run")
      ->capture_default_str();
  app.add_option("--changing", f.changing,
                 "Share of the mixed run's check-ins that change the "
                 "device's decision (and so write)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--source-dir", f.source_dir,
                 "The repository (the mixed run's configuration)")
      ->capture_default_str();
}

// The mixed run's fleet: each device is on an iOS 6.0 build with the hijack
// (evaluated WARN under the shipped policy) or on a fixed one (ALLOW); a
// changing check-in moves its device to the other.
class MixedFleet {
 public:
  MixedFleet(long devices, double changing)
      : devices_(devices),
        changing_(changing),
        affected_(static_cast<std::size_t>(devices), 1) {}

  // A random device; with probability `changing` it moves build first (when
  // `move`; otherwise the request is the same as if it had).
  bool Pick(v1::CheckInRequest* r, bool move) {
    // Under the lock, so that the moves of one device are sent in the order
    // they were made (two calls of one device in flight at once can still
    // reach the server out of order: rare with many devices).
    std::lock_guard<std::mutex> lock(mu_);
    const long i =
        static_cast<long>(random_() % static_cast<unsigned long>(devices_));
    const bool change =
        std::uniform_real_distribution<double>(0, 1)(random_) < changing_;
    if (change && move) {
      affected_[static_cast<std::size_t>(i)] ^= 1;
      ++changes_;
    }
    Fill(i, affected_[static_cast<std::size_t>(i)] != 0, r);
    return change;
  }

  // Every device in turn, as it is (to check them all in once).
  bool Next(v1::CheckInRequest* r) {
    const long i = next_++ % devices_;
    Fill(i, true, r);
    return false;
  }
  long visited() const { return next_.load(); }
  long changes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return changes_;
  }

 private:
  static void Fill(long i, bool affected, v1::CheckInRequest* r) {
    char id[32];
    std::snprintf(id, sizeof(id), "Appl%010ld", i);
    r->Clear();
    r->set_tenant_id("bench-tenant");
    r->mutable_device()->set_eas_device_id(id);
    r->mutable_device()->set_mdm_device_id("mdm-" + std::to_string(i));
    r->mutable_device()->set_user_principal("user" + std::to_string(i) +
                                            "@example.com");
    r->mutable_eas()->set_user_agent(affected ? "Apple-iPhone4C1/1001.403"
                                              : "Apple-iPhone4C1/1202.440");
    r->mutable_eas()->set_device_type("iPhone");
    r->mutable_eas()->set_protocol_version("14.1");
  }

  const long devices_;
  const double changing_;
  mutable std::mutex mu_;
  std::mt19937_64 random_{42};
  std::vector<std::uint8_t> affected_;
  long changes_ = 0;
  std::atomic<long> next_{0};
};

constexpr char kToken[] = "checkin-load-token";

// 50 principals; the last one's token is the one the benchmark sends.
std::shared_ptr<plugin::AuthConfig> ManyPrincipals() {
  auto config = std::make_shared<plugin::AuthConfig>();
  const std::string token = kToken;
  for (int i = 0; i < 50; ++i) {
    plugin::Principal p;
    p.id = "mdm-" + std::to_string(i);
    p.roles = plugin::kRoleMdm;
    p.all_tenants = true;
    p.token_sha256.push_back(
        Sha256Raw(i == 49 ? token : token + std::to_string(i)));
    config->principals.push_back(std::move(p));
  }
  return config;
}

// The plugin servers: `base` always; `measured` with --audit (a state
// database) and --auth (and tokens).
struct Servers {
  std::filesystem::path state_dir;
  std::unique_ptr<plugin::PluginServer> base;
  std::unique_ptr<plugin::PluginServer> measured;
  std::unique_ptr<v1::CompliancePlugin::Stub> base_stub;
  std::unique_ptr<v1::CompliancePlugin::Stub> measured_stub;

  ~Servers() {
    if (measured != nullptr) measured->Shutdown(absl::ZeroDuration());
    if (base != nullptr) base->Shutdown(absl::ZeroDuration());
    measured.reset();
    base.reset();  // before the state directory goes
    if (!state_dir.empty()) std::filesystem::remove_all(state_dir);
  }
};

absl::Status StartServers(const Flags& flags, Servers* servers) {
  plugin::ServerOptions options;
  options.catalog = std::make_shared<detector::KnownIssueCatalog>(
      *detector::KnownIssueCatalog::Builtin());
  // The costlier of the two modes: enforce renders the user's alert (the
  // benchmark device has a confirmed hijack build, so it gets WARN).
  auto policy = policy::Policy::Parse(
      flags.monitor ? R"({"apiVersion": "hijackguard/v1", "mode": "monitor"})"
                    : R"({"apiVersion": "hijackguard/v1", "mode": "enforce"})",
      *options.catalog, nullptr);
  if (!policy.ok()) return policy.status();
  options.policy = *policy;
  servers->state_dir =
      std::filesystem::temp_directory_path() /
      ("hijackguard-checkin-load-" + std::to_string(::getpid()));
  std::filesystem::remove_all(servers->state_dir);
  if (flags.mixed) {
    auto shipped = StartShipped(flags.source_dir, servers->state_dir);
    if (!shipped.ok()) return shipped.status();
    servers->base = *std::move(shipped);
    servers->base_stub = v1::CompliancePlugin::NewStub(grpc::CreateChannel(
        servers->base->address(), grpc::InsecureChannelCredentials()));
    return absl::OkStatus();
  }
  if (flags.auth) {
    std::filesystem::create_directories(servers->state_dir / "base");
    options.state_path =
        (servers->state_dir / "base" / "hijackguard.db").string();
  }
  auto base = plugin::BuildServer(options);
  if (!base.ok()) return base.status();
  servers->base = *std::move(base);
  servers->base_stub = v1::CompliancePlugin::NewStub(grpc::CreateChannel(
      servers->base->address(), grpc::InsecureChannelCredentials()));
  if (!flags.audit && !flags.auth) {
    return absl::OkStatus();
  }
  std::filesystem::create_directories(servers->state_dir / "measured");
  plugin::ServerOptions durable = options;
  durable.state_path =
      (servers->state_dir / "measured" / "hijackguard.db").string();
  if (flags.auth && !flags.control) {
    durable.auth = ManyPrincipals();
  }
  auto measured = plugin::BuildServer(durable);
  if (!measured.ok()) return measured.status();
  servers->measured = *std::move(measured);
  servers->measured_stub = v1::CompliancePlugin::NewStub(grpc::CreateChannel(
      servers->measured->address(), grpc::InsecureChannelCredentials()));
  return absl::OkStatus();
}

using Issuer = std::function<void(
    grpc::ClientContext*, const v1::CheckInRequest*, v1::CheckInResponse*,
    std::function<void(grpc::Status)>)>;

Issuer CheckInOn(v1::CompliancePlugin::Stub* stub) {
  return [stub](grpc::ClientContext* c, const v1::CheckInRequest* req,
                v1::CheckInResponse* resp,
                std::function<void(grpc::Status)> done) {
    c->AddMetadata("authorization", std::string("Bearer ") + kToken);
    stub->async()->CheckIn(c, req, resp, std::move(done));
  };
}

// Alternating runs of `base` and `measured` at one concurrency; prints
// their medians and ratios and returns the failed calls.
long Compare(const Flags& flags, int c, const Issuer& base,
             const Issuer& measured, const char* base_name,
             const char* measured_name, const char* target,
             const Picker& pick_base = nullptr,
             const Picker& pick_measured = nullptr) {
  const auto warmup = std::chrono::milliseconds(flags.warmup_ms);
  const auto duration = std::chrono::milliseconds(flags.duration_ms);
  std::vector<RunResult> e_runs, p_runs;
  std::vector<double> qps_ratio, p99_ratio;
  long errors = 0;
  for (int rep = 0; rep < flags.repetitions; ++rep) {
    RunResult e, p;
    if (rep % 2 == 0) {
      e = RunLoad(base, c, warmup, duration, pick_base);
      p = RunLoad(measured, c, warmup, duration, pick_measured);
    } else {
      p = RunLoad(measured, c, warmup, duration, pick_measured);
      e = RunLoad(base, c, warmup, duration, pick_base);
    }
    e_runs.push_back(e);
    p_runs.push_back(p);
    qps_ratio.push_back(e.qps > 0 ? p.qps / e.qps : 0);
    p99_ratio.push_back(e.p99_us > 0 ? p.p99_us / e.p99_us : 0);
    errors += e.errors + p.errors;
  }
  auto median = [](const std::vector<RunResult>& runs, double RunResult::*f) {
    std::vector<double> v;
    for (const RunResult& r : runs) v.push_back(r.*f);
    return Median(v);
  };
  auto row = [&](const char* name, const std::vector<RunResult>& runs) {
    std::printf("%-8d %-8s %10.0f %9.1f %9.1f %9.1f %9.1f", c, name,
                median(runs, &RunResult::qps), median(runs, &RunResult::p50_us),
                median(runs, &RunResult::p99_us),
                median(runs, &RunResult::p999_us),
                median(runs, &RunResult::cpu_us_per_call));
  };
  row(base_name, e_runs);
  std::printf(" %7s\n", "");
  row(measured_name, p_runs);
  std::printf(" %7ld\n", errors);
  if (pick_measured) {  // the mixed run's figures are reported, not targets
    std::printf("%-8d %-8s   QPS ratio %.3f   p99 ratio %.3f\n", c, "ratio",
                Median(qps_ratio), Median(p99_ratio));
  } else {
    std::printf(
        "%-8d %-8s   QPS ratio %.3f (target >= %s)   p99 ratio %.3f (target "
        "<= 1.2)\n",
        c, "ratio", Median(qps_ratio), target, Median(p99_ratio));
  }
  if (pick_measured) {
    std::vector<double> changing;
    for (const RunResult& r : p_runs) {
      changing.push_back(static_cast<double>(r.changing));
    }
    std::printf(
        "%-8d %-8s   unchanged decision: p50 %.1f us, p99 %.1f us; changing "
        "(%.0f calls a run): p50 %.1f us, p99 %.1f us\n",
        c, measured_name, median(p_runs, &RunResult::unchanged_p50_us),
        median(p_runs, &RunResult::unchanged_p99_us), Median(changing),
        median(p_runs, &RunResult::changing_p50_us),
        median(p_runs, &RunResult::changing_p99_us));
  }
  std::fflush(stdout);
  return errors;
}

// The mixed run: every device checks in once (not measured), then echo and
// CheckIn alternate over random devices, --changing of the check-ins moving
// a device to a build with another decision.
int RunMixed(const Flags& flags, plugin::PluginServer* server,
             const Issuer& echo, const Issuer& checkin,
             const v1::CheckInResponse& canned) {
  MixedFleet fleet(flags.devices, flags.changing);
  const auto start = Clock::now();
  long errors = 0;
  while (fleet.visited() < flags.devices) {
    errors += RunLoad(checkin, 32, std::chrono::milliseconds(0),
                      std::chrono::milliseconds(500),
                      [&](v1::CheckInRequest* r) { return fleet.Next(r); })
                  .errors;
  }
  const auto audit_before = server->store()->stats().audit_rows;
  const long changes_before = fleet.changes();
  std::printf(
      "mixed run, CheckIn as shipped (examples/hijackguard.json: SQLite "
      "state, audit, default policy, development mode): %ld devices checked "
      "in once in %.1f s; then %.0f%% of the check-ins change the device's "
      "decision (iOS 6.0 with the hijack <-> iOS 8.1, evaluated WARN <-> "
      "ALLOW) and the rest change nothing. Response %zu bytes; %d ms per run "
      "after %d ms warm-up, %d repetitions, echo and CheckIn alternating; "
      "medians shown\n",
      flags.devices,
      std::chrono::duration<double>(Clock::now() - start).count(),
      flags.changing * 100, canned.ByteSizeLong(), flags.duration_ms,
      flags.warmup_ms, flags.repetitions);
  std::printf("%-8s %-8s %10s %9s %9s %9s %9s %7s\n", "inflight", "service",
              "QPS", "p50_us", "p99_us", "p99.9_us", "cpu_us", "errors");
  // The echo gets the same requests but moves no device (it would not see
  // the move).
  const Picker pick_echo = [&](v1::CheckInRequest* r) {
    return fleet.Pick(r, false);
  };
  const Picker pick = [&](v1::CheckInRequest* r) {
    return fleet.Pick(r, true);
  };
  for (int c : flags.concurrency) {
    errors += Compare(flags, c, echo, checkin, "echo", "mixed", "n/a",
                      pick_echo, pick);
  }
  const auto audit_rows = server->store()->stats().audit_rows - audit_before;
  std::printf(
      "%ju audit rows written for %ld changing check-ins (each should write "
      "one); %ld failed calls\n",
      static_cast<std::uintmax_t>(audit_rows), fleet.changes() - changes_before,
      errors);
  return errors == 0 ? 0 : 1;
}

int Main(int argc, char** argv) {
  CLI::App app{"CheckIn vs bare gRPC echo load benchmark"};
  Flags flags;
  AddFlags(app, flags);
  CLI11_PARSE(app, argc, argv);
  plugin::ApplyProcessDefaults();  // as the hijackguard binary
  if (flags.auth) {
    flags.audit = true;  // two plugin servers, not the echo
  }
  if (flags.mixed && (flags.audit || flags.devices < 1)) {
    std::fprintf(stderr,
                 "--mixed takes neither --auth nor --audit, and at "
                 "least one device\n");
    return 2;
  }
  Servers servers;
  if (absl::Status s = StartServers(flags, &servers); !s.ok()) {
    std::fprintf(stderr, "plugin server: %s\n", s.ToString().c_str());
    return 1;
  }
  // The echo answers with a real plugin response, so both carry the same bytes.
  v1::CheckInResponse canned;
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    const grpc::Status s =
        servers.base_stub->CheckIn(&context, MakeRequest(), &canned);
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
  // --audit and --auth: the baseline is the plugin with state in memory (or
  // without tokens); otherwise the echo.
  const Issuer echo = [&](grpc::ClientContext* c, const v1::CheckInRequest* req,
                          v1::CheckInResponse* resp,
                          std::function<void(grpc::Status)> done) {
    echo_stub->async()->Echo(c, req, resp, std::move(done));
  };
  const Issuer base = flags.audit ? CheckInOn(servers.base_stub.get()) : echo;
  const Issuer measured = CheckInOn(flags.audit ? servers.measured_stub.get()
                                                : servers.base_stub.get());
  const char* base_name = flags.auth    ? "no-auth"
                          : flags.audit ? "memory"
                                        : "echo";
  const char* measured_name = flags.auth    ? "token"
                              : flags.audit ? "audited"
                              : flags.mixed ? "mixed"
                                            : "checkin";
  if (flags.mixed) {
    return RunMixed(flags, servers.base.get(), echo, measured, canned);
  }

  std::printf(
      "request %zu bytes, response %zu bytes; %d ms per run after %d ms "
      "warm-up, %d repetitions, echo and CheckIn alternating; medians shown; "
      "cpu_us = process CPU per call (client and server)\n",
      MakeRequest().ByteSizeLong(), canned.ByteSizeLong(), flags.duration_ms,
      flags.warmup_ms, flags.repetitions);
  std::printf("%-8s %-8s %10s %9s %9s %9s %9s %7s\n", "inflight", "service",
              "QPS", "p50_us", "p99_us", "p99.9_us", "cpu_us", "errors");
  long total_errors = 0;
  for (int c : flags.concurrency) {
    total_errors += Compare(flags, c, base, measured, base_name, measured_name,
                            flags.auth    ? "0.95"
                            : flags.audit ? "0.8"
                                          : "0.9");
  }
  echo_server->Shutdown();
  return total_errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace hijackguard::bench

int main(int argc, char** argv) { return hijackguard::bench::Main(argc, argv); }
