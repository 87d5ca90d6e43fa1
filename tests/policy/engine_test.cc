// The stateful engine: device history across decisions, edge-triggered
// alerts, policy swaps with compare-and-set, API exemptions.
#include "policy/engine.h"

#include <atomic>
#include <thread>

#include "detector/traffic/traffic_detector.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/evidence.h"
#include "tests/common/builtin_catalog.h"

namespace hijackguard::policy {
namespace {

// The evaluation of a decision that must succeed.
Evaluation Decided(absl::StatusOr<PolicyEngine::Decision> decision) {
  EXPECT_TRUE(decision.ok()) << decision.status();
  return decision.ok() ? std::move(decision->evaluation) : Evaluation();
}

StoreTicket DecidedTicket(absl::StatusOr<StoreTicket> ticket) {
  EXPECT_TRUE(ticket.ok()) << ticket.status();
  return ticket.ok() ? *ticket : 0;
}

using detector::EventKind;
using ::testing::HasSubstr;

std::shared_ptr<const detector::KnownIssueCatalog> Catalog() {
  return ::hijackguard::testing::BuiltinCatalog();
}

std::shared_ptr<const Policy> Parse(std::string_view json) {
  auto p = Policy::Parse(json, *Catalog(), nullptr);
  EXPECT_TRUE(p.ok()) << p.status();
  return *p;
}

// The detector as the engine's evidence (the server wires the same through
// plugin/DetectorEvidence; policy/ tests do not reach into plugin/).
class FromDetector : public EvidenceSource {
 public:
  explicit FromDetector(const detector::TrafficDetector* d) : detector_(d) {}
  absl::StatusOr<bool> Evidence(std::string_view tenant,
                                std::string_view device,
                                detector::DeviceEvidence* out) const override {
    return detector_->Evidence(tenant, device, out);
  }
  absl::StatusOr<std::optional<detector::CheckInFacts>> Facts(
      std::string_view tenant, std::string_view device) const override {
    return detector_->Facts(tenant, device);
  }

 private:
  const detector::TrafficDetector* detector_;
};

constexpr std::string_view kEnforce =
    R"json({"apiVersion": "hijackguard/v1", "mode": "enforce"})json";

struct Device {
  detector::CheckInFacts facts;
  detector::Fingerprint fp;
};

Device MakeDevice(std::string_view user_agent) {
  Device d;
  d.facts.tenant_id = "acme";
  d.facts.eas_device_id = "ApplDMPFXZABDFHW";
  d.facts.mdm_device_id = "mdm-1";
  d.facts.user_principal = "alice@example.com";
  d.facts.user_agent = std::string(user_agent);
  d.fp = detector::ComputeFingerprint(detector::ToFingerprintInput(d.facts));
  d.fp.known_issues = Catalog()->Match(d.fp);
  return d;
}

std::vector<ComplianceAlert> Drain(AlertSubscription& sub) {
  std::vector<ComplianceAlert> out;
  while (auto a = sub.Pop()) {
    out.push_back(std::move(*a));
  }
  return out;
}

TEST(PolicyEngineTest, AlertsOnlyWhenTheEvaluatedActionChanges) {
  FakeClock clock(absl::FromUnixSeconds(1'800'000'000));
  PolicyEngine engine(Catalog(), Parse(kEnforce), &clock, nullptr);
  std::atomic<int> notified{0};
  auto sub = engine.Subscribe("owner", "", [&] { ++notified; }).value();

  const Device fixed = MakeDevice("Apple-iPhone4C1/1001.523");
  const Device hijack = MakeDevice("Apple-iPhone4C1/1001.403");
  // First decision ALLOW: no alert (a new device counts as ALLOW).
  EXPECT_EQ(Decided(engine.DecideCheckIn(fixed.fp, fixed.facts, {}, "d1"))
                .enforced_action,
            Action::kAllow);
  EXPECT_TRUE(Drain(*sub).empty());
  // Downgrade to the hijack build: WARN, one alert; again: none.
  EXPECT_EQ(Decided(engine.DecideCheckIn(hijack.fp, hijack.facts, {}, "d2"))
                .enforced_action,
            Action::kWarn);
  Decided(engine.DecideCheckIn(hijack.fp, hijack.facts, {}, "d3"));
  std::vector<ComplianceAlert> alerts = Drain(*sub);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].old_action, Action::kAllow);
  EXPECT_EQ(alerts[0].new_action, Action::kWarn);
  EXPECT_EQ(alerts[0].decision_id, "d2");
  EXPECT_EQ(alerts[0].trigger, "CHECK_IN");
  EXPECT_EQ(alerts[0].sequence, 1u);
  EXPECT_EQ(alerts[0].user_principal, "alice@example.com");
  ASSERT_TRUE(alerts[0].user_alert.has_value());
  EXPECT_EQ(alerts[0].alert_id.size(), 36u);
  // The grace (72 h) ends: QUARANTINE, one alert.
  clock.Advance(absl::Hours(73));
  EXPECT_EQ(Decided(engine.DecideCheckIn(hijack.fp, hijack.facts, {}, "d4"))
                .enforced_action,
            Action::kQuarantine);
  // Upgrade: released, one alert.
  EXPECT_EQ(Decided(engine.DecideCheckIn(fixed.fp, fixed.facts, {}, "d5"))
                .enforced_action,
            Action::kAllow);
  alerts = Drain(*sub);
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].old_action, Action::kWarn);
  EXPECT_EQ(alerts[0].new_action, Action::kQuarantine);
  EXPECT_EQ(alerts[1].old_action, Action::kQuarantine);
  EXPECT_EQ(alerts[1].new_action, Action::kAllow);
  EXPECT_EQ(alerts[1].sequence, 3u);
  EXPECT_EQ(notified.load(), 3);
  EXPECT_EQ(engine.stats().alerts, 3u);
  EXPECT_EQ(engine.stats().devices, 1u);
}

