// A state at fleet size, and what the real server does with it: start-up
// time to SERVING and resident memory, after start and after check-ins of
// random devices.
//
//   build/bin/fleet_state generate --dir /tmp/hg-fleet --source-dir .
//       [--devices 1000000] [--meetings 5] [--audit-rows 10000000]
//   build/bin/fleet_state measure --dir /tmp/hg-fleet --source-dir .
//       --binary build/bin/hijackguard [--checkins 100000]
//
// generate fills the state directory through the code the server runs, with
// the shipped configuration's catalog and policy (examples/hijackguard.json):
// every device checks in once (the check-in handler, the detector and the
// engine, as CheckIn does: a device row, a history row and an audit row
// each) and its Exchange server sends it `--meetings` meeting invitations
// (the detector records each in the ledger; one device in a hundred then
// rewrites one, an event). The audit log is then topped up to
// `--audit-rows` with decision rows through the store's own chained append,
// as years of decision changes would leave it.
//
// measure starts `hijackguard serve` with the shipped configuration on that
// directory, times it from the exec to the health service's SERVING, reads
// its resident memory (/proc) then and after `--checkins` check-ins of
// random devices (32 in flight), and stops it.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "load_util.h"
#include "nlohmann/json.hpp"
#include "plugin/check_in.h"
#include "plugin/config.h"
#include "plugin/detector_evidence.h"
#include "plugin/server_options.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_store.h"
#include "traffic_bodies.h"

namespace hijackguard::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;
namespace fs = std::filesystem;

double Seconds(SteadyClock::time_point since) {
  return std::chrono::duration<double>(SteadyClock::now() - since).count();
}

// A fleet of today: mostly current iPhones, some iOS 6 among them (the
// builds the catalog knows: 10A403 has the hijack, 10B146 is fixed), and
// Android and Outlook clients.
const char* FleetUserAgent(long i) {
  static const char* const kAgents[] = {
      "Apple-iPhone4C1/1001.403",
      "Apple-iPhone5C2/1002.146",
      "Apple-iPhone11C8/2007.75",
      "Apple-iPhone16C2/2301.355",
      "Apple-iPhone14C2/2104.143",
      "Apple-iPad13C4/2007.75",
      "Outlook-iOS/709.2226530.prod.iphone (3.24.1)",
      "Android-Mail/2023.05.14.534111283.Release",
      "Apple-iPhone12C1/2103.21",
      "Apple-iPhone15C3/2204.52",
  };
  return kAgents[static_cast<std::size_t>(i) % std::size(kAgents)];
}

// Device i of ten tenants, as its MDM sends it.
v1::CheckInRequest FleetCheckIn(long i) {
  char id[32];
  std::snprintf(id, sizeof(id), "Appl%010ld", i);
  v1::CheckInRequest r;
  r.set_tenant_id("tenant-" + std::to_string(i % 10));
  r.mutable_device()->set_eas_device_id(id);
  r.mutable_device()->set_mdm_device_id("mdm-" + std::to_string(i));
  r.mutable_device()->set_user_principal("user" + std::to_string(i) +
                                         "@example.com");
  r.mutable_eas()->set_user_agent(FleetUserAgent(i));
  r.mutable_eas()->set_device_type("iPhone");
  r.mutable_eas()->set_protocol_version("14.1");
  return r;
}

std::string FleetTarget(long i) {
  char id[32];
  std::snprintf(id, sizeof(id), "Appl%010ld", i);
  return "/Microsoft-Server-ActiveSync?Cmd=Sync&User=user" + std::to_string(i) +
         "%40example.com&DeviceId=" + id + "&DeviceType=iPhone";
}

// The shipped configuration (examples/hijackguard.json), its paths made
// absolute against `source_dir` and its state in `dir`.
nlohmann::json ShippedConfig(const std::string& source_dir,
                             const std::string& dir) {
  std::ifstream in(fs::path(source_dir) / "examples" / "hijackguard.json");
  nlohmann::json config = nlohmann::json::parse(in);
  for (const char* key : {"catalog", "policy"}) {
    config[key] =
        fs::absolute(fs::path(source_dir) / config[key].get<std::string>())
            .lexically_normal()
            .string();
  }
  config["state_dir"] = fs::absolute(dir).string();
  return config;
}

// The shipped configuration's server options and policy.
struct Fleet {
  plugin::ServerOptions options;
  std::shared_ptr<const policy::Policy> policy;
};

