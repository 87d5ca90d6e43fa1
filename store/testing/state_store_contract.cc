#include "store/testing/state_store_contract.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "common/strings.h"
#include "gmock/gmock.h"

namespace hijackguard::store::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::Optional;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

detector::StoreRow Row(std::string key, std::string value,
                       std::int64_t time_ms = 1, std::string index = "") {
  detector::StoreRow row;
  row.key = std::move(key);
  row.value = std::move(value);
  row.time_ms = time_ms;
  row.index = std::move(index);
  return row;
}

detector::StoreRow Erase(std::string key) {
  detector::StoreRow row;
  row.key = std::move(key);
  row.erase = true;
  return row;
}

policy::Exemption MakeExemption(const std::string& value) {
  policy::Exemption e;
  e.id = "t1/user/" + value;
  e.tenant_id = "t1";
  e.kind = policy::Exemption::Kind::kUser;
  e.value = value;
  e.reason = "CAB-" + value;
  return e;
}

// Waits for `ticket`, failing the test when it does not become durable.
void Durable(policy::StateStore& store, policy::StoreTicket ticket) {
  ASSERT_TRUE(store.WaitDurable(ticket).ok());
  EXPECT_TRUE(store.IsDurable(ticket));
}

}  // namespace

void StateStoreContractTest::SetUp() {
  dir_ = (std::filesystem::temp_directory_path() /
          ("hg-contract-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name()))
             .string();
  std::replace(
      dir_.begin() +
          static_cast<std::ptrdiff_t>(
              std::filesystem::temp_directory_path().string().size() + 1),
      dir_.end(), '/', '-');
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
}

void StateStoreContractTest::TearDown() { std::filesystem::remove_all(dir_); }

std::unique_ptr<policy::StateStore> StateStoreContractTest::Open() {
  auto store = GetParam().open(dir_);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

std::string StoreName(const ::testing::TestParamInfo<StoreFactory>& info) {
  return info.param.name;
}

// Every table's rows, the counters, exemptions and policies are there after
// a restart.
TEST_P(StateStoreContractTest, WhatWasDurableSurvivesARestart) {
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    detector::DetectorChanges d;
    d.devices.push_back(Row("dev1", "device one", 10, "mdm1"));
    d.ledger.push_back(Row("led1", "ledger one"));
    d.events.push_back(Row("dev1\x01", "event one"));
    d.pending.push_back(Row("pen1", "pending one"));
    d.ledger_version = 41;
    d.event_id = 7;
    Durable(*store, store->Submit(std::move(d)));
    policy::EngineChanges e;
    e.devices.push_back(Row("hist1", "history one"));
    e.put_exemptions.push_back(MakeExemption("bob@example.com"));
    e.put_exemptions.push_back(MakeExemption("eve@example.com"));
    e.policy = policy::AppliedPolicy{"rev1", "file:/etc/p.json",
                                     absl::FromUnixSeconds(5), "{}"};
    Durable(*store, store->SubmitEngine(std::move(e)));
    policy::EngineChanges later;
    later.deleted_exemptions.push_back("t1/user/eve@example.com");
    later.policy =
        policy::AppliedPolicy{"rev2", "api", absl::FromUnixSeconds(6), "{}"};
    Durable(*store, store->SubmitEngine(std::move(later)));
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(*store->LoadDevice("dev1"), Optional(std::string("device one")));
  EXPECT_THAT(*store->FindDeviceByIndex("mdm1"), Optional(std::string("dev1")));
  EXPECT_THAT(*store->LoadLedgerEntry("led1"),
              Optional(std::string("ledger one")));
  EXPECT_THAT(*store->LoadEngineDevice("hist1"),
              Optional(std::string("history one")));
  std::vector<std::string> events;
  ASSERT_TRUE(store->LoadEvents("dev1", "dev1", &events).ok());
  EXPECT_THAT(events, ElementsAre("event one"));
  std::vector<std::pair<std::string, std::string>> pending;
  ASSERT_TRUE(store->LoadAllPending(&pending).ok());
  EXPECT_THAT(pending, ElementsAre(Pair("pen1", "pending one")));
  auto counters = store->LoadCounters();
  ASSERT_TRUE(counters.ok());
  EXPECT_EQ(counters->ledger_version, 41u);
  EXPECT_EQ(counters->event_id, 7u);
  auto exemptions = store->LoadExemptions();
  ASSERT_TRUE(exemptions.ok());
  ASSERT_EQ(exemptions->size(), 1u);
  EXPECT_EQ((*exemptions)[0].value, "bob@example.com");
  EXPECT_EQ((*exemptions)[0].reason, "CAB-bob@example.com");
  auto newest = store->LatestPolicy("");
  ASSERT_TRUE(newest.ok() && newest->has_value());
  EXPECT_EQ((*newest)->revision, "rev2");
  auto from_file = store->LatestPolicy("file:");
  ASSERT_TRUE(from_file.ok() && from_file->has_value());
  EXPECT_EQ((*from_file)->revision, "rev1");
  EXPECT_EQ((*from_file)->origin, "file:/etc/p.json");
  EXPECT_EQ((*from_file)->applied_at, absl::FromUnixSeconds(5));
  EXPECT_TRUE(store->health().ok());
}

// A row submitted is read back at once, committed or not; a later row
// replaces an earlier one, an erasure removes it.
TEST_P(StateStoreContractTest, ReadsSeeTheirOwnWritesInSubmissionOrder) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  detector::DetectorChanges c;
  c.ledger.push_back(Row("L1", "first"));
  c.ledger.push_back(Row("L1", "second"));  // later in the same batch
  c.devices.push_back(Row("D1", "device"));
  store->Submit(std::move(c));
  EXPECT_THAT(*store->LoadLedgerEntry("L1"), Optional(std::string("second")));
  detector::DetectorChanges erase;
  erase.ledger.push_back(Erase("L1"));
  const policy::StoreTicket ticket = store->Submit(std::move(erase));
  EXPECT_EQ(*store->LoadLedgerEntry("L1"), std::nullopt);
  Durable(*store, ticket);
  EXPECT_EQ(*store->LoadLedgerEntry("L1"), std::nullopt);
  EXPECT_THAT(*store->LoadDevice("D1"), Optional(std::string("device")));
  EXPECT_EQ(*store->LoadDevice("nobody"), std::nullopt);
  EXPECT_EQ(*store->FindDeviceByIndex("nothing"), std::nullopt);
}

// Events: the rows of one prefix from a key on, in key order, nothing of a
// neighbouring prefix.
TEST_P(StateStoreContractTest, EventsLoadInKeyOrderFromAKeyOn) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  detector::DetectorChanges c;
  for (const char* key : {"devA\x03", "devA\x01", "devB\x01", "devA\x02"}) {
    c.events.push_back(Row(key, std::string("value ") + key));
  }
  Durable(*store, store->Submit(std::move(c)));
  std::vector<std::string> values;
  ASSERT_TRUE(store->LoadEvents("devA", "devA\x02", &values).ok());
  EXPECT_THAT(values, ElementsAre("value devA\x02", "value devA\x03"));
  values.clear();
  ASSERT_TRUE(store->LoadEvents("devB", "devB", &values).ok());
  EXPECT_THAT(values, ElementsAre("value devB\x01"));
}

// Events a page at a time: after a key, within a prefix (or all), at most
// `limit`, committed and submitted rows alike.
TEST_P(StateStoreContractTest, EventsPageAfterAKey) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  detector::DetectorChanges c;
  for (const char* key :
       {"t1devA\x01", "t1devA\x02", "t1devB\x01", "t2devC\x01"}) {
    c.events.push_back(Row(key, std::string("v ") + key));
  }
  Durable(*store, store->Submit(std::move(c)));
  auto page = [&](std::string_view prefix, std::string_view after,
                  std::size_t limit) {
    std::vector<std::pair<std::string, std::string>> rows;
    EXPECT_TRUE(store->LoadEventsAfter(prefix, after, limit, &rows).ok());
    std::vector<std::string> keys;
    for (const auto& [k, v] : rows) {
      EXPECT_EQ(v, "v " + k);
      keys.push_back(k);
    }
    return keys;
  };
  EXPECT_THAT(page("t1", "", 10),
              ElementsAre("t1devA\x01", "t1devA\x02", "t1devB\x01"));
  EXPECT_THAT(page("t1", "t1devA\x01", 1), ElementsAre("t1devA\x02"));
  EXPECT_THAT(page("", "t1devA\x02", 10),
              ElementsAre("t1devB\x01", "t2devC\x01"));
  EXPECT_THAT(page("t2", "", 10), ElementsAre("t2devC\x01"));
  EXPECT_THAT(page("t1", "t1devB\x01", 10), ElementsAre());
  // A submitted row counts at once.
  detector::DetectorChanges more;
  more.events.push_back(Row("t1devA\x03", "v t1devA\x03"));
  store->Submit(std::move(more));
  EXPECT_THAT(page("t1", "t1devA\x01", 2),
              ElementsAre("t1devA\x02", "t1devA\x03"));
}

