// WBXML <-> XML text.
//
// Rendering follows Exchange's mailbox logs and the MS-ASWBXML example: the
// root's code page is the default namespace ("<Sync xmlns="AirSync:">"), every
// other page used in the body is declared on the root with a lower-case
// prefix (xmlns:calendar="Calendar:") and its elements carry it. Opaque data
// is written as base64 in an element marked opaque="base64". XmlToWbxml reads
// that form back (and any namespace prefixes or default namespaces), through
// pugixml.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "detector/wbxml/reader.h"

namespace hijackguard::detector::wbxml {

struct XmlOptions {
  // Spaces per nesting level; 0 writes everything on one line. Default 2.
  int indent = 2;
  // Whether to start with <?xml version="1.0" encoding="utf-8"?>. Default on.
  bool declaration = true;
};

struct XmlResult {
  std::string xml;  // what could be read; complete when issues is empty
  std::vector<Issue> issues;
};

// Renders a WBXML body as XML. Never fails: problems are returned as issues
// (with `reader_options.lenient` the rendering goes on past them; unknown
// elements then appear as <UnknownTag_p{page}_t{token}>). Thread-safe.
XmlResult WbxmlToXml(std::string_view wbxml,
                     const ReaderOptions& reader_options = {},
                     const XmlOptions& options = {});

// Receives rendered text in order, a piece at a time.
using XmlSink = std::function<void(std::string_view)>;

// WbxmlToXml, the same text handed to `sink` in pieces of about 256 KiB as it
// is written: memory stays bounded by one piece (and the input) whatever the
// body's size. A first pass of the reader finds the code pages to declare on
// the root. Returns the issues.
std::vector<Issue> WbxmlToXmlStream(std::string_view wbxml, const XmlSink& sink,
                                    const ReaderOptions& reader_options = {},
                                    const XmlOptions& options = {});

// Renders the reader's events as JSON: {"header": {...}, "events": [...]},
// one object per event with its offset, type, page, token, name and text
// (opaque data as base64). Problems are returned as issues. Thread-safe.
XmlResult WbxmlToJsonEvents(std::string_view wbxml,
                            const ReaderOptions& reader_options = {});

// Encodes XML as an EAS WBXML body (03 01 6A 00 header, SWITCH_PAGE only when
// the page changes, STR_I text, OPAQUE for opaque="base64" elements).
// INVALID_ARGUMENT naming the line and column of the first problem: XML that
// does not parse, an element whose namespace is not a code page or whose name
// is not on that page, attributes, text with a NUL. Thread-safe.
absl::StatusOr<std::string> XmlToWbxml(std::string_view xml);

}  // namespace hijackguard::detector::wbxml
