// WBXML -> XML text and JSON events.
#include <array>
#include <bitset>
#include <cstdio>
#include <cstring>

#include "common/base64.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "detector/wbxml/code_pages.h"
#include "detector/wbxml/xml.h"
#include "nlohmann/json.hpp"

namespace hijackguard::detector::wbxml {
namespace {

// Bytes that text cannot carry as they are: markup, controls other than tab
// and newline, and (when the text is not known to be valid) non-ASCII.
struct EscapeTable {
  std::array<bool, 256> markup_or_control{};
  constexpr EscapeTable() {
    for (int c = 0; c < 0x20; ++c) {
      markup_or_control[static_cast<std::size_t>(c)] = c != '\t' && c != '\n';
    }
    markup_or_control['&'] = markup_or_control['<'] = markup_or_control['>'] =
        true;
  }
};
constexpr EscapeTable kEscape;

// Appends `text` escaped for XML character data. With `validated` false,
// invalid UTF-8 (possible in a lenient read) becomes U+FFFD.
void AppendEscaped(std::string* out, std::string_view text, bool validated) {
  std::size_t plain_from = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    // Skip eight plain bytes at a time: no byte below 0x20, no '&', '<' or
    // '>' and, unless validated, no byte above 0x7F.
    if (i + 8 <= text.size()) {
      constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
      constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
      std::uint64_t w;
      std::memcpy(&w, text.data() + i, sizeof(w));
      auto has_byte = [&](std::uint64_t b) {
        const std::uint64_t x = w ^ (kOnes * b);
        return (x - kOnes) & ~x & kHighs;
      };
      const std::uint64_t flags = ((w - kOnes * 0x20) & ~w & kHighs) |
                                  has_byte('&') | has_byte('<') |
                                  has_byte('>') | (validated ? 0 : w & kHighs);
      if (flags == 0) {
        i += 8;
        continue;
      }
    }
    const auto c = static_cast<unsigned char>(text[i]);
    if (!kEscape.markup_or_control[c] && (validated || c < 0x80)) {
      ++i;
      continue;
    }
    const char* replacement = nullptr;
    char ref[8];
    if (c == '&') {
      replacement = "&amp;";
    } else if (c == '<') {
      replacement = "&lt;";
    } else if (c == '>') {
      replacement = "&gt;";
    } else if (c < 0x20) {
      std::snprintf(ref, sizeof(ref), "&#x%X;", c);
      replacement = ref;
    } else {
      // Non-ASCII in unvalidated text: keep a well-formed sequence whole.
      const std::size_t n = Utf8SequenceLength(text, i);
      if (n != 0) {
        i += n;
        continue;
      }
      replacement = "\xEF\xBF\xBD";
    }
    out->append(text.data() + plain_from, i - plain_from);
    out->append(replacement);
    ++i;
    plain_from = i;
  }
  out->append(text.data() + plain_from, text.size() - plain_from);
}

// Lower-case XML prefixes ("calendar:") for every code page, by number.
const std::array<std::string, 256>& Prefixes() {
  static const auto* const kPrefixes = [] {
    auto* p = new std::array<std::string, 256>();
    for (const CodePage& page : AllCodePages()) {
      std::string prefix;
      for (char c : page.name) {
        prefix.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a')
                                              : c);
      }
      prefix.push_back(':');
      (*p)[page.number] = std::move(prefix);
    }
    return p;
  }();
  return *kPrefixes;
}

// Writes the events of one reader as indented XML. The namespaces of the code
// pages used are declared on the root, which is only known at the end: they
// are inserted after the root's name then.
class XmlWriter {
 public:
  // With `pages` (every code page the body uses, from a first pass), the
  // root's declarations are written with its start tag, so that what is
  // written can be handed out as it grows; without, they are inserted at the
  // end.
  XmlWriter(std::string* out, const XmlOptions& options, bool validated,
            const std::bitset<256>* pages = nullptr)
      : out_(out),
        options_(options),
        validated_(validated),
        prefixes_(Prefixes()),
        known_pages_(pages) {}