absl::StatusOr<Fleet> LoadFleet(const nlohmann::json& config) {
  auto parsed = plugin::ParseServerConfig(config.dump(), "shipped");
  if (!parsed.ok()) return parsed.status();
  auto catalog = detector::KnownIssueCatalog::LoadFile(parsed->catalog_path);
  if (!catalog.ok()) return catalog.status();
  Fleet fleet;
  fleet.options = plugin::ServerOptionsFrom(
      *parsed, false,
      std::make_shared<const detector::KnownIssueCatalog>(*std::move(catalog)));
  auto policy = policy::Policy::LoadFile(parsed->policy_path,
                                         *fleet.options.catalog, nullptr);
  if (!policy.ok()) return policy.status();
  fleet.policy = *policy;
  return fleet;
}

// Server Sync responses adding `meetings` invitations (server ids 2:1..),
// in 1,000 variants (distinct UIDs) used in turn: an invitation is the same
// meeting in many mailboxes.
std::vector<std::string> InvitationBodies(int meetings) {
  std::vector<std::string> bodies;
  for (long v = 0; v < 1000; ++v) {
    std::string adds;
    for (int m = 1; m <= meetings; ++m) {
      adds += "<Add><ServerId>2:" + std::to_string(m) + "</ServerId>" +
              BenchAppData(BenchUid(v * 16 + m), "bob@example.com", 3, 4) +
              "</Add>";
    }
    bodies.push_back(BenchSync(adds, true));
  }
  return bodies;
}

struct GenerateFlags {
  std::string dir;
  std::string source_dir = ".";
  long devices = 1'000'000;
  int meetings = 5;
  long audit_rows = 10'000'000;
};

// Observes one exchange of device `i`; exits on an item error.
void ObserveExchange(detector::TrafficDetector* detector, long i,
                     std::string_view request_body,
                     std::string_view response_body, std::uint64_t sequence,
                     detector::StoreTicket* last) {
  const std::string target = FleetTarget(i);
  const std::string tenant = "tenant-" + std::to_string(i % 10);
  detector::EasExchangeView ex;
  ex.method = "POST";
  ex.target = target;
  ex.headers = {{"User-Agent", FleetUserAgent(i)},
                {"MS-ASProtocolVersion", "14.1"}};
  ex.request_body = request_body;
  ex.response_status = response_body.empty() ? 0 : 200;
  ex.response_body = response_body;
  detector::ObservationView obs;
  obs.tenant_id = tenant;
  obs.sequence = sequence;
  obs.observed_at = absl::Now();
  obs.eas_exchange = &ex;
  detector::ObserveResult result;
  detector->Observe(obs, &result);
  if (!result.errors.empty()) {
    std::fprintf(stderr, "device %ld: %s\n", i,
                 result.errors[0].message.c_str());
    std::exit(1);
  }
  *last = std::max(*last, result.ticket);
}

// The audit log topped up to `target` rows: decision changes of random
// devices, appended in batches through the store (which chains them).
absl::Status TopUpAudit(store::SqliteStore* store, long devices, long target,
                        const std::string& revision) {
  std::mt19937_64 random(42);
  long rows = static_cast<long>(store->stats().audit_rows);
  detector::StoreTicket last = 0;
  int batches = 0;
  while (rows < target) {
    policy::EngineChanges changes;
    const long n = std::min<long>(5000, target - rows);
    for (long k = 0; k < n; ++k) {
      const long i =
          static_cast<long>(random() % static_cast<unsigned long>(devices));
      const v1::CheckInRequest r = FleetCheckIn(i);
      policy::DecisionAudit d;
      d.decision_id = "fleet-" + std::to_string(rows + k);
      d.trigger = "CHECK_IN";
      d.tenant_id = r.tenant_id();
      d.eas_device_id = r.device().eas_device_id();
      d.mdm_device_id = r.device().mdm_device_id();
      d.user_principal = r.device().user_principal();
      d.evaluated_action =
          k % 2 == 0 ? policy::Action::kWarn : policy::Action::kAllow;
      d.previous_action =
          k % 2 == 0 ? policy::Action::kAllow : policy::Action::kWarn;
      d.score = k % 2 == 0 ? 30 : 0;
      d.level = k % 2 == 0 ? policy::Level::kElevated : policy::Level::kLow;
      d.policy_revision = revision;
      d.repeats = static_cast<std::uint64_t>(k % 7);
      if (k % 2 == 0) {
        d.reasons.push_back({policy::kReasonKnownIssuePrior, 30,
                             "ios6-meeting-organizer-hijack"});
      }
      changes.audit.push_back({absl::Now(), std::move(d)});
    }
    rows += n;
    last = store->SubmitEngine(std::move(changes));
    if (++batches % 8 == 0) {
      if (absl::Status s = store->WaitDurable(last); !s.ok()) return s;
    }
    if (batches % 200 == 0) {
      std::printf("  audit rows: %ld\n", rows);
      std::fflush(stdout);
    }
  }
  return store->WaitDurable(last);
}

