#include "plugin/check_in.h"

#include "common/status_macros.h"
#include "common/uuid.h"
#include "detector/fingerprint.h"
#include "plugin/convert.h"
#include "plugin/validate.h"
#include "policy/interim_rule.h"

namespace hijackguard::plugin {

CheckInHandler::CheckInHandler(
    std::shared_ptr<const detector::KnownIssueCatalog> catalog,
    const Clock* clock, CheckInOptions options)
    : catalog_(std::move(catalog)), clock_(clock), options_(options) {}

absl::Status CheckInHandler::CheckIn(const v1::CheckInRequest& request,
                                     v1::CheckInResponse* response) const {
  RETURN_IF_ERROR(ValidateCheckInRequest(request));
  const absl::Time now = clock_->Now();

  detector::Fingerprint fp =
      detector::ComputeFingerprint(ToFingerprintInput(request));
  fp.known_issues = catalog_->Match(fp);
  const policy::Decision decision = policy::DecideFromFingerprint(fp);

  response->set_decision_id(NewUuidV7(now));
  ToProto(fp, response->mutable_fingerprint());
  ToProto(decision, response);
  ToProto(now, response->mutable_decided_at());
  ToProto(now + options_.decision_validity, response->mutable_valid_until());
  return absl::OkStatus();
}

void CheckInHandler::Fingerprint(const v1::CheckInRequest& request,
                                 v1::Fingerprint* fingerprint) const {
  detector::Fingerprint fp =
      detector::ComputeFingerprint(ToFingerprintInput(request));
  fp.known_issues = catalog_->Match(fp);
  ToProto(fp, fingerprint);
}

}  // namespace hijackguard::plugin
