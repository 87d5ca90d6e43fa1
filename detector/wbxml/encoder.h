// Writes ActiveSync WBXML bodies the way EAS clients do: the 03 01 6A 00
// header (WBXML 1.3, unknown public id, UTF-8, no string table), SWITCH_PAGE
// only when the page changes, text as STR_I, binary as OPAQUE.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace hijackguard::detector::wbxml {

// Not thread-safe; `out` must outlive the encoder.
class Encoder {
 public:
  // Appends the header to `*out`; everything else is appended after it.
  explicit Encoder(std::string* out);

  // Starts an element. With `has_content` false the element is complete (no
  // END follows); otherwise close it with End().
  void Start(std::uint8_t page, std::uint8_t token, bool has_content);
  // Inline text. INVALID_ARGUMENT for invalid UTF-8 or a NUL (STR_I cannot
  // hold one), or outside an element.
  [[nodiscard]] absl::Status Text(std::string_view utf8);
  // Opaque bytes. INVALID_ARGUMENT outside an element or over 4 GiB.
  [[nodiscard]] absl::Status Opaque(std::string_view bytes);
  // Closes the innermost open element. FAILED_PRECONDITION when none is open.
  [[nodiscard]] absl::Status End();
  // FAILED_PRECONDITION when elements are still open.
  [[nodiscard]] absl::Status Finish() const;

 private:
  std::string* out_;
  std::uint8_t page_ = 0;
  int open_ = 0;
};

// Appends `value` as a WBXML mb_u_int32.
void AppendMbUInt32(std::string* out, std::uint32_t value);

}  // namespace hijackguard::detector::wbxml
