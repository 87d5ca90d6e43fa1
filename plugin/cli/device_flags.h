// The device-description flags shared by `fingerprint`, `checkin` and
// `simulate`, and the identity flags shared by `checkin` and `simulate`.
#pragma once

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "hijackguard/v1/compliance_plugin.pb.h"

namespace hijackguard::plugin::cli {

struct DeviceFlags {
  std::string user_agent;
  std::string device_os;
  std::string device_type;
  std::string model;
  std::string protocol_version;
  std::string friendly_name;
  std::string product;
  std::string os_version;
  std::string build;
  std::string model_name;

  // Registers --user-agent, --device-os, --device-type, --model,
  // --protocol-version,
  // --friendly-name, --product, --os-version, --build, --model-name.
  void Register(CLI::App* command);
  // The name of the first flag whose value is not valid UTF-8 (proto3 strings
  // must be), or "".
  std::string FirstInvalidUtf8Flag() const;
  // Fills request.eas and request.inventory.
  void Apply(v1::CheckInRequest* request) const;
};

// Who checks in: --tenant, --device-id, --mdm-device-id, --user, --smtp,
// --locale and --group (repeatable).
struct IdentityFlags {
  std::string tenant;
  std::string device_id;
  std::string mdm_device_id;
  std::string user;
  std::string smtp;
  std::string locale;
  std::vector<std::string> groups;

  void Register(CLI::App* command, const std::string& tenant_help);
  // The name of the first flag whose value is not valid UTF-8, or "".
  std::string FirstInvalidUtf8Flag() const;
  // Fills request.tenant_id, request.device and request.locale.
  void Apply(v1::CheckInRequest* request) const;
};

// Prints "error: FLAG is not valid UTF-8" for the first such flag of either
// set and returns false; true when all are valid.
bool CheckUtf8Flags(const DeviceFlags& device, const IdentityFlags& identity);

}  // namespace hijackguard::plugin::cli
