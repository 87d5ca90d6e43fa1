// Kill-and-restart test of the durable state (issue 6). Starts the real
// `hijackguard serve` with a state directory, streams a trace of observations
// (StreamTraffic), kills the server with SIGKILL at random moments, restarts
// it, and checks:
//   1. after every restart, each acknowledged observation's events are in
//      the device's state (GetDeviceRisk): nothing acknowledged is lost;
//   2. when the whole trace is acknowledged, every device's state and
//      check-in decision equal those of an uninterrupted run of the trace;
//   3. decision history survives too: check-ins, a kill, and the same
//      check-ins again give the same actions and grace deadlines.
// The trace clones examples/traces/ios60_hijack.jsonl over many devices and
// tenants, interleaved.
//
//   4. with --wal-autocheckpoint N (a few pages: SQLite checkpoints on
//      nearly every commit, so kills land in checkpoints), every restart
//      succeeds; the test counts the restarts that found a file shorter than
//      its header says (a checkpoint cut short) and, at the end, runs
//      `hijackguard audit verify` on the state.
//
//   5. with --store postgres, the same on a database of a throwaway
//      PostgreSQL cluster (the reference run on a database of its own);
//   6. with --replicas N (PostgreSQL), N servers share the database and
//      each streams its share of the devices (affinity) at once; every
//      round SIGKILLs one of them mid-stream: the others' streams must
//      complete without an error, nothing any of them acknowledged may be
//      missing (checked through another replica), and the restarted one
//      goes on from its last acknowledgement.
//
//   crash_test --hijackguard build/bin/hijackguard --trace T.jsonl
//              [--devices 300] [--kills 3] [--seed 1]     (ctest: short)
//   crash_test ... --kills 30 --wal-autocheckpoint 4      (ctest: checkpoints)
//   crash_test ... --store postgres [--replicas 3]        (ctest: both)
//   crash_test ... --devices 20000 --kills 12             (long, manual)
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "hijackguard/v1/compliance_plugin.grpc.pb.h"
#include "store/testing/pg_cluster.h"
#include "tests/common/served.h"

extern char** environ;

namespace hijackguard::crash {
namespace {

using v1::ReportTrafficRequest;

using Server = testing::Served;

// The servers started and not yet reaped: a failing test kills them (they
// share its output, which ctest waits on).
std::set<pid_t>& Live() {
  static std::set<pid_t> live;
  return live;
}

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "FAIL: %s\n", message.c_str());
  for (pid_t pid : Live()) kill(pid, SIGKILL);
  std::exit(1);
}

// How long one check-in or risk query may take before the test fails.
constexpr auto kCallDeadline = std::chrono::seconds(30);

Server Start(const std::string& binary, const std::string& config,
             const std::string& state) {
  Server s =
      testing::StartServed({binary, "serve", "--config", config, "--state",
                            state, "--listen", "127.0.0.1:0"});
  if (s.pid == 0) Fail(s.error);
  Live().insert(s.pid);
  return s;
}

