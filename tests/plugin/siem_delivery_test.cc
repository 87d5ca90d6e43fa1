// SIEM delivery: the outbox in the state store (entries in the decision's
// commit, seqs never reused, cursors), the delivery loop against a scripted
// receiver (order, backoff, the max_backlog bound with its audit row,
// resuming from a saved cursor), the memory outbox's bound, the `siem`
// configuration's errors, and addresses in reason messages.
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plugin/config.h"
#include "plugin/siem/delivery.h"
#include "plugin/siem/outbox.h"
#include "plugin/siem/siem_event.h"
#include "policy/alerts.h"
#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_store.h"
#include "store/sqlite/state_tools.h"
#include "tests/common/state_backends.h"
#include "tests/common/status_matchers.h"
#include "tests/common/test_dir.h"

namespace hijackguard::plugin::siem {
namespace {

using ::hijackguard::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Alert(const std::string& device, policy::Action to) {
  policy::ComplianceAlert a;
  a.alert_id = "alert-" + device + "-" + std::string(policy::ActionName(to));
  a.emitted_at = absl::FromUnixSeconds(1'800'000'000);
  a.trigger = "CHECK_IN";
  a.tenant_id = "acme";
  a.eas_device_id = device;
  a.user_principal = device + "@example.com";
  a.new_action = to;
  a.decision_id = "d-" + a.alert_id;
  return policy::AlertJson(a);
}

// A receiver that takes or refuses what it is sent, as the test says.
struct Receiver {
  absl::Mutex mu;
  bool up = true;
  std::vector<std::string> ids;  // every delivery, in order
  int attempts = 0;
};

class ScriptedTransport final : public Transport {
 public:
  explicit ScriptedTransport(Receiver* r) : r_(r) {}
  absl::Status Send(std::span<const SiemEvent> events) override {
    absl::MutexLock lock(&r_->mu);
    ++r_->attempts;
    if (!r_->up) return absl::UnavailableError("the receiver is down");
    for (const SiemEvent& e : events) r_->ids.push_back(e.id);
    return absl::OkStatus();
  }

 private:
  Receiver* r_;
};

class SiemDeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = ::hijackguard::testing::FreshTestDir("siem"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<store::SqliteStore> Open() {
    store::SqliteStoreOptions o;
    o.path = (dir_ / "hijackguard.db").string();
    o.synchronous = "off";
    auto s = store::SqliteStore::Open(std::move(o));
    EXPECT_THAT(s.status(), IsOk());
    return s.ok() ? std::move(*s) : nullptr;
  }

  void Append(policy::StateStore& store, std::vector<std::string> payloads) {
    policy::EngineChanges c;
    c.outbox = std::move(payloads);
    ASSERT_THAT(store.WaitDurable(store.SubmitEngine(std::move(c))), IsOk());
  }

  std::unique_ptr<SiemDelivery> Start(
      Outbox* outbox, Receiver* receiver, std::uint64_t max_backlog = 1000,
      std::size_t batch = 3, std::function<bool()> may_deliver = nullptr) {
    SiemConfig config;
    SinkConfig sink;
    sink.name = "s1";
    sink.batch = batch;
    sink.retry_min = absl::Milliseconds(10);
    sink.retry_max = absl::Milliseconds(40);
    config.sinks.push_back(sink);
    DeliveryOptions o;
    o.max_backlog = max_backlog;
    o.poll = absl::Milliseconds(20);
    o.pseudonym = [](std::string_view v) { return std::string(v); };
    o.may_deliver = std::move(may_deliver);
    o.make_transport =
        [receiver](
            const SinkConfig&) -> absl::StatusOr<std::unique_ptr<Transport>> {
      return std::make_unique<ScriptedTransport>(receiver);
    };
    auto d = SiemDelivery::Start(config, outbox, std::move(o));
    EXPECT_THAT(d.status(), IsOk());
    return d.ok() ? std::move(*d) : nullptr;
  }

  static void WaitFor(const std::function<bool()>& done) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (!done() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    ASSERT_TRUE(done()) << "timed out";
  }

  std::filesystem::path dir_;
};

TEST_F(SiemDeliveryTest, EntriesCommitInOrderAndSeqsAreNeverReused) {
  auto store = Open();
  Append(*store, {Alert("a", policy::Action::kWarn),
                  Alert("b", policy::Action::kWarn)});
  auto entries = store->ReadOutbox(0, 10);
  ASSERT_THAT(entries.status(), IsOk());
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].seq, 1u);
  EXPECT_EQ((*entries)[1].seq, 2u);
  // Pruned to nothing, the next entry still gets seq 3.
  policy::EngineChanges prune;
  prune.outbox_prune_through = 2;
  prune.sink_cursors.push_back({"s1", 2, 0});
  ASSERT_THAT(store->WaitDurable(store->SubmitEngine(std::move(prune))),
              IsOk());
  Append(*store, {Alert("c", policy::Action::kWarn)});
  auto state = store->LoadOutboxState();
  ASSERT_THAT(state.status(), IsOk());
  EXPECT_EQ(state->head, 3u);
  EXPECT_EQ(state->oldest, 3u);
  ASSERT_EQ(state->cursors.size(), 1u);
  EXPECT_EQ(state->cursors[0].delivered, 2u);
  // The offline reader (alerts backlog) sees the same.
  auto offline = store::ReadOutboxState(store->path());
  ASSERT_THAT(offline.status(), IsOk());
  EXPECT_EQ(offline->head, 3u);
}

TEST_F(SiemDeliveryTest, DeliversInOrderAndResumesFromTheSavedCursor) {
  auto store = Open();
  StoreOutbox outbox(store.get());
  Receiver receiver;
  std::vector<std::string> payloads;
  for (int i = 0; i < 10; ++i) {
    payloads.push_back(
        Alert("dev" + std::to_string(i),
              i % 2 ? policy::Action::kAllow : policy::Action::kWarn));
  }
  Append(*store, payloads);
  {
    auto d = Start(&outbox, &receiver);
    WaitFor([&] {
      absl::MutexLock lock(&receiver.mu);
      return receiver.ids.size() == 10;
    });
    WaitFor([&] { return d->stats()[0].backlog == 0; });
    EXPECT_EQ(d->stats()[0].delivered, 10u);
  }
  ASSERT_THAT(store->WaitDurable(store->SubmitEngine({})), IsOk());
  {
    absl::MutexLock lock(&receiver.mu);
    EXPECT_EQ(receiver.ids.front(), "alert-dev0-WARN");
    EXPECT_EQ(receiver.ids.back(), "alert-dev9-ALLOW");
  }
  // A new delivery (a restart) starts after the cursor: nothing again, then
  // only what is new.
  Append(*store, {Alert("late", policy::Action::kBlock)});
  auto d = Start(&outbox, &receiver);
  WaitFor([&] {
    absl::MutexLock lock(&receiver.mu);
    return receiver.ids.size() == 11;
  });
  absl::MutexLock lock(&receiver.mu);
  EXPECT_EQ(receiver.ids.back(), "alert-late-BLOCK");
}

TEST_F(SiemDeliveryTest, ARefusingReceiverIsRetriedAndGetsEverythingInOrder) {
  auto store = Open();
  StoreOutbox outbox(store.get());
  Receiver receiver;
  receiver.up = false;
  auto d = Start(&outbox, &receiver);
  for (int i = 0; i < 5; ++i) {
    Append(*store, {Alert("d" + std::to_string(i), policy::Action::kWarn)});
  }
  WaitFor([&] {
    absl::MutexLock lock(&receiver.mu);
    return receiver.attempts >= 4;  // retried with backoff
  });
  EXPECT_FALSE(d->stats()[0].up);
  EXPECT_GT(d->stats()[0].failed, 0u);
  EXPECT_EQ(d->stats()[0].backlog, 5u);
  {
    absl::MutexLock lock(&receiver.mu);
    receiver.up = true;
  }
  WaitFor([&] {
    absl::MutexLock lock(&receiver.mu);
    return receiver.ids.size() == 5;
  });
  absl::MutexLock lock(&receiver.mu);
  EXPECT_THAT(receiver.ids,
              ElementsAre("alert-d0-WARN", "alert-d1-WARN", "alert-d2-WARN",
                          "alert-d3-WARN", "alert-d4-WARN"));
}

TEST_F(SiemDeliveryTest, BeyondMaxBacklogTheOldestAreDroppedCountedAndAudited) {
  auto store = Open();
  StoreOutbox outbox(store.get());
  Receiver receiver;
  receiver.up = false;
  std::vector<std::string> payloads;
  for (int i = 0; i < 8; ++i) {
    payloads.push_back(Alert("d" + std::to_string(i), policy::Action::kWarn));
  }
  Append(*store, payloads);
  auto d = Start(&outbox, &receiver, /*max_backlog=*/5);
  WaitFor([&] { return d->stats()[0].dropped == 3; });
  EXPECT_EQ(d->stats()[0].backlog, 5u);
  {
    absl::MutexLock lock(&receiver.mu);
    receiver.up = true;
  }
  WaitFor([&] {
    absl::MutexLock lock(&receiver.mu);
    return receiver.ids.size() == 5;
  });
  {
    absl::MutexLock lock(&receiver.mu);
    EXPECT_EQ(receiver.ids.front(), "alert-d3-WARN");  // d0..d2 dropped
  }
  d->Stop();
  ASSERT_THAT(store->WaitDurable(store->SubmitEngine({})), IsOk());
  auto state = store->LoadOutboxState();
  ASSERT_THAT(state.status(), IsOk());
  ASSERT_EQ(state->cursors.size(), 1u);
  EXPECT_EQ(state->cursors[0].dropped, 3u);
  EXPECT_EQ(state->cursors[0].delivered, 8u);
  // The drop is in the audit chain, which still verifies.
  const std::string path = store->path();
  const std::string key = store->audit_key();
  store.reset();
  auto verified = store::VerifyAudit(path, key);
  ASSERT_THAT(verified.status(), IsOk());
  EXPECT_TRUE(verified->ok) << verified->problem;
  store::sqlite::Database db =
      *store::sqlite::Database::Open(path, false, true);
  auto record =
      db.QueryText("SELECT record FROM audit WHERE kind = 'siem_dropped'");
  ASSERT_THAT(record.status(), IsOk());
  EXPECT_THAT(*record, HasSubstr(R"("count":3)"));
  EXPECT_THAT(*record, HasSubstr(R"("first_seq":1)"));
  EXPECT_THAT(*record, HasSubstr(R"("last_seq":3)"));
  EXPECT_THAT(*record, HasSubstr(R"("sink":"s1")"));
}

TEST_F(SiemDeliveryTest, DeliveredEntriesArePrunedEvenBeyondOnePrunesLimit) {
  auto store = Open();
  StoreOutbox outbox(store.get());
  std::vector<std::string> payloads(25'000,
                                    Alert("bulk", policy::Action::kWarn));
  Append(*store, std::move(payloads));
  Receiver receiver;
  receiver.up = false;
  auto d = Start(&outbox, &receiver, /*max_backlog=*/100'000, /*batch=*/10'000);
  // Positioned before the first entry, so every entry is its to deliver.
  {
    absl::MutexLock lock(&receiver.mu);
    receiver.up = true;
  }
  WaitFor([&] {
    absl::MutexLock lock(&receiver.mu);
    return receiver.ids.size() == 25'000;
  });
  // One prune deletes at most 10,000 rows; the rest go with the next ones.
  WaitFor([&] {
    auto state = store->LoadOutboxState();
    return state.ok() && state->oldest == 0 && state->head == 25'000;
  });
}

TEST_F(SiemDeliveryTest, TheMemoryOutboxKeepsItsBoundAndSinksCountTheGap) {
  MemoryOutbox outbox(4);
  Receiver receiver;
  receiver.up = false;
  auto d = Start(&outbox, &receiver);  // at seq 0
  for (int i = 0; i < 10; ++i) {
    outbox.Append(Alert("m" + std::to_string(i), policy::Action::kWarn));
  }
  auto state = outbox.State();
  ASSERT_THAT(state.status(), IsOk());
  EXPECT_EQ(state->head, 10u);
  EXPECT_EQ(state->oldest, 7u);
  // Two refused attempts after the appends: the second read what is there
  // now (one in flight may have read before, and would be taken once up).
  int before = 0;
  {
    absl::MutexLock lock(&receiver.mu);
    before = receiver.attempts;
  }
  WaitFor([&] {
    absl::MutexLock lock(&receiver.mu);
    return receiver.attempts >= before + 2;
  });
  {
    absl::MutexLock lock(&receiver.mu);
    receiver.up = true;
  }
  WaitFor([&] {
    absl::MutexLock lock(&receiver.mu);
    return receiver.ids.size() == 4;
  });
  EXPECT_EQ(d->stats()[0].dropped, 6u);
  absl::MutexLock lock(&receiver.mu);
  EXPECT_EQ(receiver.ids.front(), "alert-m6-WARN");
}

// Replicas on one PostgreSQL database: one delivers at a time (the lease),
// every entry exactly once and in commit order whichever replica committed
// it, and when the holder goes another takes over from the saved cursor.
TEST_F(SiemDeliveryTest, ReplicasTakeTurnsDeliveringTheSharedOutbox) {
  plugin::ServerOptions where;
  ASSERT_THAT(::hijackguard::testing::UseStateBackend("postgres", dir_, &where),
              IsOk());
  auto open = [&]() -> std::unique_ptr<store::PostgresStore> {
    store::PostgresStoreOptions o;
    o.dsn = where.postgres.dsn;
    o.password = *store::pg::ReadPasswordFile(where.postgres.password_file);
    o.audit_key_file = where.audit_key_file;
    auto s = store::PostgresStore::Open(std::move(o));
    EXPECT_THAT(s.status(), IsOk());
    return s.ok() ? std::move(*s) : nullptr;
  };
  auto a = open();
  auto b = open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  StoreOutbox outbox_a(a.get());
  StoreOutbox outbox_b(b.get());
  Receiver receiver;
  auto lease = [](store::DurableStore* s) {
    s->WantOutboxLease();
    return [s] { return s->HoldsOutboxLease(); };
  };
  auto d_a = Start(&outbox_a, &receiver, 1000, 3, lease(a.get()));
  auto d_b = Start(&outbox_b, &receiver, 1000, 3, lease(b.get()));
  WaitFor([&] { return a->HoldsOutboxLease() || b->HoldsOutboxLease(); });
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_NE(a->HoldsOutboxLease(), b->HoldsOutboxLease());
  std::vector<std::string> expected;
  for (int i = 0; i < 12; ++i) {
    const std::string device = "dev" + std::to_string(i);
    Append(i % 2 ? *a : *b, {Alert(device, policy::Action::kWarn)});
    expected.push_back("alert-" + device + "-WARN");
  }
  WaitFor([&] {
    absl::MutexLock lock(&receiver.mu);
    return receiver.ids.size() >= expected.size();
  });
  {
    absl::MutexLock lock(&receiver.mu);
    EXPECT_EQ(receiver.ids, expected);
  }
  // The holder goes (its session ends); the other takes over.
  const bool a_held = a->HoldsOutboxLease();
  auto& gone_delivery = a_held ? d_a : d_b;
  auto& gone_store = a_held ? a : b;
  auto& stays = a_held ? b : a;
  gone_delivery.reset();
  gone_store.reset();
  Append(*stays, {Alert("after", policy::Action::kBlock)});
  expected.push_back("alert-after-BLOCK");
  WaitFor([&] {
    absl::MutexLock lock(&receiver.mu);
    return receiver.ids.size() >= expected.size();
  });
  EXPECT_TRUE(stays->HoldsOutboxLease());
  absl::MutexLock lock(&receiver.mu);
  EXPECT_EQ(receiver.ids, expected);
}

TEST(SiemConfigTest, ProblemsNameTheirField) {
  auto config = ParseServerConfig(R"({"siem": {"max_backlog": 5, "sinks": [
      {"name": "a", "type": "syslog", "address": "siem.example:6514"},
      {"name": "a", "type": "webhook", "url": "http://siem.example/x"},
      {"name": "c d", "type": "carrier-pigeon"},
      {"name": "e", "type": "webhook", "url": "https://u:p@siem.example/x",
       "header": "X Bad"},
      {"name": "f", "type": "syslog", "address": "no-port", "format": "json"}]}})",
                                  "test");
  ASSERT_FALSE(config.ok());
  const std::string m(config.status().message());
  EXPECT_THAT(m, HasSubstr("/siem/max_backlog"));
  EXPECT_THAT(m, HasSubstr("must be https:// for a receiver"));
  EXPECT_THAT(m, HasSubstr("/siem/sinks/3/url (line 5"));
  EXPECT_THAT(m, HasSubstr("/siem/sinks/3/header (line 6"));
  EXPECT_THAT(m, HasSubstr("/siem/sinks/4/address (line 7"));
  EXPECT_THAT(m, HasSubstr("/siem/sinks/0/tls (line 2"));
  EXPECT_THAT(m, HasSubstr("\"a\" names two sinks"));
  EXPECT_THAT(m, HasSubstr("/siem/sinks/1/url (line 3"));
  EXPECT_THAT(m, HasSubstr("/siem/sinks/2/name"));
  EXPECT_THAT(m, HasSubstr("/siem/sinks/2/type"));
  EXPECT_THAT(m, HasSubstr("must not hold credentials"));
  EXPECT_THAT(m, HasSubstr("must be a header name"));
  EXPECT_THAT(m, HasSubstr("needs token_file"));
  EXPECT_THAT(m, HasSubstr("\"no-port\" is not host:port"));
  EXPECT_THAT(m, HasSubstr("/siem/sinks/4/format"));
}

