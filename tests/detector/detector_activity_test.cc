// With a store, an exchange that changes nothing about a device but its
// activity (observation count, last activity) submits nothing;
// the activity is written by WriteActivity, with the device's next real
// change, or when the device leaves memory, and a new detector reads it back.
#include <map>
#include <string>
#include <vector>

#include "common/record.h"
#include "detector/traffic/traffic_detector.h"
#include "gtest/gtest.h"
#include "tests/common/builtin_catalog.h"

namespace hijackguard::detector {
namespace {

constexpr char kTenant[] = "acme";

// Rows kept in maps; each Submit is recorded.
class MapStore : public DetectorStore {
 public:
  absl::StatusOr<std::optional<std::string>> LoadDevice(
      std::string_view key) override {
    auto it = devices_.find(std::string(key));
    if (it == devices_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  absl::StatusOr<std::optional<std::string>> FindDeviceByIndex(
      std::string_view) override {
    return std::optional<std::string>();
  }
  absl::Status LoadEvents(std::string_view, std::string_view,
                          std::vector<std::string>*) override {
    return absl::OkStatus();
  }
  absl::Status LoadEventsAfter(
      std::string_view, std::string_view, std::size_t,
      std::vector<std::pair<std::string, std::string>>*) override {
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<std::string>> LoadLedgerEntry(
      std::string_view) override {
    return std::optional<std::string>();
  }
  absl::Status LoadAllPending(
      std::vector<std::pair<std::string, std::string>>*) override {
    return absl::OkStatus();
  }
  absl::StatusOr<DetectorCounters> LoadCounters() override {
    return DetectorCounters{};
  }
  StoreTicket Submit(DetectorChanges changes) override {
    submitted_.push_back(changes.devices.size());
    for (const StoreRow& row : changes.devices) {
      devices_[row.key] = row.value;
    }
    return ++ticket_;
  }

  // The one device row there is.
  std::string& OnlyRow() { return devices_.begin()->second; }

  // Device rows per submission, oldest first.
  const std::vector<std::size_t>& submitted() const { return submitted_; }

 private:
  std::map<std::string, std::string> devices_;
  std::vector<std::size_t> submitted_;
  StoreTicket ticket_ = 0;
};

class Activity {
 public:
  explicit Activity(MapStore* store, std::size_t max_devices = 100) {
    DetectorOptions options;
    options.max_devices = max_devices;
    detector_ = std::make_unique<TrafficDetector>(
        ::hijackguard::testing::BuiltinCatalog(), options);
    EXPECT_TRUE(detector_->AttachStore(store).ok());
  }

  // An exchange with neither body: only the device's activity (and, the
  // first time, the client it describes) is learned. Its ticket.
  StoreTicket Exchange(
      const std::string& device, int minute,
      const std::string& user_agent = "Apple-iPhone4C1/1002.146") {
    const std::string target =
        "/Microsoft-Server-ActiveSync?Cmd=Sync&User=alice%40example.com"
        "&DeviceId=" +
        device + "&DeviceType=iPhone";
    EasExchangeView ex;
    ex.method = "POST";
    ex.target = target;
    ex.headers = {{"User-Agent", user_agent}};
    ObservationView obs;
    obs.tenant_id = kTenant;
    obs.sequence = ++sequence_;
    obs.observed_at = absl::FromUnixSeconds(1350000000) + absl::Minutes(minute);
    obs.eas_exchange = &ex;
    ObserveResult result;
    detector_->Observe(obs, &result);
    EXPECT_TRUE(result.errors.empty());
    return result.ticket;
  }

  std::uint64_t Observations(const std::string& device) {
    std::optional<DeviceRisk> risk =
        detector_->GetDeviceRisk(kTenant, device).value();
    return risk ? risk->observations : 0;
  }

  TrafficDetector& detector() { return *detector_; }

 private:
  std::unique_ptr<TrafficDetector> detector_;
  std::uint64_t sequence_ = 0;
};

TEST(DetectorActivityTest, OnlyActivityIsWrittenLaterAndReadBack) {
  MapStore store;
  Activity a(&store);
  const StoreTicket first = a.Exchange("ApplONE", 0);  // a new device: a row
  EXPECT_GT(first, 0u);
  ASSERT_EQ(store.submitted().size(), 1u);
  // Activity only: nothing submitted. The ticket still covers what was
  // submitted before, so that a retry's ack means the first report is
  // durable.
  EXPECT_EQ(a.Exchange("ApplONE", 1), first);
  EXPECT_EQ(a.Exchange("ApplONE", 2), first);
  EXPECT_EQ(store.submitted().size(), 1u);
  EXPECT_EQ(a.Observations("ApplONE"), 3u);  // memory is current

  // A real change (another client) writes the row, activity and all.
  const std::string phone5 = "Apple-iPhone5C2/1002.329";
  EXPECT_GT(a.Exchange("ApplONE", 3, phone5), first);
  EXPECT_EQ(store.submitted().size(), 2u);
  EXPECT_EQ(a.detector().WriteActivity(), 0u);  // nothing waits to be written

  a.Exchange("ApplONE", 4, phone5);
  EXPECT_EQ(store.submitted().size(), 2u);
  EXPECT_GT(a.detector().WriteActivity(), 0u);
  EXPECT_EQ(store.submitted().back(), 1u);
  EXPECT_EQ(a.detector().WriteActivity(), 0u);  // once

  // A day on, the row is written again (its time is what retention keeps).
  a.Exchange("ApplONE", 5, phone5);
  EXPECT_EQ(store.submitted().size(), 3u);
  a.Exchange("ApplONE", 5 + 25 * 60, phone5);
  EXPECT_EQ(store.submitted().size(), 4u);

  Activity restarted(&store);
  EXPECT_EQ(restarted.Observations("ApplONE"), 7u);
  // Paged in with its row's time: activity alone writes nothing, and an
  // exchange a day after the row was written writes it again.
  const std::size_t before = store.submitted().size();
  restarted.Exchange("ApplONE", 6 + 25 * 60, phone5);
  restarted.Exchange("ApplONE", 7 + 25 * 60, phone5);
  EXPECT_EQ(store.submitted().size(), before);
  restarted.Exchange("ApplONE", 5 + 49 * 60, phone5);
  EXPECT_EQ(store.submitted().size(), before + 1);
}

// The check-in facts of the device the check-in tests use.
CheckInFacts OneDevice() {
  CheckInFacts facts;
  facts.tenant_id = kTenant;
  facts.eas_device_id = "ApplONE";
  facts.mdm_device_id = "mdm-1";
  facts.user_principal = "alice@example.com";
  facts.user_agent = "Apple-iPhone4C1/1002.146";
  return facts;
}

// A check-in that brings nothing new writes nothing, also for a device read
// back from the store (its row keeps when it was written); a day after that
// it is written again.
TEST(DetectorActivityTest, ACheckInOfAPagedInDeviceWritesOnlyDaily) {
  MapStore store;
  const CheckInFacts facts = OneDevice();
  const absl::Time t0 = absl::FromUnixSeconds(1350000000);
  {
    Activity a(&store);
    EXPECT_GT(a.detector().RecordCheckIn(facts, t0), 0u);
    EXPECT_EQ(a.detector().RecordCheckIn(facts, t0 + absl::Hours(1)), 0u);
  }
  ASSERT_EQ(store.submitted().size(), 1u);
  Activity restarted(&store);
  EXPECT_EQ(restarted.detector().RecordCheckIn(facts, t0 + absl::Hours(2)), 0u);
  EXPECT_EQ(store.submitted().size(), 1u);
  EXPECT_GT(restarted.detector().RecordCheckIn(facts, t0 + absl::Hours(25)),
            0u);
  EXPECT_EQ(store.submitted().size(), 2u);
}

TEST(DetectorActivityTest, ADeviceLeavingMemoryTakesItsActivityAlong) {
  MapStore store;
  Activity a(&store, /*max_devices=*/1);
  a.Exchange("ApplONE", 0);
  a.Exchange("ApplONE", 1);
  ASSERT_EQ(store.submitted().size(), 1u);  // the activity waits
  // A second device pushes the first out of memory: its row goes first.
  a.Exchange("ApplTWO", 2);
  Activity restarted(&store);
  EXPECT_EQ(restarted.Observations("ApplONE"), 2u);
}

// A row from before rows kept their time is read, and the device's next
// check-in writes it again; so is a row whose time is ahead of the clock.
TEST(DetectorActivityTest, RowsWithoutATimeOrAheadOfTheClockAreWrittenAgain) {
  MapStore store;
  const CheckInFacts facts = OneDevice();
  const absl::Time t0 = absl::FromUnixSeconds(1350000000);
  {
    Activity a(&store);
    EXPECT_GT(a.detector().RecordCheckIn(facts, t0), 0u);
  }
  std::string time;
  RecordWriter(&time).Time(t0);
  std::string& row = store.OnlyRow();
  ASSERT_TRUE(row.ends_with(time));
  row.resize(row.size() - time.size());  // the row as older versions wrote it
  {
    Activity restarted(&store);
    EXPECT_GT(restarted.detector().RecordCheckIn(facts, t0 + absl::Hours(1)),
              0u);
    EXPECT_EQ(store.submitted().size(), 2u);
  }
  {
    // The clock went back ten hours: the row's time is ahead of it.
    Activity restarted(&store);
    EXPECT_GT(restarted.detector().RecordCheckIn(facts, t0 - absl::Hours(9)),
              0u);
    EXPECT_EQ(restarted.detector().RecordCheckIn(facts, t0 - absl::Hours(8)),
              0u);
    EXPECT_EQ(store.submitted().size(), 3u);
  }
}

}  // namespace
}  // namespace hijackguard::detector
