#include "detector/ios_build.h"

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "common/strings.h"
#include "detector/internal/text.h"

namespace hijackguard::detector {
namespace {

using internal::IsDigit;
using internal::Quote;

absl::Status BuildError(std::string_view what, std::string_view text,
                        std::size_t offset, std::string_view problem) {
  return absl::InvalidArgumentError(StrCat(
      what, " \"", Quote(text), "\": ", problem, " (offset ", offset, ")"));
}

// Reads up to `max_digits` decimal digits starting at `*i`; returns the count
// read.
int ReadDigits(std::string_view text, std::size_t* i, int max_digits,
               long long* value) {
  int n = 0;
  *value = 0;
  while (*i < text.size() && IsDigit(text[*i]) && n <= max_digits) {
    *value = *value * 10 + (text[*i] - '0');
    ++*i;
    ++n;
  }
  return n;
}

}  // namespace

std::string IosBuild::ToString() const {
  std::string out = StrCat(train);
  out.push_back(letter);
  StrAppend(&out, number);
  if (suffix != '\0') {
    out.push_back(suffix);
  }
  return out;
}

std::string IosBuild::ToExchangeBuild() const {
  std::string out =
      absl::StrFormat("%d%02d.%03d", train, letter - 'A' + 1, number);
  if (suffix != '\0') {
    absl::StrAppendFormat(&out, "%05d", suffix - 'a' + 1);
  }
  return out;
}

absl::StatusOr<IosBuild> ParseIosBuild(std::string_view text) {
  constexpr std::string_view kWhat = "build";
  if (text.empty()) {
    return absl::InvalidArgumentError("build is empty");
  }
  IosBuild b;
  std::size_t i = 0;
  long long value = 0;
  const int train_digits = ReadDigits(text, &i, 2, &value);
  if (train_digits == 0) {
    return BuildError(kWhat, text, i, "expected the train number (digits)");
  }
  if (train_digits > 2 || value < 1 || value > IosBuild::kMaxTrain) {
    return BuildError(kWhat, text, 0, "train number must be 1..99");
  }
  b.train = static_cast<int>(value);
  if (i == text.size() || !internal::IsAlpha(text[i])) {
    return BuildError(kWhat, text, i, "expected the train letter");
  }
  b.letter = internal::IsLower(text[i]) ? static_cast<char>(text[i] - 'a' + 'A')
                                        : text[i];
  ++i;
  const std::size_t number_at = i;
  const int number_digits = ReadDigits(text, &i, 4, &value);
  if (number_digits == 0) {
    return BuildError(kWhat, text, number_at,
                      "expected the build number (digits)");
  }
  if (number_digits > 4) {
    return BuildError(kWhat, text, number_at,
                      "build number has more than 4 digits");
  }
  b.number = static_cast<int>(value);
  if (i < text.size() && internal::IsAlpha(text[i])) {
    // Apple writes the suffix in lower case (11A470a); its own docs once wrote
    // "5H11A".
    b.suffix = internal::ToLowerAscii(text[i]);
    ++i;
  }
  if (i != text.size()) {
    return BuildError(kWhat, text, i, "unexpected character");
  }
  return b;
}

absl::StatusOr<IosBuild> ParseExchangeBuild(std::string_view text) {
  constexpr std::string_view kWhat = "Exchange build";
  if (text.empty()) {
    return absl::InvalidArgumentError("Exchange build is empty");
  }
  IosBuild b;
  std::size_t i = 0;
  long long head = 0;
  const int head_digits = ReadDigits(text, &i, 4, &head);
  if (head_digits < 3 || head_digits > 4 || text[0] == '0') {
    return BuildError(kWhat, text, i,
                      "expected 3 or 4 digits (train and letter position, no "
                      "leading zero) before '.'");
  }
  const long long letter_pos = head % 100;
  if (letter_pos < 1 || letter_pos > 26) {
    return BuildError(kWhat, text, static_cast<std::size_t>(head_digits - 2),
                      "letter position must be 01..26");
  }
  b.train = static_cast<int>(head / 100);
  b.letter = static_cast<char>('A' + letter_pos - 1);
  if (i == text.size() || text[i] != '.') {
    return BuildError(kWhat, text, i, "expected '.'");
  }
  ++i;
  const std::size_t tail_at = i;
  long long tail = 0;
  const int tail_digits = ReadDigits(text, &i, 9, &tail);
  if (tail_digits > 9) {
    return BuildError(kWhat, text, tail_at, "more than 9 digits after '.'");
  }
  if (i != text.size()) {
    return BuildError(kWhat, text, i, "unexpected character");
  }
  // Apple's rule writes the number with 3 digits (4 when it is 1000 or more)
  // and a suffix letter as 5 more digits. Numbers below 100 are also sent
  // unpadded: one digit by iOS 4 ("807.4" for 8G4), one or two by iOS from
  // about 8 on ("1602.92" for 16B92). Every other length cannot come from a
  // real build.
  const int number_digits = tail_digits > 5 ? tail_digits - 5 : tail_digits;
  if (tail_digits > 5) {
    const long long suffix_pos = tail % 100000;
    if (suffix_pos < 1 || suffix_pos > 26) {
      return BuildError(kWhat, text,
                        tail_at + static_cast<std::size_t>(number_digits),
                        "suffix letter position must be 00001..00026");
    }
    b.suffix = static_cast<char>('a' + suffix_pos - 1);
    tail /= 100000;
  }
  const bool unpadded =
      (tail_digits == 1 || tail_digits == 2) && text[tail_at] != '0';
  const bool padded = number_digits == 3;
  const bool four_digit = number_digits == 4 && text[tail_at] != '0';
  if (!unpadded && !padded && !four_digit) {
    return BuildError(
        kWhat, text, tail_at,
        StrCat(tail_digits,
               " digits after '.' do not follow Apple's rule (a 3-digit "
               "number, 4 digits from 1000 on, optionally 5 suffix digits; "
               "numbers below 100 may be unpadded)"));
  }
  b.number = static_cast<int>(tail);
  return b;
}

std::optional<int> IosMajorForTrain(int train) {
  // iPhone OS 2.x was train 5 (5A347 = 2.0); from iPhone OS 3 (train 7) to
  // iOS 18 (train 22) the train is the major version plus 4; iOS 26 (2025) is
  // train 23. Train 6 was never an iPhone OS release. Elsewhere we do not
  // guess.
  if (train == 5) {
    return 2;
  }
  if (train >= 7 && train <= 22) {
    return train - 4;
  }
  if (train == 23) {
    return 26;
  }
  return std::nullopt;
}

std::optional<std::string> IosTrainForBuild(const IosBuild& build) {
  if (build.train < 19 || build.train > 23 || build.letter > 'H' ||
      (build.train == 19 && build.letter == 'H')) {
    return std::nullopt;
  }
  const std::optional<int> major = IosMajorForTrain(build.train);
  if (!major) {
    return std::nullopt;
  }
  return StrCat(*major, ".", build.letter - 'A');
}

}  // namespace hijackguard::detector
