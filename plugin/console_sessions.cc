#include "plugin/console_sessions.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstdlib>

#include "common/hmac.h"
#include "common/strings.h"

namespace hijackguard::plugin {
namespace {

std::string Hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    out += kHex[u >> 4];
    out += kHex[u & 15];
  }
  return out;
}

}  // namespace

ConsoleSessions::ConsoleSessions(const AccessControl* access,
                                 const Clock* clock, absl::Duration ttl,
                                 std::size_t max_sessions,
                                 std::size_t max_per_principal)
    : access_(access),
      clock_(clock),
      ttl_(ttl),
      max_sessions_(std::max<std::size_t>(1, max_sessions)),
      max_per_principal_(std::max<std::size_t>(1, max_per_principal)) {}

absl::StatusOr<std::string> ConsoleSessions::Create(Caller caller) {
  unsigned char random[32];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    // OpenSSL's generator does not fail once seeded; refuse to go on with a
    // guessable id if it ever does.
    std::abort();
  }
  std::string id =
      Hex(std::string_view(reinterpret_cast<const char*>(random), 32));
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  absl::erase_if(sessions_,
                 [now](const auto& kv) { return kv.second.expires <= now; });
  // The principal's own oldest session makes room for its new one.
  const Principal* who = caller.principal;
  std::size_t own = 0;
  auto oldest = sessions_.end();
  for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
    if (it->second.caller.principal == nullptr || who == nullptr ||
        it->second.caller.principal->id != who->id) {
      continue;
    }
    ++own;
    if (oldest == sessions_.end() ||
        it->second.serial < oldest->second.serial) {
      oldest = it;
    }
  }
  if (own >= max_per_principal_ && oldest != sessions_.end()) {
    sessions_.erase(oldest);
  }
  if (sessions_.size() >= max_sessions_) {
    return absl::ResourceExhaustedError(
        StrCat("the console has ", max_sessions_,
               " sessions open: try again when some have ended"));
  }
  sessions_[Sha256Raw(id)] = Session{std::move(caller), now + ttl_, ++created_};
  return id;
}

absl::StatusOr<Caller> ConsoleSessions::Resume(std::string_view cookie) {
  if (cookie.size() != 64) {
    return absl::UnauthenticatedError("sign in to use the console");
  }
  const std::string key = Sha256Raw(cookie);
  Caller caller;
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(key);
    if (it == sessions_.end()) {
      return absl::UnauthenticatedError(
          "the session has ended (signed out, expired or the server "
          "restarted): sign in again");
    }
    if (clock_->Now() >= it->second.expires) {
      sessions_.erase(it);
      return absl::UnauthenticatedError("the session expired: sign in again");
    }
    caller = it->second.caller;
  }
  const Principal* before = caller.principal;
  if (absl::Status s = access_->Recheck(&caller, Rpc::kConsole); !s.ok()) {
    End(cookie);
    return absl::UnauthenticatedError(
        StrCat("the session ended: ",
               std::string_view(s.message().data(), s.message().size()),
               "; sign in again"));
  }
  // A reload that changed the principal's roles or tenants ends its
  // sessions too: what it was shown at sign-in is no longer what it may see.
  if (before != nullptr && caller.principal != nullptr &&
      before != caller.principal &&
      (before->roles != caller.principal->roles ||
       before->all_tenants != caller.principal->all_tenants ||
       before->tenants != caller.principal->tenants)) {
    End(cookie);
    return absl::UnauthenticatedError(
        StrCat("the session ended: principal \"", caller.principal->id,
               "\" was changed by a configuration reload; sign in again"));
  }
  return caller;
}

void ConsoleSessions::End(std::string_view cookie) {
  const std::string key = Sha256Raw(cookie);
  absl::MutexLock lock(&mu_);
  sessions_.erase(key);
}

std::size_t ConsoleSessions::size() const {
  absl::MutexLock lock(&mu_);
  return sessions_.size();
}

std::string_view SessionCookieValue(std::string_view header) {
  while (!header.empty()) {
    const std::size_t end = header.find(';');
    std::string_view pair = header.substr(0, end);
    header = end == std::string_view::npos ? std::string_view()
                                           : header.substr(end + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.starts_with(kSessionCookie) &&
        pair.size() > kSessionCookie.size() &&
        pair[kSessionCookie.size()] == '=') {
      return pair.substr(kSessionCookie.size() + 1);
    }
  }
  return {};
}

}  // namespace hijackguard::plugin
