#include "plugin/refusal_log.h"

#include <vector>

#include "common/log.h"
#include "common/strings.h"

namespace hijackguard::plugin {
namespace {

// Beyond this many distinct keys in one minute, further keys share one row
// per method and code (peer "(many)"), so memory stays bounded.
constexpr std::size_t kMaxOpen = 4096;

absl::Time Minute(absl::Time t) {
  return absl::FromUnixSeconds(absl::ToUnixSeconds(t) / 60 * 60);
}

}  // namespace

RefusalLog::RefusalLog(policy::StateStore* store) : store_(store) {}

void RefusalLog::Record(const policy::Actor& actor, std::string_view rpc,
                        std::string_view code, std::string_view message,
                        absl::Time now) {
  std::vector<policy::AccessAudit> done;
  {
    absl::MutexLock lock(&mu_);
    Key key{actor.peer, actor.principal, actor.method, std::string(rpc),
            std::string(code)};
    auto it = open_.find(key);
    if (it != open_.end() && it->second.minute != Minute(now)) {
      done.push_back(std::move(it->second.row));
      open_.erase(it);
      it = open_.end();
    }
    if (it == open_.end()) {
      if (open_.size() >= kMaxOpen) {
        std::get<0>(key) = "(many)";
        std::get<1>(key) = "(many)";
        std::get<2>(key) = "";
      }
      it = open_.find(key);
      if (it == open_.end()) {
        Window w;
        w.minute = Minute(now);
        w.row.actor = {std::get<1>(key), std::get<2>(key), std::get<0>(key)};
        w.row.rpc = std::string(rpc);
        w.row.code = std::string(code);
        w.row.message = std::string(message.substr(0, 512));
        w.row.first = now;
        it = open_.emplace(std::move(key), std::move(w)).first;
      }
    }
    ++it->second.row.count;
    it->second.row.last = now;
  }
  Write(std::move(done));
}

std::size_t RefusalLog::Flush(absl::Time now) {
  std::vector<policy::AccessAudit> done;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time minute = Minute(now);
    for (auto it = open_.begin(); it != open_.end();) {
      if (now == absl::InfiniteFuture() || it->second.minute < minute) {
        done.push_back(std::move(it->second.row));
        it = open_.erase(it);
      } else {
        ++it;
      }
    }
  }
  const std::size_t n = done.size();
  Write(std::move(done));
  return n;
}

void RefusalLog::Write(std::vector<policy::AccessAudit> rows) {
  if (rows.empty()) {
    return;
  }
  policy::EngineChanges changes;
  for (policy::AccessAudit& row : rows) {
    LogWarning(
        StrCat("refused ", row.count, " ", row.rpc, " call",
               row.count == 1 ? "" : "s", " with ", row.code, " from ",
               row.actor.peer, " (principal \"", row.actor.principal, "\", ",
               row.actor.method.empty() ? "no credential" : row.actor.method,
               ") between ", FormatUtc(row.first), " and ", FormatUtc(row.last),
               ": ", row.message));
    changes.audit.push_back({row.last, std::move(row)});
  }
  if (store_ != nullptr) {
    store_->SubmitEngine(std::move(changes));
  }
}

}  // namespace hijackguard::plugin
