#include "plugin/call_counts.h"

#include "common/strings.h"

namespace hijackguard::plugin {

std::string CallCounts::Summary() const {
  std::string out;
  for (const RpcRule& rule : RpcRules()) {
    const std::uint64_t good = ok(rule.rpc);
    const std::uint64_t bad = failed(rule.rpc);
    if (good + bad == 0) {
      continue;
    }
    StrAppend(&out, out.empty() ? "" : ", ", rule.name, " ", good, " OK ", bad,
              " failed");
    if (rule.rpc == Rpc::kStreamTraffic) {
      StrAppend(&out, " (", stream_items_ok_.load(), " messages OK, ",
                stream_item_errors_.load(), " with item errors)");
    }
  }
  return out.empty() ? "none" : out;
}

}  // namespace hijackguard::plugin
