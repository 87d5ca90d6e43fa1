// Fuzz target: policy documents. Parsing must never throw or crash; a
// rejection lists at least one problem, each with a pointer and a message;
// an accepted policy decides for a hijack-build device in every tenant and
// locale with a score in [0, 100] and an enforced action no stricter than
// the evaluated one.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "detector/known_issues.h"
#include "policy/evaluate.h"
#include "policy/policy.h"
#include "tests/common/builtin_catalog.h"

namespace {

const hijackguard::detector::KnownIssueCatalog& Catalog() {
  return *hijackguard::testing::BuiltinCatalog();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace hijackguard;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<policy::PolicyProblem> problems;
  auto parsed = policy::Policy::Parse(input, Catalog(), &problems);
  if (!parsed.ok()) {
    if (problems.empty()) {
      std::abort();
    }
    for (const policy::PolicyProblem& p : problems) {
      if (p.pointer.empty() || p.pointer[0] != '/' || p.message.empty()) {
        std::abort();
      }
    }
    return 0;
  }
  static detector::Fingerprint fp = [] {
    detector::Fingerprint f = detector::ComputeFingerprint(
        {.user_agent = "Apple-iPhone4C1/1001.403"});
    f.known_issues = Catalog().Match(f);
    return f;
  }();
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  const std::vector<policy::EvidenceEvent> events = {
      {detector::EventKind::kOrganizerRewrite, 12, now, now},
      {detector::EventKind::kAttendeeCancel, 60, now - absl::Hours(30),
       now - absl::Hours(30)}};
  for (std::string_view tenant : {"acme", "other"}) {
    for (std::string_view locale : {"", "de", "pt-br", "ja"}) {
      policy::EvaluationInput in;
      in.policy = parsed->get();
      in.fingerprint = &fp;
      in.events = events;
      in.subject.tenant_id = tenant;
      in.subject.eas_device_id = "ApplDMPFXZABDFHW";
      in.subject.user_principal = "alice@example.com";
      in.subject.locale = locale;
      in.history.warn_since = now - absl::Hours(100);
      in.now = now;
      const policy::Evaluation e = policy::Evaluate(in);
      if (!(e.score >= 0 && e.score <= 100) ||
          e.evaluated_action < e.enforced_action) {
        std::abort();
      }
    }
  }
  return 0;
}