// The index finds the device that most recently claimed it; the counters
// are the newest high-water marks submitted (callers submit them rising).
// Events counted by the UTC day they were recorded on, within a prefix (or
// all), from a time on.
TEST_P(StateStoreContractTest, EventsCountByDay) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  constexpr std::int64_t kDay = 86'400'000;
  detector::DetectorChanges c;
  c.events.push_back(Row("t1devA\x01", "v", 10 * kDay + 5));
  c.events.push_back(Row("t1devA\x02", "v", 10 * kDay + kDay - 1));
  c.events.push_back(Row("t1devB\x01", "v", 12 * kDay));
  c.events.push_back(Row("t2devC\x01", "v", 12 * kDay + 7));
  c.events.push_back(Row("t1devD\x01", "v", 9 * kDay));  // before `since`
  Durable(*store, store->Submit(std::move(c)));
  auto days = [&](std::string_view prefix) {
    absl::StatusOr<std::vector<detector::EventDay>> counted =
        store->CountEventsByDay(prefix, 10 * kDay);
    EXPECT_TRUE(counted.ok()) << counted.status();
    std::vector<std::pair<std::int64_t, std::uint64_t>> out;
    if (counted.ok()) {
      for (const detector::EventDay& d : *counted) {
        out.emplace_back(d.day, d.events);
      }
    }
    return out;
  };
  using P = std::pair<std::int64_t, std::uint64_t>;
  EXPECT_THAT(days("t1"), ElementsAre(P{10, 2}, P{12, 1}));
  EXPECT_THAT(days(""), ElementsAre(P{10, 2}, P{12, 2}));
  EXPECT_THAT(days("t2"), ElementsAre(P{12, 1}));
  EXPECT_THAT(days("t3"), ElementsAre());
}

