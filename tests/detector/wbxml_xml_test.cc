#include "detector/wbxml/reader.h"
#include "detector/wbxml/xml.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/common/status_matchers.h"
#include "tests/detector/wbxml_test_util.h"

namespace hijackguard::detector::wbxml {
namespace {

using ::hijackguard::testing::IsOk;
using ::hijackguard::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr const char* kSpecExampleRendered =
    R"(<?xml version="1.0" encoding="utf-8"?>
<Sync xmlns="AirSync:" xmlns:contacts="Contacts:" xmlns:airsyncbase="AirSyncBase:">
  <Collections>
    <Collection>
      <Class>Contacts</Class>
      <SyncKey>2</SyncKey>
      <CollectionId>2</CollectionId>
      <Status>1</Status>
      <Commands>
        <Add>
          <ServerId>2:1</ServerId>
          <ApplicationData>
            <airsyncbase:Body>
              <airsyncbase:Type>1</airsyncbase:Type>
              <airsyncbase:EstimatedDataSize>0</airsyncbase:EstimatedDataSize>
              <airsyncbase:Truncated>1</airsyncbase:Truncated>
            </airsyncbase:Body>
            <contacts:FileAs>Funk, Don</contacts:FileAs>
            <contacts:FirstName>Don</contacts:FirstName>
            <contacts:LastName>Funk</contacts:LastName>
            <airsyncbase:NativeBodyType>1</airsyncbase:NativeBodyType>
          </ApplicationData>
        </Add>
      </Commands>
    </Collection>
  </Collections>
</Sync>
)";

TEST(WbxmlXmlTest, SpecExampleDecodesToTheDocumentedXml) {
  const XmlResult r = WbxmlToXml(testing::SpecExampleBytes());
  EXPECT_THAT(r.issues, IsEmpty());
  EXPECT_EQ(r.xml, kSpecExampleRendered);
  // The same document as the specification writes it (namespaces without the
  // colon, prefixes declared in another order) means the same elements.
  auto from_spec_xml = XmlToWbxml(testing::kSpecExampleXml);
  ASSERT_THAT(from_spec_xml, IsOk());
  EXPECT_EQ(WbxmlToXml(*from_spec_xml).xml, kSpecExampleRendered);
}

TEST(WbxmlXmlTest, SpecExampleXmlEncodesToTheDocumentedBytes) {
  auto bytes = XmlToWbxml(testing::kSpecExampleXml);
  ASSERT_THAT(bytes, IsOk());
  EXPECT_EQ(*bytes, testing::SpecExampleBytes());
}

TEST(WbxmlXmlTest, CorpusRoundTripsXmlToWbxmlToXml) {
  const auto files = testing::CorpusFiles();
  ASSERT_GE(files.size(), 10u);
  for (const std::string& file : files) {
    const std::string xml = testing::ReadCorpus(file);
    auto bytes = XmlToWbxml(xml);
    ASSERT_THAT(bytes, IsOk()) << file;
    EXPECT_EQ(bytes->substr(0, 4), std::string("\x03\x01\x6A\x00", 4)) << file;
    const XmlResult back = WbxmlToXml(*bytes);
    EXPECT_THAT(back.issues, IsEmpty()) << file;
    EXPECT_EQ(back.xml, xml) << file;
    // And the bytes are stable: encoding the rendering gives them again.
    EXPECT_EQ(*XmlToWbxml(back.xml), *bytes) << file;
  }
}

TEST(WbxmlXmlTest, SwitchPageOnlyWhenThePageChanges) {
  auto bytes = XmlToWbxml(R"(<Sync xmlns="AirSync:" xmlns:c="Calendar:">
      <ApplicationData><c:Subject>a</c:Subject><c:Location>b</c:Location>
      </ApplicationData><SyncKey>1</SyncKey></Sync>)");
  ASSERT_THAT(bytes, IsOk());
  EXPECT_EQ(*bytes, testing::Hex("03 01 6A 00 45 5D 00 04 66 03 61 00 01 57 03 "
                                 "62 00 01 01 00 00 4B 03 31 00 01 01"));
}

TEST(WbxmlXmlTest, OpaqueDataRoundTripsAsBase64) {
  auto bytes = XmlToWbxml(
      R"(<SendMail xmlns="ComposeMail:"><Mime opaque="base64">AAEC/w==</Mime></SendMail>)");
  ASSERT_THAT(bytes, IsOk());
  EXPECT_EQ(*bytes,
            testing::Hex("03 01 6A 00 00 15 45 50 C3 04 00 01 02 FF 01 01"));
}

TEST(WbxmlXmlTest, EmptyOpaqueSurvivesTheRoundTrip) {
  // Found by wbxml_reader_fuzz: <X opaque="base64"></X> lost its empty OPAQUE.
  const std::string body = testing::Hex("03 01 6A 00 00 15 45 50 C3 00 01 01");
  const XmlResult xml = WbxmlToXml(body);
  EXPECT_THAT(xml.xml, HasSubstr("<Mime opaque=\"base64\"></Mime>"));
  EXPECT_EQ(*XmlToWbxml(xml.xml), body);
}

TEST(WbxmlXmlTest, EscapesTextAndControlCharacters) {
  auto bytes = XmlToWbxml(
      "<Sync "
      "xmlns=\"AirSync:\"><SyncKey>a&amp;b&lt;c&gt;&#x1;&#xD;</SyncKey></"
      "Sync>");
  ASSERT_THAT(bytes, IsOk());
  const XmlResult r =
      WbxmlToXml(*bytes, {}, {.indent = 0, .declaration = false});
  EXPECT_EQ(r.xml,
            "<Sync "
            "xmlns=\"AirSync:\"><SyncKey>a&amp;b&lt;c&gt;&#x1;&#xD;</SyncKey></"
            "Sync>");
}

TEST(WbxmlXmlTest, LenientRenderingShowsUnknownElementsAndRepairsText) {
  ReaderOptions lenient;
  lenient.lenient = true;
  const XmlResult r =
      WbxmlToXml(testing::Hex("03 01 6A 00 45 7F 03 61 FF 00 01 01"), lenient,
                 {.indent = 0, .declaration = false});
  EXPECT_EQ(r.xml,
            "<Sync "
            "xmlns=\"AirSync:\"><UnknownTag_p0_t63>a\xEF\xBF\xBD</"
            "UnknownTag_p0_t63></Sync>");
  ASSERT_EQ(r.issues.size(), 2u);
}

// The streamed rendering is the in-memory one, cut into pieces: for every
// corpus body, a body of many pieces, a truncated body and a lenient one.
TEST(WbxmlXmlTest, StreamedRenderingIsTheSameText) {
  auto streamed = [](std::string_view body, const ReaderOptions& reader,
                     const XmlOptions& options, std::size_t* pieces) {
    std::string text;
    *pieces = 0;
    const std::vector<Issue> issues = WbxmlToXmlStream(
        body,
        [&](std::string_view piece) {
          EXPECT_FALSE(piece.empty());
          text.append(piece);
          ++*pieces;
        },
        reader, options);
    return std::pair(text, issues.size());
  };
  std::vector<std::string> bodies;
  for (const std::string& file : testing::CorpusFiles()) {
    bodies.push_back(*XmlToWbxml(testing::ReadCorpus(file)));
  }
  // About 1 MiB: several pieces of 256 KiB.
  std::string big_xml = testing::ReadCorpus(
      testing::CorpusDir() + "/sync_response_calendar_add_exceptions.xml");
  const std::size_t add_from = big_xml.find("        <Add>");
  const std::size_t add_to = big_xml.find("</Add>") + 7;
  const std::string add = big_xml.substr(add_from, add_to - add_from);
  std::string adds;
  for (int i = 0; i < 1500; ++i) {
    adds += add;
  }
  big_xml.replace(add_from, add_to - add_from, adds);
  bodies.push_back(*XmlToWbxml(big_xml));
  bodies.push_back(bodies.back().substr(0, 300000));  // cut mid-element
  // A second root after the end (lenient reads go on), with another page.
  bodies.push_back(testing::Hex("03 01 6A 00 45 45 01 01 00 04 45 01"));
  ReaderOptions lenient;
  lenient.lenient = true;
  for (const std::string& body : bodies) {
    for (const ReaderOptions& reader : {ReaderOptions{}, lenient}) {
      for (const XmlOptions& options :
           {XmlOptions{}, XmlOptions{.indent = 0, .declaration = false}}) {
        const XmlResult whole = WbxmlToXml(body, reader, options);
        std::size_t pieces = 0;
        const auto [text, issues] = streamed(body, reader, options, &pieces);
        EXPECT_EQ(text, whole.xml) << body.size();
        EXPECT_EQ(issues, whole.issues.size());
        if (body.size() > 100000) {
          EXPECT_GT(pieces, 1u) << "not streamed";
        }
      }
    }
  }
  // Lenient with unknown tags and repaired text.
  std::size_t pieces = 0;
  EXPECT_EQ(streamed(testing::Hex("03 01 6A 00 45 7F 03 61 FF 00 01 01"),
                     lenient, {.indent = 0, .declaration = false}, &pieces)
                .first,
            "<Sync xmlns=\"AirSync:\"><UnknownTag_p0_t63>a\xEF\xBF\xBD</"
            "UnknownTag_p0_t63></Sync>");
}

struct XmlErrorCase {
  std::string name;
  std::string xml;
  std::string message;
  friend void PrintTo(const XmlErrorCase& c, std::ostream* os) {
    *os << c.name;
  }
};

class XmlErrorTest : public ::testing::TestWithParam<XmlErrorCase> {};

TEST_P(XmlErrorTest, NamesTheProblemAndWhere) {
  EXPECT_THAT(XmlToWbxml(GetParam().xml),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(GetParam().message)));
}

