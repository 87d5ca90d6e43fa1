// Fuzz target: the MS-ASHTTP request parser. The first line is the target,
// each further line a "Name: value" header. Besides not crashing, issue
// positions must lie within what they point into.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "detector/eas/request.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace hijackguard::detector::eas;  // NOLINT: test brevity
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nl = input.find('\n');
  const std::string_view target = input.substr(0, nl);
  std::vector<Header> headers;
  std::string_view rest =
      nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
  while (!rest.empty()) {
    const std::size_t end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    const std::size_t colon = line.find(':');
    headers.emplace_back(line.substr(0, colon), colon == std::string_view::npos
                                                    ? std::string_view()
                                                    : line.substr(colon + 1));
    rest = end == std::string_view::npos ? std::string_view()
                                         : rest.substr(end + 1);
  }
  for (std::string_view method : {"POST", "OPTIONS"}) {
    const ParsedRequest p = ParseEasRequest(target, headers, method);
    for (const RequestIssue& i : p.issues) {
      if (i.message.empty() || (i.where == "target" && i.position > 16384 &&
                                i.position > target.size())) {
        std::abort();
      }
    }
  }
  return 0;
}
