#include "plugin/auth.h"

#include <algorithm>
#include <set>

#include "common/hmac.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "plugin/auth_config.h"
#include "plugin/validate.h"

namespace hijackguard::plugin {
namespace {

constexpr std::size_t kMaxPrincipals = 10'000;

struct RoleEntry {
  Role role;
  std::string_view name;
};
constexpr RoleEntry kRoles[] = {{kRoleMdm, "mdm"},
                                {kRoleGateway, "gateway"},
                                {kRoleAuditor, "auditor"},
                                {kRoleAdmin, "admin"},
                                {kRoleMetrics, "metrics"}};

struct CertFieldEntry {
  CertMatch::Field field;
  std::string_view name;
};
constexpr CertFieldEntry kCertFields[] = {
    {CertMatch::Field::kUriSan, "uri_san"},
    {CertMatch::Field::kDnsSan, "dns_san"},
    {CertMatch::Field::kSubjectCn, "subject_cn"}};

// Reads "token_sha256": one digest or an array (several tokens let a
// principal rotate without a gap).
void ReadTokens(const nlohmann::json& value, const std::string& pointer,
                json::Problems* problems, std::set<std::string>* seen,
                Principal* p) {
  std::vector<std::pair<const nlohmann::json*, std::string>> items;
  if (value.is_array()) {
    if (value.empty()) {
      problems->Add(pointer, "must not be an empty array");
    }
    for (std::size_t i = 0; i < value.size(); ++i) {
      items.emplace_back(&value[i], StrCat(pointer, "/", i));
    }
  } else {
    items.emplace_back(&value, pointer);
  }
  for (const auto& [item, where] : items) {
    if (!item->is_string()) {
      problems->Add(where,
                    "must be a string of 64 hex digits (the SHA-256 of "
                    "the token; hijackguard auth hash-token)");
      continue;
    }
    const std::string& hex = item->get_ref<const std::string&>();
    auto digest = HexDecode(hex);
    if (hex.size() != 64 || !digest.ok()) {
      problems->Add(
          where,
          StrCat("must be 64 hex digits (the SHA-256 of the token; "
                 "hijackguard auth hash-token), not ",
                 hex.size(), " characters",
                 digest.ok() ? "" : StrCat(": ", digest.status().message())));
      continue;
    }
    if (!seen->insert(*digest).second) {
      problems->Add(where, "this token is given to another principal too");
      continue;
    }
    p->token_sha256.push_back(*std::move(digest));
  }
}

void ReadCert(const nlohmann::json& value, const std::string& pointer,
              json::Problems* problems, std::set<std::string>* seen,
              Principal* p) {
  if (!value.is_object() || value.size() != 1) {
    problems->Add(pointer,
                  "must be an object with exactly one of uri_san, dns_san or "
                  "subject_cn");
    return;
  }
  const auto member = value.begin();  // (items() would be a temporary)
  const std::string& name = member.key();
  const nlohmann::json& v = member.value();
  const std::string where = StrCat(pointer, "/", json::PointerEscape(name));
  const auto* field =
      std::find_if(std::begin(kCertFields), std::end(kCertFields),
                   [&](const CertFieldEntry& e) { return e.name == name; });
  if (field == std::end(kCertFields)) {
    problems->Add(where, "unknown; use uri_san, dns_san or subject_cn");
    return;
  }
  if (!v.is_string() || v.get_ref<const std::string&>().empty()) {
    problems->Add(where, "must be a non-empty string");
    return;
  }
  CertMatch match{field->field, v.get<std::string>()};
  if (!seen->insert(StrCat(name, "=", match.value)).second) {
    problems->Add(where, "another principal has this certificate identity");
    return;
  }
  p->client_cert = std::move(match);
}

void ReadPrincipal(const nlohmann::json& value, const std::string& pointer,
                   json::Problems* problems, std::set<std::string>* ids,
                   std::set<std::string>* tokens, std::set<std::string>* certs,
                   AuthConfig* out) {
  json::ObjectReader r(value, pointer, problems);
  if (!r.is_object()) {
    return;
  }
  Principal p;
  if (auto id = r.String("id", true)) {
    if (id->empty()) {
      problems->Add(r.PointerTo("id"), "must not be empty");
    } else if (!ids->insert(*id).second) {
      problems->Add(r.PointerTo("id"),
                    StrCat(QuoteInput(*id), " is used twice"));
    }
    p.id = *id;
  }
  if (const nlohmann::json* roles = r.Array("roles", true)) {
    if (roles->empty()) {
      problems->Add(r.PointerTo("roles"), "must name at least one role");
    }
    for (std::size_t i = 0; i < roles->size(); ++i) {
      const nlohmann::json& role = (*roles)[i];
      const auto* entry = std::find_if(
          std::begin(kRoles), std::end(kRoles), [&](const RoleEntry& e) {
            return role.is_string() && e.name == role.get<std::string>();
          });
      if (entry == std::end(kRoles)) {
        problems->Add(StrCat(r.PointerTo("roles"), "/", i),
                      "must be one of mdm, gateway, auditor, admin, metrics");
        continue;
      }
      p.roles |= entry->role;
    }
  }
  if (const nlohmann::json* tenants = r.Array("tenants", true)) {
    if (tenants->empty()) {
      problems->Add(r.PointerTo("tenants"),
                    "must name at least one tenant, or \"*\" for every tenant");
    }
    for (std::size_t i = 0; i < tenants->size(); ++i) {
      const std::string where = StrCat(r.PointerTo("tenants"), "/", i);
      const nlohmann::json& t = (*tenants)[i];
      if (!t.is_string()) {
        problems->Add(where, "must be a string");
        continue;
      }
      const std::string tenant = t.get<std::string>();
      if (tenant == "*") {
        p.all_tenants = true;
        continue;
      }
      if (absl::Status s = ValidateTenantId(tenant);
          !s.ok() || tenant.empty()) {
        problems->Add(where, tenant.empty() ? "must not be empty (\"*\" means "
                                              "every tenant)"
                                            : std::string(s.message()));
        continue;
      }
      p.tenants.push_back(tenant);
    }
    std::sort(p.tenants.begin(), p.tenants.end());
    p.tenants.erase(std::unique(p.tenants.begin(), p.tenants.end()),
                    p.tenants.end());
  }
  if (const nlohmann::json* t = r.Member("token_sha256", false)) {
    ReadTokens(*t, r.PointerTo("token_sha256"), problems, tokens, &p);
  }
  if (const nlohmann::json* c = r.Member("client_cert", false)) {
    ReadCert(*c, r.PointerTo("client_cert"), problems, certs, &p);
  }
  if (r.Member("token_sha256", false) == nullptr &&
      r.Member("client_cert", false) == nullptr) {
    problems->Add(pointer,
                  "has no credential: give token_sha256, client_cert or both");
  }
  out->principals.push_back(std::move(p));
}

}  // namespace

std::string_view RoleName(Role role) {
  for (const RoleEntry& e : kRoles) {
    if (e.role == role) return e.name;
  }
  return "?";
}

std::string_view CertFieldName(CertMatch::Field field) {
  for (const CertFieldEntry& e : kCertFields) {
    if (e.field == field) return e.name;
  }
  return "?";
}

bool Principal::MayActFor(std::string_view tenant) const {
  if (all_tenants) {
    return true;
  }
  return !tenant.empty() &&
         std::binary_search(tenants.begin(), tenants.end(), tenant);
}

std::string Principal::TenantList() const {
  if (all_tenants) {
    return "*";
  }
  std::string out;
  for (const std::string& t : tenants) {
    out += out.empty() ? t : StrCat(", ", t);
  }
  return out;
}

void ReadAuthSection(const nlohmann::json& value, const std::string& pointer,
                     json::Problems* problems, AuthConfig* out) {
  json::ObjectReader r(value, pointer, problems);
  if (!r.is_object()) {
    return;
  }
  r.Skip("$comment");
  const nlohmann::json* principals = r.Array("principals", true);
  if (principals == nullptr) {
    return;
  }
  if (principals->empty()) {
    problems->Add(r.PointerTo("principals"),
                  "must list at least one principal (without an auth section "
                  "the server runs in development mode)");
  }
  if (principals->size() > kMaxPrincipals) {
    problems->Add(r.PointerTo("principals"),
                  StrCat("lists ", principals->size(), " principals; at most ",
                         kMaxPrincipals));
    return;
  }
  std::set<std::string> ids, tokens, certs;
  for (std::size_t i = 0; i < principals->size(); ++i) {
    ReadPrincipal((*principals)[i], StrCat(r.PointerTo("principals"), "/", i),
                  problems, &ids, &tokens, &certs, out);
  }
}

}  // namespace hijackguard::plugin
