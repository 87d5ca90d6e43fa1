// The device list through the engine and the SQLite store together: what a
// decision records is what ListDevices shows, after a restart too.
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/record.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/engine.h"
#include "policy/evidence.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_store.h"
#include "tests/common/builtin_catalog.h"
#include "tests/common/status_matchers.h"
#include "tests/common/test_dir.h"

namespace hijackguard::store {
namespace {

using ::hijackguard::testing::IsOk;

// One organizer rewrite, recorded at `at`: a score that decays by the hour.
class OneEvent : public policy::EvidenceSource {
 public:
  explicit OneEvent(absl::Time at) : at_(at) {}
  absl::StatusOr<bool> Evidence(std::string_view, std::string_view,
                                detector::DeviceEvidence* out) const override {
    out->events.clear();
    out->events.push_back(
        {detector::EventKind::kOrganizerRewrite, 2, at_, at_});
    return true;
  }
  absl::StatusOr<std::optional<detector::CheckInFacts>> Facts(
      std::string_view, std::string_view) const override {
    return std::nullopt;
  }

 private:
  absl::Time at_;
};

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

  void Start(const policy::EvidenceSource* evidence = nullptr) {
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
        ::hijackguard::testing::BuiltinCatalog(), *policy, &clock_, evidence);
    ASSERT_THAT(engine_->AttachStore(store_.get()), IsOk());
  }

  // Decides a check-in of the device and waits for what it recorded; returns
  // the decision's score.
  double CheckIn(const std::string& user_agent) {
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
    EXPECT_THAT(decided.status(), IsOk());
    if (!decided.ok()) {
      return -1;
    }
    if (decided->ticket != 0) {
      EXPECT_THAT(store_->WaitDurable(decided->ticket), IsOk());
    }
    return decided->evaluation.score;
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
  // would fail the decision) with the row's time: the same decision after a
  // restart writes nothing either, until the daily refresh.
  const absl::Time upgraded = clock_.Now();
  clock_.Advance(absl::Hours(1));
  CheckIn("Apple-iPhone4C1/1001.523");
  EXPECT_EQ(Only().recorded_at, upgraded);
  clock_.Advance(absl::Hours(23));
  CheckIn("Apple-iPhone4C1/1001.523");
  EXPECT_EQ(Only().recorded_at, clock_.Now());
}

// A history row from before rows kept their time and platform (format 4)
// is read, and its device's next decision writes it again with them.
TEST_F(DeviceListStoreTest,
       AHistoryRowWithoutItsTimeIsWrittenAtTheNextDecision) {
  CheckIn("Apple-iPhone4C1/1001.403");
  const absl::Time first = clock_.Now();
  engine_.reset();
  store_.reset();
  {
    auto db =
        sqlite::Database::Open((dir_ / "hijackguard.db").string(), true, false);
    ASSERT_THAT(db.status(), IsOk());
    // Format 6 ends with the time (format 5) and the platform (format 6).
    std::string suffix;
    RecordWriter(&suffix).Time(first);
    RecordWriter(&suffix).Bytes("ios");
    auto row = db->QueryText("SELECT hex(value) FROM history");
    ASSERT_THAT(row.status(), IsOk());
    std::string hex_suffix;
    for (char c : suffix) {
      hex_suffix += absl::StrFormat("%02X", static_cast<unsigned char>(c));
    }
    ASSERT_TRUE(row->starts_with("06") && row->ends_with(hex_suffix)) << *row;
    ASSERT_THAT(db->Exec(absl::StrCat("UPDATE history SET value = X'04' || "
                                      "substr(value, 2, length(value) - 1 - ",
                                      suffix.size(), "), platform = NULL")),
                IsOk());
    ASSERT_EQ(*db->QueryInt("SELECT count(*) FROM history WHERE platform IS "
                            "NULL"),
              1);
  }
  Start();
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(CheckIn("Apple-iPhone4C1/1001.403"), 30);
  EXPECT_EQ(Only().recorded_at, clock_.Now());
  EXPECT_EQ(Only().platform, "ios");
  // Written with its time now: an hour later, nothing.
  const absl::Time rewritten = clock_.Now();
  Start();
  clock_.Advance(absl::Hours(1));
  CheckIn("Apple-iPhone4C1/1001.403");
  EXPECT_EQ(Only().recorded_at, rewritten);
}

// A score that decays a little at each decision is rewritten once it has
// moved a point since the row was written, not only at the daily refresh.
TEST_F(DeviceListStoreTest, TheListedScoreNeverLagsByAPoint) {
  OneEvent evidence(clock_.Now());
  Start(&evidence);
  std::vector<double> scores;
  for (int hour = 0; hour < 12; ++hour) {
    const double score = CheckIn("Apple-iPhone4C1/1001.523");
    scores.push_back(score);
    EXPECT_LT(std::abs(Only().score - score), policy::kListedScoreStep)
        << "hour " << hour;
    clock_.Advance(absl::Hours(1));
  }
  ASSERT_GT(scores.front() - scores.back(), 2 * policy::kListedScoreStep)
      << "the evidence decays enough to matter";
  EXPECT_LT(scores.front() - scores[1], policy::kListedScoreStep)
      << "by less than a point per decision";
}

}  // namespace
}  // namespace hijackguard::store
