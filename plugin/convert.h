// Conversion between API messages (hijackguard.v1) and domain types. The only
// place where proto messages meet detector/ and policy/ types.
#pragma once

#include "absl/time/time.h"
#include "detector/fingerprint.h"
#include "detector/traffic/traffic_detector.h"
#include "google/protobuf/timestamp.pb.h"
#include "hijackguard/v1/compliance_plugin.pb.h"
#include "hijackguard/v1/fingerprint.pb.h"
#include "policy/decision.h"

namespace hijackguard::plugin {

// What a check-in says of its device (detector::ToFingerprintInput maps
// these to the fingerprint's inputs: one mapping, not two).
detector::CheckInFacts ToCheckInFacts(const v1::CheckInRequest& request);

void ToProto(const detector::Fingerprint& fingerprint, v1::Fingerprint* out);

v1::Action ToProto(policy::Action action);

void ToProto(absl::Time time, google::protobuf::Timestamp* out);
absl::Time FromProto(const google::protobuf::Timestamp& timestamp);

}  // namespace hijackguard::plugin
