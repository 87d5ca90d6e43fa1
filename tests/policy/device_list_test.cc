// The device list: its filters, order and page tokens (policy/device_list.h),
// and the engine's list from memory (no store).
#include "policy/device_list.h"

#include "common/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/engine.h"
#include "tests/common/builtin_catalog.h"

namespace hijackguard::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

DeviceListing Listing(std::string tenant, std::string eas, double score) {
  DeviceListing d;
  d.tenant_id = std::move(tenant);
  d.eas_device_id = std::move(eas);
  d.score = score;
  d.key = ListingKey(d);
  return d;
}

TEST(DeviceListTest, TokensRoundTripAndAreBoundToTheFilters) {
  DeviceQuery q;
  q.tenant_id = "acme";
  q.levels = {Level::kHigh};
  const std::string token = EncodePageToken(q, Listing("acme", "A\n1", 42.5));
  DeviceQuery next = q;
  ASSERT_TRUE(DecodePageToken(token, &next).ok());
  ASSERT_TRUE(next.after_score.has_value());
  EXPECT_EQ(*next.after_score, 42.5);
  EXPECT_EQ(next.after_key, "acme\ne:A\n1");

  DeviceQuery other = q;
  other.levels = {Level::kCritical};
  absl::Status s = DecodePageToken(token, &other);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              HasSubstr("page_token was issued for other filters"));
  EXPECT_FALSE(other.after_score.has_value());
  // The page size is not a filter: it may change between pages.
  DeviceQuery bigger = q;
  bigger.page_size = 500;
  EXPECT_TRUE(DecodePageToken(token, &bigger).ok());

  // Not base64; too few parts; another version; a score that is not one.
  for (std::string_view bad : {"", "%%%", "ZDEKMTIz", "ZDIKeAp5CnoKaw==",
                               "ZDEKMApuYW4Kaw==", "ZDEKMAoxZTkKaw=="}) {
    DeviceQuery r = q;
    s = DecodePageToken(bad, &r);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), HasSubstr("page_token is not one this server"))
        << bad;
  }
}

TEST(DeviceListTest, MatchesEachFilterAndThePosition) {
  DeviceListing d = Listing("acme", "A1", 40);
  d.enforced_action = Action::kWarn;
  d.evaluated_action = Action::kQuarantine;
  d.level = Level::kElevated;
  d.user_principal = "Alice@Example.com";
  d.build = "10A403";
  DeviceQuery q;
  EXPECT_TRUE(Matches(q, d));
  q.tenant_id = "globex";
  EXPECT_FALSE(Matches(q, d));
  q = DeviceQuery();
  q.enforced_actions = {Action::kAllow, Action::kWarn};
  EXPECT_TRUE(Matches(q, d));
  q.enforced_actions = {Action::kQuarantine};
  EXPECT_FALSE(Matches(q, d));
  q = DeviceQuery();
  q.evaluated_actions = {Action::kQuarantine};
  EXPECT_TRUE(Matches(q, d));
  q.levels = {Level::kHigh};
  EXPECT_FALSE(Matches(q, d));
  q = DeviceQuery();
  q.user_principal = "alice@example.COM";
  EXPECT_TRUE(Matches(q, d));
  q.user_principal = "bob@example.com";
  EXPECT_FALSE(Matches(q, d));
  q = DeviceQuery();
  for (std::string_view build : {"10A403", "10A*", "10*", "*"}) {
    q.build = std::string(build);
    EXPECT_TRUE(Matches(q, d)) << build;
  }
  for (std::string_view build : {"10A40", "10B*", "10A4031"}) {
    q.build = std::string(build);
    EXPECT_FALSE(Matches(q, d)) << build;
  }
  // After a position: lower scores, and equal scores with a greater key.
  q = DeviceQuery();
  q.after_score = 40;
  q.after_key = "acme\ne:A0";
  EXPECT_TRUE(Matches(q, d));
  q.after_key = "acme\ne:A1";
  EXPECT_FALSE(Matches(q, d));
  q.after_score = 40.5;
  EXPECT_TRUE(Matches(q, d));
  q.after_score = 39.5;
  EXPECT_FALSE(Matches(q, d));
}

