#include "common/base64.h"

#include <openssl/evp.h>

#include "absl/status/status.h"
#include "common/strings.h"

namespace hijackguard {
namespace {

bool IsBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '+' || c == '/';
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(bytes.data()),
                      static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

absl::StatusOr<std::string> Base64Decode(std::string_view text) {
  // EVP_DecodeBlock tolerates surrounding whitespace and does not report where
  // a bad character is, so check the alphabet and padding first.
  std::size_t padding = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '=') {
      if (i + 2 < text.size() || (i + 2 == text.size() && text[i + 1] != '=')) {
        return absl::InvalidArgumentError(
            StrCat("base64: '=' before the end at offset ", i));
      }
      ++padding;
    } else if (padding > 0 || !IsBase64Char(c)) {
      return absl::InvalidArgumentError(
          StrCat("base64: invalid character at offset ", i));
    }
  }
  if (text.size() % 4 != 0) {
    return absl::InvalidArgumentError(
        StrCat("base64: length ", text.size(), " is not a multiple of 4"));
  }
  std::string out(text.size() / 4 * 3, '\0');
  const int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(text.data()),
                      static_cast<int>(text.size()));
  if (n < 0) {
    return absl::InvalidArgumentError("base64: cannot decode");
  }
  // EVP_DecodeBlock counts padding as decoded zero bytes.
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

}  // namespace hijackguard
