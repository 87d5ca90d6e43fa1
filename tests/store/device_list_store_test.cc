// The device list through the engine and the SQLite store together: what a
// decision records is what ListDevices shows, after a restart too.
#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/engine.h"
#include "store/sqlite/sqlite_store.h"
#include "tests/common/builtin_catalog.h"
#include "tests/common/status_matchers.h"
#include "tests/common/test_dir.h"

namespace hijackguard::store {
namespace {

using ::hijackguard::testing::IsOk;

class DeviceListStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::hijackguard::testing::FreshTestDir("device-list");
    Start();
  }
  void TearDown() override {
    engine_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Start() {
    engine_.reset();
    store_.reset();
    SqliteStoreOptions o;
    o.path = (dir_ / "hijackguard.db").string();
    o.clock = &clock_;
    auto store = SqliteStore::Open(std::move(o));
    ASSERT_THAT(store.status(), IsOk());
    store_ = std::move(*store);
    auto policy = policy::Policy::Parse(
        R"json({"apiVersion": "hijackguard/v1", "mode": "enforce"})json",
        *::hijackguard::testing::BuiltinCatalog(), nullptr);
    ASSERT_THAT(policy.status(), IsOk());
    engine_ = std::make_unique<policy::PolicyEngine>(
        ::hijackguard::testing::BuiltinCatalog(), *policy, &clock_, nullptr);
    ASSERT_THAT(engine_->AttachStore(store_.get()), IsOk());
  }

  // Decides a check-in of the device and waits for what it recorded.
  void CheckIn(const std::string& user_agent) {
    detector::CheckInFacts facts;
    facts.tenant_id = "acme";
    facts.eas_device_id = "ApplDMPFXZABDFHW";
    facts.mdm_device_id = "mdm-1";
    facts.user_principal = "alice@example.com";
    facts.user_agent = user_agent;
    detector::Fingerprint fp =
        detector::ComputeFingerprint(detector::ToFingerprintInput(facts));
    fp.known_issues = ::hijackguard::testing::BuiltinCatalog()->Match(fp);
    auto decided = engine_->DecideCheckIn(fp, facts, {}, "d");
    ASSERT_THAT(decided.status(), IsOk());
    if (decided->ticket != 0) {
      ASSERT_THAT(store_->WaitDurable(decided->ticket), IsOk());
    }
  }

  policy::DeviceListing Only() {
    auto page = engine_->ListDevices(policy::DeviceQuery());
    EXPECT_THAT(page.status(), IsOk());
    EXPECT_EQ(page.ok() ? page->devices.size() : 0, 1u);
    return page.ok() && page->devices.size() == 1 ? page->devices[0]
                                                  : policy::DeviceListing();
  }

  FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  std::filesystem::path dir_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<policy::PolicyEngine> engine_;
};

TEST_F(DeviceListStoreTest, TheListShowsTheLastRecordedDecision) {
  CheckIn("Apple-iPhone4C1/1001.403");
  policy::DeviceListing d = Only();
  EXPECT_EQ(d.tenant_id, "acme");
  EXPECT_EQ(d.eas_device_id, "ApplDMPFXZABDFHW");
  EXPECT_EQ(d.mdm_device_id, "mdm-1");
  EXPECT_EQ(d.user_principal, "alice@example.com");
  EXPECT_EQ(d.enforced_action, policy::Action::kWarn);
  EXPECT_EQ(d.level, policy::Level::kElevated);
  EXPECT_EQ(d.score, 30);
  EXPECT_EQ(d.build, "10A403");
  EXPECT_EQ(d.os_version, "6.0");
  EXPECT_EQ(d.model_name, "iPhone 4S");
  EXPECT_EQ(d.recorded_at, clock_.Now());

  // The same decision an hour later writes nothing: the row keeps its time.
  const absl::Time first = clock_.Now();
  clock_.Advance(absl::Hours(1));
  CheckIn("Apple-iPhone4C1/1001.403");
  EXPECT_EQ(Only().recorded_at, first);

  // An upgrade changes build and decision: the row follows, and stays
  // through a restart (the engine's memory is gone then).
  clock_.Advance(absl::Hours(1));
  CheckIn("Apple-iPhone4C1/1001.523");
  Start();
  d = Only();
  EXPECT_EQ(d.build, "10A523");
  EXPECT_EQ(d.os_version, "6.0.1");
  EXPECT_EQ(d.enforced_action, policy::Action::kAllow);
  EXPECT_EQ(d.score, 0);
  EXPECT_EQ(d.recorded_at, clock_.Now());
  // The engine pages the history it wrote back in (a row it could not read
  // would fail the decision), and its first decision after a restart
  // refreshes the row.
  clock_.Advance(absl::Hours(1));
  CheckIn("Apple-iPhone4C1/1001.523");
  EXPECT_EQ(Only().recorded_at, clock_.Now());
}

}  // namespace
}  // namespace hijackguard::store