TEST(DeviceListTest, NormalizeNamesTheField) {
  DeviceQuery q;
  q.page_size = 0;
  ASSERT_TRUE(NormalizeQuery(&q).ok());
  EXPECT_EQ(q.page_size, kDefaultDevicePageSize);
  q.page_size = kMaxDevicePageSize + 1;
  EXPECT_THAT(NormalizeQuery(&q).message(), HasSubstr("page_size 1001"));
  q = DeviceQuery();
  q.build = "10*A";
  EXPECT_THAT(NormalizeQuery(&q).message(),
              HasSubstr("build may hold letters and digits and end in '*'; "
                        "byte 2 is neither"));
  q = DeviceQuery();
  q.build = "10A%";
  EXPECT_FALSE(NormalizeQuery(&q).ok()) << "no SQL wildcard either";
  q = DeviceQuery();
  q.user_principal = std::string("a\0b", 3);
  EXPECT_THAT(NormalizeQuery(&q).message(),
              HasSubstr("user_principal holds a control character at byte 1"));
  // Lists are sets: order and repeats do not matter, tokens included.
  DeviceQuery a;
  a.enforced_actions = {Action::kBlock, Action::kWarn, Action::kBlock};
  DeviceQuery b;
  b.enforced_actions = {Action::kWarn, Action::kBlock};
  ASSERT_TRUE(NormalizeQuery(&a).ok());
  ASSERT_TRUE(NormalizeQuery(&b).ok());
  EXPECT_EQ(a.enforced_actions, b.enforced_actions);
  DeviceListing last = Listing("acme", "A1", 10);
  last.key = ListingKey(last);
  EXPECT_TRUE(DecodePageToken(EncodePageToken(a, last), &b).ok());
}