INSTANTIATE_TEST_SUITE_P(
    Xml, XmlErrorTest,
    ::testing::Values(
        XmlErrorCase{"NotXml",
                     "<Sync xmlns=\"AirSync:\">\n<Collections>\n</Sync>",
                     "XML line 3, column 3"},
        XmlErrorCase{"Empty", "", "XML"},
        XmlErrorCase{"NoNamespace", "<Sync/>", "<Sync>: no namespace"},
        XmlErrorCase{"UnknownNamespace", "<Sync xmlns=\"urn:nope\"/>",
                     "namespace \"urn:nope\" is not an ActiveSync code page"},
        XmlErrorCase{
            "UnknownElement",
            "<Sync xmlns=\"AirSync:\">\n  <Frobnicate/>\n</Sync>",
            "XML line 2, column 4: <Frobnicate>: not an element of code "
            "page AirSync"},
        XmlErrorCase{"UndeclaredPrefix",
                     "<Sync xmlns=\"AirSync:\"><c:Subject/></Sync>",
                     "prefix \"c\" is not declared"},
        XmlErrorCase{"Attribute", "<Sync xmlns=\"AirSync:\" version=\"1\"/>",
                     "attribute \"version\""},
        XmlErrorCase{"BadOpaque",
                     "<SendMail xmlns=\"ComposeMail:\"><Mime "
                     "opaque=\"base64\">a!</Mime></SendMail>",
                     "base64: invalid character at offset 1"},
        XmlErrorCase{"NulCharacter",
                     "<Sync xmlns=\"AirSync:\"><SyncKey>&#0;</SyncKey></Sync>",
                     "XML line 1, column 33: a character reference to NUL"}),
    [](const auto& test_info) { return test_info.param.name; });

