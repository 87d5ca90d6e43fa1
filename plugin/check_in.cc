#include "plugin/check_in.h"

#include "common/status_macros.h"
#include "common/uuid.h"
#include "detector/fingerprint.h"
#include "plugin/convert.h"
#include "plugin/validate.h"
#include "policy/interim_rule.h"

namespace hijackguard::plugin {
namespace {

// Events cited one by one in a check-in's reasons; more are counted.
constexpr std::size_t kMaxEventReasons = 5;

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
    const Clock* clock, CheckInOptions options,
    detector::TrafficDetector* traffic)
    : catalog_(std::move(catalog)),
      clock_(clock),
      options_(options),
      traffic_(traffic) {}

absl::Status CheckInHandler::CheckIn(const v1::CheckInRequest& request,
                                     v1::CheckInResponse* response) const {
  RETURN_IF_ERROR(ValidateCheckInRequest(request));
  const absl::Time now = clock_->Now();

  detector::Fingerprint fp =
      detector::ComputeFingerprint(ToFingerprintInput(request));
  fp.known_issues = catalog_->Match(fp);
  policy::Decision decision;
  const std::string& eas_device_id = request.device().eas_device_id();
  if (traffic_ != nullptr && !eas_device_id.empty()) {
    traffic_->RecordCheckIn(ToCheckInFacts(request));
    std::size_t total = 0;
    const std::vector<detector::DetectionEvent> events =
        traffic_->ConfirmedEvents(request.tenant_id(), eas_device_id,
                                  kMaxEventReasons, &total);
    decision = policy::DecideWithTraffic(fp, events, total);
  } else {
    decision = policy::DecideFromFingerprint(fp);
  }

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
