#include "detector/wbxml/encoder.h"

#include <cstring>

#include "common/strings.h"
#include "common/utf8.h"

namespace hijackguard::detector::wbxml {

void AppendMbUInt32(std::string* out, std::uint32_t value) {
  char buffer[5];
  int n = 0;
  do {
    buffer[4 - n] = static_cast<char>((value & 0x7F) | (n == 0 ? 0x00 : 0x80));
    value >>= 7;
    ++n;
  } while (value != 0);
  out->append(buffer + 5 - n, static_cast<std::size_t>(n));
}

Encoder::Encoder(std::string* out) : out_(out) {
  out_->append("\x03\x01\x6A\x00", 4);
}

void Encoder::Start(std::uint8_t page, std::uint8_t token, bool has_content) {
  if (page != page_) {
    out_->push_back('\x00');
    out_->push_back(static_cast<char>(page));
    page_ = page;
  }
  out_->push_back(
      static_cast<char>((token & 0x3F) | (has_content ? 0x40 : 0x00)));
  if (has_content) {
    ++open_;
  }
}

absl::Status Encoder::Text(std::string_view utf8) {
  if (open_ == 0) {
    return absl::InvalidArgumentError("text outside an element");
  }
  if (const void* nul = std::memchr(utf8.data(), 0, utf8.size())) {
    return absl::InvalidArgumentError(
        StrCat("text holds a NUL at byte ",
               static_cast<const char*>(nul) - utf8.data(),
               "; inline strings cannot"));
  }
  if (const std::size_t bad = FindInvalidUtf8(utf8);
      bad != std::string_view::npos) {
    return absl::InvalidArgumentError(
        StrCat("text is not UTF-8 at byte ", bad));
  }
  out_->push_back('\x03');
  out_->append(utf8);
  out_->push_back('\x00');
  return absl::OkStatus();
}

absl::Status Encoder::Opaque(std::string_view bytes) {
  if (open_ == 0) {
    return absl::InvalidArgumentError("opaque data outside an element");
  }
  if (bytes.size() > 0xFFFFFFFFULL) {
    return absl::InvalidArgumentError("opaque data over 4 GiB");
  }
  out_->push_back('\xC3');
  AppendMbUInt32(out_, static_cast<std::uint32_t>(bytes.size()));
  out_->append(bytes);
  return absl::OkStatus();
}

absl::Status Encoder::End() {
  if (open_ == 0) {
    return absl::FailedPreconditionError("END with no open element");
  }
  out_->push_back('\x01');
  --open_;
  return absl::OkStatus();
}

absl::Status Encoder::Finish() const {
  if (open_ != 0) {
    return absl::FailedPreconditionError(
        StrCat(open_, " element(s) still open"));
  }
  return absl::OkStatus();
}

}  // namespace hijackguard::detector::wbxml
