#include "detector/wbxml/document.h"

#include "detector/wbxml/code_pages.h"

namespace hijackguard::detector::wbxml {

std::string_view Document::Name(const Node& node) const {
  return TagName(node.page, node.token);
}

std::string_view Document::Text(const Node& element) const {
  for (int c = element.first_child; c >= 0; c = at(c).next_sibling) {
    if (at(c).kind == Node::Kind::kText) {
      return at(c).data;
    }
  }
  return {};
}

Document Decode(std::string_view input, const ReaderOptions& options) {
  Document doc;
  Reader reader(input, options);
  std::vector<int> open;        // element stack
  std::vector<int> last_child;  // last child index per open element
  Event e;
  auto append = [&](Node node) {
    const int index = static_cast<int>(doc.nodes.size());
    node.parent = open.empty() ? -1 : open.back();
    if (!open.empty()) {
      int& last = last_child.back();
      if (last < 0) {
        doc.nodes[static_cast<std::size_t>(open.back())].first_child = index;
      } else {
        doc.nodes[static_cast<std::size_t>(last)].next_sibling = index;
      }
      last = index;
    }
    doc.nodes.push_back(node);
    return index;
  };
  while (reader.Next(&e)) {
    switch (e.type) {
      case Event::Type::kStartElement: {
        // A lenient read may see a second root; keep the tree to the first.
        if (open.empty() && !doc.nodes.empty()) {
          break;
        }
        Node n;
        n.page = e.page;
        n.token = e.token;
        n.has_content = e.has_content;
        n.offset = e.offset;
        const int index = append(n);
        open.push_back(index);
        last_child.push_back(-1);
        break;
      }
      case Event::Type::kEndElement:
        if (!open.empty()) {
          open.pop_back();
          last_child.pop_back();
        }
        break;
      case Event::Type::kText:
      case Event::Type::kOpaque: {
        if (open.empty()) {
          break;
        }
        Node n;
        n.kind = e.type == Event::Type::kText ? Node::Kind::kText
                                              : Node::Kind::kOpaque;
        n.data = e.data;
        n.offset = e.offset;
        append(n);
        break;
      }
    }
  }
  doc.header = reader.header();
  doc.issues = reader.issues();
  return doc;
}

}  // namespace hijackguard::detector::wbxml
