// Differential test against an independent implementation: Debian's libwbxml2
// decodes the same bodies, and both must agree element by element on the code
// page and token of every element and on every text (opaque data: libwbxml
// prints base64). libwbxml names a few elements differently (e.g.
// Organizer_Email, TimeZone, MIME); names are mapped to (page, token) through
// our tables, which accept those names as aliases, so only real disagreements
// about tokens or text remain.
#include "wbxml/wbxml.h"

#include <cstdlib>

#include "common/base64.h"
#include "common/strings.h"
#include "detector/wbxml/code_pages.h"
#include "detector/wbxml/reader.h"
#include "detector/wbxml/xml.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pugixml.hpp"
#include "tests/detector/wbxml_test_util.h"
#include "wbxml/wbxml_conv.h"

namespace hijackguard::detector::wbxml {
namespace {

// One element start, text or end, as "S p/t", "T text", "E".
using Item = std::string;

std::vector<Item> Ours(std::string_view body) {
  std::vector<Item> items;
  Reader reader(body);
  Event e;
  while (reader.Next(&e)) {
    switch (e.type) {
      case Event::Type::kStartElement:
        items.push_back(StrCat("S ", static_cast<int>(e.page), "/",
                               static_cast<int>(e.token)));
        break;
      case Event::Type::kEndElement:
        items.emplace_back("E");
        break;
      case Event::Type::kText:
        items.push_back(StrCat("T ", e.data));
        break;
      case Event::Type::kOpaque:
        items.push_back(StrCat("T ", Base64Encode(e.data)));
        break;
    }
  }
  EXPECT_THAT(reader.issues(), ::testing::IsEmpty());
  return items;
}

// libwbxml's XML for `body` (compact, ActiveSync language).
std::string LibwbxmlXml(const std::string& body) {
  WBXMLConvWBXML2XML* conv = nullptr;
  EXPECT_EQ(wbxml_conv_wbxml2xml_create(&conv), WBXML_OK);
  wbxml_conv_wbxml2xml_set_language(conv, WBXML_LANG_ACTIVESYNC);
  wbxml_conv_wbxml2xml_set_gen_type(conv, WBXML_GEN_XML_COMPACT);
  wbxml_conv_wbxml2xml_enable_preserve_whitespaces(conv);
  WB_UTINY* xml = nullptr;
  WB_ULONG xml_len = 0;
  std::string copy = body;
  const WBXMLError err = wbxml_conv_wbxml2xml_run(
      conv, reinterpret_cast<WB_UTINY*>(copy.data()),
      static_cast<WB_ULONG>(copy.size()), &xml, &xml_len);
  wbxml_conv_wbxml2xml_destroy(conv);
  EXPECT_EQ(err, WBXML_OK) << wbxml_errors_string(err);
  std::string out(reinterpret_cast<const char*>(xml), xml_len);
  std::free(xml);
  return out;
}

// Flattens libwbxml's XML into the same items, resolving each element's
// default namespace (libwbxml redeclares it where the page changes).
std::vector<Item> Theirs(const std::string& xml,
                         std::vector<std::string>* unmapped) {
  pugi::xml_document doc;
  EXPECT_TRUE(
      doc.load_buffer(xml.data(), xml.size(),
                      pugi::parse_default | pugi::parse_ws_pcdata_single));
  std::vector<Item> items;
  struct Frame {
    pugi::xml_node node;
    std::string ns;
    bool exit;
  };
  std::vector<Frame> stack{{doc.document_element(), "", false}};
  while (!stack.empty()) {
    Frame f = stack.back();
    stack.pop_back();
    if (f.exit) {
      items.emplace_back("E");
      continue;
    }
    if (f.node.type() == pugi::node_pcdata ||
        f.node.type() == pugi::node_cdata) {
      items.push_back(StrCat("T ", f.node.value()));
      continue;
    }
    std::string ns = f.ns;
    if (const auto a = f.node.attribute("xmlns")) {
      ns = a.value();
    }
    const CodePage* page = FindCodePageByNamespace(ns);
    std::optional<std::uint8_t> token;
    if (page != nullptr) {
      token = FindTag(page->number, f.node.name());
      if (!token) {
        // Known naming disagreement: libwbxml prefixes some Calendar names
        // with their parent ("Attendee_Type", "Exception_StartTime") where the
        // specification says AttendeeType and ExceptionStartTime.
        std::string joined = f.node.name();
        std::erase(joined, '_');
        token = FindTag(page->number, joined);
      }
    }
    if (!token) {
      unmapped->push_back(StrCat(ns, " ", f.node.name()));
      items.push_back(StrCat("S ?", f.node.name()));
    } else {
      items.push_back(StrCat("S ", static_cast<int>(page->number), "/",
                             static_cast<int>(*token)));
    }
    stack.push_back({f.node, ns, true});
    std::vector<pugi::xml_node> children(f.node.children().begin(),
                                         f.node.children().end());
    for (auto it = children.rbegin(); it != children.rend(); ++it) {
      stack.push_back({*it, ns, false});
    }
  }
  return items;
}

TEST(LibwbxmlDifferentialTest, AgreesOnTheWholeCorpusAndTheSpecExample) {
  std::vector<std::pair<std::string, std::string>> bodies = {
      {"MS-ASWBXML example", testing::SpecExampleBytes()}};
  for (const std::string& file : testing::CorpusFiles()) {
    auto body = XmlToWbxml(testing::ReadCorpus(file));
    ASSERT_TRUE(body.ok()) << file;
    bodies.emplace_back(file, *body);
  }
  std::size_t compared = 0;
  for (const auto& [name, body] : bodies) {
    std::vector<std::string> unmapped;
    const std::vector<Item> ours = Ours(body);
    const std::vector<Item> theirs = Theirs(LibwbxmlXml(body), &unmapped);
    EXPECT_THAT(unmapped, ::testing::IsEmpty())
        << name << ": libwbxml names no table knows";
    EXPECT_EQ(ours, theirs) << name;
    compared += ours.size();
  }
  EXPECT_GT(compared, 500u);
}

}  // namespace
}  // namespace hijackguard::detector::wbxml
