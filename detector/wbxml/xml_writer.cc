// WBXML -> XML text and JSON events.
#include <bitset>

#include "common/base64.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "detector/wbxml/code_pages.h"
#include "detector/wbxml/xml.h"
#include "nlohmann/json.hpp"

namespace hijackguard::detector::wbxml {
namespace {

// Appends `text` escaped for XML character data. Invalid UTF-8 (possible in
// a lenient read) becomes U+FFFD, control characters character references.
void AppendEscaped(std::string* out, std::string_view text) {
  std::size_t plain_from = 0;
  auto flush = [&](std::size_t upto) {
    out->append(text.substr(plain_from, upto - plain_from));
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const char* replacement = nullptr;
    char ref[8];
    switch (c) {
      case '&':
        replacement = "&amp;";
        break;
      case '<':
        replacement = "&lt;";
        break;
      case '>':
        replacement = "&gt;";
        break;
      default:
        if (c < 0x20 && c != '\t' && c != '\n') {
          std::snprintf(ref, sizeof(ref), "&#x%X;", c);
          replacement = ref;
        } else if (c >= 0x80) {
          // Keep a well-formed sequence whole; an ill-formed byte becomes
          // U+FFFD.
          const std::size_t n = Utf8SequenceLength(text, i);
          if (n == 0) {
            replacement = "\xEF\xBF\xBD";
          } else {
            i += n - 1;
          }
        }
    }
    if (replacement != nullptr) {
      flush(i);
      out->append(replacement);
      plain_from = i + 1;
    }
  }
  flush(text.size());
}

// Writes the events of one reader as indented XML.
class XmlWriter {
 public:
  XmlWriter(std::string* out, const XmlOptions& options,
            std::bitset<256> pages_used)
      : out_(out), options_(options), pages_used_(pages_used) {}

  void Start(const Event& e) {
    CloseStartTag(/*for_text=*/false);
    if (e.depth == 1) {
      root_page_ = e.page;
    }
    Indent(e.depth);
    out_->push_back('<');
    AppendName(e.page, e.token);
    if (e.depth == 1) {
      DeclareNamespaces();
    }
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
      AppendEscaped(out_, e.data);
    }
    last_was_text_ = true;
  }

  void End(const Event& e) {
    if (tag_open_) {
      out_->append("/>");
      tag_open_ = false;
      NewLine();
      last_was_text_ = false;
      return;
    }
    if (!last_was_text_) {
      Indent(e.depth);
    }
    out_->append("</");
    AppendName(e.page, e.token);
    out_->push_back('>');
    NewLine();
    last_was_text_ = false;
  }

  void Finish() { CloseStartTag(false); }

 private:
  void CloseStartTag(bool /*for_text*/) {
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
      out_->append(static_cast<std::size_t>((depth - 1) * options_.indent),
                   ' ');
    }
  }
  void AppendPrefix(std::uint8_t page) {
    const CodePage* cp = FindCodePage(page);
    for (char c : cp->name) {
      out_->push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a')
                                           : c);
    }
  }
  void AppendName(std::uint8_t page, std::uint8_t token) {
    const std::string_view name = TagName(page, token);
    if (name.empty()) {
      StrAppend(out_, "UnknownTag_p", static_cast<int>(page), "_t",
                static_cast<int>(token));
      return;
    }
    if (page != root_page_) {
      AppendPrefix(page);
      out_->push_back(':');
    }
    out_->append(name);
  }
  void DeclareNamespaces() {
    if (const CodePage* root = FindCodePage(root_page_)) {
      StrAppend(out_, " xmlns=\"", root->xml_namespace, ":\"");
    }
    for (std::size_t p = 0; p < pages_used_.size(); ++p) {
      const auto page = static_cast<std::uint8_t>(p);
      const CodePage* cp = FindCodePage(page);
      if (!pages_used_[p] || page == root_page_ || cp == nullptr) {
        continue;
      }
      out_->append(" xmlns:");
      AppendPrefix(page);
      StrAppend(out_, "=\"", cp->xml_namespace, ":\"");
    }
  }

  std::string* out_;
  XmlOptions options_;
  std::bitset<256> pages_used_;
  std::uint8_t root_page_ = 0;
  bool tag_open_ = false;
  bool last_was_text_ = false;
};

}  // namespace

XmlResult WbxmlToXml(std::string_view wbxml,
                     const ReaderOptions& reader_options,
                     const XmlOptions& options) {
  XmlResult result;
  // First pass: which code pages appear (they are declared on the root).
  std::bitset<256> pages;
  {
    Reader scan(wbxml, reader_options);
    Event e;
    while (scan.Next(&e)) {
      if (e.type == Event::Type::kStartElement) {
        pages.set(e.page);
      }
    }
  }
  result.xml.reserve(wbxml.size() * 2 + 64);
  if (options.declaration) {
    result.xml.append("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    if (options.indent > 0) {
      result.xml.push_back('\n');
    }
  }
  XmlWriter writer(&result.xml, options, pages);
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
  }
  writer.Finish();
  result.issues = reader.issues();
  return result;
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
                   {"public_id", h.public_id},
                   {"charset", h.charset},
                   {"string_table_bytes", h.string_table.size()}};
  doc["events"] = std::move(events);
  result.xml = doc.dump(1, ' ', false, Json::error_handler_t::replace);
  result.issues = reader.issues();
  return result;
}

}  // namespace hijackguard::detector::wbxml