// ViewDevice answers what the next check-in would get, from the recorded
// history, and changes nothing: no decision counted, no alert, no device
// remembered, the grace clock untouched.
TEST(PolicyEngineTest, ViewDeviceDecidesWithoutRecording) {
  FakeClock clock(absl::FromUnixSeconds(1'800'000'000));
  PolicyEngine engine(Catalog(), Parse(kEnforce), &clock, nullptr);
  auto sub = engine.Subscribe("owner", "", [] {}).value();
  const Device hijack = MakeDevice("Apple-iPhone4C1/1001.403");

  auto view = engine.ViewDevice(hijack.fp, hijack.facts, clock.Now());
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->evaluation.evaluated_action, Action::kWarn);
  EXPECT_EQ(view->last_action, Action::kAllow) << "never decided";
  EXPECT_EQ(engine.stats().decisions, 0u);
  EXPECT_EQ(engine.stats().devices, 0u);
  EXPECT_TRUE(Drain(*sub).empty());

  Decided(engine.DecideCheckIn(hijack.fp, hijack.facts, {}, "d1"));
  const absl::Time warned = clock.Now();
  Drain(*sub);
  clock.Advance(absl::Hours(73));
  view = engine.ViewDevice(hijack.fp, hijack.facts, clock.Now());
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->last_action, Action::kWarn);
  EXPECT_EQ(view->evaluation.evaluated_action, Action::kQuarantine)
      << "the grace that started at the check-in has run out";
  EXPECT_EQ(view->evaluation.history.warn_since, warned);
  EXPECT_TRUE(Drain(*sub).empty()) << "a view alerts nobody";
  EXPECT_EQ(engine.stats().decisions, 1u);
  // The next real decision still sees the WARN it recorded.
  ASSERT_TRUE(engine.DecideCheckIn(hijack.fp, hijack.facts, {}, "d2").ok());
  ASSERT_EQ(Drain(*sub).size(), 1u);
}

TEST(PolicyEngineTest, MonitorModeAlertsOnTheEvaluatedAction) {
  FakeClock clock(absl::FromUnixSeconds(1'800'000'000));
  PolicyEngine engine(Catalog(), Policy::Default(*Catalog()), &clock, nullptr);
  auto sub = engine.Subscribe("owner", "acme", nullptr).value();
  auto other = engine.Subscribe("owner", "globex", nullptr).value();
  const Device hijack = MakeDevice("Apple-iPhone4C1/1001.403");
  const Evaluation e =
      Decided(engine.DecideCheckIn(hijack.fp, hijack.facts, {}, "d"));
  EXPECT_EQ(e.enforced_action, Action::kAllow);
  EXPECT_EQ(e.evaluated_action, Action::kWarn);
  const std::vector<ComplianceAlert> alerts = Drain(*sub);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].new_action, Action::kWarn);
  EXPECT_EQ(alerts[0].enforced_action, Action::kAllow);
  EXPECT_EQ(alerts[0].mode, Mode::kMonitor);
  EXPECT_TRUE(Drain(*other).empty()) << "another tenant's subscriber";
}

