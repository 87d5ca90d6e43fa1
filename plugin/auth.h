// Who may call the plugin (docs/security.md): principals with roles, the
// tenants they may act for, and their credentials (bearer tokens kept as
// SHA-256 digests, and client-certificate identities). The `auth` section of
// the server configuration.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hijackguard::plugin {

// Roles, as bits. `admin` holds every other role.
enum Role : std::uint32_t {
  kRoleMdm = 1u << 0,      // CheckIn
  kRoleGateway = 1u << 1,  // ReportTraffic, StreamTraffic
  kRoleAuditor = 1u << 2,  // reading: risk, alerts, policy, exemptions
  kRoleAdmin = 1u << 3,    // everything, including changes
  kRoleMetrics = 1u << 4,  // GET /metrics (counts, never a device or user)
};
std::string_view RoleName(Role role);  // "mdm", ...

// A client certificate identity, matched exactly.
struct CertMatch {
  enum class Field { kUriSan, kDnsSan, kSubjectCn };
  Field field = Field::kSubjectCn;
  std::string value;
};
std::string_view CertFieldName(CertMatch::Field field);  // "uri_san", ...

struct Principal {
  std::string id;
  std::uint32_t roles = 0;
  bool all_tenants = false;               // "*"
  std::vector<std::string> tenants;       // when not all_tenants
  std::vector<std::string> token_sha256;  // raw 32-byte digests
  std::optional<CertMatch> client_cert;

  bool HasRole(Role role) const { return (roles & (role | kRoleAdmin)) != 0; }
  // "" (every tenant) only with "*".
  bool MayActFor(std::string_view tenant) const;
  // "acme, globex" or "*", for messages.
  std::string TenantList() const;
};

struct AuthConfig {
  std::vector<Principal> principals;
};

}  // namespace hijackguard::plugin