// The engine without a store lists the devices it decided, from memory.
class EngineListTest : public ::testing::Test {
 protected:
  EngineListTest()
      : clock_(absl::FromUnixSeconds(1'800'000'000)),
        engine_(::hijackguard::testing::BuiltinCatalog(), Enforce(), &clock_,
                nullptr) {}

  static std::shared_ptr<const Policy> Enforce() {
    auto p = Policy::Parse(
        R"json({"apiVersion": "hijackguard/v1", "mode": "enforce"})json",
        *::hijackguard::testing::BuiltinCatalog(), nullptr);
    EXPECT_TRUE(p.ok()) << p.status();
    return *p;
  }

  void Decide(std::string tenant, std::string eas, std::string mdm,
              std::string user, std::string_view user_agent) {
    detector::CheckInFacts facts;
    facts.tenant_id = std::move(tenant);
    facts.eas_device_id = std::move(eas);
    facts.mdm_device_id = std::move(mdm);
    facts.user_principal = std::move(user);
    facts.user_agent = std::string(user_agent);
    detector::Fingerprint fp =
        detector::ComputeFingerprint(detector::ToFingerprintInput(facts));
    fp.known_issues = ::hijackguard::testing::BuiltinCatalog()->Match(fp);
    auto decided = engine_.DecideCheckIn(fp, facts, {}, "decision");
    ASSERT_TRUE(decided.ok()) << decided.status();
  }

  std::vector<std::string> Ids(DeviceQuery q) {
    auto page = engine_.ListDevices(std::move(q));
    EXPECT_TRUE(page.ok()) << page.status();
    std::vector<std::string> ids;
    if (page.ok()) {
      for (const DeviceListing& d : page->devices) {
        ids.push_back(d.eas_device_id.empty() ? "mdm:" + d.mdm_device_id
                                              : d.eas_device_id);
      }
    }
    return ids;
  }

  FakeClock clock_;
  PolicyEngine engine_;
};

TEST_F(EngineListTest, CountsDecidedDevicesFromMemory) {
  Decide("acme", "ApplHIJACK1", "m1", "alice@example.com",
         "Apple-iPhone4C1/1001.403");
  Decide("acme", "ApplHIJACK3", "m4", "erin@example.com",
         "Apple-iPhone4C1/1001.403");
  Decide("acme", "ApplFIXED01", "m2", "bob@example.com",
         "Apple-iPhone4C1/1001.523");
  Decide("globex", "ApplHIJACK2", "m3", "carol@example.com",
         "Apple-iPhone4C1/1001.403");
  auto counts = engine_.CountDevices("acme");
  ASSERT_TRUE(counts.ok()) << counts.status();
  std::vector<std::string> seen;
  for (const DeviceCount& c : *counts) {
    seen.push_back(StrCat(c.tenant_id, "/", c.platform, "/", c.os_version, "/",
                          c.build, "/", ActionName(c.enforced_action), "/",
                          ActionName(c.evaluated_action), "=", c.devices));
  }
  EXPECT_THAT(seen,
              UnorderedElementsAre("acme/ios/6.0/10A403/WARN/WARN=2",
                                   "acme/ios/6.0.1/10A523/ALLOW/ALLOW=1"));
  auto all = engine_.CountDevices("");
  ASSERT_TRUE(all.ok());
  std::uint64_t devices = 0;
  for (const DeviceCount& c : *all) devices += c.devices;
  EXPECT_EQ(devices, 4u);
}

TEST_F(EngineListTest, ListsDecidedDevicesByScore) {
  // iOS 6.0 (10A403) has the confirmed hijack issue: WARN; 6.0.1 does not.
  Decide("acme", "ApplHIJACK1", "m1", "alice@example.com",
         "Apple-iPhone4C1/1001.403");
  Decide("acme", "ApplFIXED01", "m2", "bob@example.com",
         "Apple-iPhone4C1/1001.523");
  Decide("globex", "ApplHIJACK2", "m3", "carol@example.com",
         "Apple-iPhone4C1/1001.403");
  Decide("acme", "", "mdm-only", "dave@example.com",
         "Apple-iPhone4C1/1001.523");

  auto page = engine_.ListDevices(DeviceQuery());
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->devices.size(), 4u);
  const DeviceListing& top = page->devices[0];
  EXPECT_EQ(top.tenant_id, "acme");
  EXPECT_EQ(top.eas_device_id, "ApplHIJACK1");
  EXPECT_EQ(top.mdm_device_id, "m1");
  EXPECT_EQ(top.user_principal, "alice@example.com");
  EXPECT_EQ(top.enforced_action, Action::kWarn);
  EXPECT_EQ(top.evaluated_action, Action::kWarn);
  EXPECT_GT(top.score, page->devices[2].score);
  EXPECT_EQ(top.build, "10A403");
  EXPECT_EQ(top.os_version, "6.0");
  EXPECT_EQ(top.model_name, "iPhone 4S");
  EXPECT_EQ(top.platform, "ios");
  EXPECT_EQ(top.recorded_at, clock_.Now());
  EXPECT_THAT(Ids(DeviceQuery()), ElementsAre("ApplHIJACK1", "ApplHIJACK2",
                                              "ApplFIXED01", "mdm:mdm-only"));

  DeviceQuery q;
  q.tenant_id = "acme";
  q.enforced_actions = {Action::kWarn};
  EXPECT_THAT(Ids(q), ElementsAre("ApplHIJACK1"));
  q = DeviceQuery();
  q.build = "10A5*";
  EXPECT_THAT(Ids(q), ElementsAre("ApplFIXED01", "mdm:mdm-only"));
  q = DeviceQuery();
  q.user_principal = "CAROL@example.com";
  EXPECT_THAT(Ids(q), ElementsAre("ApplHIJACK2"));

  // Pages of one, each token from the page before.
  q = DeviceQuery();
  q.page_size = 1;
  std::vector<std::string> paged;
  while (true) {
    auto p = engine_.ListDevices(q);
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_LE(p->devices.size(), 1u);
    for (const DeviceListing& d : p->devices) {
      paged.push_back(d.mdm_device_id);
    }
    if (p->next_page_token.empty()) {
      break;
    }
    ASSERT_TRUE(DecodePageToken(p->next_page_token, &q).ok());
    ASSERT_LT(paged.size(), 10u);
  }
  EXPECT_THAT(paged, ElementsAre("m1", "m3", "m2", "mdm-only"));

  q = DeviceQuery();
  q.page_size = 5000;
  EXPECT_EQ(engine_.ListDevices(q).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hijackguard::policy