TEST(PolicyEngineTest, TrafficEventsAlertWithoutACheckIn) {
  FakeClock clock(absl::FromUnixSeconds(1'800'000'000));
  detector::TrafficDetector detector(Catalog());
  FromDetector evidence(&detector);
  PolicyEngine engine(Catalog(), Parse(kEnforce), &clock, &evidence);
  auto sub = engine.Subscribe("owner", "", nullptr).value();

  detector::CalendarChangeView c;
  c.eas_device_id = "androidc123";
  c.user = "alice@example.com";
  c.collection_id = "2";
  c.server_id = "2:14";
  c.uid = "abc";
  c.organizer_email_before = "bob@example.com";
  c.organizer_email_after = "alice@example.com";
  c.meeting_status_before = 3;
  c.meeting_status_after = 1;
  c.attendee_count = 2;
  c.command = "Change";
  detector::ObservationView obs;
  obs.tenant_id = "acme";
  obs.sequence = 1;
  obs.observed_at = absl::FromUnixSeconds(1'350'000'000);  // an old trace
  obs.received_at = clock.Now();
  obs.calendar_change = &c;
  detector::ObserveResult result;
  detector.Observe(obs, &result);
  ASSERT_EQ(result.events.size(), 2u);
  DecidedTicket(engine.DecideAfterTraffic("acme", "androidc123"));
  std::vector<ComplianceAlert> alerts = Drain(*sub);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].trigger, "TRAFFIC");
  EXPECT_EQ(alerts[0].new_action, Action::kQuarantine);
  EXPECT_EQ(alerts[0].score, 100) << "evidence counts from when it arrived";
  // Unknown devices are ignored.
  DecidedTicket(engine.DecideAfterTraffic("acme", "nobody"));
  EXPECT_TRUE(Drain(*sub).empty());
  // Four weeks later the evidence has decayed: the next check-in releases.
  clock.Advance(absl::Hours(24 * 28));
  detector::CheckInFacts facts;
  facts.tenant_id = "acme";
  facts.eas_device_id = "androidc123";
  detector::Fingerprint fp;
  const Evaluation e = Decided(engine.DecideCheckIn(fp, facts, {}, "d"));
  EXPECT_EQ(e.enforced_action, Action::kAllow);
  EXPECT_NEAR(e.score, 120.0 / 16, 0.01);
  alerts = Drain(*sub);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].new_action, Action::kAllow);
}

