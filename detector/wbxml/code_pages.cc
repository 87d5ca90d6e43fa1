#include "detector/wbxml/code_pages.h"

#include <array>

#include "common/strings.h"

namespace hijackguard::detector::wbxml {
namespace {

struct NamespaceAlias {
  std::uint8_t page;
  std::string_view name;
};

#include "detector/wbxml/code_pages_data.inc"

constexpr std::size_t kPageCount =
    static_cast<std::size_t>(kGeneratedPageCount);
static_assert(std::size(kGeneratedPages) == kPageCount);
static_assert(std::size(kGeneratedNames) == kPageCount);

// Page number -> index into the tables, -1 when there is no such page.
constexpr std::array<std::int16_t, 256> kDenseIndex = [] {
  std::array<std::int16_t, 256> index{};
  index.fill(-1);
  for (std::size_t i = 0; i < kPageCount; ++i) {
    index[kGeneratedPages[i].number] = static_cast<std::int16_t>(i);
  }
  return index;
}();

std::string_view WithoutColon(std::string_view ns) {
  if (!ns.empty() && ns.back() == ':') {
    ns.remove_suffix(1);
  }
  return ns;
}

}  // namespace

std::span<const CodePage> AllCodePages() { return kGeneratedPages; }

const CodePage* FindCodePage(std::uint8_t number) {
  const int i = kDenseIndex[number];
  return i < 0 ? nullptr : &kGeneratedPages[i];
}

const CodePage* FindCodePageByNamespace(std::string_view xml_namespace) {
  const std::string_view ns = WithoutColon(xml_namespace);
  for (const CodePage& page : kGeneratedPages) {
    if (EqualsIgnoreCase(ns, page.xml_namespace)) {
      return &page;
    }
  }
  for (const NamespaceAlias& alias : kGeneratedNamespaceAliases) {
    if (EqualsIgnoreCase(ns, alias.name)) {
      return FindCodePage(alias.page);
    }
  }
  return nullptr;
}

std::string_view TagName(std::uint8_t page, std::uint8_t token) {
  const int i = kDenseIndex[page];
  if (i < 0 || token >= 64) {
    return {};
  }
  return kGeneratedNames[i][token];
}

const std::array<std::string_view, 64>* PageTagNames(std::uint8_t page) {
  const int i = kDenseIndex[page];
  return i < 0 ? nullptr : &kGeneratedNames[static_cast<std::size_t>(i)];
}

std::uint64_t KnownTokenMask(std::uint8_t page) {
  static constexpr std::array<std::uint64_t, kPageCount> kMasks = [] {
    std::array<std::uint64_t, kPageCount> masks{};
    for (std::size_t p = 0; p < kPageCount; ++p) {
      for (std::size_t t = 0; t < 64; ++t) {
        if (!kGeneratedNames[p][t].empty()) {
          masks[p] |= std::uint64_t{1} << t;
        }
      }
    }
    return masks;
  }();
  const int i = kDenseIndex[page];
  return i < 0 ? 0 : kMasks[static_cast<std::size_t>(i)];
}

std::optional<std::uint8_t> FindTag(std::uint8_t page, std::string_view name) {
  const int i = kDenseIndex[page];
  if (i < 0 || name.empty()) {
    return std::nullopt;
  }
  const auto& names = kGeneratedNames[i];
  for (std::size_t token = 0; token < names.size(); ++token) {
    if (!names[token].empty() && EqualsIgnoreCase(names[token], name)) {
      return static_cast<std::uint8_t>(token);
    }
  }
  for (const TagAlias& alias : kGeneratedAliases) {
    if (alias.page == page && EqualsIgnoreCase(alias.name, name)) {
      return alias.token;
    }
  }
  return std::nullopt;
}

std::span<const TagAlias> AllTagAliases() { return kGeneratedAliases; }

}  // namespace hijackguard::detector::wbxml
