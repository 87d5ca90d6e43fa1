// Fuzz target: XML -> WBXML (pugixml and our encoder) on arbitrary text. It
// must never crash, and whatever it accepts must be a body the reader reads
// without any issue.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "detector/wbxml/reader.h"
#include "detector/wbxml/xml.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using namespace hijackguard::detector::wbxml;  // NOLINT: test brevity
  const std::string_view xml(reinterpret_cast<const char*>(data), size);
  auto body = XmlToWbxml(xml);
  if (!body.ok()) {
    if (body.status().message().empty()) {
      std::abort();
    }
    return 0;
  }
  Reader reader(*body);
  Event e;
  while (reader.Next(&e)) {
  }
  if (!reader.issues().empty()) {
    std::abort();
  }
  return 0;
}
