#include "common/utf8.h"

#include <cstdint>
#include <cstring>

namespace hijackguard {
namespace {

// Length of the well-formed UTF-8 sequence at text[i], or 0 when it is
// ill-formed (Unicode 15, Table 3-7).
std::size_t SequenceLengthAt(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) {
    return static_cast<std::uint8_t>(text[k]);
  };
  const std::uint8_t b0 = byte(i);
  const std::size_t left = text.size() - i;
  if (b0 < 0x80) {
    return 1;
  }
  auto cont = [&](std::size_t k, std::uint8_t lo = 0x80,
                  std::uint8_t hi = 0xBF) {
    return k < text.size() && byte(k) >= lo && byte(k) <= hi;
  };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    return left >= 2 && cont(i + 1) ? 2 : 0;
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    const std::uint8_t lo = b0 == 0xE0 ? 0xA0 : 0x80;
    const std::uint8_t hi = b0 == 0xED ? 0x9F : 0xBF;
    return left >= 3 && cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    const std::uint8_t lo = b0 == 0xF0 ? 0x90 : 0x80;
    const std::uint8_t hi = b0 == 0xF4 ? 0x8F : 0xBF;
    return left >= 4 && cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4
                                                                          : 0;
  }
  return 0;
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

}  // namespace

std::size_t Utf8SequenceLength(std::string_view text, std::size_t i) {
  return SequenceLengthAt(text, i);
}

std::size_t FindInvalidUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    // ASCII fast path, eight bytes at a time: most ActiveSync text is ASCII.
    while (i + 8 <= text.size()) {
      std::uint64_t word;
      std::memcpy(&word, text.data() + i, sizeof(word));
      if ((word & 0x8080808080808080ULL) != 0) {
        break;
      }
      i += 8;
    }
    if (i == text.size()) {
      break;
    }
    const std::size_t n = SequenceLengthAt(text, i);
    if (n == 0) {
      return i;
    }
    i += n;
  }
  return std::string_view::npos;
}

std::string SanitizeText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t n = SequenceLengthAt(text, i);
    if (n == 0) {
      out.append(kReplacement);
      ++i;
      continue;
    }
    const auto c = static_cast<std::uint8_t>(text[i]);
    if (n == 1 && ((c < 0x20 && c != '\t') || c == 0x7F)) {
      out.append(kReplacement);
    } else {
      out.append(text.substr(i, n));
    }
    i += n;
  }
  return out;
}

std::string TruncateUtf8(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) {
    return std::string(text);
  }
  std::size_t cut = max_bytes;
  // Back up over continuation bytes so no sequence is split.
  while (cut > 0 && (static_cast<std::uint8_t>(text[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  std::string out(text.substr(0, cut));
  out.append("\xE2\x80\xA6");
  return out;
}

std::size_t CountUtf8Chars(std::string_view text) {
  std::size_t n = 0;
  for (char c : text) {
    n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  }
  return n;
}

std::string QuoteInput(std::string_view value) {
  const std::string clean = SanitizeText(value);
  std::string shown = TruncateUtf8(clean, kMaxQuotedBytes);
  std::string out = "\"";
  for (const char ch : shown) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) {
      out += "\uFFFD";
    } else if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
  if (clean.size() > kMaxQuotedBytes) {  // shown ends in U+2026
    out += " (" + std::to_string(value.size()) + " bytes)";
  }
  return out;
}

}  // namespace hijackguard
