// The log lines of what the server decided and detected: a decision that
// changed a device's evaluated action (INFO; every other decision at DEBUG)
// and each detection event (INFO). Devices and users appear as pseudonyms
// (logging.pii: in clear), with the tenant, the decision id, and the
// caller's principal and trace id from the thread's RequestContext.
#pragma once

#include <optional>
#include <string_view>

#include "detector/traffic/observation.h"
#include "policy/engine.h"
#include "store/audit_key.h"

namespace hijackguard::plugin {

// Thread-safe. `pseudonym` must outlive it.
class EventLog {
 public:
  // `decision_log_sample`: the share of decisions (0 to 1) also written as a
  // `decision log` line with their input fingerprint and whole result (the
  // `decision_log` setting); nullopt: none.
  explicit EventLog(const store::Pseudonymizer* pseudonym,
                    std::optional<double> decision_log_sample = std::nullopt)
      : pseudonym_(pseudonym), decision_log_sample_(decision_log_sample) {}

  void Decision(const policy::DecisionNote& note) const;
  void Detection(const detector::DetectionEvent& event) const;

  // Whether the decision log keeps `decision_id` at `sample`: by a hash of
  // the id, so the same decision is kept or left out wherever it is asked.
  static bool Sampled(std::string_view decision_id, double sample);

 private:
  void DecisionLog(const policy::DecisionNote& note) const;

  const store::Pseudonymizer* pseudonym_;
  const std::optional<double> decision_log_sample_;
};

}  // namespace hijackguard::plugin
