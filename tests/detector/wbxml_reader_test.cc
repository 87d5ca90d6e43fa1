#include <memory>

#include "detector/wbxml/document.h"
#include "detector/wbxml/encoder.h"
#include "detector/wbxml/reader.h"
#include "detector/wbxml/xml.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/detector/wbxml_test_util.h"

namespace hijackguard::detector::wbxml {
namespace {

using ::testing::ElementsAre;
using testing::Hex;
using ::testing::IsEmpty;

constexpr std::string_view kHeader("\x03\x01\x6A\x00", 4);

std::string Body(std::string_view hex) {
  return std::string(kHeader) + Hex(hex);
}

// The events of a whole read. It owns a copy of the input (on the heap, so
// moving the result keeps the events' views valid).
struct ReadAll {
  std::unique_ptr<std::string> input;
  std::vector<Event> events;
  std::vector<Issue> issues;
};

ReadAll Read(std::string_view bytes, ReaderOptions options = {}) {
  ReadAll r;
  r.input = std::make_unique<std::string>(bytes);
  Reader reader(*r.input, options);
  Event e;
  while (reader.Next(&e)) {
    r.events.push_back(e);
  }
  r.issues = reader.issues();
  return r;
}

TEST(WbxmlReaderTest, SpecExampleEventsAndZeroCopyText) {
  const std::string bytes = testing::SpecExampleBytes();
  Reader reader(bytes);
  Event e;
  ASSERT_TRUE(reader.Next(&e));
  EXPECT_EQ(e.type, Event::Type::kStartElement);
  EXPECT_EQ(e.page, 0);
  EXPECT_EQ(e.token, 0x05);
  EXPECT_TRUE(e.has_content);
  EXPECT_EQ(e.offset, 4u);
  EXPECT_EQ(e.depth, 1);
  int texts = 0;
  while (reader.Next(&e)) {
    if (e.type == Event::Type::kText) {
      ++texts;
      EXPECT_GE(e.data.data(), bytes.data());
      EXPECT_LE(e.data.data() + e.data.size(), bytes.data() + bytes.size())
          << "text is a view into the input";
    }
  }
  EXPECT_EQ(texts, 12);
  EXPECT_THAT(reader.issues(), IsEmpty());
  EXPECT_EQ(reader.header().version, 0x03);
  EXPECT_EQ(reader.header().public_id, 1u);
  EXPECT_EQ(reader.header().charset, 106u);
  EXPECT_EQ(reader.element_count(), 19u);
}

TEST(WbxmlReaderTest, EmptyElementYieldsStartThenEnd) {
  const ReadAll r = Read(Body("45 13 01"));  // <Sync><GetChanges/></Sync>
  ASSERT_EQ(r.events.size(), 4u);
  EXPECT_EQ(r.events[1].type, Event::Type::kStartElement);
  EXPECT_FALSE(r.events[1].has_content);
  EXPECT_EQ(r.events[2].type, Event::Type::kEndElement);
  EXPECT_EQ(r.events[2].token, 0x13);
  EXPECT_THAT(r.issues, IsEmpty());
}

TEST(WbxmlReaderTest, StringTableIsReadAndHonoured) {
  // Header with a 4-byte string table "abc\0"; STR_T 0 inside Sync.
  const std::string body = Hex("03 01 6A 04 61 62 63 00 45 83 00 01");
  const ReadAll r = Read(body);
  ASSERT_EQ(r.events.size(), 3u);
  EXPECT_EQ(r.events[1].type, Event::Type::kText);
  EXPECT_EQ(r.events[1].data, "abc");
  EXPECT_THAT(r.issues, IsEmpty());
  // Public id 0 refers to the table for its name.
  EXPECT_THAT(Read(Hex("03 00 00 6A 04 61 62 63 00 45 01")).issues, IsEmpty());
}

TEST(WbxmlReaderTest, MultiByteIntegersRoundTrip) {
  for (std::uint32_t v : {0u, 1u, 127u, 128u, 16383u, 16384u, 2097151u,
                          268435455u, 268435456u, 0xFFFFFFFFu}) {
    std::string body(kHeader);
    body += "\x45";  // <Sync>
    body += "\xC3";  // OPAQUE
    AppendMbUInt32(&body, v);
    // Only small values can carry their bytes; for large ones expect the
    // length to be read correctly and then truncation.
    const bool fits = v < 1000;
    body.append(fits ? v : 0, 'x');
    body += "\x01";
    const ReadAll r = Read(body);
    if (fits) {
      ASSERT_THAT(r.issues, IsEmpty()) << v;
      EXPECT_EQ(r.events[1].data.size(), v);
    } else {
      ASSERT_EQ(r.issues.size(), 1u) << v;
      EXPECT_EQ(r.issues[0].code, v > (std::size_t{4} << 20)
                                      ? IssueCode::kTextTooLong
                                      : IssueCode::kTruncated)
          << v;
    }
  }
}

struct IssueCase {
  std::string name;
  std::string input;
  IssueCode code;
  std::size_t offset;
  ReaderOptions options = {};
  friend void PrintTo(const IssueCase& c, std::ostream* os) { *os << c.name; }
};

std::vector<IssueCase> IssueCases() {
  ReaderOptions small_body;
  small_body.max_body_bytes = 8;
  ReaderOptions shallow;
  shallow.max_depth = 3;
  ReaderOptions short_text;
  short_text.max_text_bytes = 4;
  ReaderOptions few_elements;
  few_elements.max_elements = 2;
  ReaderOptions few_values;
  few_values.max_values = 2;
  return {
      {"EmptyInput", "", IssueCode::kTruncated, 0},
      {"HeaderCut", Hex("03 01"), IssueCode::kTruncated, 2},
      {"StringTableCut", Hex("03 01 6A 05 61"), IssueCode::kTruncated, 3},
      {"SwitchPageCut", Body("45 00"), IssueCode::kTruncated, 5},
      {"OpaqueLengthCut", Body("45 C3"), IssueCode::kTruncated, 6},
      {"OpaqueBytesCut", Body("45 C3 05 61 62"), IssueCode::kTruncated, 5},
      {"Version", Hex("04 01 6A 00 45 01"), IssueCode::kUnsupportedVersion, 0},
      {"Charset", Hex("03 01 04 00 45 01"), IssueCode::kUnsupportedCharset, 2},
      {"OverlongInteger", Body("45 C3 80 01 61 01"),
       IssueCode::kOverlongInteger, 6},
      {"IntegerOver32Bits", Body("45 C3 90 80 80 80 00 01"),
       IssueCode::kIntegerTooLarge, 6},
      {"IntegerOverFiveBytes", Body("45 C3 81 81 81 81 81 01"),
       IssueCode::kIntegerTooLarge, 6},
      {"UnknownCodePage", Body("45 00 1A 45 01 01"),
       IssueCode::kUnknownCodePage, 5},
      {"UnknownToken", Body("45 3F 01"), IssueCode::kUnknownToken, 5},
      {"UnknownTokenOnCalendar", Body("45 00 04 7F 01 01"),
       IssueCode::kUnknownToken, 7},
      {"EndWithoutElement", Body("45 01 01"), IssueCode::kEndWithoutElement, 6},
      {"UnterminatedString", Body("45 03 61 62 63"),
       IssueCode::kUnterminatedString, 5},
      {"InvalidUtf8", Body("45 03 61 C0 AF 00 01"), IssueCode::kInvalidUtf8, 7},
      {"Surrogate", Body("45 03 ED A0 80 00 01"), IssueCode::kInvalidUtf8, 6},
      {"Entity", Body("45 02 41 01"), IssueCode::kUnsupportedToken, 5},
      {"Literal", Body("45 04 00 01"), IssueCode::kUnsupportedToken, 5},
      {"ProcessingInstruction", Body("45 43 01"), IssueCode::kUnsupportedToken,
       5},
      {"Attributes", Body("C5 01"), IssueCode::kUnsupportedToken, 4},
      {"ExtensionToken", Body("45 C0 01"), IssueCode::kUnsupportedToken, 5},
      {"StringTableReference", Hex("03 01 6A 02 61 00 45 83 05 01"),
       IssueCode::kStringTableReference, 7},
      {"UnclosedElement", Body("45 5C 4F"), IssueCode::kUnclosedElement, 7},
      {"NoRootElement", Body(""), IssueCode::kNoRootElement, 4},
      {"TextBeforeRoot", Body("03 78 00 45 01"), IssueCode::kContentOutsideRoot,
       4},
      {"SecondRoot", Body("45 01 45 01"), IssueCode::kContentOutsideRoot, 6},
      {"BodyTooLarge", Body("45 03 61 62 63 00 01"), IssueCode::kBodyTooLarge,
       8, small_body},
      {"DepthLimit", Body("45 5C 4F 56 01 01 01 01"), IssueCode::kDepthLimit, 7,
       shallow},
      {"TextTooLong", Body("45 03 61 62 63 64 65 00 01"),
       IssueCode::kTextTooLong, 6, short_text},
      {"OpaqueTooLong", Body("45 C3 05 61 62 63 64 65 01"),
       IssueCode::kTextTooLong, 5, short_text},
      {"ElementLimit", Body("45 13 13 01"), IssueCode::kElementLimit, 6,
       few_elements},
      {"ValueLimit", Body("45 03 00 C3 00 03 00 01"), IssueCode::kValueLimit, 9,
       few_values},
  };
}

class WbxmlIssueTest : public ::testing::TestWithParam<IssueCase> {};

TEST_P(WbxmlIssueTest, ReportsTheCodeAtItsOffset) {
  const IssueCase& c = GetParam();
  const ReadAll r = Read(c.input, c.options);
  ASSERT_FALSE(r.issues.empty());
  EXPECT_EQ(IssueCodeName(r.issues[0].code), IssueCodeName(c.code))
      << r.issues[0].message;
  EXPECT_EQ(r.issues[0].offset, c.offset) << r.issues[0].message;
  EXPECT_FALSE(r.issues[0].message.empty());
  EXPECT_EQ(r.issues.size(), 1u) << "strict mode stops at the first issue";
}

INSTANTIATE_TEST_SUITE_P(Codes, WbxmlIssueTest,
                         ::testing::ValuesIn(IssueCases()),
                         [](const auto& test_info) {
                           return test_info.param.name;
                         });

TEST(WbxmlReaderTest, LenientModeSkipsAndGoesOn) {
  ReaderOptions lenient;
  lenient.lenient = true;
  // Unknown token 0x3F, a stray END after the root, an ENTITY, then nothing.
  const ReadAll r = Read(Body("45 3F 02 41 4B 03 31 00 01 01 01"), lenient);
  std::vector<std::string> codes;
  for (const Issue& i : r.issues) {
    codes.emplace_back(IssueCodeName(i.code));
  }
  EXPECT_THAT(codes, ElementsAre("UNKNOWN_TOKEN", "UNSUPPORTED_TOKEN",
                                 "END_WITHOUT_ELEMENT"));
  // The unknown element is still reported, and SyncKey's text is read.
  ASSERT_GE(r.events.size(), 6u);
  EXPECT_EQ(r.events[1].token, 0x3F);
  EXPECT_EQ(r.events[4].data, "1");
}

TEST(WbxmlReaderTest, LenientIssuesAreCappedSoMemoryIsBounded) {
  // One unknown token after another: a lenient read meets an issue per byte.
  std::string body = Body("45");
  body.append(100000, '\x3F');
  body.push_back('\x01');
  ReaderOptions lenient;
  lenient.lenient = true;
  Reader reader(body, lenient);
  Event e;
  while (reader.Next(&e)) {
  }
  EXPECT_EQ(reader.issues().size(), 100u);
  EXPECT_EQ(reader.suppressed_issues(), 99900u);
}

TEST(WbxmlReaderTest, LenientModeStillStopsAtTruncation) {
  ReaderOptions lenient;
  lenient.lenient = true;
  const ReadAll r = Read(Body("45 03 61 62"), lenient);
  ASSERT_EQ(r.issues.size(), 1u);
  EXPECT_EQ(r.issues[0].code, IssueCode::kUnterminatedString);
}

TEST(WbxmlReaderTest, FragmentsWithoutHeader) {
  ReaderOptions fragment;
  fragment.expect_header = false;
  const ReadAll r = Read(Hex("5D 00 04 66 03 31 00 01 01"), fragment);
  EXPECT_THAT(r.issues, IsEmpty());
  ASSERT_EQ(r.events.size(), 5u);
  EXPECT_EQ(r.events[1].page, 4);
}

TEST(WbxmlReaderTest, TruncationAtEveryOffsetOfEveryCorpusBodyIsReported) {
  std::size_t prefixes = 0;
  for (const std::string& file : testing::CorpusFiles()) {
    auto body = XmlToWbxml(testing::ReadCorpus(file));
    ASSERT_TRUE(body.ok()) << file << body.status();
    for (std::size_t n = 0; n < body->size(); ++n) {
      const std::string_view prefix = std::string_view(*body).substr(0, n);
      for (bool lenient : {false, true}) {
        ReaderOptions options;
        options.lenient = lenient;
        const ReadAll r = Read(prefix, options);
        ASSERT_FALSE(r.issues.empty()) << file << " cut at " << n;
        for (const Issue& i : r.issues) {
          ASSERT_LE(i.offset, n) << file << " cut at " << n;
        }
      }
      ++prefixes;
    }
    EXPECT_THAT(Read(*body).issues, IsEmpty()) << file;
  }
  EXPECT_GT(prefixes, 2000u);
}

TEST(WbxmlDocumentTest, TreeOverTheSpecExample) {
  const std::string bytes = testing::SpecExampleBytes();
  const Document doc = Decode(bytes);
  ASSERT_THAT(doc.issues, IsEmpty());
  const Node* root = doc.root();
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(doc.Name(*root), "Sync");
  const Node& collections = doc.at(root->first_child);
  EXPECT_EQ(doc.Name(collections), "Collections");
  const Node& collection = doc.at(collections.first_child);
  const Node& klass = doc.at(collection.first_child);
  EXPECT_EQ(doc.Name(klass), "Class");
  EXPECT_EQ(doc.Text(klass), "Contacts");
  const Node& sync_key = doc.at(klass.next_sibling);
  EXPECT_EQ(doc.Text(sync_key), "2");
  EXPECT_EQ(sync_key.parent, collections.first_child);
}

}  // namespace
}  // namespace hijackguard::detector::wbxml
