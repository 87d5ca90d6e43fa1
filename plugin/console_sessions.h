// The console's sign-in sessions (docs/console.md): a token entered once on
// the sign-in page becomes a random session id in an HttpOnly, Secure,
// SameSite=Strict cookie. The server keeps only the id's digest and the
// authenticated caller. A session ends at sign-out, at its expiry, and when a
// reload of `auth` removes the principal, its token or its role (checked on
// every request, as long-running streams are).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "plugin/access.h"

namespace hijackguard::plugin {

// The session cookie's name: the __Host- prefix makes browsers accept it
// only with Secure, Path=/ and no Domain, so no other host can set it.
inline constexpr std::string_view kSessionCookie = "__Host-hijackguard";

class ConsoleSessions {
 public:
  // `access` and `clock` must outlive this. At most `max_per_principal`
  // sessions per principal (a new one beyond ends that principal's oldest)
  // and `max_sessions` in all (beyond, sign-ins are refused until some
  // expire: one principal cannot sign the others out).
  ConsoleSessions(const AccessControl* access, const Clock* clock,
                  absl::Duration ttl, std::size_t max_sessions = 10'000,
                  std::size_t max_per_principal = 16);

  // A new session for `caller`; returns the cookie's value (64 hex digits
  // from 32 random bytes). RESOURCE_EXHAUSTED when max_sessions are live.
  absl::StatusOr<std::string> Create(Caller caller);
  // The caller of the session the cookie value names, moved to the
  // principals in force. UNAUTHENTICATED (and the session ended) when it is
  // unknown or expired, or when the principal no longer holds its token or
  // the console's role.
  absl::StatusOr<Caller> Resume(std::string_view cookie);
  void End(std::string_view cookie);

  absl::Duration ttl() const { return ttl_; }
  std::size_t size() const;

 private:
  struct Session {
    Caller caller;
    absl::Time expires;
    std::uint64_t serial = 0;  // creation order
  };
  const AccessControl* const access_;
  const Clock* const clock_;
  const absl::Duration ttl_;
  const std::size_t max_sessions_;
  const std::size_t max_per_principal_;
  mutable absl::Mutex mu_;
  // By the SHA-256 of the cookie's value: the ids themselves are not kept.
  absl::flat_hash_map<std::string, Session> sessions_ ABSL_GUARDED_BY(mu_);
  std::uint64_t created_ ABSL_GUARDED_BY(mu_) = 0;
};

// The value of the session cookie in a Cookie header, or "".
std::string_view SessionCookieValue(std::string_view cookie_header);

}  // namespace hijackguard::plugin
