// Apple OS build identifiers ("10A523") and the Exchange build number iOS puts
// in its ActiveSync User-Agent ("Apple-iPhone4C1/1001.523").
//
// Apple's rule (activesync.md §4.1): keep the build's leading number (the
// "train", 10), replace the letter by its position in the alphabet as two
// digits (A -> 01), add ".", then the build number zero-padded to three digits
// (523; a four-digit number such as 8426 stays as is), then a trailing
// lower-case letter as its position zero-padded to five digits (a -> 00001):
//   10A523 <-> 1001.523   10A8426 <-> 1001.8426   11A470a <-> 1101.47000001
//   7E18 <-> 705.018
// Numbers below 100 are also sent unpadded: one digit by iOS 4 ("807.4" for
// 8G4), one or two digits by later iOS ("1602.92" for 16B92, iOS 12.1); both
// forms parse.
#pragma once

#include <compare>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hijackguard::detector {

// A parsed build. Ordering is by (train, letter, number, suffix); it matches
// release order within one train letter except for carrier builds with
// four-digit numbers (10A8426 sorts after 10A551 although it shipped as 6.0.1),
// so catalogs list those exactly.
struct IosBuild {
  static constexpr int kMaxTrain = 99;
  static constexpr int kMaxNumber = 9999;

  int train = 0;       // 1..99, e.g. 10
  char letter = 'A';   // 'A'..'Z'
  int number = 0;      // 0..9999, e.g. 523
  char suffix = '\0';  // 'a'..'z', or '\0' when the build has none

  // "10A523", "11A470a".
  std::string ToString() const;
  // Apple's canonical Exchange form: "1001.523", "807.004", "1101.47000001".
  std::string ToExchangeBuild() const;

  // NOLINTNEXTLINE(modernize-use-nullptr): a defaulted comparison
  friend auto operator<=>(const IosBuild&, const IosBuild&) = default;
};

// Parses an Apple build such as "10A523", "10A8426" or "11A470a". Letters are
// accepted in either case and normalised (train letter upper, suffix lower).
// Returns INVALID_ARGUMENT with the byte offset of the first problem otherwise.
absl::StatusOr<IosBuild> ParseIosBuild(std::string_view text);

// Parses the Exchange build from an iOS User-Agent ("1001.523", "807.4",
// "807.004", "1101.47000001") back into the Apple build. Returns
// INVALID_ARGUMENT with the byte offset of the first problem for anything that
// Apple's rule cannot have produced: a leading zero, a letter position 00 or
// above 26, a fraction of other than 1 or 2 (an unpadded number below 100,
// not starting with 0), 3, 4 (1000 or more), 8 or 9 (with a 5-digit suffix)
// digits, a suffix position 00000 or above 26.
absl::StatusOr<IosBuild> ParseExchangeBuild(std::string_view text);

// The iOS major version a build train belongs to (train 10 -> iOS 6), or
// nullopt when the train is outside the range where Apple's numbering is known
// to us (iPhone OS 2 to iOS 26).
std::optional<int> IosMajorForTrain(int train);

// The release train a build belongs to, "major.minor" ("17.5" for 21F79), for
// the trains where Apple's letter follows the minor release one for one:
// trains 19 to 23 (iOS 15 to 26; A = .0, B = .1, ... H = .7). Otherwise
// nullopt: older trains skip letters (11D167 is 7.1, 16E227 12.2, 17E255 13.4,
// 18A8395 14.1), and 19H holds both 15.7 and 15.8. A train is not a version:
// 21F90 is 17.5.1, which only the catalog or a DeviceOS string can say.
std::optional<std::string> IosTrainForBuild(const IosBuild& build);

}  // namespace hijackguard::detector
