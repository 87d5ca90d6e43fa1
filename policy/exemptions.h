// Exemptions indexed for the check-in path: a lookup is a few hash probes
// whatever the number of exemptions.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "policy/policy.h"

namespace hijackguard::policy {

// Who is checking in, as exemptions and alerts see it. Views; the caller
// keeps the strings alive during the call.
struct Subject {
  std::string_view tenant_id;
  std::string_view eas_device_id;
  std::string_view mdm_device_id;
  std::string_view user_principal;
  std::string_view primary_smtp_address;
  std::span<const std::string> groups;
  std::string_view locale;  // BCP 47 tag from the check-in; "" = en
};

// Immutable once built.
class ExemptionIndex {
 public:
  ExemptionIndex() = default;
  // Sets each exemption's id and rule; later entries with the same id
  // (tenant, kind and value) replace earlier ones.
  explicit ExemptionIndex(std::vector<Exemption> exemptions);

  // An exemption that covers `subject` and has not expired at `now`, or
  // nullptr. Exemptions of the subject's tenant come before those for every
  // tenant; within them users, then devices, then groups.
  const Exemption* Find(const Subject& subject, absl::Time now) const;

  std::size_t size() const { return all_.size(); }
  // Every exemption, ordered by id.
  std::vector<const Exemption*> List() const;

 private:
  // Value -> index into all_: small slots probe faster than whole
  // exemptions would.
  using ByValue = absl::flat_hash_map<std::string, std::uint32_t>;
  struct TenantExemptions {
    ByValue users;
    ByValue devices;
    ByValue groups;
  };
  const Exemption* FindIn(const TenantExemptions& t, const Subject& subject,
                          absl::Time now) const;

  absl::flat_hash_map<std::string, TenantExemptions> by_tenant_;
  std::vector<Exemption> all_;  // unique by id, in input order
};

}  // namespace hijackguard::policy