// Runs `args` and returns its exit status (its output goes to ours).
int Run(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, args[0].c_str(), nullptr, nullptr, argv.data(),
                  environ) != 0) {
    Fail("cannot run " + args[0]);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

// Whether the database file is shorter than its header says while a WAL
// exists: a checkpoint was cut short (what the restart must recover from).
bool CutMidCheckpoint(const std::string& state) {
  const std::string db = state + "/hijackguard.db";
  std::ifstream in(db, std::ios::binary);
  unsigned char h[100] = {};
  if (!in.read(reinterpret_cast<char*>(h), sizeof(h))) return false;
  std::uint64_t page_size = (h[16] << 8) | h[17];
  if (page_size == 1) page_size = 65536;
  const std::uint64_t pages = (std::uint64_t{h[28]} << 24) |
                              (std::uint64_t{h[29]} << 16) |
                              (std::uint64_t{h[30]} << 8) | h[31];
  std::error_code ec;
  const auto size = std::filesystem::file_size(db, ec);
  const auto wal = std::filesystem::file_size(db + "-wal", ec);
  return !ec && wal > 0 && size < pages * page_size;
}

void Kill(Server& s, int sig) {
  if (s.pid == 0) return;
  kill(s.pid, sig);
  int status = 0;
  // A clean stop drains within the configured grace; a server that hangs in
  // its shutdown fails the test instead of holding it until ctest's timeout.
  pid_t done = 0;
  for (int i = 0; i < 600 && (done = waitpid(s.pid, &status, WNOHANG)) == 0;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (done == 0) {
    kill(s.pid, SIGABRT);  // a core, where cores are kept
    waitpid(s.pid, &status, 0);
    Live().erase(s.pid);
    s.pid = 0;
    Fail("the server did not exit within 60 s of signal " +
         std::to_string(sig));
  }
  Live().erase(s.pid);
  s.pid = 0;
  if (sig == SIGTERM && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    Fail("the server did not stop cleanly on SIGTERM");
  }
}

std::unique_ptr<v1::CompliancePlugin::Stub> Connect(const Server& s) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  return v1::CompliancePlugin::NewStub(grpc::CreateCustomChannel(
      s.address, grpc::InsecureChannelCredentials(), args));
}

std::vector<ReportTrafficRequest> BuildTrace(const std::string& path,
                                             int devices, int tenants) {
  std::ifstream in(path);
  if (!in) Fail("cannot read " + path);
  std::vector<ReportTrafficRequest> base;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    ReportTrafficRequest r;
    if (!google::protobuf::util::JsonStringToMessage(line, &r).ok()) {
      Fail("bad trace line in " + path);
    }
    base.push_back(r);
  }
  const std::string original = "ApplDMPFXZABDFHW";
  std::vector<ReportTrafficRequest> trace;
  std::uint64_t sequence = 0;
  // Step j of every device, then step j + 1: devices interleave.
  for (std::size_t step = 0; step < base.size(); ++step) {
    for (int d = 0; d < devices; ++d) {
      ReportTrafficRequest r = base[step];
      r.set_tenant_id("t" + std::to_string(d % tenants));
      r.set_sequence(++sequence);
      char id[32];
      std::snprintf(id, sizeof(id), "ApplCRASH%07d", d);
      std::string target = r.eas_exchange().target();
      for (auto at = target.find(original); at != std::string::npos;
           at = target.find(original)) {
        target.replace(at, original.size(), id);
      }
      r.mutable_eas_exchange()->set_target(target);
      trace.push_back(std::move(r));
    }
  }
  return trace;
}

std::string DeviceOf(const ReportTrafficRequest& r) {
  const std::string& t = r.eas_exchange().target();
  const auto at = t.find("DeviceId=");
  return t.substr(at + 9, t.find('&', at) - at - 9);
}

struct Ack {
  std::uint64_t sequence;
  std::vector<std::string> events;  // kinds
};

// Streams trace[from..] until done or the stream breaks; returns the acks
// received, in order.
std::vector<Ack> StreamFrom(v1::CompliancePlugin::Stub& stub,
                            const std::vector<ReportTrafficRequest>& trace,
                            std::size_t from) {
  grpc::ClientContext context;
  auto stream = stub.StreamTraffic(&context);
  std::thread writer([&] {
    grpc::WriteOptions options;
    options.set_buffer_hint();
    for (std::size_t i = from; i < trace.size(); ++i) {
      if (!stream->Write(trace[i], options)) break;
    }
    stream->WritesDone();
  });
  std::vector<Ack> acks;
  v1::StreamTrafficResponse batch;
  while (stream->Read(&batch)) {
    for (const auto& a : batch.acks()) {
      Ack ack{a.sequence(), {}};
      for (const auto& e : a.events()) {
        ack.events.push_back(v1::EventKind_Name(e.kind()));
      }
      for (const auto& e : a.errors()) {
        Fail("ack " + std::to_string(a.sequence()) +
             " has an error: " + e.code() + " " + e.message());
      }
      acks.push_back(std::move(ack));
    }
  }
  writer.join();
  (void)stream->Finish();
  return acks;
}

