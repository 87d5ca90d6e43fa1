#include "detector/internal/text.h"

#include "common/utf8.h"

namespace hijackguard::detector::internal {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && IsSpace(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

std::string Quote(std::string_view text) {
  constexpr std::size_t kMaxBytes = 64;
  if (text.size() <= kMaxBytes) {
    return SanitizeText(text);
  }
  // Sanitize only a bounded prefix, so a 100 KiB input costs no more than a
  // short one; back up at most three continuation bytes so the cut does not
  // split a UTF-8 sequence.
  std::size_t cut = kMaxBytes;
  for (int k = 0; k < 3 && cut > 0 &&
                  (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80;
       ++k) {
    --cut;
  }
  return SanitizeText(text.substr(0, cut)) + "\xE2\x80\xA6";
}

}  // namespace hijackguard::detector::internal
