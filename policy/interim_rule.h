// The interim check-in rule, in force until the policy engine lands (it takes
// this over): a device whose build has a *confirmed* organizer-hijack issue
// gets WARN with an alert telling the user what to do; every other device gets
// ALLOW. Other matched issues, fingerprint disagreements and unknown builds are
// reported as informational reasons.
#pragma once

#include "detector/fingerprint.h"
#include "detector/traffic/observation.h"
#include "policy/decision.h"

namespace hijackguard::policy {

// Pure function of the fingerprint (whose known_issues must already be
// matched). Thread-safe.
Decision DecideFromFingerprint(const detector::Fingerprint& fingerprint);

// The interim rule with traffic evidence: a device with a confirmed detection
// event (ORGANIZER_REWRITE, OWNERSHIP_CLAIM, ATTENDEE_CANCEL) is quarantined,
// with a reason citing each event in `events` (the first few of `total`);
// otherwise as DecideFromFingerprint.
Decision DecideWithTraffic(const detector::Fingerprint& fingerprint,
                           const std::vector<detector::DetectionEvent>& events,
                           std::size_t total);

}  // namespace hijackguard::policy
