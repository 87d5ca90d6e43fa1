// Fuzz target: the configuration's `auth` section (principals, roles,
// tenants, token digests, certificate identities). Reading it must never
// throw or crash; a section with problems lists each with a pointer under
// /auth and a message; an accepted one has principals with ids, roles, and
// tenants or "*", and no token digest twice.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "common/json_reader.h"
#include "plugin/auth_config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace hijackguard;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  json::Problems problems;
  const std::optional<nlohmann::json> doc = json::ParseJson(input, &problems);
  if (!doc) {
    return 0;
  }
  plugin::AuthConfig auth;
  json::Problems section;
  plugin::ReadAuthSection(*doc, "/auth", &section, &auth);
  if (!section.empty()) {
    const absl::Status status = section.ToStatus("fuzz");
    if (status.ok() || status.message().find("/auth") == std::string::npos) {
      std::abort();
    }
    return 0;
  }
  std::set<std::string> digests;
  for (const plugin::Principal& p : auth.principals) {
    if (p.id.empty() || p.roles == 0 || (!p.all_tenants && p.tenants.empty())) {
      std::abort();
    }
    for (const std::string& d : p.token_sha256) {
      if (d.size() != 32 || !digests.insert(d).second) {
        std::abort();
      }
    }
  }
  return 0;
}