int Generate(const GenerateFlags& flags) {
  const auto start = SteadyClock::now();
  const nlohmann::json config = ShippedConfig(flags.source_dir, flags.dir);
  auto fleet = LoadFleet(config);
  if (!fleet.ok()) {
    std::fprintf(stderr, "%s\n", fleet.status().ToString().c_str());
    return 1;
  }
  if (fs::exists(flags.dir) && !fs::is_empty(flags.dir)) {
    std::fprintf(stderr, "%s is not empty\n", flags.dir.c_str());
    return 1;
  }
  fs::create_directories(flags.dir);
  store::SqliteStoreOptions so;  // as the server opens it
  so.path = (fs::path(flags.dir) / store::kStateFileName).string();
  so.synchronous = fleet->options.state_synchronous;
  so.wal_autocheckpoint_pages = fleet->options.state_wal_autocheckpoint_pages;
  so.audit_key_file = fleet->options.audit_key_file;
  auto opened = store::SqliteStore::Open(so);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<store::SqliteStore> store = *std::move(opened);
  const plugin::ServerOptions& options = fleet->options;
  detector::TrafficDetector detector(options.catalog, options.detector);
  const plugin::DetectorEvidence evidence(&detector);
  policy::PolicyEngine engine(options.catalog, fleet->policy, &RealClock(),
                              &evidence, options.engine,
                              "file:" + options.policy_path);
  if (!detector.AttachStore(store.get()).ok() ||
      !engine.AttachStore(store.get()).ok() ||
      !engine.RecordStartPolicy().ok()) {
    std::fprintf(stderr, "attaching the store failed\n");
    return 1;
  }
  const plugin::CheckInHandler handler(options.catalog, &RealClock(),
                                       options.check_in, &engine, &detector);
  const std::vector<std::string> invitations = InvitationBodies(flags.meetings);
  detector::StoreTicket last = 0;
  std::uint64_t sequence = 0;
  for (long i = 0; i < flags.devices; ++i) {
    v1::CheckInResponse response;
    detector::StoreTicket ticket = 0;
    if (absl::Status s = handler.CheckIn(FleetCheckIn(i), &response, &ticket);
        !s.ok()) {
      std::fprintf(stderr, "device %ld: %s\n", i, s.ToString().c_str());
      return 1;
    }
    last = std::max(last, ticket);
    if (flags.meetings > 0) {
      ObserveExchange(
          &detector, i, {},
          invitations[static_cast<std::size_t>(i) % invitations.size()],
          ++sequence, &last);
      if (i % 100 == 0) {
        // The device's user made organizer of the first invitation.
        const long variant = i % static_cast<long>(invitations.size());
        const std::string rewrite = BenchSync(
            "<Change><ServerId>2:1</ServerId>" +
                BenchAppData(BenchUid(variant * 16 + 1),
                             FleetCheckIn(i).device().user_principal(), 1, 4) +
                "</Change>",
            false);
        ObserveExchange(&detector, i, rewrite, {}, ++sequence, &last);
      }
    }
    if ((i + 1) % 100000 == 0) {
      std::printf("  %ld devices, %.0f s\n", i + 1, Seconds(start));
      std::fflush(stdout);
    }
  }
  if (absl::Status s = store->WaitDurable(last); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  if (absl::Status s = TopUpAudit(store.get(), flags.devices, flags.audit_rows,
                                  fleet->policy->revision());
      !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  const auto stats = store->stats();
  store.reset();
  std::error_code ec;
  std::printf(
      "generated in %.0f s: %ld devices, %ld meetings, %ju audit rows; %s "
      "%.0f MiB\n",
      Seconds(start), flags.devices, flags.devices * flags.meetings,
      static_cast<std::uintmax_t>(stats.audit_rows), so.path.c_str(),
      static_cast<double>(fs::file_size(so.path, ec)) / (1024.0 * 1024.0));
  return 0;
}

// Starts `argv` with its standard output and error in `log_path`; the child
// is sent SIGTERM if this process dies first. Returns its pid, or -1.
pid_t StartServer(std::vector<std::string> argv_s,
                  const std::string& log_path) {
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    const int fd = ::open(log_path.c_str(),
                          O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ::dup2(fd, 1) < 0 || ::dup2(fd, 2) < 0) ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// The address `hijackguard serve` printed ("hijackguard serving on ADDR"), or
// "" while it has not.
std::string ServingAddress(const std::string& log_path) {
  std::ifstream log(log_path);
  std::string line;
  while (std::getline(log, line)) {
    const std::size_t at = line.find("serving on ");
    if (at != std::string::npos) {
      const std::string rest = line.substr(at + 11);
      return rest.substr(0, rest.find(' '));
    }
  }
  return "";
}

// VmRSS and VmHWM of `pid`, in MiB.
std::pair<double, double> ResidentMiB(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  double rss = 0;
  double hwm = 0;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) rss = std::stod(line.substr(6)) / 1024;
    if (line.rfind("VmHWM:", 0) == 0) hwm = std::stod(line.substr(6)) / 1024;
  }
  return {rss, hwm};
}

struct MeasureFlags {
  std::string dir;
  std::string source_dir = ".";
  std::string binary;
  long checkins = 100'000;
  int in_flight = 32;
};

// `checkins` CheckIns of random devices of the generated fleet, `in_flight`
// at a time; returns the failed calls.
long CheckInRandomDevices(v1::CompliancePlugin::Stub* stub, long devices,
                          long checkins, int in_flight, double* seconds) {
  struct Slot {
    grpc::ClientContext context;
    v1::CheckInRequest request;
    v1::CheckInResponse response;
  };
  std::mt19937_64 random(7);
  std::mutex mu;
  std::condition_variable cv;
  long issued = 0;
  long running = 0;
  std::atomic<long> failed{0};
  const auto start = SteadyClock::now();
  std::function<void()> issue = [&] {
    auto slot = std::make_shared<Slot>();
    {
      std::lock_guard<std::mutex> lock(mu);
      slot->request = FleetCheckIn(
          static_cast<long>(random() % static_cast<unsigned long>(devices)));
    }
    slot->context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::seconds(30));
    stub->async()->CheckIn(&slot->context, &slot->request, &slot->response,
                           [&, slot](const grpc::Status& status) {
                             if (!status.ok()) ++failed;
                             std::unique_lock<std::mutex> lock(mu);
                             if (issued < checkins) {
                               ++issued;
                               lock.unlock();
                               issue();
                               return;
                             }
                             if (--running == 0) cv.notify_all();
                           });
  };
  {
    std::lock_guard<std::mutex> lock(mu);
    running = std::min<long>(in_flight, checkins);
    issued = running;
  }
  for (long k = 0; k < std::min<long>(in_flight, checkins); ++k) issue();
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return running == 0; });
  *seconds = Seconds(start);
  return failed.load();
}

