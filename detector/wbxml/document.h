// A small tree over a WBXML body, built with the pull Reader, for code that
// wants to look around (tests, tools, rendering). Text and opaque data are
// views into the input, which must outlive the Document.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "detector/wbxml/reader.h"

namespace hijackguard::detector::wbxml {

struct Node {
  enum class Kind { kElement, kText, kOpaque };
  Kind kind = Kind::kElement;
  std::uint8_t page = 0;     // element: its code page
  std::uint8_t token = 0;    // element: its token
  bool has_content = false;  // element: written with the content bit
  std::string_view data;     // text or opaque bytes
  std::size_t offset = 0;    // byte offset in the input
  int parent = -1;           // indices into Document::nodes, -1 for none
  int first_child = -1;
  int next_sibling = -1;
};

struct Document {
  Header header;
  std::vector<Node> nodes;    // in document order; nodes[0] is the root
  std::vector<Issue> issues;  // from the reader

  bool empty() const { return nodes.empty(); }
  // The node at index `i` (from Node::first_child and the like).
  const Node& at(int i) const { return nodes[static_cast<std::size_t>(i)]; }
  // The root element, or nullptr when the body had none.
  const Node* root() const { return nodes.empty() ? nullptr : &nodes[0]; }
  // The element's name, "" when the page or token is unknown.
  std::string_view Name(const Node& node) const;
  // The concatenated text of an element's text children (no copy when there
  // is exactly one), or "" when it has none.
  std::string_view Text(const Node& element) const;
};

// Decodes a whole body. Never fails: problems are in Document::issues, and
// the tree holds what was read before a fatal issue. The input must outlive
// the result.
Document Decode(std::string_view input, const ReaderOptions& options = {});

}  // namespace hijackguard::detector::wbxml
