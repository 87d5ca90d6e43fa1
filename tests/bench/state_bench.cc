// State at scale: resident memory per tracked device, and start-up time with
// a large state database. Three modes, each in its own process so that
// resident sizes are not mixed:
//
//   build/bin/state_bench --mode memory  --devices 1000000
//   build/bin/state_bench --mode durable --devices 1000000 --dir /tmp/hg1m
//   build/bin/state_bench --mode startup --dir /tmp/hg1m
//   build/bin/state_bench --mode lock    --dir /tmp/hg-lock
//
// memory and durable check every device in once (the detector records its
// facts, the engine decides it: an iOS 6.0 device, so WARN with a grace
// clock and a history row) and print the resident size per device; durable
// keeps state in the database in --dir (default caches: 500,000 devices in
// memory). startup times building the server on that database until it
// listens, and until a device last seen at the start of the population is
// decided (paged in). lock times observations whose device must be paged in
// (a one-row device cache) against a cache that holds every device: the
// detector's lock covers that bookkeeping.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/clock.h"
#include "detector/fingerprint.h"
#include "detector/known_issues.h"
#include "detector/traffic/traffic_detector.h"
#include "grpcpp/grpcpp.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "plugin/detector_evidence.h"
#include "plugin/server.h"
#include "policy/engine.h"
#include "store/sqlite/sqlite_store.h"
#include "tests/bench/fleet_facts.h"

namespace hijackguard::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

double ResidentMiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stod(line.substr(6)) / 1024.0;
    }
  }
  return 0;
}

double Seconds(SteadyClock::time_point since) {
  return std::chrono::duration<double>(SteadyClock::now() - since).count();
}

// The store as shipped in `dir` (made when missing).
absl::StatusOr<std::unique_ptr<store::SqliteStore>> OpenStoreIn(
    const std::string& dir) {
  std::filesystem::create_directories(dir);
  store::SqliteStoreOptions so;
  so.path = (std::filesystem::path(dir) / store::kStateFileName).string();
  return store::SqliteStore::Open(so);
}

detector::CheckInFacts Facts(long i) {
  return FleetFacts(i, "Apple-iPhone4C1/1001.403");
}