TEST_P(StateStoreContractTest, IndexesAndCountersFollowTheNewestRows) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  detector::DetectorChanges first;
  first.devices.push_back(Row("old-device", "v", 1000, "mdm-7"));
  first.ledger_version = 10;
  first.event_id = 100;
  store->Submit(std::move(first));
  detector::DetectorChanges second;
  second.devices.push_back(Row("new-device", "v", 2000, "mdm-7"));
  second.ledger_version = 12;
  second.event_id = 130;
  Durable(*store, store->Submit(std::move(second)));
  EXPECT_THAT(*store->FindDeviceByIndex("mdm-7"),
              Optional(std::string("new-device")));
  auto counters = store->LoadCounters();
  ASSERT_TRUE(counters.ok());
  EXPECT_EQ(counters->ledger_version, 12u);
  EXPECT_EQ(counters->event_id, 130u);
}

// Tickets from many threads all become durable; each WhenDurable callback
// runs exactly once, with OK, and a ticket is durable when a later one is.
TEST_P(StateStoreContractTest, TicketsBecomeDurableInOrderAndCallBackOnce) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 4;
  constexpr int kEach = 100;
  std::mutex mu;
  std::vector<policy::StoreTicket> called;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        detector::DetectorChanges c;
        const std::string key =
            "d" + std::to_string(t) + "-" + std::to_string(i);
        c.devices.push_back(Row(key, key));
        const policy::StoreTicket ticket = store->Submit(std::move(c));
        store->WhenDurable(ticket, [&, ticket](const absl::Status& s) {
          if (!s.ok()) ++failures;
          std::lock_guard<std::mutex> lock(mu);
          called.push_back(ticket);
        });
      }
    });
  }
  for (auto& t : threads) t.join();
  policy::EngineChanges last;
  last.devices.push_back(Row("last", "row"));
  const policy::StoreTicket newest = store->SubmitEngine(std::move(last));
  Durable(*store, newest);
  for (policy::StoreTicket t = 1; t <= newest; ++t) {
    EXPECT_TRUE(store->IsDurable(t)) << "ticket " << t;
  }
  store.reset();  // every callback has run once the store is closed
  EXPECT_EQ(failures, 0);
  std::sort(called.begin(), called.end());
  EXPECT_EQ(called.size(), static_cast<std::size_t>(kThreads * kEach));
  EXPECT_EQ(std::adjacent_find(called.begin(), called.end()), called.end())
      << "a callback ran twice";
}

