#include "policy/exemptions.h"

#include <algorithm>
#include <array>

#include "common/strings.h"

namespace hijackguard::policy {
namespace {

absl::string_view View(std::string_view s) { return {s.data(), s.size()}; }

// Lower-cased into `buffer` when needed (user and group values are stored
// lower case). Values longer than the buffer cannot match: exemption values
// are at most 256 bytes.
std::string_view Lower(std::string_view s, std::array<char, 256>* buffer) {
  if (std::none_of(s.begin(), s.end(),
                   [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return s;
  }
  if (s.size() > buffer->size()) {
    return {};
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    (*buffer)[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return {buffer->data(), s.size()};
}

}  // namespace

ExemptionIndex::ExemptionIndex(std::vector<Exemption> exemptions) {
  // Later entries with the same id replace earlier ones.
  absl::flat_hash_map<std::string, std::size_t> position;
  for (Exemption& e : exemptions) {
    e.id = ExemptionId(e.tenant_id, e.kind, e.value);
    e.rule = e.source == "api" ? StrCat("exemption:", e.id) : e.source;
    auto [it, added] = position.try_emplace(e.id, all_.size());
    if (added) {
      all_.push_back(std::move(e));
    } else {
      all_[it->second] = std::move(e);
    }
  }
  for (std::size_t i = 0; i < all_.size(); ++i) {
    const Exemption& e = all_[i];
    TenantExemptions& t = by_tenant_[e.tenant_id];
    ByValue& map = e.kind == Exemption::Kind::kUser     ? t.users
                   : e.kind == Exemption::Kind::kDevice ? t.devices
                                                        : t.groups;
    map.insert_or_assign(e.value, static_cast<std::uint32_t>(i));
  }
}

const Exemption* ExemptionIndex::FindIn(const TenantExemptions& t,
                                        const Subject& subject,
                                        absl::Time now) const {
  auto live = [this, now](const ByValue& map,
                          std::string_view key) -> const Exemption* {
    if (key.empty() || map.empty()) {
      return nullptr;
    }
    auto it = map.find(View(key));
    if (it == map.end()) {
      return nullptr;
    }
    const Exemption& e = all_[it->second];
    return now < e.expires ? &e : nullptr;
  };
  std::array<char, 256> buffer;
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
  out.reserve(all_.size());
  for (const Exemption& e : all_) {
    out.push_back(&e);
  }
  std::sort(out.begin(), out.end(), [](const Exemption* a, const Exemption* b) {
    return a->id < b->id;
  });
  return out;
}

}  // namespace hijackguard::policy
