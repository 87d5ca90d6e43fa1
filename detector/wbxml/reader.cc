#include "detector/wbxml/reader.h"

#include <bit>
#include <cstring>

#include "common/strings.h"
#include "common/utf8.h"
#include "detector/wbxml/code_pages.h"

namespace hijackguard::detector::wbxml {
namespace {

// Global tokens (WBXML 1.3 §7.1).
constexpr std::uint8_t kSwitchPage = 0x00;
constexpr std::uint8_t kEnd = 0x01;
constexpr std::uint8_t kEntity = 0x02;
constexpr std::uint8_t kStrI = 0x03;
constexpr std::uint8_t kLiteral = 0x04;
constexpr std::uint8_t kExtI0 = 0x40;
constexpr std::uint8_t kExtI2 = 0x42;
constexpr std::uint8_t kPi = 0x43;
constexpr std::uint8_t kLiteralC = 0x44;
constexpr std::uint8_t kExtT0 = 0x80;
constexpr std::uint8_t kExtT2 = 0x82;
constexpr std::uint8_t kStrT = 0x83;
constexpr std::uint8_t kLiteralA = 0x84;
constexpr std::uint8_t kExt0 = 0xC0;
constexpr std::uint8_t kExt2 = 0xC2;
constexpr std::uint8_t kOpaque = 0xC3;
constexpr std::uint8_t kLiteralAc = 0xC4;

constexpr std::uint8_t kTokenMask = 0x3F;
constexpr std::uint8_t kContentBit = 0x40;
constexpr std::uint8_t kAttributeBit = 0x80;

constexpr std::uint8_t kUtf8Mib = 106;

std::string Hex(std::uint8_t b) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  return {'0', 'x', kDigits[b >> 4], kDigits[b & 0x0F]};
}

}  // namespace

std::string_view IssueCodeName(IssueCode code) {
  switch (code) {
    case IssueCode::kTruncated:
      return "TRUNCATED";
    case IssueCode::kUnsupportedVersion:
      return "UNSUPPORTED_VERSION";
    case IssueCode::kUnsupportedCharset:
      return "UNSUPPORTED_CHARSET";
    case IssueCode::kOverlongInteger:
      return "OVERLONG_INTEGER";
    case IssueCode::kIntegerTooLarge:
      return "INTEGER_TOO_LARGE";
    case IssueCode::kUnknownCodePage:
      return "UNKNOWN_CODE_PAGE";
    case IssueCode::kUnknownToken:
      return "UNKNOWN_TOKEN";
    case IssueCode::kEndWithoutElement:
      return "END_WITHOUT_ELEMENT";
    case IssueCode::kUnterminatedString:
      return "UNTERMINATED_STRING";
    case IssueCode::kInvalidUtf8:
      return "INVALID_UTF8";
    case IssueCode::kUnsupportedToken:
      return "UNSUPPORTED_TOKEN";
    case IssueCode::kStringTableReference:
      return "STRING_TABLE_REFERENCE";
    case IssueCode::kUnclosedElement:
      return "UNCLOSED_ELEMENT";
    case IssueCode::kNoRootElement:
      return "NO_ROOT_ELEMENT";
    case IssueCode::kContentOutsideRoot:
      return "CONTENT_OUTSIDE_ROOT";
    case IssueCode::kBodyTooLarge:
      return "BODY_TOO_LARGE";
    case IssueCode::kDepthLimit:
      return "DEPTH_LIMIT";
    case IssueCode::kTextTooLong:
      return "TEXT_TOO_LONG";
    case IssueCode::kElementLimit:
      return "ELEMENT_LIMIT";
    case IssueCode::kValueLimit:
      return "VALUE_LIMIT";
  }
  return "UNKNOWN";
}

Reader::Reader(std::span<const std::uint8_t> input,
               const ReaderOptions& options)
    : data_(input.data()),
      size_(input.size()),
      options_(options),
      known_tokens_(KnownTokenMask(0)) {}

Reader::Reader(std::string_view input, const ReaderOptions& options)
    : data_(reinterpret_cast<const std::uint8_t*>(input.data())),
      size_(input.size()),
      options_(options),
      known_tokens_(KnownTokenMask(0)) {}

bool Reader::Report(IssueCode code, std::size_t offset, std::string message) {
  if (issues_.size() < options_.max_issues) {
    issues_.push_back({code, offset, std::move(message)});
  } else {
    ++suppressed_issues_;
  }
  if (!options_.lenient) {
    state_ = State::kDone;
    return false;
  }
  return true;
}

