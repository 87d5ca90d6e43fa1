// Detection cost and ledger memory (Google Benchmark; release preset):
//   BM_ScanOnly          the WBXML calendar scan of a ~2 KiB client Change
//   BM_DecodeAndDetect   the whole observation: request target and headers,
//                        the body's scan, the ledger lookup and the rules
//                        (target: at most 5 us)
//   BM_LedgerMillion     one million meetings in the ledger; prints the heap
//                        in use and the resident growth (target: within
//                        200 MiB)
//
//   build/bin/traffic_bench --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "benchmark/benchmark.h"
#include "detector/eas/request.h"
#include "detector/eas/sync_calendar.h"
#include "detector/traffic/traffic_detector.h"
#include "traffic_bodies.h"

namespace hijackguard::bench {
namespace {

using detector::EasExchangeView;
using detector::ObservationView;
using detector::ObserveResult;
using detector::TrafficDetector;

constexpr char kTarget[] =
    "/Microsoft-Server-ActiveSync?Cmd=Sync&User=alice%40example.com"
    "&DeviceId=ApplDMPFXZABDFHW&DeviceType=iPhone";

std::shared_ptr<const detector::KnownIssueCatalog> Catalog() {
  return std::make_shared<const detector::KnownIssueCatalog>(
      *detector::KnownIssueCatalog::Builtin());
}

void BM_ScanOnly(benchmark::State& state) {
  const std::string body = BenchClientChange("2:14", 1);
  detector::eas::SyncCalendarScan scan;
  for (auto _ : state) {
    detector::eas::ScanSyncCalendar(body, &scan);
    benchmark::DoNotOptimize(scan.items.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(body.size()));
  state.counters["body_bytes"] = static_cast<double>(body.size());
}
BENCHMARK(BM_ScanOnly);

void BM_ParseRequestOnly(benchmark::State& state) {
  const std::vector<detector::eas::Header> headers = {
      {"User-Agent", "Apple-iPhone4C1/1001.403"},
      {"MS-ASProtocolVersion", "14.1"},
      {"X-MS-PolicyKey", "1234567890"},
      {"Content-Type", "application/vnd.ms-sync.wbxml"}};
  for (auto _ : state) {
    auto parsed = detector::eas::ParseEasRequest(kTarget, headers);
    benchmark::DoNotOptimize(parsed.request.device_id.data());
  }
}
BENCHMARK(BM_ParseRequestOnly);

void BM_DecodeAndDetect(benchmark::State& state) {
  TrafficDetector detector(Catalog());
  const std::string server_add = BenchServerAdd("2:14", 1);
  const std::string change = BenchClientChange("2:14", 1);
  EasExchangeView ex;
  ex.method = "POST";
  ex.target = kTarget;
  ex.headers = {{"User-Agent", "Apple-iPhone4C1/1001.403"},
                {"MS-ASProtocolVersion", "14.1"},
                {"X-MS-PolicyKey", "1234567890"},
                {"Content-Type", "application/vnd.ms-sync.wbxml"}};
  ex.response_status = 200;
  ex.response_body = server_add;
  ObservationView obs;
  obs.tenant_id = "acme";
  obs.observed_at = absl::FromUnixSeconds(1350000000);
  obs.eas_exchange = &ex;
  ObserveResult result;
  detector.Observe(obs, &result);  // the server's Add: the ledger entry
  ex.response_status = 0;
  ex.response_body = {};
  ex.request_body = change;
  obs.observed_at += absl::Minutes(1);
  for (auto _ : state) {
    result.Clear();
    detector.Observe(obs, &result);
    benchmark::DoNotOptimize(result.events.data());
  }
  if (!result.errors.empty() || !result.events.empty()) {
    state.SkipWithError("unexpected errors or events");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(change.size()));
  state.counters["body_bytes"] = static_cast<double>(change.size());
}
BENCHMARK(BM_DecodeAndDetect);

// Heap bytes in use (malloc's own count), which unlike the resident size
// does not depend on what earlier repetitions left mapped.
double HeapInUseMiB() {
  const struct mallinfo2 m = mallinfo2();
  return static_cast<double>(m.uordblks + m.hblkhd) / (1024.0 * 1024.0);
}

double ResidentMiB() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0;
  long resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) *
         static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

// One million meetings in 20,000 mailboxes, organized by 50,000 people, with
// Exchange's 112-character hex UIDs.
void BM_LedgerMillion(benchmark::State& state) {
  constexpr long kMeetings = 1'000'000;
  for (auto _ : state) {
    const double before = ResidentMiB();
    const double heap_before = HeapInUseMiB();
    detector::MeetingLedger ledger;
    const absl::Time t = absl::FromUnixSeconds(1350000000);
    std::string mailbox;
    std::string server_id;
    std::string organizer;
    for (long i = 0; i < kMeetings; ++i) {
      mailbox = "user" + std::to_string(i % 20000) + "@example.com";
      server_id = "2:" + std::to_string(i / 20000 + 1);
      organizer =
          "person" + std::to_string((i * 7919) % 50000) + "@example.com";
      const std::string uid = BenchUid(i);
      ledger.Put(detector::LedgerKey{"acme", mailbox, "2", server_id},
                 detector::MeetingFacts{uid, organizer, "Person Name", 3, 8},
                 t);
    }
    const double after = ResidentMiB();
    const double heap = HeapInUseMiB() - heap_before;
    state.counters["entries"] = static_cast<double>(ledger.size());
    // Resident growth is exact on the first run only (later runs reuse
    // pages); the heap figure holds for every run.
    state.counters["resident_MiB"] = after - before;
    state.counters["heap_MiB"] = heap;
    state.counters["heap_bytes_per_entry"] =
        heap * 1024 * 1024 / static_cast<double>(ledger.size());
    benchmark::DoNotOptimize(ledger.size());
  }
}
BENCHMARK(BM_LedgerMillion)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace hijackguard::bench

BENCHMARK_MAIN();
