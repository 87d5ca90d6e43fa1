#include "plugin/check_in.h"

#include "common/status_macros.h"
#include "common/strings.h"
#include "common/uuid.h"
#include "detector/fingerprint.h"
#include "plugin/convert.h"
#include "plugin/policy_convert.h"
#include "plugin/validate.h"

namespace hijackguard::plugin {

CheckInHandler::CheckInHandler(
    std::shared_ptr<const detector::KnownIssueCatalog> catalog,
    const Clock* clock, CheckInOptions options, policy::PolicyEngine* engine,
    detector::TrafficDetector* traffic)
    : catalog_(std::move(catalog)),
      clock_(clock),
      options_(options),
      engine_(engine),
      traffic_(traffic) {}

absl::Status CheckInHandler::CheckIn(const v1::CheckInRequest& request,
                                     v1::CheckInResponse* response,
                                     policy::StoreTicket* ticket) const {
  RETURN_IF_ERROR(ValidateCheckInRequest(request));
  const absl::Time now = clock_->Now();

  const detector::CheckInFacts facts = ToCheckInFacts(request);
  const detector::Fingerprint fp =
      detector::IdentifyDevice(detector::ToFingerprintInput(facts), *catalog_);
  policy::StoreTicket facts_ticket = 0;
  if (traffic_ != nullptr && !facts.eas_device_id.empty()) {
    facts_ticket = traffic_->RecordCheckIn(facts, now);
  }
  const std::string decision_id = NewUuidV7(now);
  const std::vector<std::string> groups(request.device().groups().begin(),
                                        request.device().groups().end());
  ASSIGN_OR_RETURN(policy::PolicyEngine::Decision decision,
                   engine_->DecideCheckIn(fp, facts, {groups, request.locale()},
                                          decision_id, now));
  if (ticket != nullptr) {
    *ticket = std::max(facts_ticket, decision.ticket);
  }
  if (listener_ && !facts.eas_device_id.empty()) {
    listener_(facts.tenant_id, facts.eas_device_id,
              facts_ticket != 0 || decision.submitted);
  }

  response->set_decision_id(decision_id);
  ToProto(fp, response->mutable_fingerprint());
  ToProto(decision.evaluation, response);
  ToProto(now, response->mutable_decided_at());
  ToProto(now + options_.decision_validity, response->mutable_valid_until());
  return absl::OkStatus();
}

void FingerprintCheckIn(const detector::KnownIssueCatalog& catalog,
                        const v1::CheckInRequest& request,
                        v1::Fingerprint* fingerprint) {
  const detector::CheckInFacts facts = ToCheckInFacts(request);
  ToProto(
      detector::IdentifyDevice(detector::ToFingerprintInput(facts), catalog),
      fingerprint);
}

}  // namespace hijackguard::plugin
