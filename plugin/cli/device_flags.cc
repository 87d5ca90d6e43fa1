#include "plugin/cli/device_flags.h"

#include <iostream>
#include <span>
#include <utility>

#include "common/utf8.h"

namespace hijackguard::plugin::cli {

void DeviceFlags::Register(CLI::App* c) {
  c->add_option("--user-agent", user_agent,
                "EAS User-Agent, e.g. Apple-iPhone4C1/1001.403")
      ->group("Device (EAS)");
  c->add_option("--device-os", device_os,
                "EAS DeviceOS, e.g. \"iOS 6.0 10A403\"")
      ->group("Device (EAS)");
  c->add_option("--device-type", device_type, "EAS DeviceType, e.g. iPhone")
      ->group("Device (EAS)");
  c->add_option("--model", model, "EAS Model, e.g. iPhone4C1")
      ->group("Device (EAS)");
  c->add_option("--protocol-version", protocol_version,
                "MS-ASProtocolVersion, e.g. 14.1")
      ->group("Device (EAS)");
  c->add_option("--friendly-name", friendly_name, "EAS FriendlyName")
      ->group("Device (EAS)");
  c->add_option("--product", product,
                "MDM inventory product name, e.g. iPhone4,1")
      ->group("Device (MDM inventory)");
  c->add_option("--os-version", os_version,
                "MDM inventory OS version, e.g. 6.0.1")
      ->group("Device (MDM inventory)");
  c->add_option("--build", build, "MDM inventory build, e.g. 10A523")
      ->group("Device (MDM inventory)");
  c->add_option("--model-name", model_name,
                "MDM inventory model name, e.g. \"iPhone 4S\"")
      ->group("Device (MDM inventory)");
}

namespace {

// The first flag whose value is not valid UTF-8, or "".
std::string FirstInvalidUtf8(
    std::span<const std::pair<const char*, const std::string*>> flags) {
  for (const auto& [name, value] : flags) {
    if (!IsValidUtf8(*value)) {
      return name;
    }
  }
  return "";
}

}  // namespace

std::string DeviceFlags::FirstInvalidUtf8Flag() const {
  const std::pair<const char*, const std::string*> flags[] = {
      {"--user-agent", &user_agent},
      {"--device-os", &device_os},
      {"--device-type", &device_type},
      {"--model", &model},
      {"--protocol-version", &protocol_version},
      {"--friendly-name", &friendly_name},
      {"--product", &product},
      {"--os-version", &os_version},
      {"--build", &build},
      {"--model-name", &model_name},
  };
  return FirstInvalidUtf8(flags);
}

void DeviceFlags::Apply(v1::CheckInRequest* r) const {
  v1::EasClient* eas = r->mutable_eas();
  eas->set_user_agent(user_agent);
  eas->set_device_os(device_os);
  eas->set_device_type(device_type);
  eas->set_device_model(model);
  eas->set_protocol_version(protocol_version);
  eas->set_friendly_name(friendly_name);
  v1::MdmInventory* inv = r->mutable_inventory();
  inv->set_product_name(product);
  inv->set_os_version(os_version);
  inv->set_build_version(build);
  inv->set_model_name(model_name);
}

void IdentityFlags::Register(CLI::App* c, const std::string& tenant_help) {
  c->add_option("--tenant", tenant, tenant_help);
  c->add_option("--device-id", device_id,
                "EAS DeviceId, e.g. ApplDMPFXZABDFHW");
  c->add_option("--mdm-device-id", mdm_device_id, "The MDM's device id");
  c->add_option("--user", user, "User principal name");
  c->add_option("--smtp", smtp, "Primary SMTP address of the mailbox");
  c->add_option("--locale", locale,
                "The user's language for the alert, e.g. de-CH");
  c->add_option("--group", groups, "A group of the user (repeatable)");
}

std::string IdentityFlags::FirstInvalidUtf8Flag() const {
  const std::pair<const char*, const std::string*> flags[] = {
      {"--tenant", &tenant},
      {"--device-id", &device_id},
      {"--mdm-device-id", &mdm_device_id},
      {"--user", &user},
      {"--smtp", &smtp},
      {"--locale", &locale},
  };
  if (std::string name = FirstInvalidUtf8(flags); !name.empty()) {
    return name;
  }
  for (const std::string& g : groups) {
    if (!IsValidUtf8(g)) {
      return "--group";
    }
  }
  return "";
}

void IdentityFlags::Apply(v1::CheckInRequest* r) const {
  r->set_tenant_id(tenant);
  v1::DeviceIdentity* d = r->mutable_device();
  d->set_eas_device_id(device_id);
  d->set_mdm_device_id(mdm_device_id);
  d->set_user_principal(user);
  d->set_primary_smtp_address(smtp);
  for (const std::string& g : groups) {
    d->add_groups(g);
  }
  r->set_locale(locale);
}

bool CheckUtf8Flags(const DeviceFlags& device, const IdentityFlags& identity) {
  std::string bad = device.FirstInvalidUtf8Flag();
  if (bad.empty()) {
    bad = identity.FirstInvalidUtf8Flag();
  }
  if (!bad.empty()) {
    std::cerr << "error: " << bad << " is not valid UTF-8\n";
    return false;
  }
  return true;
}

}  // namespace hijackguard::plugin::cli