int Measure(const MeasureFlags& flags) {
  nlohmann::json config = ShippedConfig(flags.source_dir, flags.dir);
  config["listen"] = "127.0.0.1:0";  // the server says which port it took
  const std::string config_path = flags.dir + ".json";
  const std::string log_path = flags.dir + ".log";
  std::ofstream(config_path) << config.dump(2);
  std::size_t devices = 0;
  double age_hours = 0;
  {
    // The fleet's size (the engine's history rows) and the age of its
    // newest row.
    auto ro = store::sqlite::OpenStateReadOnly(
        (fs::path(flags.dir) / store::kStateFileName).string(), 0);
    if (ro.ok()) {
      auto n = ro->QueryInt("SELECT count(*) FROM history");
      auto newest = ro->QueryInt("SELECT max(decided_ms) FROM history");
      devices = n.ok() ? static_cast<std::size_t>(*n) : 0;
      if (newest.ok()) {
        age_hours =
            static_cast<double>(absl::ToUnixMillis(absl::Now()) - *newest) /
            3.6e6;
      }
    }
  }
  if (devices == 0) {
    std::fprintf(stderr, "no devices in %s (run generate first)\n",
                 flags.dir.c_str());
    return 1;
  }
  if (age_hours > 20) {
    std::printf(
        "note: the state's newest row is %.0f h old; rows over a day old are "
        "written again at their device's next check-in (the daily refresh), "
        "so the check-ins below write: generate a fresh state to measure "
        "unchanged check-ins\n",
        age_hours);
  }

  const auto start = SteadyClock::now();
  const pid_t pid =
      StartServer({flags.binary, "serve", "--config", config_path}, log_path);
  if (pid < 0) {
    std::perror("fork");
    return 1;
  }
  bool exited = false;
  std::string address;
  double serving = -1;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
  std::shared_ptr<grpc::Channel> channel;
  while (Seconds(start) < 120) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) {
      exited = true;
      break;
    }
    if (address.empty()) {
      address = ServingAddress(log_path);
      if (address.empty()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      channel =
          grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
      health = grpc::health::v1::Health::NewStub(channel);
    }
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    if (health->Check(&context, request, &response).ok() &&
        response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      serving = Seconds(start);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  int result = 0;
  if (serving < 0) {
    std::fprintf(stderr, "the server did not become SERVING; see %s\n",
                 log_path.c_str());
    if (!exited) {
      ::kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    return 1;
  }
  const auto [rss_start, hwm_start] = ResidentMiB(pid);
  auto stub = v1::CompliancePlugin::NewStub(channel);
  double seconds = 0;
  const long failed =
      CheckInRandomDevices(stub.get(), static_cast<long>(devices),
                           flags.checkins, flags.in_flight, &seconds);
  const auto [rss_after, hwm_after] = ResidentMiB(pid);
  ::kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "the server did not stop cleanly; see %s\n",
                 log_path.c_str());
    result = 1;
  }
  std::error_code ec;
  std::printf(
      "state %s: %zu devices, %.0f MiB\n"
      "start-up to SERVING %.3f s (target < 3 s); resident %.0f MiB after "
      "start (target < 1024), peak %.0f\n"
      "%ld check-ins of random devices in %.1f s (%.0f/s, %d in flight, %ld "
      "failed); resident %.0f MiB after them (target < 1536), peak %.0f\n",
      flags.dir.c_str(), devices,
      static_cast<double>(
          fs::file_size(fs::path(flags.dir) / store::kStateFileName, ec)) /
          (1024.0 * 1024.0),
      serving, rss_start, hwm_start, flags.checkins, seconds,
      static_cast<double>(flags.checkins) / seconds, flags.in_flight, failed,
      rss_after, hwm_after);
  return failed == 0 ? result : 1;
}

