// Refused calls in the audit log, aggregated so that a flood cannot fill the
// disk: one row per (peer address, principal, method, code) per minute, with
// a count and the first refusal's message.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <tuple>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "policy/state_store.h"

namespace hijackguard::plugin {

class RefusalLog {
 public:
  // `store` may be null (state in memory: the rows are only logged).
  explicit RefusalLog(policy::StateStore* store);

  // Counts one refusal at `now`. `actor.peer` is the address without port.
  void Record(const policy::Actor& actor, std::string_view rpc,
              std::string_view code, std::string_view message, absl::Time now);
  // Submits the rows of minutes that ended before `now` (all with
  // InfiniteFuture). Returns how many rows were written.
  std::size_t Flush(absl::Time now);

 private:
  using Key = std::tuple<std::string, std::string, std::string, std::string,
                         std::string>;  // peer, principal, auth, rpc, code
  struct Window {
    absl::Time minute;
    policy::AccessAudit row;
  };
  void Write(std::vector<policy::AccessAudit> rows);

  policy::StateStore* const store_;
  absl::Mutex mu_;
  std::map<Key, Window> open_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hijackguard::plugin