bool Reader::Fatal(IssueCode code, std::size_t offset, std::string message) {
  issues_.push_back({code, offset, std::move(message)});
  state_ = State::kDone;
  return false;
}

bool Reader::ReadMbUInt32(std::uint32_t* value) {
  const std::size_t start = pos_;
  std::uint64_t v = 0;
  for (int i = 0; i < 5; ++i) {
    if (pos_ >= size_) {
      return Fatal(IssueCode::kTruncated, start,
                   "the input ends inside a multi-byte integer");
    }
    const std::uint8_t b = data_[pos_++];
    if (i == 0 && b == 0x80) {
      return Fatal(IssueCode::kOverlongInteger, start,
                   "multi-byte integer starts with a redundant 0x80 byte");
    }
    v = (v << 7) | (b & 0x7F);
    if (v > 0xFFFFFFFFULL) {
      return Fatal(IssueCode::kIntegerTooLarge, start,
                   "multi-byte integer exceeds 32 bits");
    }
    if ((b & 0x80) == 0) {
      *value = static_cast<std::uint32_t>(v);
      return true;
    }
  }
  return Fatal(IssueCode::kIntegerTooLarge, start,
               "multi-byte integer is longer than 5 bytes");
}

bool Reader::CheckText(std::string_view text, std::size_t at) {
  // Most EAS text is short ASCII: check that inline before the full validator.
  std::uint64_t high = 0;
  std::size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, text.data() + i, sizeof(word));
    high |= word;
  }
  for (; i < text.size(); ++i) {
    high |= static_cast<std::uint8_t>(text[i]);
  }
  if ((high & 0x8080808080808080ULL) == 0) {
    return true;
  }
  const std::size_t bad = FindInvalidUtf8(text);
  if (bad == std::string_view::npos) {
    return true;
  }
  return Report(IssueCode::kInvalidUtf8, at + bad,
                StrCat("text is not UTF-8 at byte ", bad, " of the string"));
}

bool Reader::ReadInlineString(std::size_t token_offset, std::string_view* out) {
  const std::size_t start = pos_;
  const std::size_t window =
      std::min(size_ - start, options_.max_text_bytes + 1);
  const std::uint8_t* p = data_ + start;
  // Most EAS strings are short ASCII: look for the NUL and for non-ASCII
  // bytes together, a word at a time, before calling memchr for long ones.
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
  constexpr std::size_t kShortScan = 64;
  std::uint64_t high = 0;
  std::size_t n = 0;
  const std::uint8_t* nul = nullptr;
  const std::size_t short_limit = std::min(window, kShortScan);
  for (; n + 8 <= short_limit; n += 8) {
    std::uint64_t word;
    std::memcpy(&word, p + n, sizeof(word));
    const std::uint64_t zero = (word - kOnes) & ~word & kHighs;
    if (zero != 0) {
      // The lowest flagged byte is the first zero (little-endian); the
      // bytes below it are the string's last ones.
      const int index = std::countr_zero(zero) >> 3;
      high |= index == 0 ? 0 : word & ((std::uint64_t{1} << (index * 8)) - 1);
      nul = p + n + static_cast<std::size_t>(index);
      break;
    }
    high |= word;
  }
  for (; nul == nullptr && n < short_limit; ++n) {
    if (p[n] == 0) {
      nul = p + n;
      break;
    }
    high |= p[n];
  }
  bool ascii = (high & kHighs) == 0;
  if (nul == nullptr && n < window) {
    nul = static_cast<const std::uint8_t*>(std::memchr(p + n, 0, window - n));
    ascii = false;  // the rest is unchecked
  }
  if (nul == nullptr) {
    if (window > options_.max_text_bytes) {
      return Fatal(IssueCode::kTextTooLong, start,
                   StrCat("inline string longer than ", options_.max_text_bytes,
                          " bytes"));
    }
    return Fatal(IssueCode::kUnterminatedString, token_offset,
                 "inline string has no NUL terminator before the end");
  }
  const auto length = static_cast<std::size_t>(nul - p);
  *out = std::string_view(reinterpret_cast<const char*>(p), length);
  pos_ = start + length + 1;
  return ascii || CheckText(*out, start);
}