int Main(int argc, char** argv) {
  CLI::App app{"fleet-size state: generate it, measure the server on it"};
  app.require_subcommand(1);
  GenerateFlags g;
  CLI::App* generate = app.add_subcommand("generate", "Fill a state directory");
  generate->add_option("--dir", g.dir, "State directory (new or empty)")
      ->required();
  generate->add_option("--source-dir", g.source_dir, "The repository")
      ->capture_default_str();
  generate->add_option("--devices", g.devices)->capture_default_str();
  generate->add_option("--meetings", g.meetings, "Invitations per device")
      ->capture_default_str();
  generate->add_option("--audit-rows", g.audit_rows, "Audit rows in all")
      ->capture_default_str();
  MeasureFlags m;
  CLI::App* measure =
      app.add_subcommand("measure", "Start the server on it and measure");
  measure->add_option("--dir", m.dir, "A generated state directory")
      ->required();
  measure->add_option("--source-dir", m.source_dir, "The repository")
      ->capture_default_str();
  measure->add_option("--binary", m.binary, "The hijackguard binary")
      ->required();
  measure->add_option("--checkins", m.checkins)->capture_default_str();
  measure->add_option("--in-flight", m.in_flight)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  // "D/" and "D" alike: the measure's files go beside the directory.
  for (std::string* dir : {&g.dir, &m.dir}) {
    while (dir->size() > 1 && dir->back() == '/') dir->pop_back();
  }
  return generate->parsed() ? Generate(g) : Measure(m);
}

}  // namespace
}  // namespace hijackguard::bench

int main(int argc, char** argv) { return hijackguard::bench::Main(argc, argv); }
