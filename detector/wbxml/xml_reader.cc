// XML text -> WBXML, through pugixml.
#include <map>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "common/base64.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "detector/wbxml/code_pages.h"
#include "detector/wbxml/encoder.h"
#include "detector/wbxml/xml.h"
#include "pugixml.hpp"

namespace hijackguard::detector::wbxml {
namespace {

constexpr int kMaxXmlDepth = 256;

std::string Position(std::string_view xml, std::ptrdiff_t offset) {
  return LineColumn(
      xml, static_cast<std::size_t>(std::max<std::ptrdiff_t>(offset, 0)));
}

// Namespace bindings in scope: prefix ("" for the default) -> code page.
using Scope = std::map<std::string, std::uint8_t, std::less<>>;

class Converter {
 public:
  Converter(std::string_view xml, std::string* out) : xml_(xml), enc_(out) {}

  // Walks the tree without recursion (input depth is not trusted).
  absl::Status Run(const pugi::xml_node& root) {
    enum class Step { kEnter, kExit, kText };
    struct Frame {
      pugi::xml_node node;
      std::shared_ptr<const Scope> scope;
      Step step;
      bool flag;  // kExit: the element has content; kText: it is opaque
      int depth;
    };
    std::vector<Frame> stack;
    stack.push_back({root, std::make_shared<Scope>(), Step::kEnter, false, 1});
    while (!stack.empty()) {
      const Frame f = stack.back();
      stack.pop_back();
      if (f.step == Step::kText) {
        RETURN_IF_ERROR(WriteText(f.node, f.flag));
        continue;
      }
      if (f.step == Step::kExit) {
        if (f.flag) {
          RETURN_IF_ERROR(AtNode(enc_.End(), f.node));
        }
        continue;
      }
      auto scope = std::make_shared<Scope>(*f.scope);
      bool opaque = false;
      for (const pugi::xml_attribute& a : f.node.attributes()) {
        const std::string_view name = a.name();
        if (name == "xmlns" || name.starts_with("xmlns:")) {
          const CodePage* page = FindCodePageByNamespace(a.value());
          if (page == nullptr) {
            return Error(f.node, StrCat("namespace \"", a.value(),
                                        "\" is not an ActiveSync code page"));
          }
          (*scope)[std::string(name == "xmlns" ? "" : name.substr(6))] =
              page->number;
        } else if (name == "opaque" &&
                   std::string_view(a.value()) == "base64") {
          opaque = true;
        } else {
          return Error(f.node,
                       StrCat("attribute \"", name,
                              "\" (EAS elements have none; opaque data is "
                              "marked opaque=\"base64\")"));
        }
      }
      const std::string_view qname = f.node.name();
      const std::size_t colon = qname.find(':');
      const std::string_view prefix =
          colon == std::string_view::npos ? "" : qname.substr(0, colon);
      const std::string_view local =
          colon == std::string_view::npos ? qname : qname.substr(colon + 1);
      const auto bound = scope->find(prefix);
      if (bound == scope->end()) {
        return Error(f.node,
                     prefix.empty()
                         ? std::string("no namespace (add "
                                       "xmlns=\"AirSync:\" or the "
                                       "like)")
                         : StrCat("prefix \"", prefix, "\" is not declared"));
      }
      const std::uint8_t page = bound->second;
      const auto token = FindTag(page, local);
      if (!token) {
        return Error(f.node, StrCat("not an element of code page ",
                                    FindCodePage(page)->name));
      }
      if (f.depth > kMaxXmlDepth) {
        return Error(f.node, StrCat("nesting deeper than ", kMaxXmlDepth));
      }
      std::vector<Frame> children;
      for (const pugi::xml_node& c : f.node.children()) {
        if (c.type() == pugi::node_element) {
          children.push_back({c, scope, Step::kEnter, false, f.depth + 1});
        } else if (c.type() == pugi::node_pcdata ||
                   c.type() == pugi::node_cdata) {
          children.push_back({c, scope, Step::kText, opaque, f.depth + 1});
        }
      }
      // An element marked opaque holds opaque data even when it is empty.
      const bool has_content = !children.empty() || opaque;
      enc_.Start(page, *token, has_content);
      if (opaque && children.empty()) {
        RETURN_IF_ERROR(AtNode(enc_.Opaque({}), f.node));
      }
      stack.push_back({f.node, scope, Step::kExit, has_content, f.depth});
      // NOLINTNEXTLINE(modernize-loop-convert): views::reverse needs clang 15
      for (auto it = children.rbegin(); it != children.rend(); ++it) {
        stack.push_back(*it);
      }
    }
    return enc_.Finish();
  }

 private:
  absl::Status WriteText(const pugi::xml_node& text, bool opaque) {
    const std::string_view value = text.value();
    if (opaque) {
      auto bytes = Base64Decode(value);
      if (!bytes.ok()) {
        return Error(text.parent(), std::string(bytes.status().message()));
      }
      return AtNode(enc_.Opaque(*bytes), text.parent());
    }
    return AtNode(enc_.Text(value), text.parent());
  }

  absl::Status AtNode(const absl::Status& s, const pugi::xml_node& node) {
    return s.ok() ? s : Error(node, std::string(s.message()));
  }

  absl::Status Error(const pugi::xml_node& node, std::string_view message) {
    return absl::InvalidArgumentError(
        StrCat("XML ", Position(xml_, node.offset_debug()), ": <", node.name(),
               ">: ", message));
  }

  std::string_view xml_;
  Encoder enc_;
};

// pugixml turns "&#0;" into a NUL that silently ends the string; WBXML text
// cannot hold one either, so refuse it up front. Returns the offset or npos.
std::size_t FindNulReference(std::string_view xml) {
  for (std::size_t at = xml.find("&#"); at != std::string_view::npos;
       at = xml.find("&#", at + 2)) {
    std::size_t i = at + 2;
    const bool hex = i < xml.size() && (xml[i] == 'x' || xml[i] == 'X');
    i += hex ? 1 : 0;
    bool any = false;
    bool nonzero = false;
    for (; i < xml.size() && xml[i] != ';'; ++i) {
      any = true;
      nonzero = nonzero || xml[i] != '0';
    }
    if (any && !nonzero && i < xml.size()) {
      return at;
    }
  }
  return std::string_view::npos;
}

}  // namespace

absl::StatusOr<std::string> XmlToWbxml(std::string_view xml) {
  if (const std::size_t nul = FindNulReference(xml);
      nul != std::string_view::npos) {
    return absl::InvalidArgumentError(
        StrCat("XML ", Position(xml, static_cast<std::ptrdiff_t>(nul)),
               ": a character reference to NUL, which WBXML text cannot hold"));
  }
  pugi::xml_document doc;
  const unsigned int options =
      pugi::parse_default | pugi::parse_ws_pcdata_single;
  const pugi::xml_parse_result parsed =
      doc.load_buffer(xml.data(), xml.size(), options, pugi::encoding_utf8);
  if (!parsed) {
    return absl::InvalidArgumentError(StrCat(
        "XML ", Position(xml, parsed.offset), ": ", parsed.description()));
  }
  const pugi::xml_node root = doc.document_element();
  if (!root) {
    return absl::InvalidArgumentError("XML has no root element");
  }
  std::string out;
  Converter converter(xml, &out);
  RETURN_IF_ERROR(converter.Run(root));
  return out;
}

}  // namespace hijackguard::detector::wbxml
