#include "plugin/convert.h"

#include "detector/known_issues.h"

namespace hijackguard::plugin {
namespace {

v1::Platform ToProto(detector::Platform p) {
  switch (p) {
    case detector::Platform::kUnknown:
      return v1::PLATFORM_UNKNOWN;
    case detector::Platform::kIos:
      return v1::PLATFORM_IOS;
    case detector::Platform::kAndroid:
      return v1::PLATFORM_ANDROID;
    case detector::Platform::kWindowsPhone:
      return v1::PLATFORM_WINDOWS_PHONE;
    case detector::Platform::kOutlookMobile:
      return v1::PLATFORM_OUTLOOK_MOBILE;
    case detector::Platform::kOther:
      return v1::PLATFORM_OTHER;
  }
  return v1::PLATFORM_UNKNOWN;
}

v1::FingerprintSource ToProto(detector::FingerprintSource s) {
  switch (s) {
    case detector::FingerprintSource::kUserAgent:
      return v1::FINGERPRINT_SOURCE_USER_AGENT;
    case detector::FingerprintSource::kDeviceOs:
      return v1::FINGERPRINT_SOURCE_DEVICE_OS;
    case detector::FingerprintSource::kDeviceType:
      return v1::FINGERPRINT_SOURCE_DEVICE_TYPE;
    case detector::FingerprintSource::kDeviceModel:
      return v1::FINGERPRINT_SOURCE_DEVICE_MODEL;
    case detector::FingerprintSource::kInventory:
      return v1::FINGERPRINT_SOURCE_INVENTORY;
  }
  return v1::FINGERPRINT_SOURCE_UNSPECIFIED;
}

v1::Confidence ToProto(detector::Confidence c) {
  switch (c) {
    case detector::Confidence::kSuspected:
      return v1::CONFIDENCE_SUSPECTED;
    case detector::Confidence::kReported:
      return v1::CONFIDENCE_REPORTED;
    case detector::Confidence::kConfirmed:
      return v1::CONFIDENCE_CONFIRMED;
  }
  return v1::CONFIDENCE_UNSPECIFIED;
}

void ToProto(const detector::KnownIssueMatch& m, v1::KnownIssue* out) {
  const detector::KnownIssue& issue = *m.issue;
  out->set_id(issue.id);
  out->set_title(issue.title);
  out->set_confidence(ToProto(m.confidence));
  if (issue.fixed_in) {
    out->set_fixed_in(issue.fixed_in->ToString());
  }
  for (const std::string& ref : issue.references) {
    out->add_references(ref);
  }
  out->set_fix_note(issue.fix_note);
  out->set_category(issue.category);
  out->set_matched_by(m.matched_by);
  out->set_remediation(issue.remediation);
}

}  // namespace

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

void ToProto(const detector::Fingerprint& fp, v1::Fingerprint* out) {
  out->set_platform(ToProto(fp.platform));
  if (fp.os_version) {
    out->set_os_version(fp.os_version->ToString());
  }
  if (fp.build) {
    out->set_build(fp.build->ToString());
  }
  out->set_model_code(fp.model_code);
  out->set_model_name(fp.model_name);
  out->set_eas_build(fp.eas_build);
  for (detector::FingerprintSource s : fp.sources) {
    out->add_sources(ToProto(s));
  }
  out->set_consistent(fp.consistent());
  for (const detector::Disagreement& d : fp.disagreements) {
    v1::Disagreement* pd = out->add_disagreements();
    pd->set_field(d.field);
    for (const detector::SourcedValue& v : d.values) {
      v1::SourcedValue* pv = pd->add_values();
      pv->set_source(ToProto(v.source));
      pv->set_value(v.value);
    }
    pd->set_explanation(d.explanation);
  }
  for (const detector::KnownIssueMatch& m : fp.known_issues) {
    ToProto(m, out->add_known_issues());
  }
  out->set_os_major_version(fp.os_major_version.value_or(0));
  out->set_os_train(fp.os_train);
  out->set_build_in_catalog(fp.build_in_catalog);
  out->set_device_family(
      std::string(detector::AppleDeviceFamilyName(fp.device_family)));
  v1::ClientApp* client = out->mutable_client();
  client->set_family(fp.client_family);
  client->set_version(fp.client_version);
  client->set_raw_user_agent(fp.raw_user_agent);
  out->set_protocol_version(fp.protocol_version);
  for (const std::string& note : fp.notes) {
    out->add_notes(note);
  }
}

v1::Action ToProto(policy::Action action) {
  switch (action) {
    case policy::Action::kAllow:
      return v1::ACTION_ALLOW;
    case policy::Action::kWarn:
      return v1::ACTION_WARN;
    case policy::Action::kQuarantine:
      return v1::ACTION_QUARANTINE;
    case policy::Action::kBlock:
      return v1::ACTION_BLOCK;
  }
  return v1::ACTION_UNSPECIFIED;
}

void ToProto(absl::Time time, google::protobuf::Timestamp* out) {
  // ToUnixSeconds rounds toward the past, so nanos is always within [0, 1e9).
  const std::int64_t seconds = absl::ToUnixSeconds(time);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<std::int32_t>(
      absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

}  // namespace hijackguard::plugin
