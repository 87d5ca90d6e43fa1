#include "plugin/validate.h"

#include <string_view>

#include "common/status_macros.h"
#include "common/strings.h"
#include "detector/eas/request.h"

namespace hijackguard::plugin {
namespace {

// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range proto3 JSON can
// represent.
constexpr std::int64_t kMinTimestampSeconds = -62135596800;
constexpr std::int64_t kMaxTimestampSeconds = 253402300799;

absl::Status FieldError(std::string_view field, std::string_view problem) {
  return absl::InvalidArgumentError(StrCat(field, ": ", problem));
}

absl::Status CheckLength(std::string_view field, const std::string& value,
                         std::size_t limit) {
  if (value.size() > limit) {
    return FieldError(
        field,
        StrCat(value.size(), " bytes exceeds the limit of ", limit, " bytes"));
  }
  return absl::OkStatus();
}

bool IsTenantChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-';
}

absl::Status CheckTenantImpl(const std::string& tenant) {
  if (tenant.empty()) {
    return FieldError("tenant_id", "is required");
  }
  RETURN_IF_ERROR(CheckLength("tenant_id", tenant, kMaxTenantIdBytes));
  for (std::size_t i = 0; i < tenant.size(); ++i) {
    if (!IsTenantChar(tenant[i])) {
      return FieldError("tenant_id",
                        StrCat("character at offset ", i,
                               " is not one of A-Z a-z 0-9 . _ : -"));
    }
  }
  return absl::OkStatus();
}

// "" or "<1-2 digits>.<1-2 digits>".
absl::Status CheckProtocolVersion(const std::string& v) {
  if (!v.empty() && !detector::eas::IsProtocolVersionText(v)) {
    return FieldError("eas.protocol_version", "must look like \"14.1\"");
  }
  return absl::OkStatus();
}

}  // namespace

constexpr int kMaxGroups = 64;

// Empty, or a BCP 47-like tag: letters, digits, '-' and '_', at most 35.
absl::Status CheckLocale(const std::string& locale) {
  if (locale.size() > 35) {
    return FieldError("locale", "is longer than 35 characters");
  }
  for (std::size_t i = 0; i < locale.size(); ++i) {
    const char c = locale[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '_')) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      const auto b = static_cast<unsigned char>(c);
      return FieldError(
          "locale",
          StrCat("has byte 0x", std::string{kHex[b >> 4], kHex[b & 15]},
                 " at offset ", i,
                 "; a language tag such as \"de-CH\" is expected"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateCheckInRequest(const v1::CheckInRequest& r) {
  RETURN_IF_ERROR(CheckTenantImpl(r.tenant_id()));

  const v1::DeviceIdentity& d = r.device();
  if (d.mdm_device_id().empty() && d.eas_device_id().empty()) {
    return FieldError(
        "device",
        "one of device.mdm_device_id and device.eas_device_id is required");
  }
  RETURN_IF_ERROR(
      CheckLength("device.mdm_device_id", d.mdm_device_id(), kMaxFieldBytes));
  RETURN_IF_ERROR(
      CheckLength("device.eas_device_id", d.eas_device_id(), kMaxFieldBytes));
  RETURN_IF_ERROR(
      CheckLength("device.user_principal", d.user_principal(), kMaxFieldBytes));
  RETURN_IF_ERROR(CheckLength("device.primary_smtp_address",
                              d.primary_smtp_address(), kMaxFieldBytes));
  if (d.groups_size() > kMaxGroups) {
    return FieldError("device.groups",
                      StrCat("has ", d.groups_size(), " entries; at most ",
                             kMaxGroups, " are allowed"));
  }
  for (int g = 0; g < d.groups_size(); ++g) {
    RETURN_IF_ERROR(CheckLength(StrCat("device.groups[", g, "]"), d.groups(g),
                                kMaxFieldBytes));
  }
  RETURN_IF_ERROR(CheckLocale(r.locale()));

  const v1::EasClient& e = r.eas();
  RETURN_IF_ERROR(
      CheckLength("eas.user_agent", e.user_agent(), kMaxUserAgentBytes));
  RETURN_IF_ERROR(
      CheckLength("eas.device_type", e.device_type(), kMaxFieldBytes));
  RETURN_IF_ERROR(CheckLength("eas.device_os", e.device_os(), kMaxFieldBytes));
  RETURN_IF_ERROR(
      CheckLength("eas.device_model", e.device_model(), kMaxFieldBytes));
  RETURN_IF_ERROR(
      CheckLength("eas.friendly_name", e.friendly_name(), kMaxFieldBytes));
  RETURN_IF_ERROR(CheckProtocolVersion(e.protocol_version()));

  const v1::MdmInventory& i = r.inventory();
  RETURN_IF_ERROR(
      CheckLength("inventory.product_name", i.product_name(), kMaxFieldBytes));
  RETURN_IF_ERROR(
      CheckLength("inventory.os_version", i.os_version(), kMaxFieldBytes));
  RETURN_IF_ERROR(CheckLength("inventory.build_version", i.build_version(),
                              kMaxFieldBytes));
  RETURN_IF_ERROR(
      CheckLength("inventory.model_name", i.model_name(), kMaxFieldBytes));

  if (r.has_checked_in_at()) {
    const auto& t = r.checked_in_at();
    if (t.seconds() < kMinTimestampSeconds ||
        t.seconds() > kMaxTimestampSeconds) {
      return FieldError("checked_in_at.seconds",
                        "is outside 0001-01-01 to 9999-12-31");
    }
    if (t.nanos() < 0 || t.nanos() > 999999999) {
      return FieldError("checked_in_at.nanos", "must be within 0..999999999");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTenantId(const std::string& tenant_id) {
  return CheckTenantImpl(tenant_id);
}

}  // namespace hijackguard::plugin
