// The log lines of what the server decided and detected: a decision that
// changed a device's evaluated action (INFO; every other decision at DEBUG)
// and each detection event (INFO). Devices and users appear as pseudonyms
// (logging.pii: in clear), with the tenant, the decision id, and the
// caller's principal and trace id from the thread's RequestContext.
#pragma once

#include "detector/traffic/observation.h"
#include "policy/engine.h"
#include "store/audit_key.h"

namespace hijackguard::plugin {

// Thread-safe. `pseudonym` must outlive it.
class EventLog {
 public:
  explicit EventLog(const store::Pseudonymizer* pseudonym)
      : pseudonym_(pseudonym) {}

  void Decision(const policy::DecisionNote& note) const;
  void Detection(const detector::DetectionEvent& event) const;

 private:
  const store::Pseudonymizer* pseudonym_;
};

}  // namespace hijackguard::plugin
