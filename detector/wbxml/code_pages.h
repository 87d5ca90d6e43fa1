// The ActiveSync WBXML code pages (MS-ASWBXML): 26 standard pages plus the
// non-standard WindowsLive page 254, generated at build time from
// detector/wbxml/codepages.json.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace hijackguard::detector::wbxml {

struct CodePage {
  std::uint8_t number;             // 0..25, 254
  std::string_view name;           // "Calendar"
  std::string_view xml_namespace;  // "Calendar" (written "Calendar:" in XML)
};

// Every code page, in number order. Static data.
std::span<const CodePage> AllCodePages();

// The page with this number, or nullptr. O(1).
const CodePage* FindCodePage(std::uint8_t number);

// The page for an XML namespace, ignoring ASCII case and a trailing ':'
// ("Calendar:", "calendar", "POOMCAL:"), or nullptr.
const CodePage* FindCodePageByNamespace(std::string_view xml_namespace);

// The canonical element name of `token` (0x05..0x3F, content/attribute bits
// cleared) on `page`, or "" when the page or token is unknown. O(1).
std::string_view TagName(std::uint8_t page, std::uint8_t token);

// The 64 element names of `page` indexed by token ("" where none), or nullptr
// for an unknown page. For hot loops that name many tokens of one page. O(1).
const std::array<std::string_view, 64>* PageTagNames(std::uint8_t page);

// Bit t set when token t is defined on `page`; 0 for an unknown page. For hot
// loops that check many tokens of one page. O(1).
std::uint64_t KnownTokenMask(std::uint8_t page);

// The token of the element called `name` on `page`, ignoring ASCII case and
// accepting legacy names ("Organizer_Email"-style aliases), or nullopt.
std::optional<std::uint8_t> FindTag(std::uint8_t page, std::string_view name);

// An alias (legacy or implementation name) of a token, for tests and tools.
struct TagAlias {
  std::uint8_t page;
  std::uint8_t token;
  std::string_view name;
};
std::span<const TagAlias> AllTagAliases();

}  // namespace hijackguard::detector::wbxml