TEST(PolicyEngineTest, SubscribersAreCappedAndEndedAtShutdown) {
  FakeClock clock(absl::FromUnixSeconds(1'800'000'000));
  EngineOptions options;
  options.alerts.max_subscribers = 3;
  options.alerts.max_subscribers_per_owner = 2;
  PolicyEngine engine(Catalog(), Parse(kEnforce), &clock, nullptr, options);
  auto a = engine.Subscribe("siem", "", nullptr);
  auto b = engine.Subscribe("siem", "", nullptr);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  auto third = engine.Subscribe("siem", "", nullptr);
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(),
              HasSubstr("alerts.max_subscribers_per_principal"));
  auto other = engine.Subscribe("console", "", nullptr);
  ASSERT_TRUE(other.ok()) << "another principal still gets a slot";
  auto full = engine.Subscribe("third", "", nullptr);
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  b->reset();  // a closed stream frees its place
  EXPECT_TRUE(engine.Subscribe("siem", "", nullptr).ok());
  engine.EndSubscriptions();
  EXPECT_TRUE((*a)->ended());
  int late_calls = 0;
  auto late = engine.Subscribe("siem", "", [&] { ++late_calls; });
  ASSERT_TRUE(late.ok());
  EXPECT_TRUE((*late)->ended()) << "subscribing during shutdown ends at once";
  EXPECT_EQ(late_calls, 0) << "without calling back into the subscriber";
}

TEST(PolicyEngineTest, AlertsOfConcurrentDecisionsArriveInSequence) {
  FakeClock clock(absl::FromUnixSeconds(1'800'000'000));
  PolicyEngine engine(Catalog(), Parse(kEnforce), &clock, nullptr);
  auto sub = engine.Subscribe("owner", "", nullptr).value();
  const Device hijack = MakeDevice("Apple-iPhone4C1/1001.403");
  const Device fixed = MakeDevice("Apple-iPhone4C1/1001.523");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        Device d = i % 2 ? fixed : hijack;  // every decision is an edge
        d.facts.eas_device_id = "dev" + std::to_string(t);
        Decided(engine.DecideCheckIn(d.fp, d.facts, {}, "x"));
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  const std::vector<ComplianceAlert> alerts = Drain(*sub);
  ASSERT_EQ(alerts.size(), 2000u);
  for (std::size_t i = 0; i < alerts.size(); ++i) {
    ASSERT_EQ(alerts[i].sequence, i + 1);
  }
}

TEST(PolicyEngineTest, ApplyIsCompareAndSet) {
  FakeClock clock(absl::FromUnixSeconds(1'800'000'000));
  const auto first = Policy::Default(*Catalog());
  PolicyEngine engine(Catalog(), first, &clock, nullptr);
  const auto second = Parse(kEnforce);
  EXPECT_EQ(engine.Apply(second, "0000").code(), absl::StatusCode::kAborted);
  EXPECT_EQ(engine.policy()->revision(), first->revision());
  ASSERT_TRUE(engine.Apply(second, first->revision(), "file:x").ok());
  EXPECT_EQ(engine.policy_info().origin, "file:x");
  EXPECT_EQ(engine.policy()->revision(), second->revision());
  ASSERT_TRUE(engine.Apply(first, "").ok());
  EXPECT_EQ(engine.stats().policy_swaps, 2u);
}

TEST(PolicyEngineTest, ApiExemptionsPutReplaceDelete) {
  FakeClock clock(absl::FromUnixSeconds(1'800'000'000));
  PolicyEngine engine(Catalog(), Parse(kEnforce), &clock, nullptr);
  const Device hijack = MakeDevice("Apple-iPhone4C1/1001.403");
  Exemption e;
  e.kind = Exemption::Kind::kUser;
  e.value = "ALICE@example.com";
  e.reason = "pilot";
  e.expires = clock.Now() + absl::Hours(1);
  e.tenant_id = "acme";
  ASSERT_TRUE(engine.PutExemption(e).ok());
  e.reason = "pilot, extended";
  e.expires = clock.Now() + absl::Hours(48);
  ASSERT_TRUE(engine.PutExemption(e).ok());
  ASSERT_EQ(engine.exemptions()->size(), 1u);
  const Exemption* stored = engine.exemptions()->List()[0];
  EXPECT_EQ(stored->id, "acme/user/alice@example.com");
  EXPECT_EQ(stored->reason, "pilot, extended");
  EXPECT_EQ(stored->source, "api");

  Evaluation d =
      Decided(engine.DecideCheckIn(hijack.fp, hijack.facts, {}, "d"));
  EXPECT_EQ(d.enforced_action, Action::kAllow);
  EXPECT_EQ(d.reasons[0].code, kReasonExempt);
  clock.Advance(absl::Hours(2));
  d = Decided(engine.DecideCheckIn(hijack.fp, hijack.facts, {}, "d"));
  EXPECT_EQ(d.enforced_action, Action::kAllow) << "extended to 48 h";

  // At the limit a renewal (same id) still works; a new one does not.
  {
    EngineOptions small;
    small.max_api_exemptions = 1;
    PolicyEngine limited(Catalog(), Parse(kEnforce), &clock, nullptr, small);
    ASSERT_TRUE(limited.PutExemption(e).ok());
    EXPECT_TRUE(limited.PutExemption(e).ok());
    Exemption other = e;
    other.value = "bob@example.com";
    EXPECT_EQ(limited.PutExemption(other).status().code(),
              absl::StatusCode::kResourceExhausted);
  }

  EXPECT_EQ(engine.DeleteExemption("acme/user/bob@example.com").code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(engine.DeleteExemption("acme/user/alice@example.com").ok());
  d = Decided(engine.DecideCheckIn(hijack.fp, hijack.facts, {}, "d"));
  EXPECT_EQ(d.enforced_action, Action::kWarn);
}

TEST(PolicyEngineTest, GroupsAndLocaleComeFromTheCheckIn) {
  FakeClock clock(absl::FromUnixSeconds(1'800'000'000));
  PolicyEngine engine(Catalog(), Parse(R"json({
    "apiVersion": "hijackguard/v1", "mode": "enforce",
    "exemptions": [{"kind": "group", "value": "Executives", "reason": "VIP",
                    "expires": "2030-01-01T00:00:00Z"}]})json"),
                      &clock, nullptr);
  const Device hijack = MakeDevice("Apple-iPhone4C1/1001.403");
  const std::vector<std::string> groups = {"staff", "executives"};
  Evaluation d = Decided(
      engine.DecideCheckIn(hijack.fp, hijack.facts, {groups, "de-AT"}, "d"));
  EXPECT_EQ(d.enforced_action, Action::kAllow);
  d = Decided(
      engine.DecideCheckIn(hijack.fp, hijack.facts, {{}, "de-AT"}, "d"));
  EXPECT_EQ(d.enforced_action, Action::kWarn);
  ASSERT_TRUE(d.user_alert.has_value());
  EXPECT_EQ(d.user_alert->locale, "de");
}

TEST(PolicyEngineTest, SwapsUnderConcurrentDecisions) {
  FakeClock clock(absl::FromUnixSeconds(1'800'000'000));
  const auto monitor = Policy::Default(*Catalog());
  const auto enforce = Parse(kEnforce);
  PolicyEngine engine(Catalog(), monitor, &clock, nullptr);
  const Device hijack = MakeDevice("Apple-iPhone4C1/1001.403");
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Device d = hijack;
      d.facts.eas_device_id = "dev" + std::to_string(t);
      while (!stop.load()) {
        const Evaluation e =
            Decided(engine.DecideCheckIn(d.fp, d.facts, {}, "x"));
        // Each decision is wholly under one policy.
        const bool is_enforce = e.policy_revision == enforce->revision();
        if (e.evaluated_action != Action::kWarn ||
            (is_enforce ? e.enforced_action != Action::kWarn
                        : e.enforced_action != Action::kAllow)) {
          ++bad;
        }
      }
    });
  }
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(engine.Apply(i % 2 ? monitor : enforce, "").ok());
  }
  stop = true;
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(bad.load(), 0);
}

TEST(AlertHubTest, QueuesAreBoundedInBytesAndInTotal) {
  // Alerts of about 10 KB each (a long reason), so that the byte bounds and
  // not the count decide.
  auto alert = [] {
    ComplianceAlert a;
    a.tenant_id = "acme";
    a.reasons.push_back(
        {kReasonBelowThreshold, std::string(10'000, 'r'), "", 0});
    return a;
  };
  const std::size_t bytes = AlertBytes(alert()) + 64;  // + the id it gets
  AlertLimits limits;
  limits.max_queue_bytes = 5 * bytes;
  limits.max_total_bytes = 8 * bytes;
  AlertHub hub(limits);
  auto a = hub.Subscribe("a", "", nullptr).value();
  auto b = hub.Subscribe("b", "", nullptr).value();
  for (int i = 0; i < 20; ++i) {
    hub.Publish(alert(), absl::FromUnixSeconds(1'800'000'000 + i));
  }
  EXPECT_LE(a->queued_bytes(), limits.max_queue_bytes);
  EXPECT_LE(b->queued_bytes(), limits.max_queue_bytes);
  EXPECT_LE(hub.total_bytes(), limits.max_total_bytes);
  EXPECT_GT(a->dropped() + b->dropped(), 0u);
  // What is left is the newest: the last sequence is 20, with a gap before.
  std::uint64_t last = 0;
  std::uint64_t first = 0;
  while (auto got = a->Pop()) {
    if (first == 0) first = got->sequence;
    last = got->sequence;
  }
  EXPECT_EQ(last, 20u);
  EXPECT_GT(first, 1u) << "the oldest were dropped";
  // A subscriber that goes gives its share back.
  b.reset();
  EXPECT_EQ(hub.total_bytes(), 0u) << "a was drained, b is gone";
}

}  // namespace
}  // namespace hijackguard::policy
