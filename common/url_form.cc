#include "common/url_form.h"

#include <algorithm>

#include "common/strings.h"
#include "common/utf8.h"

namespace hijackguard {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `text` (starting at byte `offset` of the body) decoded.
absl::StatusOr<std::string> Decode(std::string_view text, std::size_t offset) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      const int hi = i + 1 < text.size() ? HexDigit(text[i + 1]) : -1;
      const int lo = i + 2 < text.size() ? HexDigit(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return absl::InvalidArgumentError(
            StrCat("the '%' at byte ", offset + i,
                   " is not followed by two hex digits"));
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  if (const std::size_t bad = FindInvalidUtf8(out); bad != std::string::npos) {
    return absl::InvalidArgumentError(StrCat("the field at byte ", offset,
                                             " is not UTF-8 (decoded byte ",
                                             bad, ")"));
  }
  return out;
}

}  // namespace

absl::StatusOr<FormFields> ParseForm(std::string_view body,
                                     std::size_t max_fields, bool bare_names) {
  FormFields fields;
  std::size_t start = 0;
  while (start <= body.size()) {
    std::size_t end = body.find('&', start);
    if (end == std::string_view::npos) end = body.size();
    const std::string_view part = body.substr(start, end - start);
    if (!part.empty()) {
      if (fields.size() == max_fields) {
        return absl::InvalidArgumentError(
            StrCat("there are more than ", max_fields, " fields"));
      }
      std::size_t eq = part.find('=');
      if (eq == std::string_view::npos && bare_names) eq = part.size();
      if (eq == std::string_view::npos) {
        return absl::InvalidArgumentError(
            StrCat("the field at byte ", start, " has no '='"));
      }
      auto name = Decode(part.substr(0, eq), start);
      if (!name.ok()) return name.status();
      auto value =
          Decode(part.substr(std::min(eq + 1, part.size())), start + eq + 1);
      if (!value.ok()) return value.status();
      fields.emplace_back(*std::move(name), *std::move(value));
    }
    start = end + 1;
  }
  return fields;
}

std::string_view FormValue(const FormFields& fields, std::string_view name) {
  for (const auto& [k, v] : fields) {
    if (k == name) return v;
  }
  return {};
}

}  // namespace hijackguard
