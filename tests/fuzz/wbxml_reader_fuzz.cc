// Fuzz target: the WBXML pull reader and the XML rendering on arbitrary bytes.
// Checks, besides not crashing: issue offsets lie within the input, event data
// are views into the input, starts and ends balance, renderings are UTF-8, and
// a body read without issues (and without mixed content) survives
// WBXML -> XML -> WBXML -> events unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/utf8.h"
#include "detector/wbxml/reader.h"
#include "detector/wbxml/xml.h"

namespace {

using namespace hijackguard::detector::wbxml;  // NOLINT: test brevity

void Require(bool condition) {
  if (!condition) {
    std::abort();
  }
}

struct Summary {
  std::vector<std::string> items;  // "S p t", "T text", "O bytes", "E"
  bool clean = true;               // no issues
  bool simple = true;              // no mixed content, one value at most
};

Summary Walk(std::string_view input, const ReaderOptions& options) {
  Summary s;
  Reader reader(input, options);
  Event e;
  struct Frame {
    int values = 0;
    int children = 0;
  };
  std::vector<Frame> frames;
  int depth = 0;
  while (reader.Next(&e)) {
    if (!e.data.empty()) {
      Require(e.data.data() >= input.data() &&
              e.data.data() + e.data.size() <= input.data() + input.size());
    }
    Require(e.offset < input.size());
    switch (e.type) {
      case Event::Type::kStartElement:
        Require(e.depth == depth + 1);
        if (!frames.empty()) {
          ++frames.back().children;
        }
        frames.push_back({});
        ++depth;
        s.items.push_back("S " + std::to_string(e.page) + " " +
                          std::to_string(e.token));
        break;
      case Event::Type::kEndElement: {
        Require(e.depth == depth && depth > 0);
        const Frame f = frames.back();
        frames.pop_back();
        --depth;
        if (f.values > 1 || (f.values > 0 && f.children > 0)) {
          s.simple = false;
        }
        s.items.emplace_back("E");
        break;
      }
      case Event::Type::kText:
      case Event::Type::kOpaque:
        Require(e.depth == depth);
        ++frames.back().values;
        if (e.data.empty() && e.type == Event::Type::kText) {
          // <X></X> and <X/> are the same in XML.
          s.simple = false;
        }
        s.items.push_back((e.type == Event::Type::kText ? "T " : "O ") +
                          std::string(e.data));
        break;
    }
  }
  for (const Issue& i : reader.issues()) {
    Require(i.offset <= input.size() || i.code == IssueCode::kBodyTooLarge);
    Require(!i.message.empty());
  }
  s.clean = reader.issues().empty();
  if (s.clean) {
    Require(depth == 0);
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  ReaderOptions strict;
  strict.max_body_bytes = 1 << 20;
  ReaderOptions lenient = strict;
  lenient.lenient = true;
  ReaderOptions fragment = strict;
  fragment.expect_header = false;

  const Summary s = Walk(input, strict);
  Walk(input, lenient);
  Walk(input, fragment);

  const XmlResult xml = WbxmlToXml(input, lenient);
  Require(hijackguard::IsValidUtf8(xml.xml));

  if (s.clean && s.simple) {
    const XmlResult rendered = WbxmlToXml(input, strict);
    auto again = XmlToWbxml(rendered.xml);
    Require(again.ok());
    const Summary t = Walk(*again, strict);
    Require(t.clean);
    Require(t.items == s.items);
  }
  return 0;
}
