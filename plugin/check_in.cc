#include "plugin/check_in.h"

#include "common/status_macros.h"
#include "common/strings.h"
#include "common/uuid.h"
#include "detector/fingerprint.h"
#include "plugin/convert.h"
#include "plugin/policy_convert.h"
#include "plugin/validate.h"

namespace hijackguard::plugin {
namespace {

detector::CheckInFacts ToCheckInFacts(const v1::CheckInRequest& r) {
  detector::CheckInFacts f;
  f.tenant_id = r.tenant_id();
  f.eas_device_id = r.device().eas_device_id();
  f.mdm_device_id = r.device().mdm_device_id();
  f.user_principal = r.device().user_principal();
  f.primary_smtp_address = r.device().primary_smtp_address();
  f.user_agent = r.eas().user_agent();
  f.device_type = r.eas().device_type();
  f.device_os = r.eas().device_os();
  f.device_model = r.eas().device_model();
  f.protocol_version = r.eas().protocol_version();
  f.inventory_product_name = r.inventory().product_name();
  f.inventory_os_version = r.inventory().os_version();
  f.inventory_build_version = r.inventory().build_version();
  f.inventory_model_name = r.inventory().model_name();
  return f;
}

}  // namespace

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

  const detector::Fingerprint fp =
      detector::IdentifyDevice(ToFingerprintInput(request), *catalog_);
  const detector::CheckInFacts facts = ToCheckInFacts(request);
  policy::StoreTicket facts_ticket = 0;
  if (traffic_ != nullptr && !facts.eas_device_id.empty()) {
    facts_ticket = traffic_->RecordCheckIn(facts, now);
  }
  const std::string decision_id = NewUuidV7(now);
  const std::vector<std::string> groups(request.device().groups().begin(),
                                        request.device().groups().end());
  policy::StoreTicket decision_ticket = 0;
  absl::Status store_error;
  const policy::Evaluation evaluation =
      engine_->DecideCheckIn(fp, facts, {groups, request.locale()}, decision_id,
                             now, &decision_ticket, &store_error);
  if (!store_error.ok()) {
    return absl::UnavailableError(StrCat("the device's state cannot be read: ",
                                         std::string(store_error.message())));
  }
  if (ticket != nullptr) {
    *ticket = std::max(facts_ticket, decision_ticket);
  }
  if (listener_ && !facts.eas_device_id.empty()) {
    listener_(facts.tenant_id, facts.eas_device_id);
  }

  response->set_decision_id(decision_id);
  ToProto(fp, response->mutable_fingerprint());
  ToProto(evaluation, response);
  ToProto(now, response->mutable_decided_at());
  ToProto(now + options_.decision_validity, response->mutable_valid_until());
  return absl::OkStatus();
}

void FingerprintCheckIn(const detector::KnownIssueCatalog& catalog,
                        const v1::CheckInRequest& request,
                        v1::Fingerprint* fingerprint) {
  ToProto(detector::IdentifyDevice(ToFingerprintInput(request), catalog),
          fingerprint);
}

}  // namespace hijackguard::plugin
