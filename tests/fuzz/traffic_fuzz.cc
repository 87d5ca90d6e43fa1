// Fuzz target: the traffic detector end to end. Byte 0 picks the command
// (Sync or MeetingResponse), the device (one of four, so state carries over
// between inputs) and the user; bytes 1-2 split the rest into a request and
// a response body. One detector lives across inputs with small limits, so
// eviction, pending reorders and dedup state are exercised too. Besides not
// crashing: every event names a kind and a server id, and the detector's
// bounds hold.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "detector/traffic/traffic_detector.h"
#include "tests/common/builtin_catalog.h"

namespace {

using hijackguard::detector::DetectorOptions;
using hijackguard::detector::EasExchangeView;
using hijackguard::detector::KnownIssueCatalog;
using hijackguard::detector::ObservationView;
using hijackguard::detector::ObserveResult;
using hijackguard::detector::TrafficDetector;

TrafficDetector& Detector() {
  static TrafficDetector* const detector = [] {
    DetectorOptions options;
    options.ledger.max_entries = 64;
    options.max_pending = 32;
    options.max_events_per_device = 16;
    options.max_meeting_responses = 4;
    options.max_devices = 8;
    return new TrafficDetector(hijackguard::testing::BuiltinCatalog(), options);
  }();
  return *detector;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size < 3) {
    return 0;
  }
  static std::int64_t clock = 1350000000;
  const std::uint8_t flags = data[0];
  const std::size_t split =
      (static_cast<std::size_t>(data[1]) | (std::size_t{data[2]} << 8)) %
      (size - 2);
  const std::string_view rest(reinterpret_cast<const char*>(data) + 3,
                              size - 3);
  const std::string target =
      std::string("/Microsoft-Server-ActiveSync?Cmd=") +
      ((flags & 1) != 0 ? "MeetingResponse" : "Sync") +
      "&User=" + ((flags & 2) != 0 ? "alice%40example.com" : "ALICE") +
      "&DeviceId=Appl" + std::to_string((flags >> 2) & 3) +
      "&DeviceType=iPhone";
  EasExchangeView ex;
  ex.method = "POST";
  ex.target = target;
  ex.headers = {{"User-Agent", (flags & 16) != 0 ? "Apple-iPhone4C1/1001.403"
                                                 : "Apple-iPhone4C1/1002.146"}};
  ex.request_body = rest.substr(0, split);
  ex.response_body = rest.substr(split);
  ex.response_status = ex.response_body.empty() ? 0 : 200;
  ObservationView obs;
  obs.tenant_id = "fuzz";
  obs.sequence = static_cast<std::uint64_t>(clock);
  // Mostly forward in time, sometimes back (reordered reports).
  clock += (flags & 32) != 0 ? -60 : 60;
  obs.observed_at = absl::FromUnixSeconds(clock);
  obs.eas_exchange = &ex;
  ObserveResult result;
  TrafficDetector& detector = Detector();
  detector.Observe(obs, &result);
  for (const auto& e : result.events) {
    if (hijackguard::detector::EventKindName(e.kind).empty() ||
        e.server_id.empty()) {
      std::abort();
    }
  }
  for (const auto& e : result.errors) {
    if (e.code.empty() || e.message.empty()) {
      std::abort();
    }
  }
  const auto stats = detector.stats();
  if (stats.ledger_entries > 64 || stats.pending > 32 || stats.devices > 8) {
    std::abort();
  }
  return 0;
}