bool Reader::ReadTableString(std::uint32_t index, std::size_t token_offset,
                             std::string_view* out) {
  const std::string_view table = header_.string_table;
  const std::size_t nul =
      index < table.size() ? table.find('\0', index) : std::string_view::npos;
  if (nul == std::string_view::npos) {
    return Fatal(IssueCode::kStringTableReference, token_offset,
                 StrCat("string table reference ", index, " is outside the ",
                        table.size(), "-byte table or unterminated"));
  }
  *out = table.substr(index, nul - index);
  if (out->size() > options_.max_text_bytes) {
    return Fatal(IssueCode::kTextTooLong, token_offset,
                 "string table entry is too long");
  }
  // The offset of table text is its offset in the input.
  return CheckText(
      *out, static_cast<std::size_t>(
                reinterpret_cast<const std::uint8_t*>(out->data()) - data_));
}

bool Reader::ReadHeader() {
  if (size_ > options_.max_body_bytes) {
    return Fatal(IssueCode::kBodyTooLarge, options_.max_body_bytes,
                 StrCat("body of ", size_, " bytes exceeds the limit of ",
                        options_.max_body_bytes));
  }
  if (!options_.expect_header) {
    return true;
  }
  if (pos_ >= size_) {
    return Fatal(IssueCode::kTruncated, 0, "empty body: no WBXML header");
  }
  header_.version = data_[pos_++];
  if (header_.version < 0x01 || header_.version > 0x03) {
    if (!Report(IssueCode::kUnsupportedVersion, 0,
                StrCat("WBXML version byte ", Hex(header_.version),
                       " (expected 0x03)"))) {
      return false;
    }
  }
  std::uint32_t public_id_index = 0;
  if (!ReadMbUInt32(&header_.public_id)) {
    return false;
  }
  const std::size_t public_id_at = pos_;
  if (header_.public_id == 0 && !ReadMbUInt32(&public_id_index)) {
    return false;
  }
  const std::size_t charset_at = pos_;
  if (!ReadMbUInt32(&header_.charset)) {
    return false;
  }
  if (header_.charset != kUtf8Mib && header_.charset != 0) {
    if (!Report(IssueCode::kUnsupportedCharset, charset_at,
                StrCat("charset MIBenum ", header_.charset,
                       " (only UTF-8, 106, is supported)"))) {
      return false;
    }
  }
  std::uint32_t table_length = 0;
  const std::size_t table_at = pos_;
  if (!ReadMbUInt32(&table_length)) {
    return false;
  }
  if (table_length > size_ - pos_) {
    return Fatal(
        IssueCode::kTruncated, table_at,
        StrCat("string table of ", table_length, " bytes runs past the end"));
  }
  header_.string_table = std::string_view(
      reinterpret_cast<const char*>(data_ + pos_), table_length);
  pos_ += table_length;
  if (header_.public_id == 0 && public_id_index >= table_length) {
    if (!Report(IssueCode::kStringTableReference, public_id_at,
                "public identifier refers outside the string table")) {
      return false;
    }
  }
  return true;
}

bool Reader::Finish(Event* /*event*/) {
  state_ = State::kDone;
  if (!open_.empty()) {
    issues_.push_back({IssueCode::kUnclosedElement, size_,
                       StrCat("the input ends with ", open_.size(),
                              " element(s) still open")});
  } else if (elements_ == 0) {
    issues_.push_back(
        {IssueCode::kNoRootElement, size_, "the body holds no element"});
  }
  return false;
}