  void Start(const Event& e) {
    CloseStartTag();
    Indent(e.depth);
    out_->push_back('<');
    // Namespaces are declared on the first root (a lenient read can go on
    // past the end of the document to a second one).
    if (e.depth == 1 && !root_seen_) {
      root_seen_ = true;
      root_page_ = e.page;
      AppendName(e.page, e.token);
      if (known_pages_ != nullptr) {
        out_->append(Declarations(*known_pages_));
      } else {
        declarations_at_ = out_->size();
      }
    } else {
      AppendName(e.page, e.token);
    }
    pages_used_.set(e.page);
    tag_open_ = true;
    last_was_text_ = false;
  }

  void Text(const Event& e, bool opaque) {
    if (tag_open_) {
      if (opaque) {
        out_->append(" opaque=\"base64\"");
      }
      out_->push_back('>');
      tag_open_ = false;
    }
    if (opaque) {
      out_->append(Base64Encode(e.data));
    } else {
      AppendEscaped(out_, e.data, validated_);
    }
    last_was_text_ = true;
  }

  void End(const Event& e) {
    if (tag_open_) {
      out_->append("/>");
      tag_open_ = false;
    } else {
      if (!last_was_text_) {
        Indent(e.depth);
      }
      out_->append("</");
      AppendName(e.page, e.token);
      out_->push_back('>');
    }
    NewLine();
    last_was_text_ = false;
  }

  void Finish() {
    CloseStartTag();
    if (declarations_at_ != std::string::npos) {
      out_->insert(declarations_at_, Declarations(pages_used_));
    }
  }

 private:
  // ' xmlns="AirSync:" xmlns:calendar="Calendar:"' for the root's page and
  // the other `pages`.
  std::string Declarations(const std::bitset<256>& pages) const {
    std::string decl;
    if (const CodePage* root = FindCodePage(root_page_)) {
      StrAppend(&decl, " xmlns=\"", root->xml_namespace, ":\"");
    }
    for (std::size_t p = 0; p < pages.size(); ++p) {
      const auto page = static_cast<std::uint8_t>(p);
      const CodePage* cp = FindCodePage(page);
      if (!pages[p] || page == root_page_ || cp == nullptr) {
        continue;
      }
      const std::string& prefix = prefixes_[page];
      StrAppend(&decl, " xmlns:",
                std::string_view(prefix).substr(0, prefix.size() - 1), "=\"",
                cp->xml_namespace, ":\"");
    }
    return decl;
  }

  void CloseStartTag() {
    if (tag_open_) {
      out_->push_back('>');
      NewLine();
      tag_open_ = false;
    }
  }
  void NewLine() {
    if (options_.indent > 0) {
      out_->push_back('\n');
    }
  }
  void Indent(int depth) {
    if (options_.indent > 0) {
      out_->append(static_cast<std::size_t>(depth - 1) *
                       static_cast<std::size_t>(options_.indent),
                   ' ');
    }
  }
  void AppendName(std::uint8_t page, std::uint8_t token) {
    if (page != names_page_ || names_ == nullptr) {
      names_page_ = page;
      names_ = PageTagNames(page);
    }
    const std::string_view name = names_ == nullptr || token >= 64
                                      ? std::string_view()
                                      : (*names_)[token];
    if (name.empty()) {
      StrAppend(out_, "UnknownTag_p", static_cast<int>(page), "_t",
                static_cast<int>(token));
      return;
    }
    if (page != root_page_) {
      out_->append(prefixes_[page]);
    }
    out_->append(name);
  }

  std::string* out_;
  XmlOptions options_;
  bool validated_;
  const std::array<std::string, 256>& prefixes_;
  const std::bitset<256>* known_pages_;
  std::bitset<256> pages_used_;
  const std::array<std::string_view, 64>* names_ = nullptr;  // of names_page_
  std::uint8_t names_page_ = 0;
  std::uint8_t root_page_ = 0;
  std::size_t declarations_at_ = std::string::npos;
  bool root_seen_ = false;
  bool tag_open_ = false;
  bool last_was_text_ = false;
};

}  // namespace