int Populate(long devices, const std::string& dir, bool durable) {
  auto catalog = std::make_shared<const detector::KnownIssueCatalog>(
      *detector::KnownIssueCatalog::Builtin());
  auto policy = policy::Policy::Parse(
      R"({"apiVersion": "hijackguard/v1", "mode": "enforce"})", *catalog,
      nullptr);
  const double base_mib = ResidentMiB();
  detector::DetectorOptions dopt;
  policy::EngineOptions eopt;
  if (!durable) {
    // Everything in memory must fit.
    dopt.max_devices = static_cast<std::size_t>(devices) + 1;
    eopt.max_devices = static_cast<std::size_t>(devices) + 16;
  }
  std::unique_ptr<store::SqliteStore> store;
  if (durable) {
    auto opened = OpenStoreIn(dir);
    if (!opened.ok()) {
      std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
      return 1;
    }
    store = *std::move(opened);
  }
  detector::TrafficDetector detector(catalog, dopt);
  const plugin::DetectorEvidence evidence(&detector);
  policy::PolicyEngine engine(catalog, *policy, &RealClock(), &evidence, eopt,
                              "bench");
  if (store != nullptr) {
    if (!detector.AttachStore(store.get()).ok() ||
        !engine.AttachStore(store.get()).ok() ||
        !engine.RecordStartPolicy().ok()) {
      std::fprintf(stderr, "attaching the store failed\n");
      return 1;
    }
  }
  detector::Fingerprint fp =
      detector::ComputeFingerprint(detector::ToFingerprintInput(Facts(0)));
  fp.known_issues = catalog->Match(fp);
  const auto start = SteadyClock::now();
  detector::StoreTicket last = 0;
  for (long i = 0; i < devices; ++i) {
    const detector::CheckInFacts facts = Facts(i);
    detector.RecordCheckIn(facts);
    auto decision = engine.DecideCheckIn(fp, facts, {{}, "en"}, "bench");
    if (!decision.ok()) {
      std::fprintf(stderr, "%s\n", decision.status().ToString().c_str());
      std::exit(1);
    }
    last = std::max(last, decision->ticket);
    if ((i + 1) % 200000 == 0) {
      std::printf("  %ld devices, %.1f s, resident %.0f MiB\n", i + 1,
                  Seconds(start), ResidentMiB());
      std::fflush(stdout);
    }
  }
  if (store != nullptr && !store->WaitDurable(last).ok()) {
    std::fprintf(stderr, "the last commit failed\n");
    return 1;
  }
  const double seconds = Seconds(start);
  const double mib = ResidentMiB() - base_mib;
  std::printf(
      "%s: %ld devices checked in and decided in %.1f s (%.1f us each); "
      "resident +%.0f MiB = %.0f bytes per tracked device; detector holds "
      "%zu in memory, engine %zu\n",
      durable ? "durable" : "memory", devices, seconds,
      seconds * 1e6 / static_cast<double>(devices), mib,
      mib * 1024 * 1024 / static_cast<double>(devices),
      detector.stats().devices, engine.stats().devices);
  if (store != nullptr) {
    const auto stats = store->stats();
    std::error_code ec;
    std::printf(
        "state database %s: %.0f MiB, %ju commits for %ju submissions, %ju "
        "audit rows\n",
        store->path().c_str(),
        static_cast<double>(std::filesystem::file_size(store->path(), ec)) /
            (1024.0 * 1024.0),
        static_cast<std::uintmax_t>(stats.commits),
        static_cast<std::uintmax_t>(stats.submissions),
        static_cast<std::uintmax_t>(stats.audit_rows));
  }
  return 0;
}

int Startup(const std::string& dir) {
  const auto start = SteadyClock::now();
  plugin::ServerOptions options;
  options.catalog = std::make_shared<detector::KnownIssueCatalog>(
      *detector::KnownIssueCatalog::Builtin());
  auto policy = policy::Policy::Parse(
      R"({"apiVersion": "hijackguard/v1", "mode": "enforce"})",
      *options.catalog, nullptr);
  options.policy = *policy;
  options.state_path =
      (std::filesystem::path(dir) / store::kStateFileName).string();
  auto server = plugin::BuildServer(options);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return 1;
  }
  const double listening = Seconds(start);
  auto stub = v1::CompliancePlugin::NewStub(grpc::CreateChannel(
      (*server)->address(), grpc::InsecureChannelCredentials()));
  const detector::CheckInFacts facts = Facts(1);
  v1::CheckInRequest request;
  request.set_tenant_id(facts.tenant_id);
  request.mutable_device()->set_eas_device_id(facts.eas_device_id);
  request.mutable_device()->set_mdm_device_id(facts.mdm_device_id);
  request.mutable_device()->set_user_principal(facts.user_principal);
  request.mutable_eas()->set_user_agent(facts.user_agent);
  v1::CheckInResponse response;
  grpc::ClientContext context;
  const grpc::Status status = stub->CheckIn(&context, request, &response);
  const double decided = Seconds(start);
  std::error_code ec;
  std::printf(
      "startup on %s (%.0f MiB): listening after %.3f s, first decision "
      "(device 1, paged in: %s, deadline kept: %s) after %.3f s (target < "
      "3 s)\n",
      options.state_path.c_str(),
      static_cast<double>(std::filesystem::file_size(options.state_path, ec)) /
          (1024.0 * 1024.0),
      listening,
      status.ok() ? v1::Action_Name(response.action()).c_str() : "error",
      response.has_deadline() ? "yes" : "no", decided);
  (*server)->Shutdown(absl::ZeroDuration());
  return status.ok() ? 0 : 1;
}