bool Reader::Next(Event* event) {
  // Fast path for the tokens that make up nearly every body. Anything
  // unusual (an issue, a limit, another token, a state change) goes to
  // NextSlow, which checks and reports everything.
  if (state_ == State::kBody && pos_ < size_ && !open_.empty()) [[likely]] {
    const std::uint8_t b = data_[pos_];
    const int depth = static_cast<int>(open_.size());
    if (b == kEnd) {
      const Open top = open_.back();
      event->type = Event::Type::kEndElement;
      event->page = static_cast<std::uint8_t>(top >> 8);
      event->token = static_cast<std::uint8_t>(top);
      event->has_content = true;
      event->data = {};
      event->offset = pos_;
      event->depth = depth;
      ++pos_;
      open_.pop_back();
      root_closed_ = open_.empty();
      return true;
    }
    if (b == kStrI && values_ < options_.max_values) {
      ++values_;
      const std::size_t at = pos_++;
      if (!ReadInlineString(at, &event->data)) {
        return false;
      }
      const Open top = open_.back();
      event->type = Event::Type::kText;
      event->page = static_cast<std::uint8_t>(top >> 8);
      event->token = static_cast<std::uint8_t>(top);
      event->has_content = false;
      event->offset = at;
      event->depth = depth;
      return true;
    }
    const std::uint8_t token = b & kTokenMask;
    if ((b & kAttributeBit) == 0 && token >= 0x05 &&
        ((known_tokens_ >> token) & 1) != 0 &&
        elements_ < options_.max_elements && depth < options_.max_depth) {
      ++elements_;
      event->type = Event::Type::kStartElement;
      event->page = page_;
      event->token = token;
      event->has_content = (b & kContentBit) != 0;
      event->data = {};
      event->offset = pos_;
      event->depth = depth + 1;
      ++pos_;
      if (event->has_content) {
        open_.push_back(static_cast<Open>(page_ << 8 | token));
      } else {
        pending_end_ = *event;
        pending_end_.type = Event::Type::kEndElement;
        state_ = State::kPendingEnd;
      }
      return true;
    }
  }
  return NextSlow(event);
}

bool Reader::NextSlow(Event* event) {
  switch (state_) {
    case State::kDone:
      return false;
    case State::kPendingEnd:
      *event = pending_end_;
      state_ = State::kBody;
      return true;
    case State::kHeader:
      if (!ReadHeader()) {
        return false;
      }
      state_ = State::kBody;
      break;
    case State::kBody:
      break;
  }
  while (true) {
    if (pos_ >= size_) {
      return Finish(event);
    }
    if (const Step step = ReadToken(event); step != Step::kSkip) {
      return step == Step::kEvent;
    }
  }
}

Reader::Step Reader::ReadToken(Event* event) {
  const std::size_t at = pos_;
  const std::uint8_t b = data_[pos_];
  switch (b) {
    case kSwitchPage:
      return SwitchPage(at);
    case kEnd:
      return EndTag(at, event);
    case kStrI:
    case kStrT:
    case kOpaque:
      return Value(b, at, event);
    case kEntity:
    case kExtT0:
    case kExtT0 + 1:
    case kExtT2:
    case kExtI0:
    case kExtI0 + 1:
    case kExtI2:
    case kExt0:
    case kExt0 + 1:
    case kExt2:
      return SkipExtension(b, at);
    case kLiteral:
    case kLiteralC:
    case kLiteralA:
    case kLiteralAc:
    case kPi:
      Fatal(IssueCode::kUnsupportedToken, at,
            StrCat("global token ", Hex(b),
                   " (literal tag or processing instruction) is not "
                   "used by EAS"));
      return Step::kStop;
    default:
      return Tag(b, at, event);
  }
}

Reader::Step Reader::Continue(bool go_on) {
  return go_on ? Step::kSkip : Step::kStop;
}

Reader::Step Reader::SwitchPage(std::size_t at) {
  if (pos_ + 1 >= size_) {
    Fatal(IssueCode::kTruncated, at, "the input ends after SWITCH_PAGE");
    return Step::kStop;
  }
  const std::uint8_t page = data_[pos_ + 1];
  pos_ += 2;
  if (FindCodePage(page) == nullptr &&
      !Report(IssueCode::kUnknownCodePage, at,
              StrCat("SWITCH_PAGE to undefined code page ", page))) {
    return Step::kStop;
  }
  page_ = page;
  known_tokens_ = KnownTokenMask(page);
  return Step::kSkip;
}

Reader::Step Reader::EndTag(std::size_t at, Event* event) {
  ++pos_;
  if (open_.empty()) {
    return Continue(
        Report(IssueCode::kEndWithoutElement, at, "END with no open element"));
  }
  const Open top = open_.back();
  event->type = Event::Type::kEndElement;
  event->page = static_cast<std::uint8_t>(top >> 8);
  event->token = static_cast<std::uint8_t>(top);
  event->has_content = true;
  event->data = {};
  event->offset = at;
  event->depth = static_cast<int>(open_.size());
  open_.pop_back();
  if (open_.empty()) {
    root_closed_ = true;
  }
  return Step::kEvent;
}

