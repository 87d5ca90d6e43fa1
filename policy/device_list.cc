#include "policy/device_list.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "common/base64.h"
#include "common/strings.h"

namespace hijackguard::policy {

namespace {

constexpr std::string_view kTokenVersion = "d1";
// A token holds a key of at most a tenant (128 bytes) and an id (256), and a
// few more bytes, in base64.
constexpr std::size_t kMaxTokenBytes = 1024;

template <typename T>
void SortUnique(std::vector<T>* v) {
  std::sort(v->begin(), v->end());
  v->erase(std::unique(v->begin(), v->end()), v->end());
}

// FNV-1a over the filters, so that a token names the query it belongs to.
std::uint64_t FilterHash(const DeviceQuery& q) {
  std::uint64_t h = 14695981039346656037ULL;
  auto mix = [&h](std::string_view s) {
    for (const char c : s) {
      h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    }
    h = (h ^ 0xFFU) * 1099511628211ULL;  // a separator no text holds
  };
  mix(q.tenant_id);
  for (const Action a : q.enforced_actions) {
    mix(ActionName(a));
  }
  mix("|");
  for (const Action a : q.evaluated_actions) {
    mix(ActionName(a));
  }
  mix("|");
  for (const Level l : q.levels) {
    mix(LevelName(l));
  }
  mix("|");
  mix(absl::AsciiStrToLower(q.user_principal));
  mix(q.build);
  return h;
}

bool BuildMatches(std::string_view pattern, std::string_view build) {
  if (pattern.empty()) {
    return true;
  }
  if (pattern.ends_with('*')) {
    return build.starts_with(pattern.substr(0, pattern.size() - 1));
  }
  return build == pattern;
}

}  // namespace

std::string ListingKey(const DeviceListing& d) {
  return d.eas_device_id.empty() ? StrCat(d.tenant_id, "\nm:", d.mdm_device_id)
                                 : StrCat(d.tenant_id, "\ne:", d.eas_device_id);
}

bool ListedBefore(const DeviceListing& a, const DeviceListing& b) {
  if (a.score != b.score) {
    return a.score > b.score;
  }
  return a.key < b.key;
}

bool Matches(const DeviceQuery& q, const DeviceListing& d) {
  if (!q.tenant_id.empty() && d.tenant_id != q.tenant_id) {
    return false;
  }
  if (!InFilter(q.enforced_actions, d.enforced_action) ||
      !InFilter(q.evaluated_actions, d.evaluated_action) ||
      !InFilter(q.levels, d.level)) {
    return false;
  }
  if (!q.user_principal.empty() &&
      !absl::EqualsIgnoreCase(q.user_principal, d.user_principal)) {
    return false;
  }
  if (!BuildMatches(q.build, d.build)) {
    return false;
  }
  if (q.after_score) {
    if (d.score != *q.after_score) {
      return d.score < *q.after_score;
    }
    return d.key > q.after_key;
  }
  return true;
}

std::string EncodePageToken(const DeviceQuery& q, const DeviceListing& last) {
  return Base64Encode(
      StrCat(kTokenVersion, "\n", absl::StrFormat("%016x", FilterHash(q)), "\n",
             absl::StrFormat("%.17g", last.score), "\n", last.key));
}

absl::Status DecodePageToken(std::string_view token, DeviceQuery* q) {
  auto bad = [](std::string_view why) {
    return absl::InvalidArgumentError(
        StrCat("page_token ", why,
               "; pass the next_page_token of the previous page unchanged"));
  };
  if (token.size() > kMaxTokenBytes) {
    return bad("is not one this server issued (too long)");
  }
  absl::StatusOr<std::string> raw = Base64Decode(token);
  if (!raw.ok()) {
    return bad("is not one this server issued (not base64)");
  }
  // Version, filters, score, then the key (which holds a newline itself).
  std::vector<std::string_view> parts;
  std::string_view rest = *raw;
  for (int i = 0; i < 3; ++i) {
    const std::size_t newline = rest.find('\n');
    if (newline == std::string_view::npos) {
      break;
    }
    parts.push_back(rest.substr(0, newline));
    rest.remove_prefix(newline + 1);
  }
  parts.push_back(rest);
  double score = 0;
  if (parts.size() != 4 || parts[0] != kTokenVersion ||
      !absl::SimpleAtod(absl::string_view(parts[2].data(), parts[2].size()),
                        &score) ||
      !(score >= 0 && score <= 100)) {
    return bad("is not one this server issued");
  }
  if (parts[1] != absl::StrFormat("%016x", FilterHash(*q))) {
    return bad(
        "was issued for other filters (tenant_id, actions, levels, "
        "user_principal or build changed)");
  }
  q->after_score = score;
  q->after_key = std::string(parts[3]);
  return absl::OkStatus();
}

absl::Status NormalizeQuery(DeviceQuery* q) {
  if (q->page_size == 0) {
    q->page_size = kDefaultDevicePageSize;
  }
  if (q->page_size > kMaxDevicePageSize) {
    return absl::InvalidArgumentError(StrCat("page_size ", q->page_size,
                                             " is over the limit of ",
                                             kMaxDevicePageSize));
  }
  SortUnique(&q->enforced_actions);
  SortUnique(&q->evaluated_actions);
  SortUnique(&q->levels);
  if (q->build.size() > 32) {
    return absl::InvalidArgumentError("build is over 32 bytes");
  }
  for (std::size_t i = 0; i < q->build.size(); ++i) {
    const auto c = static_cast<unsigned char>(q->build[i]);
    if (c == '*' && i + 1 == q->build.size()) {
      break;
    }
    if (!absl::ascii_isalnum(c)) {
      return absl::InvalidArgumentError(
          StrCat("build may hold letters and digits and end in '*'; byte ", i,
                 " is neither"));
    }
  }
  if (q->user_principal.size() > 256) {
    return absl::InvalidArgumentError("user_principal is over 256 bytes");
  }
  for (std::size_t i = 0; i < q->user_principal.size(); ++i) {
    const auto c = static_cast<unsigned char>(q->user_principal[i]);
    if (c < 0x20 || c == 0x7F) {
      return absl::InvalidArgumentError(
          StrCat("user_principal holds a control character at byte ", i));
    }
  }
  return absl::OkStatus();
}

}  // namespace hijackguard::policy
