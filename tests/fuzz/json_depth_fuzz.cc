// Fuzz target: the size and depth checks that run before a policy document
// is parsed. The input is repeated (its first byte says how often, up to
// 64 KiB in all) so that long runs of brackets, strings holding brackets
// and escapes come up. FirstTooDeep must name an opening bracket outside
// any string exactly when the document nests deeper than the limit;
// ParseJson must then refuse it with a problem, and must accept what
// nlohmann accepts otherwise; Policy::Parse must never crash on it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/json_reader.h"
#include "detector/known_issues.h"
#include "policy/policy.h"
#include "tests/common/builtin_catalog.h"

namespace {

int Depth(const nlohmann::json& j) {
  int deepest = 0;
  if (j.is_array() || j.is_object()) {
    for (const auto& child : j) {
      deepest = std::max(deepest, Depth(child));
    }
    return deepest + 1;
  }
  return 0;
}

const hijackguard::detector::KnownIssueCatalog& Catalog() {
  return *hijackguard::testing::BuiltinCatalog();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace hijackguard;
  if (size == 0) {
    return 0;
  }
  const std::string_view unit(reinterpret_cast<const char*>(data) + 1,
                              size - 1);
  std::string text;
  const std::size_t copies = 1 + data[0];
  while (text.size() + unit.size() <= (64 << 10) &&
         text.size() < copies * unit.size()) {
    text.append(unit);
    if (unit.empty()) break;
  }
  constexpr int kLimit = 16;
  const std::optional<std::size_t> deep = json::FirstTooDeep(text, kLimit);
  if (deep && *deep >= text.size()) {
    std::abort();
  }
  if (deep && text[*deep] != '[' && text[*deep] != '{') {
    std::abort();
  }
  json::Problems problems;
  const std::optional<nlohmann::json> doc =
      json::ParseJson(text, &problems, kLimit);
  if (deep && (doc || problems.empty())) {
    std::abort();  // too deep, yet parsed
  }
  if (doc && Depth(*doc) > kLimit) {
    std::abort();  // parsed deeper than the limit
  }
  if (!deep && doc.has_value() != nlohmann::json::accept(text)) {
    std::abort();  // the depth check refused, or let through, the wrong one
  }
  (void)policy::Policy::Parse(text, Catalog(), nullptr);
  return 0;
}