TEST(SiemConfigTest, ASinkOfEachKind) {
  auto config = ParseServerConfig(R"({"siem": {"pii": true, "sinks": [
      {"name": "qradar", "type": "syslog", "address": "127.0.0.1:514",
       "facility": 4},
      {"name": "splunk", "type": "webhook", "format": "splunk_hec",
       "url": "https://splunk.example:8088/services/collector/event",
       "token_file": "/etc/hg/hec.token", "retry_max_seconds": 30}]}})",
                                  "test");
  ASSERT_THAT(config.status(), IsOk());
  ASSERT_EQ(config->siem.sinks.size(), 2u);
  EXPECT_TRUE(config->siem.pii);
  EXPECT_EQ(config->siem.sinks[0].facility, 4);
  EXPECT_FALSE(config->siem.sinks[0].tls);
  EXPECT_EQ(config->siem.sinks[1].format, SinkConfig::Format::kSplunkHec);
  EXPECT_TRUE(config->siem.sinks[1].tls);
  EXPECT_EQ(config->siem.sinks[1].retry_max, absl::Seconds(30));
}

TEST(SiemEventTest, AddressesInReasonsArePseudonymized) {
  const Pseudonym p = [](std::string_view v) {
    return "<" + std::string(v.size(), '#') + ">";
  };
  EXPECT_EQ(PseudonymizeAddresses(
                "meeting in mailbox alice@example.com (organizer "
                "bob.smith+x@mail.example.org, the client sent a@b.co).",
                p),
            "meeting in mailbox <#################> (organizer "
            "<############################>, the client sent <######>).");
  EXPECT_EQ(PseudonymizeAddresses("no @ddress here, nor x@localhost", p),
            "no @ddress here, nor x@localhost");
  EXPECT_EQ(PseudonymizeAddresses("", p), "");
  EXPECT_EQ(
      PseudonymizeAddresses("organizer jos\xc3\xa9@ex\xc3\xa4mple.com.", p),
      "organizer <##################>.");
}