bool Reader::ReadOpaque(std::size_t at, std::string_view* value) {
  std::uint32_t length = 0;
  if (!ReadMbUInt32(&length)) {
    return false;
  }
  if (length > options_.max_text_bytes) {
    return Fatal(
        IssueCode::kTextTooLong, at,
        StrCat("opaque value of ", length, " bytes exceeds the limit of ",
               options_.max_text_bytes));
  }
  if (length > size_ - pos_) {
    return Fatal(
        IssueCode::kTruncated, at,
        StrCat("opaque value of ", length, " bytes runs past the end"));
  }
  *value =
      std::string_view(reinterpret_cast<const char*>(data_ + pos_), length);
  pos_ += length;
  return true;
}

Reader::Step Reader::Value(std::uint8_t b, std::size_t at, Event* event) {
  if (values_ >= options_.max_values) {
    Fatal(IssueCode::kValueLimit, at,
          StrCat("more than ", options_.max_values, " text or opaque values"));
    return Step::kStop;
  }
  ++values_;
  ++pos_;
  // Read straight into the event: a string_view assembled elsewhere and
  // copied in is a store-forwarding stall on this hot path.
  std::string_view& value = event->data;
  std::uint32_t index = 0;
  const bool read =
      b == kStrI   ? ReadInlineString(at, &value)
      : b == kStrT ? ReadMbUInt32(&index) && ReadTableString(index, at, &value)
                   : ReadOpaque(at, &value);
  if (!read) {
    return Step::kStop;
  }
  if (open_.empty()) {
    return Continue(Report(IssueCode::kContentOutsideRoot, at,
                           "text or opaque data outside any element"));
  }
  event->type = b == kOpaque ? Event::Type::kOpaque : Event::Type::kText;
  event->page = static_cast<std::uint8_t>(open_.back() >> 8);
  event->token = static_cast<std::uint8_t>(open_.back());
  event->has_content = false;
  event->offset = at;
  event->depth = static_cast<int>(open_.size());
  return Step::kEvent;
}

Reader::Step Reader::SkipExtension(std::uint8_t b, std::size_t at) {
  ++pos_;
  // EXT_T_* and ENTITY carry a number, EXT_I_* a string, EXT_* nothing.
  bool read = true;
  if (b == kEntity || b == kExtT0 || b == kExtT0 + 1 || b == kExtT2) {
    std::uint32_t unused = 0;
    read = ReadMbUInt32(&unused);
  } else if (b == kExtI0 || b == kExtI0 + 1 || b == kExtI2) {
    std::string_view unused;
    read = ReadInlineString(at, &unused);
  }
  return Continue(
      read && Report(IssueCode::kUnsupportedToken, at,
                     StrCat("global token ", Hex(b), " is not used by EAS")));
}

Reader::Step Reader::Tag(std::uint8_t b, std::size_t at, Event* event) {
  if ((b & kAttributeBit) != 0) {
    Fatal(IssueCode::kUnsupportedToken, at,
          StrCat("tag ", Hex(b), " has attributes, which EAS never uses"));
    return Step::kStop;
  }
  const std::uint8_t token = b & kTokenMask;
  const bool has_content = (b & kContentBit) != 0;
  ++pos_;
  if (root_closed_ && open_.empty() &&
      !Report(IssueCode::kContentOutsideRoot, at,
              "a second root element after the first one closed")) {
    return Step::kStop;
  }
  if (elements_ >= options_.max_elements) {
    Fatal(IssueCode::kElementLimit, at,
          StrCat("more than ", options_.max_elements, " elements"));
    return Step::kStop;
  }
  ++elements_;
  const int depth = static_cast<int>(open_.size()) + 1;
  if (depth > options_.max_depth) {
    Fatal(IssueCode::kDepthLimit, at,
          StrCat("element nesting deeper than ", options_.max_depth));
    return Step::kStop;
  }
  if (((known_tokens_ >> token) & 1) == 0 &&
      !Report(IssueCode::kUnknownToken, at,
              StrCat("token ", Hex(token), " is not defined on code page ",
                     page_))) {
    return Step::kStop;
  }
  event->type = Event::Type::kStartElement;
  event->page = page_;
  event->token = token;
  event->has_content = has_content;
  event->data = {};
  event->offset = at;
  event->depth = depth;
  if (has_content) {
    open_.push_back(static_cast<Open>(page_ << 8 | token));
  } else {
    pending_end_ = *event;
    pending_end_.type = Event::Type::kEndElement;
    state_ = State::kPendingEnd;
    if (open_.empty()) {
      root_closed_ = true;
    }
  }
  return Step::kEvent;
}

}  // namespace hijackguard::detector::wbxml
