// Decision evaluation (policy::Evaluate) under the issue's load: 10,000
// exemptions in force and 50 detection events on the device. Target: at most
// 2 microseconds per decision.
#include <benchmark/benchmark.h>

#include "common/strings.h"
#include "detector/fingerprint.h"
#include "detector/known_issues.h"
#include "policy/evaluate.h"

namespace hijackguard {
namespace {

const detector::KnownIssueCatalog& Catalog() {
  static const auto* catalog =
      new detector::KnownIssueCatalog(*detector::KnownIssueCatalog::Builtin());
  return *catalog;
}

struct Setup {
  std::shared_ptr<const policy::Policy> policy;
  policy::ExemptionIndex exemptions;
  detector::Fingerprint fp;
  std::vector<policy::EvidenceEvent> events;
  std::vector<std::string> groups = {"staff", "sales-emea", "vpn-users"};
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
};

// `policy_exemptions` in the document, the rest through the API.
Setup MakeSetup(int exemptions, int events, bool enforce) {
  Setup s;
  std::string doc =
      StrCat(R"({"apiVersion": "hijackguard/v1", "mode": ")",
             enforce ? "enforce" : "monitor", R"(", "exemptions": [)");
  std::vector<policy::Exemption> api;
  for (int i = 0; i < exemptions; ++i) {
    const char* kind = i % 3 == 0 ? "user" : i % 3 == 1 ? "device" : "group";
    const std::string value =
        i % 3 == 0 ? StrCat("user", i, "@example.com") : StrCat("value-", i);
    if (i % 2 == 0) {
      StrAppend(&doc, i == 0 ? "" : ",", R"({"kind": ")", kind,
                R"(", "value": ")", value,
                R"(", "reason": "bench", "expires": "2030-01-01T00:00:00Z"})");
    } else {
      policy::Exemption e;
      e.kind = *policy::ParseExemptionKind(kind);
      e.value = value;
      e.reason = "bench";
      e.expires = s.now + absl::Hours(1000);
      e.tenant_id = "bench-tenant";
      e.source = "api";
      e.id = policy::ExemptionId(e.tenant_id, e.kind, e.value);
      api.push_back(std::move(e));
    }
  }
  StrAppend(&doc, "]}");
  auto parsed = policy::Policy::Parse(doc, Catalog(), nullptr);
  if (!parsed.ok()) {
    std::abort();
  }
  s.policy = *parsed;
  s.exemptions = policy::ExemptionIndex(std::move(api));
  s.fp = detector::ComputeFingerprint(
      {.user_agent = "Apple-iPhone4C1/1001.403", .device_type = "iPhone"});
  s.fp.known_issues = Catalog().Match(s.fp);
  const detector::EventKind kinds[] = {
      detector::EventKind::kOrganizerRewrite,
      detector::EventKind::kOwnershipClaim,
      detector::EventKind::kAttendeeCancel,
      detector::EventKind::kSuspectedSelfOrganizer,
      detector::EventKind::kOrganizerNameChange};
  for (int i = 0; i < events; ++i) {
    const absl::Time at = s.now - absl::Hours(24 * 60) * (i + 1) / events;
    s.events.push_back({kinds[i % 5], 2 + i % 30, at, at});
  }
  return s;
}

void RunEvaluate(benchmark::State& state, bool enforce) {
  const Setup s = MakeSetup(static_cast<int>(state.range(0)),
                            static_cast<int>(state.range(1)), enforce);
  policy::EvaluationInput in;
  in.policy = s.policy.get();
  in.fingerprint = &s.fp;
  in.events = s.events;
  in.subject.tenant_id = "bench-tenant";
  in.subject.eas_device_id = "ApplDMPFXZABDFHW";
  in.subject.mdm_device_id = "mdm-123456";
  in.subject.user_principal = "Alice.Example@example.com";
  in.subject.primary_smtp_address = "alice@example.com";
  in.subject.groups = s.groups;
  in.subject.locale = "de-CH";
  in.exemptions = &s.exemptions;
  in.now = s.now;
  for (auto _ : state) {
    benchmark::DoNotOptimize(policy::Evaluate(in));
  }
}

// Args: exemptions, events.
void BM_Evaluate(benchmark::State& state) { RunEvaluate(state, true); }
BENCHMARK(BM_Evaluate)
    ->Args({0, 0})
    ->Args({0, 50})
    ->Args({10'000, 0})
    ->Args({10'000, 50})
    ->Args({10'000, 1000});

void BM_EvaluateMonitor(benchmark::State& state) { RunEvaluate(state, false); }
BENCHMARK(BM_EvaluateMonitor)->Args({10'000, 50});

}  // namespace
}  // namespace hijackguard

BENCHMARK_MAIN();