// Waiting for nothing (ticket 0) returns at once.
TEST_P(StateStoreContractTest, TicketZeroIsAlwaysDurable) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->IsDurable(0));
  EXPECT_TRUE(store->WaitDurable(0).ok());
  bool called = false;
  store->WhenDurable(0, [&](const absl::Status& s) { called = s.ok(); });
  EXPECT_TRUE(called);
}

// Pending rows are replaced and erased per key, and LoadAllPending returns
// what is left.
TEST_P(StateStoreContractTest, PendingRowsAreReplacedAndErasedByKey) {
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    detector::DetectorChanges c;
    c.pending.push_back(Row("p1", "one"));
    c.pending.push_back(Row("p2", "two"));
    c.pending.push_back(Row("p3", "three"));
    store->Submit(std::move(c));
    detector::DetectorChanges d;
    d.pending.push_back(Row("p1", "one again"));
    d.pending.push_back(Erase("p2"));
    Durable(*store, store->Submit(std::move(d)));
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  std::vector<std::pair<std::string, std::string>> rows;
  ASSERT_TRUE(store->LoadAllPending(&rows).ok());
  EXPECT_THAT(
      rows, UnorderedElementsAre(Pair("p1", "one again"), Pair("p3", "three")));
}

namespace {

policy::DeviceListing Listed(std::string tenant, std::string eas, double score,
                             policy::Action enforced, policy::Level level,
                             std::string build) {
  policy::DeviceListing d;
  d.tenant_id = std::move(tenant);
  d.eas_device_id = std::move(eas);
  d.mdm_device_id = "mdm-" + d.eas_device_id;
  d.user_principal = d.eas_device_id + "@Example.com";
  d.enforced_action = enforced;
  d.evaluated_action = enforced;
  d.level = level;
  d.score = score;
  d.build = std::move(build);
  d.os_version = "6.0";
  d.model_name = "iPhone 4S";
  d.platform = "ios";
  return d;
}

// The devices' ids in list order.
std::vector<std::string> Ids(const policy::DevicePage& page) {
  std::vector<std::string> ids;
  for (const policy::DeviceListing& d : page.devices) {
    ids.push_back(d.eas_device_id);
  }
  return ids;
}

}  // namespace