TEST(SiemEventTest, ReasonsNameTheDeviceAndUserOnlyByPseudonym) {
  policy::ComplianceAlert a;
  a.alert_id = "a-1";
  a.emitted_at = absl::FromUnixSeconds(1'800'000'000);
  a.trigger = "CHECK_IN";
  a.tenant_id = "acme";
  a.eas_device_id = "ApplSECRET123";
  a.mdm_device_id = "mdm-777";
  a.user_principal = "CORP\\alice";
  policy::Reason r;
  r.code = "EXEMPT";
  r.message =
      "Exempt (device ApplSECRET123, mdm-777) until 2027: CORP\\alice asked";
  a.reasons.push_back(r);
  auto e = ParseOutboxPayload(policy::AlertJson(a), [](std::string_view v) {
    return "p" + std::to_string(v.size());
  });
  ASSERT_THAT(e.status(), IsOk());
  EXPECT_EQ(e->reasons[0].message,
            "Exempt (device p13, p7) until 2027: p10 asked");
  // Whole words only, in any case; an address as a whole.
  a.reasons[0].message =
      "applsecret123 and ApplSECRET1234; mail ApplSECRET123@example.com";
  auto words = ParseOutboxPayload(policy::AlertJson(a), [](std::string_view v) {
    return "p" + std::to_string(v.size());
  });
  ASSERT_THAT(words.status(), IsOk());
  EXPECT_EQ(words->reasons[0].message, "p13 and ApplSECRET1234; mail p25");
  a.reasons[0].message = r.message;
  // siem.pii: as it is.
  auto clear = ParseOutboxPayload(
      policy::AlertJson(a), [](std::string_view v) { return std::string(v); });
  ASSERT_THAT(clear.status(), IsOk());
  EXPECT_EQ(clear->reasons[0].message, r.message);
}

}  // namespace
}  // namespace hijackguard::plugin::siem