TEST(WbxmlXmlTest, DeepXmlIsRefusedWithoutRecursion) {
  std::string xml = "<Sync xmlns=\"AirSync:\">";
  for (int i = 0; i < 100000; ++i) {
    xml += "<Collections>";
  }
  EXPECT_THAT(XmlToWbxml(xml), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(WbxmlXmlTest, WideXmlIsNotMistakenForDeep) {
  std::string xml = "<Sync xmlns=\"AirSync:\"><Collections>";
  for (int i = 0; i < 1000; ++i) {
    xml += "<Collection><SyncKey>1</SyncKey></Collection>";
  }
  xml += "</Collections></Sync>";
  EXPECT_THAT(XmlToWbxml(xml), IsOk());
}

TEST(WbxmlXmlTest, JsonEventsDescribeEveryEvent) {
  const XmlResult r = WbxmlToJsonEvents(testing::SpecExampleBytes());
  EXPECT_THAT(r.issues, IsEmpty());
  const auto doc = nlohmann::json::parse(r.xml);
  EXPECT_EQ(doc["header"]["charset"], 106);
  const auto& events = doc["events"];
  ASSERT_EQ(events.size(), 50u);  // 19 elements x 2 + 12 texts
  EXPECT_EQ(events[0]["type"], "start");
  EXPECT_EQ(events[0]["name"], "Sync");
  EXPECT_EQ(events[0]["offset"], 4);
  EXPECT_EQ(events[0]["content"], true);
  EXPECT_EQ(events[3]["type"], "start");
  EXPECT_EQ(events[3]["name"], "Class");
  EXPECT_EQ(events[4]["text"], "Contacts");
}

}  // namespace
}  // namespace hijackguard::detector::wbxml