// The device list: the committed rows' listings, filtered, highest score
// first (ties by key), paged by token; a row rewritten moves.
TEST_P(StateStoreContractTest, DeviceListFiltersSortsAndPages) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  using policy::Action;
  using policy::Level;
  policy::EngineChanges c;
  const std::vector<policy::DeviceListing> devices = {
      Listed("acme", "A1", 80, Action::kQuarantine, Level::kHigh, "10A403"),
      Listed("acme", "A2", 40, Action::kWarn, Level::kElevated, "10A523"),
      Listed("acme", "A3", 40, Action::kWarn, Level::kElevated, "10B141"),
      Listed("acme", "A4", 5, Action::kAllow, Level::kLow, ""),
      Listed("globex", "G1", 95, Action::kBlock, Level::kCritical, "10A403"),
  };
  for (const policy::DeviceListing& d : devices) {
    c.devices.push_back(Row(policy::ListingKey(d), "v", 1'700'000'000'000));
    c.listings.push_back(d);
  }
  // A row of an earlier version, without a listing: never listed.
  policy::EngineChanges unlisted;
  unlisted.devices.push_back(Row("acme\ne:OLD", "v"));
  store->SubmitEngine(std::move(unlisted));
  Durable(*store, store->SubmitEngine(std::move(c)));

  policy::DeviceQuery q;
  auto list = [&](const policy::DeviceQuery& query) {
    absl::StatusOr<policy::DevicePage> page = store->ListDevices(query);
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? *page : policy::DevicePage();
  };
  policy::DevicePage all = list(q);
  EXPECT_THAT(Ids(all), ElementsAre("G1", "A1", "A2", "A3", "A4"));
  EXPECT_TRUE(all.next_page_token.empty());
  ASSERT_EQ(all.devices.size(), 5u);
  const policy::DeviceListing& g1 = all.devices[0];
  EXPECT_EQ(g1.tenant_id, "globex");
  EXPECT_EQ(g1.mdm_device_id, "mdm-G1");
  EXPECT_EQ(g1.user_principal, "G1@Example.com");
  EXPECT_EQ(g1.enforced_action, Action::kBlock);
  EXPECT_EQ(g1.evaluated_action, Action::kBlock);
  EXPECT_EQ(g1.level, Level::kCritical);
  EXPECT_EQ(g1.score, 95);
  EXPECT_EQ(g1.build, "10A403");
  EXPECT_EQ(g1.os_version, "6.0");
  EXPECT_EQ(g1.model_name, "iPhone 4S");
  EXPECT_EQ(g1.platform, "ios");
  EXPECT_EQ(g1.recorded_at, absl::FromUnixMillis(1'700'000'000'000));

  q.tenant_id = "acme";
  EXPECT_THAT(Ids(list(q)), ElementsAre("A1", "A2", "A3", "A4"));
  q.enforced_actions = {Action::kWarn, Action::kQuarantine};
  EXPECT_THAT(Ids(list(q)), ElementsAre("A1", "A2", "A3"));
  q.levels = {Level::kElevated};
  EXPECT_THAT(Ids(list(q)), ElementsAre("A2", "A3"));
  q.build = "10A*";
  EXPECT_THAT(Ids(list(q)), ElementsAre("A2"));
  q = policy::DeviceQuery();
  q.user_principal = "a3@example.COM";
  EXPECT_THAT(Ids(list(q)), ElementsAre("A3"));
  q = policy::DeviceQuery();
  q.build = "10A403";
  EXPECT_THAT(Ids(list(q)), ElementsAre("G1", "A1"));
  q = policy::DeviceQuery();
  q.evaluated_actions = {Action::kAllow};
  EXPECT_THAT(Ids(list(q)), ElementsAre("A4"));

  // Pages of two, through the ties at 40.
  q = policy::DeviceQuery();
  q.page_size = 2;
  std::vector<std::string> paged;
  for (int pages = 0; pages < 5; ++pages) {
    policy::DevicePage page = list(q);
    for (const std::string& id : Ids(page)) {
      paged.push_back(id);
    }
    if (page.next_page_token.empty()) {
      break;
    }
    ASSERT_TRUE(policy::DecodePageToken(page.next_page_token, &q).ok());
  }
  EXPECT_THAT(paged, ElementsAre("G1", "A1", "A2", "A3", "A4"));

  // A4's decision changes: its row moves to the top.
  policy::EngineChanges again;
  policy::DeviceListing a4 = devices[3];
  a4.score = 99;
  a4.enforced_action = Action::kBlock;
  again.devices.push_back(Row(policy::ListingKey(a4), "v2"));
  again.listings.push_back(a4);
  Durable(*store, store->SubmitEngine(std::move(again)));
  EXPECT_THAT(Ids(list(policy::DeviceQuery())),
              ElementsAre("A4", "G1", "A1", "A2", "A3"));
}