std::string Key(const std::string& tenant, const std::string& device) {
  return tenant + "/" + device;
}

// A device's state without what legitimately differs between runs: the
// times hijackguard received things, and how many deliveries (retries
// included) it counted.
std::string Canonical(v1::GetDeviceRiskResponse r) {
  r.set_observations(0);
  // The policy's view is computed at the call, and the grace clock started
  // when each run first decided the device: times differ between runs, the
  // rest (score, actions, reasons) must not.
  r.mutable_decision()->clear_as_of();
  r.mutable_decision()->clear_warn_since();
  r.mutable_decision()->clear_deadline();
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  (void)google::protobuf::util::MessageToJsonString(r, &out, o);
  return out;
}

struct Decision {
  std::string action;
  std::string reasons;
  std::string deadline;
};

Decision CheckIn(v1::CompliancePlugin::Stub& stub, const std::string& tenant,
                 const std::string& device) {
  v1::CheckInRequest req;
  req.set_tenant_id(tenant);
  req.mutable_device()->set_eas_device_id(device);
  req.mutable_device()->set_user_principal("alice@example.com");
  req.mutable_eas()->set_user_agent("Apple-iPhone4C1/1001.403");
  v1::CheckInResponse resp;
  grpc::ClientContext ctx;
  // A server that stops answering fails the test naming the call, rather
  // than hanging it until ctest's timeout.
  ctx.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
  const grpc::Status s = stub.CheckIn(&ctx, req, &resp);
  if (!s.ok()) Fail("CheckIn " + device + ": " + s.error_message());
  Decision d;
  d.action = v1::Action_Name(resp.action());
  for (const auto& r : resp.reasons()) d.reasons += r.code() + " ";
  d.deadline =
      resp.has_deadline() ? std::to_string(resp.deadline().seconds()) : "-";
  return d;
}

v1::GetDeviceRiskResponse Risk(v1::CompliancePlugin::Stub& stub,
                               const std::string& tenant,
                               const std::string& device) {
  v1::GetDeviceRiskRequest req;
  req.set_tenant_id(tenant);
  req.set_eas_device_id(device);
  v1::GetDeviceRiskResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
  const grpc::Status s = stub.GetDeviceRisk(&ctx, req, &resp);
  if (!s.ok() && s.error_code() != grpc::StatusCode::NOT_FOUND) {
    Fail("GetDeviceRisk " + device + ": " + s.error_message());
  }
  return resp;
}

using Devices = std::set<std::pair<std::string, std::string>>;

// Where the servers keep their state: a SQLite directory, or a database of
// a throwaway PostgreSQL cluster.
struct Backend {
  std::string store = "sqlite";
  std::string work;
  int wal_autocheckpoint = 0;
  // The program's cluster: its watchdog stops it however the test ends.
  store::testing::PgCluster* cluster = nullptr;
};

// The defaults (monitor mode) with enforcement, so decisions differ by
// history: grace periods run from the first WARN. `name`: the state's
// directory under the work directory, and with PostgreSQL its database.
// Returns the config's path.
std::string WriteConfig(const Backend& b, const std::string& name) {
  const std::string config = b.work + "/" + name + ".json";
  std::ofstream policy(b.work + "/policy.json");
  policy << R"({"apiVersion": "hijackguard/v1", "mode": "enforce"})";
  std::ofstream cfg(config);
  cfg << R"({"listen": "127.0.0.1:0", "policy": ")" << b.work
      << R"(/policy.json", "shutdown_grace_seconds": 2)";
  if (b.wal_autocheckpoint > 0) {
    cfg << R"(, "wal_autocheckpoint_pages": )" << b.wal_autocheckpoint;
  }
  if (b.cluster != nullptr) {
    if (absl::Status s = b.cluster->CreateDatabase(name); !s.ok()) {
      Fail("CREATE DATABASE " + name + ": " + std::string(s.message()));
    }
    const std::string password = b.work + "/pg.password";
    const int fd = ::open(password.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const std::string line = b.cluster->password() + "\n";
    if (fd < 0 || ::write(fd, line.data(), line.size()) !=
                      static_cast<ssize_t>(line.size())) {
      Fail("cannot write " + password);
    }
    ::close(fd);
    // Every replica of one database holds the same audit key.
    cfg << R"(, "state_store": "postgres", "postgres": {"dsn": ")"
        << b.cluster->Dsn(name) << R"(", "password_file": ")" << password
        << R"("}, "audit": {"key_file": ")" << b.work << "/" << name
        << R"(.key"})";
  }
  cfg << "}";
  return config;
}

