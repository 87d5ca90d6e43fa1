#include "detector/traffic/detector_state.h"

#include <algorithm>

namespace hijackguard::detector {
namespace {

// Mailboxes remembered per device (for GetDeviceRisk).
constexpr std::size_t kMaxMailboxesPerDevice = 16;

}  // namespace

bool SameFacts(const CheckInFacts& a, const CheckInFacts& b) {
  return a.tenant_id == b.tenant_id && a.eas_device_id == b.eas_device_id &&
         a.mdm_device_id == b.mdm_device_id &&
         a.user_principal == b.user_principal &&
         a.primary_smtp_address == b.primary_smtp_address &&
         a.user_agent == b.user_agent && a.device_type == b.device_type &&
         a.device_os == b.device_os && a.device_model == b.device_model &&
         a.protocol_version == b.protocol_version &&
         a.inventory_product_name == b.inventory_product_name &&
         a.inventory_os_version == b.inventory_os_version &&
         a.inventory_build_version == b.inventory_build_version &&
         a.inventory_model_name == b.inventory_model_name;
}

void NoteMailbox(TrackedDevice* device, const std::string& mailbox) {
  if (device->mailboxes.size() < kMaxMailboxesPerDevice &&
      std::find(device->mailboxes.begin(), device->mailboxes.end(), mailbox) ==
          device->mailboxes.end()) {
    device->mailboxes.push_back(mailbox);
  }
}

void LearnAddresses(TrackedDevice* device,
                    const eas::MailboxAddresses& learned) {
  // The MDM's word on the primary address wins; the server's fills a gap.
  if (!learned.primary.empty() && device->facts.primary_smtp_address.empty()) {
    device->facts.primary_smtp_address = learned.primary;
    device->hijack_fingerprint = -1;
  }
  std::vector<std::string> addresses;
  if (!learned.primary.empty()) {
    addresses.push_back(NormalizeAddress(learned.primary));
  }
  for (const std::string& a : learned.others) {
    addresses.push_back(NormalizeAddress(a));
  }
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()),
                  addresses.end());
  std::erase(addresses, std::string());
  if (addresses.size() > kMaxDeviceAddresses) {
    addresses.resize(kMaxDeviceAddresses);
  }
  // The newest answer replaces what an older one said (addresses are
  // removed from mailboxes too).
  device->addresses = std::move(addresses);
}

bool NoteClient(TrackedDevice* device, std::string_view user_agent,
                std::string_view device_type,
                std::string_view protocol_version) {
  CheckInFacts& known = device->facts;
  bool changed = false;
  if (!user_agent.empty() && known.user_agent != user_agent &&
      (!device->checked_in || known.user_agent.empty())) {
    known.user_agent = std::string(user_agent);
    device->hijack_fingerprint = -1;
    changed = true;
  }
  if (!device_type.empty() && known.device_type != device_type &&
      (!device->checked_in || known.device_type.empty())) {
    known.device_type = std::string(device_type);
    device->hijack_fingerprint = -1;
    changed = true;
  }
  if (!protocol_version.empty() && known.protocol_version != protocol_version &&
      (!device->checked_in || known.protocol_version.empty())) {
    known.protocol_version = std::string(protocol_version);
    changed = true;
  }
  return changed;
}

}  // namespace hijackguard::detector
