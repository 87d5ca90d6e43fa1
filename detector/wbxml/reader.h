// A pull reader for ActiveSync WBXML bodies (MS-ASWBXML over WBXML 1.3).
//
// It walks a byte span once, without copying: text and opaque data are views
// into the input. Every problem is a value (an Issue with a code and the byte
// offset), never an exception or a crash; in strict mode the first issue ends
// the document, in lenient mode the reader skips what it can and goes on.
// Limits (body size, depth, text length, element count) bound the work and
// memory any input can cause.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hijackguard::detector::wbxml {

enum class IssueCode {
  kTruncated,           // the input ends inside the header, a token or a value
  kUnsupportedVersion,  // WBXML version other than 1.1-1.3
  kUnsupportedCharset,  // charset other than UTF-8 (106) or unknown (0)
  kOverlongInteger,     // mb_u_int32 with a redundant leading 0x80 byte
  kIntegerTooLarge,     // mb_u_int32 above 32 bits
  kUnknownCodePage,     // SWITCH_PAGE to a page that is not defined
  kUnknownToken,        // a tag token not defined on the current page
  kEndWithoutElement,   // END with no open element
  kUnterminatedString,  // STR_I without its NUL terminator
  kInvalidUtf8,         // text that is not UTF-8
  kUnsupportedToken,    // ENTITY, LITERAL, EXT, PI or attributes (not EAS)
  kStringTableReference,  // STR_T or a public-id reference outside the table
  kUnclosedElement,       // the input ends with elements still open
  kNoRootElement,         // no element after the header
  kContentOutsideRoot,    // text, opaque data or a second root at top level
  kBodyTooLarge,          // the body exceeds ReaderOptions::max_body_bytes
  kDepthLimit,            // nesting deeper than ReaderOptions::max_depth
  kTextTooLong,           // a text or opaque value over max_text_bytes
  kElementLimit,          // more than ReaderOptions::max_elements elements
  kValueLimit,            // more than ReaderOptions::max_values texts/opaques
};

// Stable upper-case name: "TRUNCATED", "UNKNOWN_TOKEN", ...
std::string_view IssueCodeName(IssueCode code);

struct Issue {
  IssueCode code;
  std::size_t offset;   // byte offset in the input where the problem is
  std::string message;  // for people: what was found there
};

struct ReaderOptions {
  // Largest body accepted. Default 16 MiB.
  std::size_t max_body_bytes = std::size_t{16} << 20;
  // Deepest element nesting. Default 64.
  int max_depth = 64;
  // Longest single text or opaque value. Default 4 MiB.
  std::size_t max_text_bytes = std::size_t{4} << 20;
  // Most elements in one body. Default 1,000,000.
  std::size_t max_elements = 1'000'000;
  // Most text and opaque values in one body. Default 1,000,000.
  std::size_t max_values = 1'000'000;
  // Most issues recorded (lenient mode can meet one per token); later ones
  // are only counted (Reader::suppressed_issues). Default 100.
  std::size_t max_issues = 100;
  // Strict (default): stop at the first issue. Lenient: record the issue,
  // skip what can be skipped (unknown pages and tokens are reported as
  // elements with no name; stray ENDs, ENTITY and EXT tokens are dropped) and
  // go on; truncation, malformed integers and limits still end the document.
  bool lenient = false;
  // Whether the input starts with the WBXML header (03 01 6A 00). Fragments
  // captured without it (some test fixtures) set this to false.
  bool expect_header = true;
};

struct Header {
  std::uint8_t version = 0x03;
  std::uint32_t public_id = 1;
  std::uint32_t charset = 106;
  std::string_view string_table;  // empty in EAS
};

struct Event {
  enum class Type { kStartElement, kEndElement, kText, kOpaque };
  Type type = Type::kStartElement;
  std::uint8_t page = 0;     // code page of the element
  std::uint8_t token = 0;    // token without the content/attribute bits
  bool has_content = false;  // start: the element has content (0x40)
  std::string_view data;     // text (UTF-8, no NUL) or opaque bytes
  std::size_t offset = 0;    // byte offset of the token in the input
  int depth = 0;             // 1 for the root element and its text
};

// Reads one body. Not thread-safe; the input must outlive the reader and every
// Event's data.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> input,
                  const ReaderOptions& options = {});
  explicit Reader(std::string_view input, const ReaderOptions& options = {});

  // Reads the next event into `*event`. Returns false at the end of the
  // document, after a fatal issue, or in strict mode after any issue. An
  // element without content yields a start event immediately followed by its
  // end event.
  bool Next(Event* event);

  // Valid once Next() has been called.
  const Header& header() const { return header_; }
  // Every issue found so far, in input order.
  const std::vector<Issue>& issues() const { return issues_; }
  // Elements started so far.
  std::size_t element_count() const { return elements_; }
  // Issues found after max_issues were recorded.
  std::size_t suppressed_issues() const { return suppressed_issues_; }

 private:
  // An open element as page << 8 | token (one 16-bit value: building it from
  // two byte stores and reading it back as one stalls store forwarding).
  using Open = std::uint16_t;
  enum class State { kHeader, kBody, kPendingEnd, kDone };

  // Next() handles the common tokens (tags, END, STR_I in the body); this
  // handles everything else, including every issue.
  [[gnu::noinline]] bool NextSlow(Event* event);
  // One token of NextSlow's: an event for the caller, one skipped (read
  // on), or the end (a fatal issue, or any in strict mode).
  enum class Step { kEvent, kSkip, kStop };
  Step ReadToken(Event* event);
  static Step Continue(bool go_on);  // kSkip or kStop
  Step SwitchPage(std::size_t at);
  Step EndTag(std::size_t at, Event* event);
  Step Value(std::uint8_t b, std::size_t at, Event* event);
  bool ReadOpaque(std::size_t at, std::string_view* value);
  // Global tokens EAS never uses, with what they carry.
  Step SkipExtension(std::uint8_t b, std::size_t at);
  Step Tag(std::uint8_t b, std::size_t at, Event* event);
  bool ReadHeader();
  bool ReadMbUInt32(std::uint32_t* value);
  bool ReadInlineString(std::size_t token_offset, std::string_view* out);
  bool ReadTableString(std::uint32_t index, std::size_t token_offset,
                       std::string_view* out);
  bool CheckText(std::string_view text, std::size_t at);
  bool Finish(Event* event);
  // Records an issue. Returns true when reading may go on.
  bool Report(IssueCode code, std::size_t offset, std::string message);
  bool Fatal(IssueCode code, std::size_t offset, std::string message);

  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  ReaderOptions options_;
  Header header_;
  State state_ = State::kHeader;
  std::uint8_t page_ = 0;
  std::uint64_t known_tokens_;  // KnownTokenMask(page_)
  std::vector<Open> open_;
  std::size_t elements_ = 0;
  std::size_t values_ = 0;
  std::size_t suppressed_issues_ = 0;
  bool root_closed_ = false;
  Event pending_end_;
  std::vector<Issue> issues_;
};

}  // namespace hijackguard::detector::wbxml
