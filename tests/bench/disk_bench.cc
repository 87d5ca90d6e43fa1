// Disk use with retention, in the shipped store (SQLite, synchronous=full),
// on a moved clock. Two measurements:
//
//   build/bin/disk_bench --mode unchanged --checkins 100000
//     one device checks in again and again without any change: the audit
//     log must grow by at most 8 KiB (one row per changed decision);
//   build/bin/disk_bench --mode fleet --devices 100000 --days 10
//     every device checks in once a day for --days days with every retention
//     set to one day, pruned each night: the database must stay within the
//     bound documented in docs/state.md ("Disk use and retention").
//
// Disk use is (page_count - freelist_count) x page_size plus the WAL, as
// SQLite counts it; the detector and the engine run in this process with a
// clock the benchmark moves (no gRPC).
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "CLI/CLI.hpp"
#include "common/clock.h"
#include "detector/fingerprint.h"
#include "detector/known_issues.h"
#include "detector/traffic/traffic_detector.h"
#include "plugin/detector_evidence.h"
#include "policy/engine.h"
#include "store/sqlite/sqlite_store.h"
#include "tests/bench/fleet_facts.h"

namespace hijackguard::bench {
namespace {

class MovedClock final : public Clock {
 public:
  absl::Time Now() const override { return now_; }
  void Set(absl::Time t) { now_ = t; }

 private:
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
};

struct Usage {
  std::int64_t used = 0;  // bytes in pages that hold data
  std::int64_t wal = 0;
  std::int64_t audit_rows = 0;
  std::int64_t audit_bytes = 0;  // record, hashes and kind
  std::int64_t devices = 0;
  std::int64_t history = 0;
};

Usage Measure(const std::string& path) {
  Usage u;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) !=
      SQLITE_OK) {
    std::fprintf(stderr, "cannot open %s\n", path.c_str());
    std::exit(1);
  }
  auto one = [&](const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    std::int64_t v = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      v = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    return v;
  };
  u.used = (one("PRAGMA page_count") - one("PRAGMA freelist_count")) *
           one("PRAGMA page_size");
  u.audit_rows = one("SELECT count(*) FROM audit");
  u.audit_bytes = one(
      "SELECT ifnull(sum(length(record) + length(prev_hash) + length(hash) + "
      "length(kind) + 16), 0) FROM audit");
  u.devices = one("SELECT count(*) FROM devices");
  u.history = one("SELECT count(*) FROM history");
  sqlite3_close(db);
  std::error_code ec;
  const auto wal = std::filesystem::file_size(path + "-wal", ec);
  u.wal = ec ? 0 : static_cast<std::int64_t>(wal);
  return u;
}

detector::CheckInFacts Facts(long i) {
  return FleetFacts(i, "Apple-iPhone5C2/1002.146");  // iOS 6.1.2: allowed
}

// The store as shipped, with the detector and engine that write to it, on a
// clock the benchmark moves. Retention: one day for everything but events.
class Bench {
 public:
  explicit Bench(std::string path)
      : path_(std::move(path)),
        catalog_(std::make_shared<const detector::KnownIssueCatalog>(
            *detector::KnownIssueCatalog::Builtin())),
        detector_(catalog_),
        evidence_(&detector_),
        engine_(catalog_, policy::Policy::Default(*catalog_), &clock_,
                &evidence_, {}, "default") {}

  absl::Status Open() {
    store::SqliteStoreOptions so;
    so.path = path_;
    so.clock = &clock_;
    so.retention.devices = absl::Hours(24);
    so.retention.history = absl::Hours(24);
    so.retention.pending = absl::Hours(24);
    so.retention.audit = absl::Hours(24);
    auto opened = store::SqliteStore::Open(so);
    if (!opened.ok()) return opened.status();
    store_ = *std::move(opened);
    if (absl::Status s = detector_.AttachStore(store_.get()); !s.ok()) return s;
    if (absl::Status s = engine_.AttachStore(store_.get()); !s.ok()) return s;
    if (absl::Status s = engine_.RecordStartPolicy(); !s.ok()) return s;
    fp_ = detector::ComputeFingerprint(detector::ToFingerprintInput(Facts(0)));
    fp_.known_issues = catalog_->Match(fp_);
    return absl::OkStatus();
  }

  // Device i checks in (the detector's record and the engine's decision).
  void CheckIn(long i) {
    const detector::CheckInFacts facts = Facts(i);
    last_ = std::max(last_, detector_.RecordCheckIn(facts, clock_.Now()));
    auto decision =
        engine_.DecideCheckIn(fp_, facts, {{}, "en"}, "bench", clock_.Now());
    if (!decision.ok()) {
      std::fprintf(stderr, "%s\n", decision.status().ToString().c_str());
      std::exit(1);
    }
    last_ = std::max(last_, decision->ticket);
  }
  // Waits until everything submitted is committed.
  void Settle() {
    if (!store_->WaitDurable(last_).ok()) {
      std::fprintf(stderr, "a commit failed\n");
      std::exit(1);
    }
  }
  MovedClock& clock() { return clock_; }
  store::SqliteStore& store() { return *store_; }
  const std::string& path() const { return path_; }
  void Close() { store_.reset(); }

 private:
  const std::string path_;
  MovedClock clock_;
  std::shared_ptr<const detector::KnownIssueCatalog> catalog_;
  detector::TrafficDetector detector_;
  const plugin::DetectorEvidence evidence_;
  policy::PolicyEngine engine_;
  std::unique_ptr<store::SqliteStore> store_;
  detector::Fingerprint fp_;
  detector::StoreTicket last_ = 0;
};