namespace {

// Writes the reader's events through `writer`, calling `after_each` after
// every event; returns the issues.
template <typename AfterEach>
std::vector<Issue> WriteEvents(std::string_view wbxml,
                               const ReaderOptions& reader_options,
                               XmlWriter& writer, AfterEach after_each) {
  Reader reader(wbxml, reader_options);
  Event e;
  while (reader.Next(&e)) {
    switch (e.type) {
      case Event::Type::kStartElement:
        writer.Start(e);
        break;
      case Event::Type::kEndElement:
        writer.End(e);
        break;
      case Event::Type::kText:
        writer.Text(e, false);
        break;
      case Event::Type::kOpaque:
        writer.Text(e, true);
        break;
    }
    after_each();
  }
  writer.Finish();
  return reader.issues();
}

void AppendDeclaration(std::string* out, const XmlOptions& options) {
  if (options.declaration) {
    out->append("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    if (options.indent > 0) {
      out->push_back('\n');
    }
  }
}

}  // namespace

XmlResult WbxmlToXml(std::string_view wbxml,
                     const ReaderOptions& reader_options,
                     const XmlOptions& options) {
  XmlResult result;
  result.xml.reserve(wbxml.size() * 2 + 64);
  AppendDeclaration(&result.xml, options);
  // In strict mode the reader has validated every text as UTF-8 before
  // handing it out; lenient text may still hold invalid bytes.
  XmlWriter writer(&result.xml, options, !reader_options.lenient);
  result.issues = WriteEvents(wbxml, reader_options, writer, [] {});
  return result;
}

std::vector<Issue> WbxmlToXmlStream(std::string_view wbxml, const XmlSink& sink,
                                    const ReaderOptions& reader_options,
                                    const XmlOptions& options) {
  // The first pass finds the code pages to declare on the root.
  std::bitset<256> pages;
  {
    Reader reader(wbxml, reader_options);
    Event e;
    while (reader.Next(&e)) {
      if (e.type == Event::Type::kStartElement) {
        pages.set(e.page);
      }
    }
  }
  constexpr std::size_t kPiece = std::size_t{256} << 10;
  std::string buffer;
  buffer.reserve(kPiece + (std::size_t{16} << 10));
  AppendDeclaration(&buffer, options);
  XmlWriter writer(&buffer, options, !reader_options.lenient, &pages);
  std::vector<Issue> issues = WriteEvents(wbxml, reader_options, writer, [&] {
    if (buffer.size() >= kPiece) {
      sink(buffer);
      buffer.clear();
    }
  });
  if (!buffer.empty()) {
    sink(buffer);
  }
  return issues;
}

XmlResult WbxmlToJsonEvents(std::string_view wbxml,
                            const ReaderOptions& reader_options) {
  using Json = nlohmann::ordered_json;
  XmlResult result;
  Reader reader(wbxml, reader_options);
  Json events = Json::array();
  Event e;
  while (reader.Next(&e)) {
    Json j;
    j["offset"] = e.offset;
    switch (e.type) {
      case Event::Type::kStartElement:
        j["type"] = "start";
        break;
      case Event::Type::kEndElement:
        j["type"] = "end";
        break;
      case Event::Type::kText:
        j["type"] = "text";
        break;
      case Event::Type::kOpaque:
        j["type"] = "opaque";
        break;
    }
    j["depth"] = e.depth;
    j["page"] = e.page;
    j["token"] = e.token;
    j["name"] = std::string(TagName(e.page, e.token));
    if (e.type == Event::Type::kStartElement) {
      j["content"] = e.has_content;
    } else if (e.type == Event::Type::kText) {
      j["text"] = std::string(e.data);  // dump() repairs invalid UTF-8
    } else if (e.type == Event::Type::kOpaque) {
      j["base64"] = Base64Encode(e.data);
    }
    events.push_back(std::move(j));
  }
  const Header& h = reader.header();
  Json doc;
  doc["header"] = {{"version", h.version},
                   {"publicId", h.public_id},
                   {"charset", h.charset},
                   {"stringTableBytes", h.string_table.size()}};
  doc["events"] = std::move(events);
  result.xml = doc.dump(2, ' ', false, Json::error_handler_t::replace);
  result.issues = reader.issues();
  return result;
}

}  // namespace hijackguard::detector::wbxml
