// Fuzz target: rows read back from the state store. A damaged or hostile
// database must give errors, never a crash. Byte 0 picks what the bytes are
// served as, by a store that returns them for every load:
//   0 a device row (and its event rows), paged in by GetDeviceRisk;
//   1 a ledger row, paged in by a parsed calendar change;
//   2 a waiting-changes row, loaded when the store is attached;
//   3 a decision history row, paged in by a check-in decision.
// Besides not crashing: a device that did load answers consistently, and a
// decision's score stays in [0, 100].
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "detector/fingerprint.h"
#include "detector/traffic/traffic_detector.h"
#include "policy/engine.h"
#include "policy/state_store.h"
#include "tests/common/builtin_catalog.h"

namespace {

namespace hg = hijackguard;
using hg::detector::DetectorChanges;
using hg::detector::DetectorCounters;
using hg::detector::StoreTicket;

// Serves `row` for every load and accepts every write.
class RowStore final : public hg::policy::StateStore {
 public:
  std::string row;
  absl::StatusOr<std::optional<std::string>> LoadDevice(
      std::string_view) override {
    return std::optional<std::string>(row);
  }
  absl::StatusOr<std::optional<std::string>> FindDeviceByIndex(
      std::string_view) override {
    return std::optional<std::string>();
  }
  absl::Status LoadEvents(std::string_view, std::string_view,
                          std::vector<std::string>* values) override {
    values->push_back(row);
    return absl::OkStatus();
  }
  absl::Status LoadEventsAfter(
      std::string_view, std::string_view, std::size_t,
      std::vector<std::pair<std::string, std::string>>*) override {
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<std::string>> LoadLedgerEntry(
      std::string_view) override {
    return std::optional<std::string>(row);
  }
  absl::Status LoadAllPending(
      std::vector<std::pair<std::string, std::string>>* rows) override {
    rows->emplace_back("key", row);
    return absl::OkStatus();
  }
  absl::StatusOr<DetectorCounters> LoadCounters() override {
    return DetectorCounters{};
  }
  StoreTicket Submit(DetectorChanges) override { return ++tickets_; }
  absl::StatusOr<std::optional<std::string>> LoadEngineDevice(
      std::string_view) override {
    return std::optional<std::string>(row);
  }
  absl::StatusOr<std::vector<hg::policy::Exemption>> LoadExemptions() override {
    return std::vector<hg::policy::Exemption>();
  }
  absl::StatusOr<std::optional<hg::policy::AppliedPolicy>> LatestPolicy(
      std::string_view) override {
    return std::optional<hg::policy::AppliedPolicy>();
  }
  StoreTicket SubmitEngine(hg::policy::EngineChanges) override {
    return ++tickets_;
  }
  absl::StatusOr<hg::policy::DevicePage> ListDevices(
      const hg::policy::DeviceQuery&) override {
    return hg::policy::DevicePage();
  }
  absl::StatusOr<std::vector<hg::policy::DeviceCount>> CountDevices(
      std::string_view) override {
    return std::vector<hg::policy::DeviceCount>();
  }
  absl::StatusOr<std::vector<hg::policy::AuditEntry>> ReadAudit(
      std::string_view, std::uint64_t, std::size_t) override {
    return std::vector<hg::policy::AuditEntry>();
  }
  absl::StatusOr<std::vector<hg::policy::OutboxEntry>> ReadOutbox(
      std::uint64_t, std::size_t) override {
    return std::vector<hg::policy::OutboxEntry>();
  }
  absl::StatusOr<hg::policy::OutboxState> LoadOutboxState() override {
    return hg::policy::OutboxState();
  }
  bool IsDurable(StoreTicket) const override { return true; }
  absl::Status WaitDurable(StoreTicket) override { return absl::OkStatus(); }
  void WhenDurable(StoreTicket,
                   std::function<void(absl::Status)> done) override {
    done(absl::OkStatus());
  }
  absl::Status health() const override { return absl::OkStatus(); }

 private:
  StoreTicket tickets_ = 0;
};

std::shared_ptr<const hg::detector::KnownIssueCatalog> Catalog() {
  return hijackguard::testing::BuiltinCatalog();
}

void Check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size < 1) {
    return 0;
  }
  RowStore store;
  store.row.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  hg::detector::DetectorOptions options;
  options.max_devices = 2;
  options.max_events_per_device = 8;
  hg::detector::TrafficDetector detector(Catalog(), options);
  const int what = data[0] % 4;
  const absl::Status attached = detector.AttachStore(&store);
  if (what == 2 || !attached.ok()) {
    return 0;  // a pending row either loads or is an error
  }
  if (what == 0) {
    auto risk = detector.GetDeviceRisk("t1", "ApplFUZZ");
    if (risk.ok() && risk->has_value()) {
      Check((*risk)->tenant_id.size() <= store.row.size());
      auto again = detector.GetDeviceRisk("t1", "ApplFUZZ");
      Check(again.ok() && again->has_value() &&
            (*again)->events.size() == (*risk)->events.size());
    }
    return 0;
  }
  if (what == 1) {
    hg::detector::CalendarChangeView c;
    c.eas_device_id = "ApplFUZZ";
    c.user = "alice@example.com";
    c.collection_id = "2";
    c.server_id = "2:14";
    c.organizer_email_after = "alice@example.com";
    c.meeting_status_after = 1;
    c.command = "Change";
    hg::detector::ObservationView obs;
    obs.tenant_id = "t1";
    obs.sequence = 1;
    obs.observed_at = absl::FromUnixSeconds(1'350'000'000);
    obs.calendar_change = &c;
    hg::detector::ObserveResult result;
    detector.Observe(obs, &result);
    return 0;
  }
  // A history row under a decision.
  auto policy = hg::policy::Policy::Default(*Catalog());
  hg::FakeClock clock(absl::FromUnixSeconds(1'800'000'000));
  hg::policy::PolicyEngine engine(Catalog(), policy, &clock, nullptr, {},
                                  "fuzz");
  if (!engine.AttachStore(&store).ok()) {
    return 0;
  }
  hg::detector::CheckInFacts facts;
  facts.tenant_id = "t1";
  facts.eas_device_id = "ApplFUZZ";
  facts.user_agent = "Apple-iPhone4C1/1001.403";
  hg::detector::Fingerprint fp =
      hg::detector::ComputeFingerprint(hg::detector::ToFingerprintInput(facts));
  fp.known_issues = Catalog()->Match(fp);
  const auto decision = engine.DecideCheckIn(fp, facts, {{}, "en"}, "fuzz");
  Check(!decision.ok() ||
        (decision->evaluation.score >= 0 && decision->evaluation.score <= 100));
  return 0;
}
