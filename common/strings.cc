#include "common/strings.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace hijackguard {
namespace {

char Lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

std::string StrJoin(const std::vector<std::string>& parts,
                    std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) {
      out.append(separator);
    }
    out.append(parts[i]);
  }
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) {
      return false;
    }
  }
  return true;
}

bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         EqualsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

std::string FormatFixed(double value, int digits) {
  // Integer arithmetic for the common case (scores, weights): the library's
  // precision formatting is an order of magnitude slower.
  static constexpr double kPow10[] = {1, 10, 100, 1000, 10000, 100000, 1e6};
  if (digits >= 0 && digits <= 6 && std::isfinite(value) &&
      std::abs(value) < 1e12) {
    const double scaled = std::round(std::abs(value) * kPow10[digits]);
    auto units = static_cast<std::uint64_t>(scaled);
    const auto scale = static_cast<std::uint64_t>(kPow10[digits]);
    std::string out;
    if (value < 0 && units != 0) {
      out.push_back('-');
    }
    StrAppend(&out, units / scale);
    if (digits > 0) {
      out.push_back('.');
      std::uint64_t frac = units % scale;
      char buf[8];
      for (int i = digits - 1; i >= 0; --i) {
        buf[i] = static_cast<char>('0' + frac % 10);
        frac /= 10;
      }
      out.append(buf, static_cast<std::size_t>(digits));
    }
    return out;
  }
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value,
                                    std::chars_format::fixed, digits);
  return std::string(buffer, result.ptr);
}

UtcText::UtcText(absl::Time t, bool rfc3339) {
  // Days since 1970-01-01 to a civil date: Howard Hinnant's algorithm.
  constexpr std::int64_t kMinSeconds = -62167219200;  // 0000-01-01
  constexpr std::int64_t kMaxSeconds = 253402300799;  // 9999-12-31T23:59:59
  const std::int64_t secs =
      std::clamp(absl::ToUnixSeconds(t), kMinSeconds, kMaxSeconds);
  std::int64_t days = secs / 86400;
  std::int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe =
      (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  char* buf = buf_;
  auto put = [&](int at, std::int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i) {
      buf[at + i] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
  };
  put(0, year, 4);
  buf[4] = '-';
  put(5, month, 2);
  buf[7] = '-';
  put(8, day, 2);
  buf[10] = rfc3339 ? 'T' : ' ';
  put(11, rem / 3600, 2);
  buf[13] = ':';
  put(14, rem / 60 % 60, 2);
  if (!rfc3339) {
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result): sized buffer
    std::memcpy(buf + 16, " UTC", 4);
    size_ = 20;
    return;
  }
  buf[16] = ':';
  put(17, rem % 60, 2);
  buf[19] = 'Z';
  size_ = 20;
}

std::string LineColumn(std::string_view text, std::size_t offset) {
  std::size_t line = 1;
  std::size_t column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return StrCat("line ", line, ", column ", column);
}

namespace {

std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

}  // namespace

const std::string* Nearest(std::string_view word,
                           const std::vector<std::string>& candidates,
                           std::size_t max_edits) {
  const std::string* nearest = nullptr;
  std::size_t best = max_edits + 1;
  for (const std::string& c : candidates) {
    if (word.size() > c.size() + max_edits ||
        c.size() > word.size() + max_edits) {
      continue;  // too far apart (and keeps huge words cheap)
    }
    if (const std::size_t d = EditDistance(word, c); d < best) {
      best = d;
      nearest = &c;
    }
  }
  return nearest;
}

}  // namespace hijackguard