// The fleet's counts: the listed devices grouped by tenant, platform, OS
// version, build, actions and level, over every tenant or one; unlisted rows
// are not counted, a rewritten row moves to its new group.
TEST_P(StateStoreContractTest, DeviceCountsGroupTheListedDevices) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  using policy::Action;
  using policy::Level;
  policy::EngineChanges c;
  std::vector<policy::DeviceListing> devices = {
      Listed("acme", "A1", 80, Action::kQuarantine, Level::kHigh, "10A403"),
      Listed("acme", "A2", 80, Action::kQuarantine, Level::kHigh, "10A403"),
      Listed("acme", "A3", 5, Action::kAllow, Level::kLow, "10B141"),
      Listed("globex", "G1", 80, Action::kQuarantine, Level::kHigh, "10A403"),
  };
  devices[1].evaluated_action = Action::kBlock;  // monitor would-be BLOCK
  for (const policy::DeviceListing& d : devices) {
    c.devices.push_back(Row(policy::ListingKey(d), "v"));
    c.listings.push_back(d);
  }
  c.devices.push_back(Row("acme\ne:OLD", "v"));  // no listing
  Durable(*store, store->SubmitEngine(std::move(c)));

  auto counted = [&](std::string_view tenant) {
    absl::StatusOr<std::vector<policy::DeviceCount>> counts =
        store->CountDevices(tenant);
    EXPECT_TRUE(counts.ok()) << counts.status();
    std::vector<std::string> out;
    for (const policy::DeviceCount& n :
         counts.value_or(std::vector<policy::DeviceCount>())) {
      out.push_back(StrCat(n.tenant_id, "/", n.platform, "/", n.os_version, "/",
                           n.build, "/", policy::ActionName(n.enforced_action),
                           "/", policy::ActionName(n.evaluated_action), "/",
                           policy::LevelName(n.level), "=", n.devices));
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_THAT(
      counted(""),
      ElementsAre("acme/ios/6.0/10A403/QUARANTINE/BLOCK/HIGH=1",
                  "acme/ios/6.0/10A403/QUARANTINE/QUARANTINE/HIGH=1",
                  "acme/ios/6.0/10B141/ALLOW/ALLOW/LOW=1",
                  "globex/ios/6.0/10A403/QUARANTINE/QUARANTINE/HIGH=1"));
  EXPECT_THAT(
      counted("globex"),
      ElementsAre("globex/ios/6.0/10A403/QUARANTINE/QUARANTINE/HIGH=1"));
  EXPECT_THAT(counted("initech"), ElementsAre());

  policy::EngineChanges again;
  policy::DeviceListing a2 = devices[1];
  a2.evaluated_action = Action::kQuarantine;
  again.devices.push_back(Row(policy::ListingKey(a2), "v2"));
  again.listings.push_back(a2);
  Durable(*store, store->SubmitEngine(std::move(again)));
  EXPECT_THAT(counted("acme"),
              ElementsAre("acme/ios/6.0/10A403/QUARANTINE/QUARANTINE/HIGH=2",
                          "acme/ios/6.0/10B141/ALLOW/ALLOW/LOW=1"));

  // A device's row written again without a listing leaves the counts.
  policy::EngineChanges unlisted;
  unlisted.devices.push_back(Row(policy::ListingKey(devices[2]), "v3"));
  Durable(*store, store->SubmitEngine(std::move(unlisted)));
  EXPECT_THAT(counted("acme"),
              ElementsAre("acme/ios/6.0/10A403/QUARANTINE/QUARANTINE/HIGH=2"));
}

// The audit log read back newest first, by kind, a page at a time.
TEST_P(StateStoreContractTest, AuditRowsReadBackNewestFirstByKind) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  policy::EngineChanges c;
  for (int i = 0; i < 3; ++i) {
    policy::PolicyAudit p;
    p.revision = StrCat("rev", i);
    p.origin = "api";
    p.actor.principal = "admin";
    c.audit.push_back({absl::FromUnixSeconds(1'700'000'000 + i), p});
    policy::ExemptionAudit e;
    e.exemption.id = StrCat("ex", i);
    c.audit.push_back({absl::FromUnixSeconds(1'700'000'000 + i), e});
  }
  Durable(*store, store->SubmitEngine(std::move(c)));
  auto policies = store->ReadAudit("policy", 0, 2);
  ASSERT_TRUE(policies.ok()) << policies.status();
  ASSERT_EQ(policies->size(), 2u);
  EXPECT_EQ((*policies)[0].kind, "policy");
  EXPECT_NE((*policies)[0].record.find("\"rev2\""), std::string::npos);
  EXPECT_NE((*policies)[1].record.find("\"rev1\""), std::string::npos);
  EXPECT_EQ((*policies)[0].at, absl::FromUnixSeconds(1'700'000'002));
  EXPECT_GT((*policies)[0].seq, (*policies)[1].seq);
  auto older = store->ReadAudit("policy", (*policies)[1].seq, 10);
  ASSERT_TRUE(older.ok());
  ASSERT_EQ(older->size(), 1u);
  EXPECT_NE((*older)[0].record.find("\"rev0\""), std::string::npos);
  auto all = store->ReadAudit("", 0, 100);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 6u);
  EXPECT_EQ((*all)[0].kind, "exemption");
}

void PrintTo(const StoreFactory& factory, std::ostream* out) {
  *out << factory.name;
}

}  // namespace hijackguard::store::testing