// What an observation costs when its device must be paged in: the detector
// on a SQLite store with a one-row device cache, against a cache that holds
// every device, the same exchanges (no bodies: the time is the detector's
// locked bookkeeping, page-in reads and eviction writes included).
double ObserveMicros(store::SqliteStore* store, std::size_t cache, long devices,
                     int calls, double* p99) {
  auto catalog = std::make_shared<const detector::KnownIssueCatalog>(
      *detector::KnownIssueCatalog::Builtin());
  detector::DetectorOptions options;
  options.max_devices = cache;
  detector::TrafficDetector detector(catalog, options);
  if (!detector.AttachStore(store).ok()) {
    std::fprintf(stderr, "attaching the store failed\n");
    std::exit(1);
  }
  std::vector<std::string> targets;
  for (long i = 0; i < devices; ++i) {
    targets.push_back(
        "/Microsoft-Server-ActiveSync?Cmd=Sync&User=u%40example.com&DeviceId=" +
        Facts(i).eas_device_id + "&DeviceType=iPhone");
  }
  std::vector<double> micros;
  // The first round of the devices is not timed: it fills the cache.
  const int warmup = static_cast<int>(devices);
  for (int call = 0; call < warmup + calls; ++call) {
    detector::EasExchangeView ex;
    ex.method = "POST";
    ex.target = targets[static_cast<std::size_t>(call % devices)];
    ex.headers = {{"User-Agent", "Apple-iPhone4C1/1001.403"}};
    detector::ObservationView obs;
    obs.tenant_id = "tenant-0";
    obs.sequence = static_cast<std::uint64_t>(call + 1);
    obs.observed_at = absl::Now();
    obs.eas_exchange = &ex;
    detector::ObserveResult result;
    const auto start = SteadyClock::now();
    detector.Observe(obs, &result);
    if (call >= warmup) micros.push_back(Seconds(start) * 1e6);
    if (!result.errors.empty()) {
      std::fprintf(stderr, "observe: %s\n", result.errors[0].message.c_str());
      std::exit(1);
    }
  }
  std::sort(micros.begin(), micros.end());
  *p99 = micros[micros.size() * 99 / 100];
  return micros[micros.size() / 2];
}

int LockHold(const std::string& dir) {
  std::filesystem::remove_all(dir);  // a directory of its own (see Main)
  auto store = OpenStoreIn(dir);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  constexpr long kDevices = 1000;
  constexpr int kCalls = 20000;
  double p99 = 0;
  // Rows for every device first (and warm caches), then each cache size.
  ObserveMicros(store->get(), kDevices + 1, kDevices, kDevices, &p99);
  for (std::size_t cache : {std::size_t{kDevices + 1}, std::size_t{1}}) {
    const double p50 =
        ObserveMicros(store->get(), cache, kDevices, kCalls, &p99);
    std::printf(
        "observe, %zu-device cache, %ld devices in turn: p50 %.1f us, p99 "
        "%.1f us per exchange\n",
        cache, kDevices, p50, p99);
  }
  return 0;
}

int Main(int argc, char** argv) {
  CLI::App app{"state at scale: memory per device, start-up time"};
  std::string mode = "memory";
  long devices = 1'000'000;
  std::string dir = "/tmp/hijackguard-state-bench";
  app.add_option("--mode", mode, "memory, durable, startup or lock")
      ->check(CLI::IsMember({"memory", "durable", "startup", "lock"}))
      ->capture_default_str();
  app.add_option("--devices", devices)->capture_default_str();
  app.add_option("--dir", dir,
                 "State directory (durable, startup; lock empties its own, "
                 "default /tmp/hijackguard-lock-bench)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (mode == "startup") {
    return Startup(dir);
  }
  if (mode == "lock") {
    // Never the durable population's directory unless asked for.
    return LockHold(app.count("--dir") > 0 ? dir
                                           : "/tmp/hijackguard-lock-bench");
  }
  return Populate(devices, dir, mode == "durable");
}

}  // namespace
}  // namespace hijackguard::bench

int main(int argc, char** argv) { return hijackguard::bench::Main(argc, argv); }