// One device checking in `checkins` times, a second apart, without change:
// the audit log grows by at most 8 KiB.
int RunUnchanged(Bench& bench, long checkins) {
  bench.CheckIn(0);
  bench.Settle();
  const Usage before = Measure(bench.path());
  for (long n = 1; n < checkins; ++n) {
    bench.clock().Set(bench.clock().Now() + absl::Seconds(1));
    bench.CheckIn(0);
  }
  bench.Settle();
  const Usage after = Measure(bench.path());
  const std::int64_t added = after.audit_bytes - before.audit_bytes;
  std::printf(
      "unchanged: %ld check-ins of one device (over %.1f simulated h) added "
      "%lld audit rows, %lld bytes of audit (limit 8192): %s\n",
      checkins, static_cast<double>(checkins) / 3600.0,
      static_cast<long long>(after.audit_rows - before.audit_rows),
      static_cast<long long>(added), added <= 8192 ? "PASS" : "FAIL");
  return added <= 8192 ? 0 : 1;
}

// A fleet of `devices` checking in once a day for `days`, pruned each
// night: the peak stays under the documented bound per device.
int RunFleet(Bench& bench, long devices, int days, double bound_per_device) {
  std::int64_t peak = 0;  // used pages
  std::int64_t peak_wal = 0;
  for (int day = 0; day < days; ++day) {
    const absl::Time morning =
        absl::FromUnixSeconds(1'800'000'000) + absl::Hours(24) * day;
    for (long i = 0; i < devices; ++i) {
      // Spread over the day's first 12 hours.
      bench.clock().Set(morning + absl::Milliseconds(43'200'000 * i / devices));
      bench.CheckIn(i);
    }
    bench.Settle();
    const Usage evening = Measure(bench.path());
    peak = std::max(peak, evening.used);
    peak_wal = std::max(peak_wal, evening.wal);
    bench.clock().Set(morning + absl::Hours(23));
    if (absl::Status s =
            bench.store().Prune(bench.clock().Now(), absl::ZeroDuration());
        !s.ok()) {
      std::fprintf(stderr, "prune: %s\n", s.ToString().c_str());
      return 1;
    }
    const Usage night = Measure(bench.path());
    std::printf(
        "day %d: %ld check-ins; before pruning %.1f MiB used + %.1f MiB WAL "
        "(%lld audit rows); after %.1f MiB + %.1f MiB WAL (%lld audit rows, "
        "%lld devices, %lld history rows)\n",
        day + 1, devices, static_cast<double>(evening.used) / (1 << 20),
        static_cast<double>(evening.wal) / (1 << 20),
        static_cast<long long>(evening.audit_rows),
        static_cast<double>(night.used) / (1 << 20),
        static_cast<double>(night.wal) / (1 << 20),
        static_cast<long long>(night.audit_rows),
        static_cast<long long>(night.devices),
        static_cast<long long>(night.history));
    std::fflush(stdout);
  }
  const Usage end = Measure(bench.path());
  const double per_device =
      static_cast<double>(peak) / static_cast<double>(devices);
  const double bound = bound_per_device * static_cast<double>(devices);
  std::printf(
      "fleet: %ld check-ins over %ld devices in %d days; peak %.1f MiB in "
      "pages (%.0f bytes per device) plus a WAL of at most %.1f MiB; after "
      "the last night %.1f MiB (%.0f bytes per device); bound %.0f bytes "
      "per device plus the WAL: %s\n",
      devices * days, devices, days, static_cast<double>(peak) / (1 << 20),
      per_device, static_cast<double>(peak_wal) / (1 << 20),
      static_cast<double>(end.used) / (1 << 20),
      static_cast<double>(end.used) / static_cast<double>(devices),
      bound_per_device, static_cast<double>(peak) <= bound ? "PASS" : "FAIL");
  return static_cast<double>(peak) <= bound ? 0 : 1;
}

int Main(int argc, char** argv) {
  CLI::App app{"disk use of the state store under retention"};
  std::string mode = "fleet";
  long checkins = 100'000;
  long devices = 100'000;
  int days = 10;
  double bound_per_device = 2048;  // docs/state.md
  std::string dir;
  app.add_option("--mode", mode)->check(CLI::IsMember({"unchanged", "fleet"}));
  app.add_option("--checkins", checkins)->capture_default_str();
  app.add_option("--devices", devices)->capture_default_str();
  app.add_option("--days", days)->capture_default_str();
  app.add_option("--bound-per-device", bound_per_device,
                 "bytes per device the documented bound allows")
      ->capture_default_str();
  app.add_option("--dir", dir, "state directory (default: a new temp one)");
  CLI11_PARSE(app, argc, argv);
  if (dir.empty()) {
    char tmpl[] = "/tmp/hijackguard-disk-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return 1;
    dir = tmpl;
  }
  Bench bench((std::filesystem::path(dir) / store::kStateFileName).string());
  if (absl::Status s = bench.Open(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  const int status = mode == "unchanged"
                         ? RunUnchanged(bench, checkins)
                         : RunFleet(bench, devices, days, bound_per_device);
  std::printf("(%.1f s)\n", std::chrono::duration<double>(
                                std::chrono::steady_clock::now() - start)
                                .count());
  bench.Close();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return status;
}

}  // namespace
}  // namespace hijackguard::bench

int main(int argc, char** argv) { return hijackguard::bench::Main(argc, argv); }