struct Reference {
  std::map<std::string, std::string> states;  // Canonical(Risk)
  std::map<std::string, Decision> decisions;
};

// The uninterrupted run.
Reference RunReference(const std::string& binary, const std::string& config,
                       const std::string& dir,
                       const std::vector<ReportTrafficRequest>& trace,
                       const Devices& devices) {
  Reference reference;
  Server s = Start(binary, config, dir);
  auto stub = Connect(s);
  const auto start = std::chrono::steady_clock::now();
  const auto acks = StreamFrom(*stub, trace, 0);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  if (acks.size() != trace.size()) Fail("the reference run lost acks");
  std::printf("reference run: %zu observations acknowledged in %.2f s\n",
              acks.size(), seconds);
  for (const auto& [tenant, device] : devices) {
    reference.states[Key(tenant, device)] =
        Canonical(Risk(*stub, tenant, device));
    reference.decisions[Key(tenant, device)] = CheckIn(*stub, tenant, device);
  }
  Kill(s, SIGTERM);
  return reference;
}

// Streams from `from`; with `kill_after_ms` > 0, SIGKILLs the server that
// long after the start (or when the stream ends) and reaps it.
std::vector<Ack> StreamAndKill(Server& s,
                               const std::vector<ReportTrafficRequest>& trace,
                               std::size_t from, int kill_after_ms) {
  auto stub = Connect(s);
  std::atomic<bool> done{false};
  std::thread killer;
  if (kill_after_ms > 0) {
    killer = std::thread([&] {
      for (int i = 0; i < kill_after_ms && !done; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      kill(s.pid, SIGKILL);
    });
  }
  auto acks = StreamFrom(*stub, trace, from);
  done = true;
  if (kill_after_ms > 0) {
    killer.join();
    int status = 0;
    waitpid(s.pid, &status, 0);
    Live().erase(s.pid);
    s.pid = 0;
  }
  return acks;
}

// Every acknowledged observation's events are in its device's state.
std::size_t CheckAcknowledged(v1::CompliancePlugin::Stub& stub,
                              const std::vector<ReportTrafficRequest>& trace,
                              const std::vector<Ack>& acks, int restart) {
  std::map<std::string, v1::GetDeviceRiskResponse> cache;
  std::size_t checked = 0;
  for (std::size_t i = 0; i < acks.size(); ++i) {
    if (acks[i].events.empty()) continue;
    const auto& r = trace[i];
    const std::string key = Key(r.tenant_id(), DeviceOf(r));
    auto it = cache.find(key);
    if (it == cache.end()) {
      it = cache.emplace(key, Risk(stub, r.tenant_id(), DeviceOf(r))).first;
    }
    for (const std::string& kind : acks[i].events) {
      bool found = false;
      for (const auto& e : it->second.events()) {
        found |= e.sequence() == r.sequence() &&
                 v1::EventKind_Name(e.kind()) == kind;
      }
      if (!found) {
        Fail("after restart " + std::to_string(restart) + ", " + key +
             " lacks the acknowledged " + kind + " of sequence " +
             std::to_string(r.sequence()));
      }
      ++checked;
    }
  }
  return checked;
}

// Streams the trace with `kills` SIGKILLs at random moments (and idle ones
// once everything is acknowledged), restarting and checking after each.
void RunWithKills(const std::string& binary, const std::string& config,
                  const std::string& state,
                  const std::vector<ReportTrafficRequest>& trace, int kills,
                  unsigned seed, Server& s) {
  std::mt19937 rng(seed);
  s = Start(binary, config, state);
  std::size_t next = 0;  // first observation not acknowledged
  std::vector<Ack> all_acks;
  int killed = 0;
  int restarts = 0;
  int mid_checkpoint = 0;
  while (next < trace.size() || killed < kills) {
    if (next >= trace.size()) {
      // Everything is acknowledged but more kills are due: kill while idle.
      Kill(s, SIGKILL);
      ++killed;
    } else {
      const bool kill_now = killed < kills;
      const int ms =
          kill_now ? std::uniform_int_distribution<int>(5, 120)(rng) : 0;
      const auto acks = StreamAndKill(s, trace, next, ms);
      killed += kill_now ? 1 : 0;
      for (const Ack& a : acks) {
        if (a.sequence != trace[next].sequence()) {
          Fail("ack for sequence " + std::to_string(a.sequence) +
               " came where " + std::to_string(trace[next].sequence()) +
               " was due");
        }
        all_acks.push_back(a);
        ++next;
      }
      std::printf("pass %d: %zu acknowledged (%zu/%zu)%s\n", restarts + 1,
                  acks.size(), next, trace.size(),
                  kill_now ? ", then SIGKILL" : "");
      if (!kill_now) {
        continue;  // the server is still running
      }
    }
    if (CutMidCheckpoint(state)) {
      ++mid_checkpoint;
    }
    s = Start(binary, config, state);
    ++restarts;
    auto stub = Connect(s);
    std::printf("restart %d: all %zu acknowledged events present\n", restarts,
                CheckAcknowledged(*stub, trace, all_acks, restarts));
  }
  std::printf(
      "%d SIGKILLs, %d restarts (%d of them on a file cut during a "
      "checkpoint); the whole trace is acknowledged\n",
      killed, restarts, mid_checkpoint);
}

// Final states and decisions equal the uninterrupted run's; returns the
// decisions.
std::map<std::string, Decision> CompareWithReference(
    v1::CompliancePlugin::Stub& stub, const Devices& devices,
    Reference& reference) {
  std::size_t differ = 0;
  std::map<std::string, Decision> decisions;
  for (const auto& [tenant, device] : devices) {
    const std::string key = Key(tenant, device);
    const std::string got = Canonical(Risk(stub, tenant, device));
    if (got != reference.states[key] && ++differ <= 3) {
      std::fprintf(stderr, "%s differs:\n  reference %s\n  got       %s\n",
                   key.c_str(), reference.states[key].c_str(), got.c_str());
    }
    const Decision d = CheckIn(stub, tenant, device);
    const Decision& want = reference.decisions[key];
    if ((d.action != want.action || d.reasons != want.reasons) &&
        ++differ <= 3) {
      std::fprintf(stderr, "%s decides %s [%s], the reference %s [%s]\n",
                   key.c_str(), d.action.c_str(), d.reasons.c_str(),
                   want.action.c_str(), want.reasons.c_str());
    }
    decisions[key] = d;
  }
  if (differ > 0) Fail(std::to_string(differ) + " differences");
  std::printf("final states of %zu devices equal the uninterrupted run's\n",
              devices.size());
  return decisions;
}

// Replicas sharing one PostgreSQL database, each streaming its share of the
// devices (device d to replica d % n) at once, in kills + 1 rounds; every
// round but the last SIGKILLs one replica mid-stream (replica r % n in round
// r), checks everything acknowledged through another replica, and restarts
// it. Returns the running servers.
std::vector<Server> RunReplicasWithKills(
    const std::string& binary, const std::string& config,
    const std::string& state, const std::vector<ReportTrafficRequest>& trace,
    int replicas, int kills, unsigned seed) {
  std::mt19937 rng(seed);
  const auto n = static_cast<std::size_t>(replicas);
  // Each replica's share, in trace order.
  std::vector<std::vector<ReportTrafficRequest>> shares(n);
  {
    std::map<std::string, std::size_t> owner;
    for (const auto& r : trace) {
      const std::string key = Key(r.tenant_id(), DeviceOf(r));
      auto it = owner.emplace(key, owner.size() % n).first;
      shares[it->second].push_back(r);
    }
  }
  // Each replica has a state directory of its own (it holds a lock).
  auto dir = [&](std::size_t r) { return state + "-" + std::to_string(r); };
  std::vector<Server> servers(n);
  for (std::size_t r = 0; r < n; ++r)
    servers[r] = Start(binary, config, dir(r));
  std::vector<std::size_t> next(n, 0);  // first not acknowledged, per share
  std::vector<std::vector<Ack>> acked(n);
  for (int round = 0; round <= kills; ++round) {
    const bool kill_round = round < kills;
    const std::size_t victim = static_cast<std::size_t>(round) % n;
    const int kill_ms =
        kill_round ? std::uniform_int_distribution<int>(20, 200)(rng) : 0;
    // This round's slice of each share: an equal part of what is left.
    std::vector<std::vector<ReportTrafficRequest>> slices(n);
    for (std::size_t r = 0; r < n; ++r) {
      const std::size_t left = shares[r].size() - next[r];
      const std::size_t take =
          kill_round ? (left + static_cast<std::size_t>(kills - round)) /
                           static_cast<std::size_t>(kills - round + 1)
                     : left;
      slices[r].assign(shares[r].begin() + static_cast<long>(next[r]),
                       shares[r].begin() + static_cast<long>(next[r] + take));
    }
    std::vector<std::vector<Ack>> got(n);
    std::vector<std::thread> streams;
    for (std::size_t r = 0; r < n; ++r) {
      streams.emplace_back([&, r] {
        got[r] = StreamAndKill(servers[r], slices[r], 0,
                               kill_round && r == victim ? kill_ms : 0);
      });
    }
    for (auto& t : streams) t.join();
    for (std::size_t r = 0; r < n; ++r) {
      if (got[r].size() != slices[r].size() && !(kill_round && r == victim)) {
        Fail("replica " + std::to_string(r) + " stopped serving when replica " +
             std::to_string(victim) +
             " was killed: " + std::to_string(got[r].size()) + " of " +
             std::to_string(slices[r].size()) + " acknowledged");
      }
      for (const Ack& a : got[r]) {
        if (a.sequence != shares[r][next[r]].sequence()) {
          Fail("replica " + std::to_string(r) + " acknowledged sequence " +
               std::to_string(a.sequence) + " where " +
               std::to_string(shares[r][next[r]].sequence()) + " was due");
        }
        acked[r].push_back(a);
        ++next[r];
      }
    }
    std::printf("round %d: acknowledged", round + 1);
    for (std::size_t r = 0; r < n; ++r) {
      std::printf(" %zu/%zu", next[r], shares[r].size());
    }
    std::printf(kill_round ? "; replica %zu SIGKILLed after %d ms\n" : "\n",
                victim, kill_ms);
    if (!kill_round) break;
    // What every replica acknowledged, read through another one.
    auto other = Connect(servers[(victim + 1) % n]);
    std::size_t checked = 0;
    for (std::size_t r = 0; r < n; ++r) {
      checked += CheckAcknowledged(*other, shares[r], acked[r], round + 1);
    }
    servers[victim] = Start(binary, config, dir(victim));
    std::printf(
        "  all %zu acknowledged events present (read through replica %zu); "
        "replica %zu restarted\n",
        checked, (victim + 1) % n, victim);
  }
  for (std::size_t r = 0; r < n; ++r) {
    if (next[r] != shares[r].size()) Fail("the trace is not acknowledged");
  }
  return servers;
}

int Main(int argc, char** argv) {
  CLI::App app{"kill-and-restart test of hijackguard's durable state"};
  std::string binary, trace_path;
  Backend backend;
  int devices = 300;
  int tenants = 7;
  int kills = 3;
  int replicas = 1;
  unsigned seed = 1;
  app.add_option("--hijackguard", binary)->required();
  app.add_option("--trace", trace_path)->required();
  app.add_option("--devices", devices)->capture_default_str();
  app.add_option("--kills", kills, "SIGKILLs while streaming (at least)")
      ->capture_default_str();
  app.add_option("--seed", seed)->capture_default_str();
  app.add_option("--wal-autocheckpoint", backend.wal_autocheckpoint,
                 "wal_autocheckpoint_pages for the server (0: its default)");
  app.add_option("--store", backend.store,
                 "sqlite, or postgres (a throwaway "
                 "cluster)")
      ->check(CLI::IsMember({"sqlite", "postgres"}))
      ->capture_default_str();
  app.add_option("--replicas", replicas,
                 "servers sharing the state (postgres only)")
      ->check(CLI::Range(1, 8))
      ->capture_default_str();
  app.add_option("--workdir", backend.work,
                 "Default: a new directory under /tmp");
  CLI11_PARSE(app, argc, argv);
  if (replicas > 1 && backend.store != "postgres") {
    Fail("--replicas needs --store postgres");
  }
  if (backend.work.empty()) {
    char tmpl[] = "/tmp/hijackguard-crash-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) Fail("mkdtemp");
    backend.work = tmpl;
  }
  if (backend.store == "postgres") {
    std::string why;
    backend.cluster = store::testing::PgCluster::Shared(&why);
    if (backend.cluster == nullptr) Fail("no PostgreSQL cluster: " + why);
  }
  const std::string reference_config = WriteConfig(backend, "reference");
  const std::string config = WriteConfig(backend, "state");
  const auto trace = BuildTrace(trace_path, devices, tenants);
  Devices device_set;
  for (const auto& r : trace) device_set.insert({r.tenant_id(), DeviceOf(r)});
  std::printf("trace: %zu observations, %zu devices in %d tenants (%s%s)\n",
              trace.size(), device_set.size(), tenants, backend.store.c_str(),
              replicas > 1
                  ? (", " + std::to_string(replicas) + " replicas").c_str()
                  : "");

  Reference reference = RunReference(
      binary, reference_config, backend.work + "/reference", trace, device_set);
  const std::string state = backend.work + "/state";
  std::vector<Server> servers;
  if (replicas > 1) {
    servers = RunReplicasWithKills(binary, config, state, trace, replicas,
                                   kills, seed);
  } else {
    RunWithKills(binary, config, state, trace, kills, seed,
                 servers.emplace_back());
  }
  // Any replica answers for every device (read the last one's way).
  auto stub = Connect(servers.back());
  std::map<std::string, Decision> decisions =
      CompareWithReference(*stub, device_set, reference);

  // Decision history (grace deadlines) survives a kill: the first server
  // is killed and restarted, and every device checks in there.
  Kill(servers.front(), SIGKILL);
  servers.front() = Start(binary, config, replicas > 1 ? state + "-0" : state);
  stub = Connect(servers.front());
  for (const auto& [tenant, device] : device_set) {
    const std::string key = Key(tenant, device);
    const Decision d = CheckIn(*stub, tenant, device);
    if (d.action != decisions[key].action ||
        d.deadline != decisions[key].deadline) {
      Fail(key + " after a kill decides " + d.action + " deadline " +
           d.deadline + ", before it " + decisions[key].action + " deadline " +
           decisions[key].deadline);
    }
  }
  std::printf("decisions and grace deadlines survive a SIGKILL\n");
  for (auto& s : servers) Kill(s, SIGTERM);
  const int verified =
      backend.store == "postgres"
          ? Run({binary, "audit", "verify", "--config", config})
          : Run({binary, "audit", "verify", "--state", state});
  if (verified != 0) Fail("the audit log does not verify after the kills");
  std::printf("the audit log verifies\n");
  std::error_code ec;
  std::filesystem::remove_all(backend.work, ec);
  std::printf("PASS\n");
  return 0;
}

}  // namespace
}  // namespace hijackguard::crash

int main(int argc, char** argv) { return hijackguard::crash::Main(argc, argv); }
