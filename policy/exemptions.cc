#include "policy/exemptions.h"

#include <algorithm>

namespace hijackguard::policy {
namespace {

absl::string_view View(std::string_view s) { return {s.data(), s.size()}; }

// Lower-cased into `buffer` (user and group values are stored lower case).
std::string_view Lower(std::string_view s, std::string* buffer) {
  if (std::none_of(s.begin(), s.end(),
                   [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return s;
  }
  buffer->assign(s);
  for (char& c : *buffer) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return *buffer;
}

}  // namespace

ExemptionIndex::ExemptionIndex(std::vector<Exemption> exemptions) {
  for (Exemption& e : exemptions) {
    TenantExemptions& t = by_tenant_[e.tenant_id];
    ByValue& map = e.kind == Exemption::Kind::kUser     ? t.users
                   : e.kind == Exemption::Kind::kDevice ? t.devices
                                                        : t.groups;
    std::string key = e.value;
    map.insert_or_assign(std::move(key), std::move(e));
  }
  for (const auto& [tenant, t] : by_tenant_) {
    size_ += t.users.size() + t.devices.size() + t.groups.size();
  }
}

const Exemption* ExemptionIndex::FindIn(const TenantExemptions& t,
                                        const Subject& subject,
                                        absl::Time now) const {
  auto live = [now](const ByValue& map,
                    std::string_view key) -> const Exemption* {
    if (key.empty() || map.empty()) {
      return nullptr;
    }
    auto it = map.find(View(key));
    return it != map.end() && now < it->second.expires ? &it->second : nullptr;
  };
  std::string buffer;
  for (std::string_view user :
       {subject.user_principal, subject.primary_smtp_address}) {
    if (const Exemption* e = live(t.users, Lower(user, &buffer))) {
      return e;
    }
  }
  for (std::string_view device :
       {subject.eas_device_id, subject.mdm_device_id}) {
    if (const Exemption* e = live(t.devices, device)) {
      return e;
    }
  }
  for (const std::string& group : subject.groups) {
    if (const Exemption* e = live(t.groups, Lower(group, &buffer))) {
      return e;
    }
  }
  return nullptr;
}

const Exemption* ExemptionIndex::Find(const Subject& subject,
                                      absl::Time now) const {
  if (by_tenant_.empty()) {
    return nullptr;
  }
  if (auto it = by_tenant_.find(View(subject.tenant_id));
      it != by_tenant_.end()) {
    if (const Exemption* e = FindIn(it->second, subject, now)) {
      return e;
    }
  }
  if (!subject.tenant_id.empty()) {
    if (auto it = by_tenant_.find(""); it != by_tenant_.end()) {
      return FindIn(it->second, subject, now);
    }
  }
  return nullptr;
}

std::vector<const Exemption*> ExemptionIndex::List() const {
  std::vector<const Exemption*> out;
  out.reserve(size_);
  for (const auto& [tenant, t] : by_tenant_) {
    for (const ByValue* map : {&t.users, &t.devices, &t.groups}) {
      for (const auto& [key, e] : *map) {
        out.push_back(&e);
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const Exemption* a, const Exemption* b) {
    return a->id < b->id;
  });
  return out;
}

}  // namespace hijackguard::policy
