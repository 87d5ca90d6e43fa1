// Fuzz target: the strict JSON readers (the known-issue catalog and the server
// configuration) on arbitrary bytes. They must never throw or crash, and a
// rejection must always come with a message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "detector/known_issues.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto catalog = hijackguard::detector::KnownIssueCatalog::Parse(input, "fuzz");
  if (!catalog.ok() && catalog.status().message().empty()) {
    std::abort();
  }
  return 0;
}
